"""Helpers for the simulator tests: a non-fastws client (``websockets``) and small utilities."""
from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import orjson

from tests.utils import UNIT

_ids = itertools.count(1000)


async def recv(ws: Any, timeout: float = 2.0) -> Any:
    """Receive and decode one frame (``timeout`` in UNITs)."""
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout * UNIT))


async def drain(ws: Any, timeout: float = 5.0) -> list:
    """Everything the server sent before it answers a LIST_SUBSCRIPTIONS sent now.

    The simulator writes data and control answers in order on one connection, so the answer
    marks the end of what was due.
    """
    rid = next(_ids)
    await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": rid}).decode())
    out = []
    while True:
        msg = await recv(ws, timeout)
        if isinstance(msg, dict) and msg.get("id") == rid and "result" in msg:
            return out
        out.append(msg)


async def get_json(url: str, **params: Any) -> tuple[int, dict, Any]:
    """GET ``url`` with aiohttp: (status, headers, decoded body)."""
    import aiohttp
    async with aiohttp.ClientSession() as s:
        async with s.get(url, params=params, timeout=aiohttp.ClientTimeout(total=5 * UNIT)) as r:
            return r.status, dict(r.headers), orjson.loads(await r.read())


def as_decimal_book(levels: list) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in levels]

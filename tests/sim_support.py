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


class RawWS:
    """A bare-bones WebSocket client over asyncio streams: nothing automatic (no pong), so
    tests can see every frame the server sends, bad ones included."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, url: str, ssl: Any = None) -> "RawWS":
        import base64
        import os
        from urllib.parse import urlsplit
        u = urlsplit(url)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(u.hostname, u.port, ssl=ssl), 5 * UNIT)
        path = u.path + (("?" + u.query) if u.query else "")
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path or '/'} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5 * UNIT)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            writer.close()
            raise ConnectionRefusedError(status)
        return cls(reader, writer)

    async def read_frame(self, timeout: float = 2.0) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame; raises IncompleteReadError at EOF."""
        async def read() -> tuple[int, bytes]:
            h = await self.reader.readexactly(2)
            op, n = h[0] & 0x0F, h[1] & 0x7F
            if n == 126:
                n = int.from_bytes(await self.reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.reader.readexactly(8), "big")
            return op, await self.reader.readexactly(n)
        return await asyncio.wait_for(read(), timeout * UNIT)

    def send_frame(self, opcode: int, payload: bytes = b"") -> None:
        import os
        mask = os.urandom(4)
        n = len(payload)
        head = bytes((0x80 | opcode,))
        if n < 126:
            head += bytes((0x80 | n,))
        elif n < 65536:
            head += bytes((0x80 | 126,)) + n.to_bytes(2, "big")
        else:
            head += bytes((0x80 | 127,)) + n.to_bytes(8, "big")
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + body)

    async def until_closed(self, timeout: float = 3.0) -> list[tuple[int, bytes]]:
        """Read frames until EOF; returns them (the close frame included, if any)."""
        frames = []
        try:
            while True:
                frames.append(await self.read_frame(timeout))
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return frames

    def close(self) -> None:
        self.writer.close()

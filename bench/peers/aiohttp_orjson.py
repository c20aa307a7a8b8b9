"""aiohttp ``async for msg in ws`` + ``orjson.loads``, a callback with the dict; uvloop."""
from __future__ import annotations

import asyncio
from typing import Any

from bench.peers import _transport as T
from bench.peers._common import missing

NAME = "aiohttp+orjson"
PACKAGE = "aiohttp"
POINTED = "session.ws_connect(ctx.ws_base + '/stream?streams=...'): no patch"
KINDS = frozenset({"tickers"})


def available() -> str | None:
    return missing("aiohttp", "orjson")


async def _main(ctx: Any) -> None:
    import aiohttp
    import orjson
    tick = ctx.tick
    loads = orjson.loads

    def callback(msg: Any) -> None:
        tick(msg["data"]["u"])

    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(T.url(ctx), max_msg_size=0) as ws:
            async def read() -> None:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        callback(loads(msg.data))
            reader = asyncio.ensure_future(read())
            await T.wait_stop(ctx)
            reader.cancel()


def run(ctx: Any, kind: str) -> None:
    T.run_uvloop(_main(ctx))

"""websockets ``async for msg in ws`` + ``orjson.loads``, a callback with the dict; uvloop."""
from __future__ import annotations

import asyncio
from typing import Any

from bench.peers import _transport as T
from bench.peers._common import missing

NAME = "websockets+orjson"
PACKAGE = "websockets"
POINTED = "websockets.connect(ctx.ws_base + '/stream?streams=...'): no patch"
KINDS = frozenset({"tickers"})


def available() -> str | None:
    return missing("orjson", "websockets")


async def _main(ctx: Any) -> None:
    import orjson
    import websockets
    tick = ctx.tick
    loads = orjson.loads

    def callback(msg: Any) -> None:
        tick(msg["data"]["u"])

    async with websockets.connect(T.url(ctx), max_size=None, compression=None) as ws:
        async def read() -> None:
            async for msg in ws:
                callback(loads(msg))
        reader = asyncio.ensure_future(read())
        await T.wait_stop(ctx)
        reader.cancel()


def run(ctx: Any, kind: str) -> None:
    T.run_uvloop(_main(ctx))

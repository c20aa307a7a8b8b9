"""Shared by the plain-transport adapters: the URL, the stop wait (not an adapter itself)."""
from __future__ import annotations

import asyncio
from typing import Any


def url(ctx: Any) -> str:
    streams = "/".join(f"{s.lower()}@bookTicker" for s in ctx.symbols)
    return f"{ctx.ws_base}/stream?streams={streams}"


async def wait_stop(ctx: Any) -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ctx.stop.wait)


def run_uvloop(coro: Any) -> None:
    import uvloop
    uvloop.run(coro)

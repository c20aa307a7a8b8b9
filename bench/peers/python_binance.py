"""python-binance: ``BinanceSocketManager`` multiplex socket (tickers) and ``DepthCacheManager``
(depth), written as its docs show, with its defaults (the socket queue of 100 included).

What breaks, reported through ``ctx.error``: when the queue is full the socket's read loop
raises ``BinanceWebsocketQueueOverflow`` and ends (logged at ERROR, which is forwarded); the
socket's ``recv()`` then raises ``ReadLoopClosed`` before reading what is still queued, and
``DepthCacheManager.recv()`` catches that and retries at once, for ever: a busy loop that never
returns. A watcher notices the dead read loop, says so and cancels that cache's reader."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

from ._common import ErrorLog, missing, run_async

NAME = "python-binance"
PACKAGE = "python-binance"
POINTED = ("no patch: AsyncClient().API_URL = rest_base + '/api' and "
           "BinanceSocketManager(client).STREAM_URL = ws_base + '/' (instance attributes the "
           "client reads when it builds each URL); asyncio on uvloop, defaults otherwise "
           "(max_queue_size=100); DepthCacheManager(limit=1000, ws_interval=100)")
KINDS = frozenset({"tickers", "depth"})


def available() -> Optional[str]:
    return missing("binance")


def run(ctx: Any, kind: str, max_queue_size: Optional[int] = None) -> None:
    """``max_queue_size``: None keeps the library's default (100)."""
    log = logging.getLogger("binance")
    handler = ErrorLog(ctx, NAME, level=logging.ERROR)
    log.addHandler(handler)
    try:
        run_async(ctx, lambda: _main(ctx, kind, max_queue_size), what=NAME)
    finally:
        log.removeHandler(handler)
        handler.close()


async def _main(ctx: Any, kind: str, max_queue_size: Optional[int]) -> None:
    from binance import AsyncClient, BinanceSocketManager
    client = AsyncClient()                       # no I/O at construction
    client.API_URL = ctx.rest_base + "/api"
    bm = (BinanceSocketManager(client) if max_queue_size is None
          else BinanceSocketManager(client, max_queue_size=max_queue_size))
    bm.STREAM_URL = ctx.ws_base + "/"
    try:
        if kind == "tickers":
            await _tickers(ctx, bm)
        else:
            await asyncio.gather(*(_depth(ctx, client, bm, s) for s in ctx.symbols))
    finally:
        await client.close_connection()


async def _tickers(ctx: Any, bm: Any) -> None:
    from binance.exceptions import ReadLoopClosed
    tick = ctx.tick
    streams = [f"{s.lower()}@bookTicker" for s in ctx.symbols]
    async with bm.multiplex_socket(streams) as socket:
        while True:
            try:
                msg = await socket.recv()
            except ReadLoopClosed:
                ctx.error(f"{NAME} socket: read loop closed, nothing more arrives")
                return
            if msg.get("e") == "error":          # how the socket reports a broken read
                ctx.error(f"{NAME} socket: {msg.get('type')}: {msg.get('m')}")
                continue
            d = msg["data"]
            if "u" in d:                         # not the venue's {"e": "serverShutdown"}
                tick(int(d["u"]))


async def _depth(ctx: Any, client: Any, bm: Any, symbol: str) -> None:
    from binance import DepthCacheManager
    book = ctx.book
    dcm = DepthCacheManager(client, symbol, bm=bm, limit=1000, ws_interval=100)
    async with dcm as cache:
        reader = asyncio.ensure_future(_read_cache(ctx, cache, dcm, symbol, book))
        try:
            while not reader.done():
                await asyncio.wait({reader}, timeout=0.1)
                if dcm._socket._handle_read_loop is None and not reader.done():
                    ctx.error(f"{NAME} depth cache {symbol}: the socket's read loop ended; "
                              "DepthCacheManager.recv() now retries ReadLoopClosed in a busy "
                              "loop and never returns (reader cancelled)")
                    reader.cancel()
                    return
        finally:
            reader.cancel()


async def _read_cache(ctx: Any, cache: Any, dcm: Any, symbol: str, book: Any) -> None:
    while True:
        dc = await cache.recv()
        if isinstance(dc, dict):                 # {"e": "error", ...}: the socket broke
            ctx.error(f"{NAME} depth cache {symbol}: {dc.get('type')}: {dc.get('m')}")
            continue
        bids, asks = dc.get_bids(), dc.get_asks()
        # the manager keeps the last applied update id (no public accessor)
        book(symbol, dcm._last_update_id, bids[0][0] if bids else None,
             asks[0][0] if asks else None)

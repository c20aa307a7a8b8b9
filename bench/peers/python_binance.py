"""python-binance: ``BinanceSocketManager`` multiplex socket (tickers) and ``DepthCacheManager``
(depth), written as its docs show, with its defaults (the socket queue of 100 included)."""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from bench.peers._common import missing, run_async

NAME = "python-binance"
PACKAGE = "python-binance"
POINTED = ("no patch: AsyncClient().API_URL = rest_base + '/api' and "
           "BinanceSocketManager(client).STREAM_URL = ws_base + '/' (instance attributes the "
           "client reads when it builds each URL); asyncio on uvloop, defaults otherwise "
           "(max_queue_size=100); DepthCacheManager(limit=1000, ws_interval=100)")
KINDS = frozenset({"tickers", "depth"})


def available() -> Optional[str]:
    return missing("binance")


def run(ctx: Any, kind: str) -> None:
    run_async(ctx, lambda: _main(ctx, kind), what=NAME)


async def _main(ctx: Any, kind: str) -> None:
    from binance import AsyncClient, BinanceSocketManager
    client = AsyncClient()                       # no I/O at construction
    client.API_URL = ctx.rest_base + "/api"
    bm = BinanceSocketManager(client)
    bm.STREAM_URL = ctx.ws_base + "/"
    try:
        if kind == "tickers":
            await _tickers(ctx, bm)
        else:
            await asyncio.gather(*(_depth(ctx, client, bm, s) for s in ctx.symbols))
    finally:
        await client.close_connection()


async def _tickers(ctx: Any, bm: Any) -> None:
    tick = ctx.tick
    streams = [f"{s.lower()}@bookTicker" for s in ctx.symbols]
    async with bm.multiplex_socket(streams) as socket:
        while True:
            msg = await socket.recv()
            if msg.get("e") == "error":          # how the socket reports a dead read loop
                ctx.error(f"{NAME} socket: {msg.get('type')}: {msg.get('m')}")
                if socket._handle_read_loop is None:     # the loop ended: nothing more comes
                    return
                continue
            d = msg["data"]
            if "u" in d:                         # not the venue's {"e": "serverShutdown"}
                tick(int(d["u"]))


async def _depth(ctx: Any, client: Any, bm: Any, symbol: str) -> None:
    from binance import DepthCacheManager
    book = ctx.book
    dcm = DepthCacheManager(client, symbol, bm=bm, limit=1000, ws_interval=100)
    async with dcm as cache:
        while True:
            dc = await cache.recv()
            if isinstance(dc, dict):             # {"e": "error", ...}: the socket broke
                ctx.error(f"{NAME} depth cache {symbol}: {dc.get('type')}: {dc.get('m')}")
                if dcm._socket._handle_read_loop is None:
                    # its recv() now spins on ReadLoopClosed: the cache is dead for good
                    return
                continue
            bids, asks = dc.get_bids(), dc.get_asks()
            # the manager keeps the last applied update id (no public accessor)
            book(symbol, dcm._last_update_id, bids[0][0] if bids else None,
                 asks[0][0] if asks else None)

"""Binance's official ``binance-sdk-spot``: its WebSocket stream client (one connection, a
subscription per symbol, an ``on("message")`` callback each). The SDK keeps no local book, so
"depth" is the book its users build: the SDK's REST ``depth`` snapshot and its parsed
``diff_book_depth`` events, synced as Binance documents (:class:`bench.peers._common.DiffBook`)."""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from ._common import DiffBook, describe, missing, run_async

NAME = "binance-sdk-spot"
PACKAGE = "binance-sdk-spot"
POINTED = ("no patch: Spot(config_ws_streams=ConfigurationWebSocketStreams(stream_url=ws_base), "
           "config_rest_api=ConfigurationRestAPI(base_path=rest_base)) (documented "
           "configuration); asyncio on uvloop; no local book in the SDK: a dict book synced from "
           "its REST depth(limit=1000) and diff_book_depth(update_speed='100ms') events as "
           "Binance's docs describe")
KINDS = frozenset({"tickers", "depth"})


def available() -> Optional[str]:
    return missing("binance_sdk_spot.spot")


def run(ctx: Any, kind: str) -> None:
    run_async(ctx, lambda: _main(ctx, kind), what=NAME)


async def _main(ctx: Any, kind: str) -> None:
    from binance_sdk_spot.spot import (ConfigurationRestAPI, ConfigurationWebSocketStreams,
                                       Spot)
    client = Spot(config_ws_streams=ConfigurationWebSocketStreams(stream_url=ctx.ws_base),
                  config_rest_api=ConfigurationRestAPI(base_path=ctx.rest_base))
    conn = await client.websocket_streams.create_connection()
    try:
        if kind == "tickers":
            tick = ctx.tick
            for s in ctx.symbols:
                stream = await conn.book_ticker(symbol=s.lower())
                stream.on("message", lambda m: tick(int(m.u)))
            await asyncio.Event().wait()
        else:
            await asyncio.gather(*(_depth(ctx, client, conn, s) for s in ctx.symbols))
    finally:
        await conn.close_connection(close_session=True)


async def _depth(ctx: Any, client: Any, conn: Any, symbol: str) -> None:
    book = DiffBook()
    report = ctx.book
    resync = asyncio.Event()

    def on_message(m: Any) -> None:
        try:
            ok = book.apply(int(m.U), int(m.u), m.b, m.a)
        except Exception as exc:            # the SDK swallows callback errors: say it here
            ctx.error(f"{NAME} {symbol}: depth callback: {describe(exc)}")
            return
        if not ok:
            resync.set()
        elif book.synced:
            bid, ask = book.best()
            report(symbol, book.last_update_id, bid, ask)

    stream = await conn.diff_book_depth(symbol=symbol.lower(), update_speed="100ms")
    stream.on("message", on_message)
    while True:
        resp = await asyncio.to_thread(client.rest_api.depth, symbol=symbol, limit=1000)
        snap = resp.data()
        book.snapshot(int(snap.last_update_id), snap.bids, snap.asks)
        if book.synced:
            bid, ask = book.best()
            report(symbol, book.last_update_id, bid, ask)
        resync.clear()
        await resync.wait()                 # a gap in the diff stream: take a new snapshot

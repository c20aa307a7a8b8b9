"""fastws itself: ``MarketStream`` with a Python callback per event (the user's fast path).

tickers: ``ms.on(fastws.BookTicker, cb)``, ``cb`` calls ``ctx.tick(ev.update_id)``.
depth: ``MarketStream`` keeps a synced ``OrderBook`` per symbol (snapshot over the WS API, diff
depth, its own gap handling); the callback on every ``DepthUpdate`` reads ``book.best_bid()`` /
``best_ask()`` and reports them with ``book.update_id`` while the book is synced.
Loop: uvloop.
"""
from __future__ import annotations

import asyncio
from typing import Any

NAME = "fastws"
PACKAGE = "fastws"
POINTED = ("Venue(stream_url=ctx.ws_base, ws_api_url=ws_base + '/ws-api/v3', "
           "rest_url=ctx.rest_base) passed as venue=: no patch")
KINDS = frozenset({"tickers", "depth"})


def available() -> str | None:
    try:
        import fastws.market_stream  # noqa: F401
    except ImportError as exc:
        return f"fastws not importable: {exc}"
    return None


def _venue(ctx: Any) -> Any:
    from fastws.venues import SPOT_LIMITS, Venue
    return Venue("bench", "spot", ctx.ws_base, ctx.ws_base + "/ws-api/v3", ctx.rest_base,
                 SPOT_LIMITS)


async def _main(ctx: Any, kind: str) -> None:
    import fastws
    syms = [s.lower() for s in ctx.symbols]
    if kind == "tickers":
        streams = [f"{s}@bookTicker" for s in syms]
    else:
        streams = [f"{s}@depth@100ms" for s in syms]
    ms = fastws.MarketStream(streams, venue=_venue(ctx), books=kind == "depth")
    if kind == "tickers":
        tick = ctx.tick

        def on_ticker(ev: Any) -> None:
            tick(ev.update_id)

        ms.on(fastws.BookTicker, on_ticker)
    else:
        books = ms.books
        report = ctx.book

        def on_depth(ev: Any) -> None:
            b = books.get(ev.symbol)
            if b is None or not b.is_synced:
                return
            bid, ask = b.best_bid(), b.best_ask()
            report(ev.symbol, b.update_id, bid[0] if bid else None, ask[0] if ask else None)

        ms.on(fastws.DepthUpdate, on_depth)
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()

    def wait_stop() -> None:
        ctx.stop.wait()
        loop.call_soon_threadsafe(lambda: stopped.done() or stopped.set_result(None))

    loop.run_in_executor(None, wait_stop)
    async with ms:
        await stopped


def run(ctx: Any, kind: str) -> None:
    import uvloop
    uvloop.run(_main(ctx, kind))

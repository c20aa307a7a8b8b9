"""cryptofeed: a ``FeedHandler`` with its ``Binance`` feed, channels ``TICKER`` (Binance's
bookTicker) and ``L2_BOOK`` (its own book: REST snapshot + ``depth@100ms`` diffs), a callback
each, as its docs show. The module is not called ``cryptofeed`` so as not to shadow the
library."""
from __future__ import annotations

import logging
from typing import Any, Optional

from ._common import ErrorLog, missing, run_async, until_stopped

NAME = "cryptofeed"
PACKAGE = "cryptofeed"
POINTED = ("a subclass of cryptofeed.exchanges.Binance with its two class attributes "
           "websocket_endpoints = [WebsocketEndpoint(ws_base)] and rest_endpoints = "
           "[RestEndpoint(rest_base, routes=<Binance's own routes>)] (the feed has no URL "
           "argument; the endpoints are hard-coded class constants); PATCH: "
           "cryptofeed.feed.WSAsyncConn replaced by a subclass whose __init__ accepts a ws:// "
           "address (WSAsyncConn raises ValueError on anything but wss://; nothing else "
           "changed); "
           "FeedHandler(config={'uvloop': True, 'log': {'disabled': True}}) run on our uvloop "
           "loop (run(start_loop=False, install_signal_handlers=False)); its warnings go to "
           "ctx.error")
KINDS = frozenset({"tickers", "depth"})


def available() -> Optional[str]:
    return missing("cryptofeed", "cryptofeed.exchanges")


def local_feed(ws_base: str, rest_base: str) -> Any:
    """cryptofeed's Binance feed class with its endpoints on the local server."""
    from cryptofeed.connection import RestEndpoint, WebsocketEndpoint
    from cryptofeed.exchanges import Binance

    class LocalBinance(Binance):  # type: ignore[misc]
        websocket_endpoints = [WebsocketEndpoint(ws_base)]
        rest_endpoints = [RestEndpoint(rest_base, routes=Binance.rest_endpoints[0].routes)]

    return LocalBinance


def allow_plain_ws() -> None:
    """The one patch: cryptofeed refuses any address but ``wss://`` (a check in
    ``WSAsyncConn.__init__``); the feed builds its connections from ``cryptofeed.feed``'s
    name, which is pointed at a subclass that lets ``ws://`` through."""
    import cryptofeed.feed
    from cryptofeed.connection import WSAsyncConn
    if getattr(cryptofeed.feed.WSAsyncConn, "plain_ws_allowed", False):
        return

    class PlainWSAsyncConn(WSAsyncConn):  # type: ignore[misc]
        plain_ws_allowed = True

        def __init__(self, address: str, conn_id: str, **kwargs: Any) -> None:
            plain = address.startswith("ws://")
            super().__init__("wss://" + address[5:] if plain else address, conn_id, **kwargs)
            self.address = address

    cryptofeed.feed.WSAsyncConn = PlainWSAsyncConn


def run(ctx: Any, kind: str) -> None:
    allow_plain_ws()
    log = logging.getLogger("feedhandler")
    handler = ErrorLog(ctx, NAME)
    log.addHandler(handler)
    try:
        run_async(ctx, lambda: _main(ctx, kind), what=NAME)
    finally:
        log.removeHandler(handler)
        handler.close()


async def _main(ctx: Any, kind: str) -> None:
    from cryptofeed import FeedHandler
    from cryptofeed.defines import L2_BOOK, TICKER
    feed_cls = local_feed(ctx.ws_base, ctx.rest_base)
    # exchangeInfo, read by cryptofeed (synchronously) to map its symbols
    to_std = {ex: std for std, ex in feed_cls.symbol_mapping().items()}
    symbols = [to_std[s] for s in ctx.symbols]
    fh = FeedHandler(config={"uvloop": True, "log": {"disabled": True}})
    if kind == "tickers":
        tick = ctx.tick

        async def on_ticker(t: Any, receipt_timestamp: float) -> None:
            tick(int(t.raw["u"]))
        fh.add_feed(feed_cls(symbols=symbols, channels=[TICKER], callbacks={TICKER: on_ticker}))
    else:
        book = ctx.book
        from_std = {to_std[s]: s for s in ctx.symbols}

        async def on_book(ob: Any, receipt_timestamp: float) -> None:
            bids, asks = ob.book.bids, ob.book.asks
            book(from_std[ob.symbol], ob.sequence_number,
                 float(bids.index(0)[0]) if len(bids) else None,
                 float(asks.index(0)[0]) if len(asks) else None)
        fh.add_feed(feed_cls(symbols=symbols, channels=[L2_BOOK], callbacks={L2_BOOK: on_book},
                             depth_interval="100ms"))
    fh.run(start_loop=False, install_signal_handlers=False)
    try:
        await until_stopped(ctx.stop)
    finally:
        await fh.stop_async()

"""ccxt.pro (the ``ccxt`` distribution): ``watch_bids_asks(symbols)`` (Binance bookTicker) and
``watch_order_book(symbol)`` (its own book: REST snapshot + diffs) in await loops, as its docs
show. An await returns what changed since the previous one, so messages that arrive while the
user's code runs are merged: "tickers" counts the tickers the awaits returned (each with the
``u`` of the message ccxt kept) and "depth" one book read per await."""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from ._common import missing, run_async

NAME = "ccxt.pro"
PACKAGE = "ccxt"
POINTED = ("no patch: ccxt.pro.binance({'options': {'defaultType': 'spot', 'fetchMarkets': "
           "{'types': ['spot']}}}) then exchange.urls['api']['ws']['spot'] = ws_base + '/ws' and "
           "exchange.urls['api']['public'] = rest_base + '/api/v3' (its urls table, documented "
           "for overriding endpoints); load_markets reads exchangeInfo; asyncio on uvloop")
KINDS = frozenset({"tickers", "depth"})


def available() -> Optional[str]:
    return missing("ccxt.pro")


def exchange(ctx: Any) -> Any:
    """ccxt.pro's binance with its spot endpoints on the local server."""
    import ccxt.pro
    ex = ccxt.pro.binance({"options": {"defaultType": "spot",
                                       "fetchMarkets": {"types": ["spot"]}}})
    ex.urls["api"]["ws"]["spot"] = ctx.ws_base + "/ws"
    ex.urls["api"]["public"] = ctx.rest_base + "/api/v3"
    return ex


def run(ctx: Any, kind: str) -> None:
    run_async(ctx, lambda: _main(ctx, kind), what=NAME)


async def _main(ctx: Any, kind: str) -> None:
    ex = exchange(ctx)
    try:
        await ex.load_markets()
        unified = {m["id"]: m["symbol"] for m in ex.markets.values() if m.get("spot")}
        symbols = [unified[s] for s in ctx.symbols]
        if kind == "tickers":
            tick = ctx.tick
            while True:
                changed = await ex.watch_bids_asks(symbols)
                for t in changed.values():
                    tick(int(t["info"]["u"]))
        else:
            back = {unified[s]: s for s in ctx.symbols}
            await asyncio.gather(*(_depth(ctx, ex, s, back[s]) for s in symbols))
    finally:
        await ex.close()


async def _depth(ctx: Any, ex: Any, symbol: str, raw: str) -> None:
    book = ctx.book
    while True:
        ob = await ex.watch_order_book(symbol)
        bids, asks = ob["bids"], ob["asks"]
        nonce = ob.get("nonce")
        book(raw, int(nonce) if nonce is not None else None,
             float(bids[0][0]) if len(bids) else None, float(asks[0][0]) if len(asks) else None)

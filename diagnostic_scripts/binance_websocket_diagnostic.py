"""Binance WebSocket diagnostic (the reference script): does the WebSocket API answer, fast
and correctly? It checks fastws.BaseOperations: ping round trips, server time and the clock
offset, exchangeInfo filters (cached), a depth snapshot, market data calls, rate limits, a
signed request, and on the embedded simulator a dropped connection and a serverShutdown.

Usage:
    python diagnostic_scripts/binance_websocket_diagnostic.py                  # embedded simulator
    python diagnostic_scripts/binance_websocket_diagnostic.py --url ws://127.0.0.1:8765
    FASTWS_API_KEY=... FASTWS_PRIVATE_KEY_FILE=ed25519.pem \\
        python diagnostic_scripts/binance_websocket_diagnostic.py --venue binance-spot-testnet

Each test opens its own session (its own connection), has its own timeout and closes everything
when done; one failing test never stops the others. Output: a header, ``Test: <name>`` and
``✓ Test passed`` / ``✗ Test failed: why`` per test, then a summary ending ``N passed, M
failed``. Ctrl-C stops cleanly (connections closed) with exit status 130. Keys for ``--venue``
and ``--url`` come from the environment (see ``_api_target.py``), shown masked only.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _api_target import Target, run_checks  # noqa: E402
from _house import CheckFailed, expect, wait_for  # noqa: E402

from fastws.sim.conns import ApiConn  # noqa: E402


async def check_ping(t: Target) -> str:
    async with t.session() as api:
        rtts = []
        for _ in range(20):
            t0 = time.perf_counter()
            await api.ping()
            rtts.append((time.perf_counter() - t0) * 1e3)
        return f"20 pings, median {statistics.median(rtts):.2f} ms, max {max(rtts):.2f} ms"


async def check_clock(t: Target) -> str:
    async with t.session() as api:
        server = await api.server_time()
        clock = api.client.clock
        skew = server - time.time() * 1000
        expect(clock.uncertainty_ms < 1000, f"clock uncertainty {clock.uncertainty_ms:.0f} ms is too large")
        return (f"server time {server}, local clock off by {skew:+.0f} ms "
                f"(estimate {clock.offset_ms:+.1f} ± {clock.uncertainty_ms:.1f} ms from {clock.samples} samples)")


async def check_filters(t: Target) -> str:
    async with t.session() as api:
        f = await api.symbol_filters(t.symbol)
        expect(f.tick_size > 0 and f.step_size > 0, f"{t.symbol}: tick or step size missing")
        again = await api.symbol_filters(t.symbol)
        expect(again is f, "filters were not cached")
        return (f"{t.symbol} {f.status}: tick {f.tick_size.normalize()}, step {f.step_size.normalize()}, "
                f"min notional {f.min_notional.normalize()}")


async def check_depth(t: Target) -> str:
    async with t.session() as api:
        d = await api.depth(t.symbol, 5)
        bid, ask = d["bids"][0][0], d["asks"][0][0]
        from decimal import Decimal
        expect(Decimal(bid) < Decimal(ask), f"crossed snapshot: bid {bid} >= ask {ask}")
        return f"lastUpdateId {d['lastUpdateId']}, best {bid} / {ask}"


async def check_market_data(t: Target) -> str:
    async with t.session() as api:
        trades = await api.recent_trades(t.symbol, limit=5)
        agg = await api.aggregate_trades(t.symbol, limit=5)
        kl = await api.klines(t.symbol, "1m", limit=2)
        avg = await api.avg_price(t.symbol)
        tick = await api.ticker_24hr(t.symbol)
        book = await api.ticker_book(t.symbol)
        expect(len(kl[0]) == 12, "kline rows are not 12 long")
        return (f"{len(trades)} trades, {len(agg)} agg trades, {len(kl)} klines, avg {avg['price']}, "
                f"24h last {tick.get('lastPrice')}, book {book.get('bidPrice')}/{book.get('askPrice')}")


async def check_rate_limits(t: Target) -> str:
    async with t.session() as api:
        await api.exchange_info(t.symbol)
        w = api.client.remaining("REQUEST_WEIGHT")
        expect(w is not None and w > 0, f"no request weight left ({w})")
        return f"remaining request weight {w}, orders {api.client.remaining('ORDERS')}"


async def check_signed(t: Target) -> str:
    if not t.signed:
        raise CheckFailed("no API key in the environment (FASTWS_API_KEY)")
    async with t.session() as api:
        st = await api.account_status(omit_zero_balances=True)
        return (f"{t.describe_key()}, logged on: {api.client.logged_on}, "
                f"{len(st.get('balances', []))} non-zero balances")


async def check_reconnect(t: Target) -> str:
    async with t.session() as api:
        await api.ping()
        conn = [c for c in t.ex.all_connections if isinstance(c, ApiConn)][-1]
        t.ex.faults.close(conn=conn, how="reset")
        await wait_for(lambda: api.client.connections == 2 and api.client.connected, 10, "the reconnect")
        await api.ping()
        return f"reconnected (connection {api.client.connections}), logged on again: {api.client.logged_on}"


async def check_server_shutdown(t: Target) -> str:
    async with t.session() as api:
        await api.ping()
        t.ex.faults.server_shutdown(close_after=1.0)
        await wait_for(lambda: api.client.connections == 2, 10, "the new connection")
        for _ in range(5):
            await api.ping()
        return "serverShutdown: new connection opened first, requests kept flowing"


CHECKS = [
    ("connect and ping", check_ping, "any"),
    ("server time and clock offset", check_clock, "any"),
    ("exchangeInfo filters (cached)", check_filters, "any"),
    ("depth snapshot", check_depth, "any"),
    ("trades, klines, avgPrice, tickers", check_market_data, "venue"),
    ("rate limits known", check_rate_limits, "any"),
    ("signed request (account.status)", check_signed, "any"),
    ("dropped connection: reconnect and logon again", check_reconnect, "sim"),
    ("serverShutdown: make-before-break", check_server_shutdown, "sim"),
]


def main(argv: list[str] | None = None) -> int:
    return run_checks(__doc__, CHECKS, "Base Operations", argv)


if __name__ == "__main__":
    sys.exit(main())

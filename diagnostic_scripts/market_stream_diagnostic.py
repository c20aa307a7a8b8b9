"""Binance Market Stream WebSocket diagnostic: is live market data reaching this machine, correctly?

It checks fastws.MarketStream: connect and ``LIST_SUBSCRIPTIONS``, data flowing and parsing, an
order book syncing, no duplicate depth events; on the embedded simulator also the recovery
paths with injected faults: abrupt close, ``serverShutdown`` make-before-break (no gap), a gap
resyncing one book only, malformed frames, a silent stream healed.

Usage:
    python diagnostic_scripts/market_stream_diagnostic.py                      # embedded simulator
    python diagnostic_scripts/market_stream_diagnostic.py --url ws://127.0.0.1:8765
    python diagnostic_scripts/market_stream_diagnostic.py --venue binance-spot --symbol BTCUSDT

Each test opens its own MarketStream (its own connections), has its own timeout, and closes
everything when done; one failing test never stops the others. Output: a header, ``Test:
<name>`` and ``✓ Test passed`` / ``✗ Test failed: why`` per test, a summary ending ``N passed,
M failed``. Ctrl-C stops cleanly (connections closed) with exit status 130.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _house import add_target_arguments, expect, main_loop, wait_for  # noqa: E402

from fastws import BookTicker, DepthUpdate, MarketStream, Trade  # noqa: E402
from fastws.live import venue_for_url  # noqa: E402
from fastws.monitor import VENUES  # noqa: E402

Check = Callable[["Target"], Awaitable[str]]


class Target:
    """Where the checks connect: the embedded simulator or a real venue."""

    def __init__(self, symbol: str, venue_name: str | None, ca_file: str | None,
                 url: str | None = None) -> None:
        self.symbol = symbol.upper()
        self.s = symbol.lower()
        self.venue_name = venue_name
        self.url = url
        self.ca_file = ca_file
        self.ex: Any = None

    @property
    def sim(self) -> bool:
        """The embedded simulator (fault injection at hand)."""
        return self.venue_name is None and self.url is None

    async def __aenter__(self) -> "Target":
        if self.sim:
            from fastws.sim import Exchange
            from fastws.testing import fast_limits
            self.ex = Exchange([self.symbol, "ETHUSDT"],
                               limits=fast_limits("spot", ping_interval=1.0, pong_timeout=5.0))
            await self.ex.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.ex is not None:
            await self.ex.close()

    @property
    def venue(self) -> Any:
        if self.sim:
            return self.ex.venue
        if self.url:
            return venue_for_url(self.url, ca_file=self.ca_file)
        return VENUES[self.venue_name]  # type: ignore[index]

    def stream(self, streams: list[str], **kw: Any) -> MarketStream:
        kw.setdefault("min_silence", 2.0)
        return MarketStream(streams, venue=self.venue, ca_file=self.ca_file, **kw)


# -- checks -----------------------------------------------------------------------------------------


async def check_connect_and_confirm(t: Target) -> str:
    streams = [f"{t.s}@trade", f"{t.s}@bookTicker", f"{t.s}@depth@100ms"]
    async with t.stream(streams) as ms:
        conn = next(iter(ms.pool.shards.values()))
        expect(conn.confirmed == set(streams), f"LIST_SUBSCRIPTIONS shows {sorted(conn.confirmed)}")
        return f"{ms.connections} connection, {len(streams)} streams confirmed by LIST_SUBSCRIPTIONS"


async def check_data_flows(t: Target) -> str:
    got: dict[str, int] = {"bookTicker": 0, "trade": 0}
    async with t.stream([f"{t.s}@bookTicker", f"{t.s}@trade"]) as ms:
        ms.on(BookTicker, lambda ev: got.__setitem__("bookTicker", got["bookTicker"] + 1))
        ms.on(Trade, lambda ev: got.__setitem__("trade", got["trade"] + 1))
        await wait_for(lambda: got["bookTicker"] >= 5, 15, "5 bookTickers")
        await asyncio.sleep(1.0)
        st = ms.stats()
        expect(st.parse_errors == 0, f"{st.parse_errors} parse errors")
        return f"{got['bookTicker']} bookTickers, {got['trade']} trades, {st.msgs_per_s:.0f} msg/s, 0 parse errors"


async def check_book_sync(t: Target) -> str:
    async with t.stream([f"{t.s}@depth@100ms"]) as ms:
        await ms.wait_synced(timeout=15)
        book = ms.books[t.symbol]
        bid, ask = book.best_bid(), book.best_ask()
        expect(bid is not None and ask is not None and bid[0] < ask[0], f"book top {bid} / {ask}")
        await asyncio.sleep(1.0)
        expect(book.is_synced, "book lost its sync within a second")
        return (f"synced at update id {book.update_id}; {book.bid_count} bids / {book.ask_count} asks; "
                f"best {bid[0]!r} / {ask[0]!r}")  # type: ignore[index]


async def check_no_duplicates(t: Target) -> str:
    ids: list[int] = []
    async with t.stream([f"{t.s}@depth@100ms"]) as ms:
        ms.on(DepthUpdate, lambda ev: ids.append(ev.final_update_id))
        await wait_for(lambda: len(ids) >= 20, 15, "20 depth events")
    expect(all(b > a for a, b in zip(ids, ids[1:])), "depth ids not strictly increasing")
    return f"{len(ids)} depth events, ids strictly increasing"


async def check_reconnect(t: Target) -> str:
    async with t.stream([f"{t.s}@depth@100ms", f"{t.s}@trade"]) as ms:
        await ms.wait_synced(timeout=10)
        t.ex.faults.close(how="reset")
        await wait_for(lambda: ms.stats().reconnects == 1 and ms.connections == 1, 10, "a reconnect")
        conn = next(iter(ms.pool.shards.values()))
        await wait_for(lambda: conn.confirmed == set(conn.desired), 10, "subscriptions restored")
        await ms.wait_synced(timeout=10)
        return "abrupt close -> reconnected, subscriptions restored and listed, book synced"


async def check_server_shutdown(t: Target) -> str:
    ids: list[tuple[int, int]] = []
    async with t.stream([f"{t.s}@depth@100ms"]) as ms:
        ms.on(DepthUpdate, lambda ev: ids.append((ev.first_update_id, ev.final_update_id)))
        await ms.wait_synced(timeout=10)
        t.ex.faults.server_shutdown(close_after=1.0)
        await wait_for(lambda: ms.stats().connects == 2 and ms.connections == 1, 10, "the switch")
        await asyncio.sleep(0.5)
        st = ms.stats()
    breaks = [(a, b) for a, b in zip(ids, ids[1:]) if b[0] != a[1] + 1]
    expect(not breaks, f"depth chain broke at {breaks[:3]}")
    expect(st.reconnects == 0 and st.gaps == 0, f"{st.reconnects} reconnects, {st.gaps} gaps")
    return f"serverShutdown -> replaced make-before-break; {len(ids)} events, no gap, {st.duplicates} duplicates dropped"


async def check_gap_resync(t: Target) -> str:
    async with t.stream([f"{t.s}@depth@100ms", "ethusdt@depth@100ms"]) as ms:
        await ms.wait_synced(timeout=10)
        t.ex.faults.gap(t.symbol)
        await wait_for(lambda: ms.stats().gaps >= 1, 10, "the gap")
        await ms.wait_synced(timeout=10)
        expect(ms.syncs["ETHUSDT"].stats.resyncs == 0, "the other book resynced too")
        return f"gap on {t.symbol} -> that book alone resynced ({ms.syncs[t.symbol].stats.resyncs})"


async def check_malformed(t: Target) -> str:
    async with t.stream([f"{t.s}@trade", f"{t.s}@bookTicker"]) as ms:
        await wait_for(lambda: ms.stats().messages > 3, 10, "data")
        t.ex.faults.send_bad_frame("malformed")
        t.ex.faults.send_bad_frame("binary")
        await wait_for(lambda: ms.stats().parse_errors == 2, 5, "2 bad frames counted")
        n = ms.stats().messages
        await wait_for(lambda: ms.stats().messages > n + 3, 10, "data after the bad frames")
        expect(ms.stats().reconnects == 0, "reconnected over a bad frame")
        return "2 bad frames counted and logged; the stream went on"


async def check_silence(t: Target) -> str:
    async with t.stream([f"{t.s}@depth@100ms"], min_silence=1.0, silence_factor=5) as ms:
        await ms.wait_synced(timeout=10)
        t.ex.faults.stall(30.0)
        await wait_for(lambda: ms.stats().silences >= 1, 10, "silence detected")
        await wait_for(lambda: ms.stats().connects >= 2, 10, "a new connection")
        n = ms.stats().messages
        await wait_for(lambda: ms.stats().messages > n + 5, 10, "data again")
        return "stalled stream reported silent and healed by a new connection"


CHECKS: list[tuple[str, Check, str]] = [   # (name, check, "any" | "sim": needs fault injection)
    ("connect, subscribe, LIST_SUBSCRIPTIONS", check_connect_and_confirm, "any"),
    ("data flows and parses", check_data_flows, "any"),
    ("order book syncs", check_book_sync, "any"),
    ("no duplicate depth events", check_no_duplicates, "any"),
    ("abrupt close: reconnect and restore", check_reconnect, "sim"),
    ("serverShutdown: make-before-break", check_server_shutdown, "sim"),
    ("gap: that book alone resyncs", check_gap_resync, "sim"),
    ("malformed frames: counted, stream goes on", check_malformed, "sim"),
    ("silence: detected and healed", check_silence, "sim"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_arguments(ap)
    ap.add_argument("--symbol", default="BTCUSDT")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL,
                        format="  %(name)s: %(message)s")
    where = (f"running simulator at {args.url}" if args.url else
             f"venue {args.venue}" if args.venue else "embedded simulator")
    return main_loop(args, CHECKS, lambda: Target(args.symbol, args.venue, args.ca_file, args.url),
                     where, "Market Stream")


if __name__ == "__main__":
    sys.exit(main())

"""``fastws monitor SYMBOL... [--sim] [--venue NAME]``: a live view of symbols until Ctrl-C.

For each symbol it streams ``@ticker``, ``@trade``, ``@bookTicker`` and ``@depth@100ms``
through :class:`~fastws.market_stream.MarketStream` (book synced from snapshots), feeds a
:class:`~fastws.signals.SignalEngine` and prints, every ``--interval`` seconds::

    BTCUSDT: $67234.5600 | Vol: 1234 | 24h: +2.45%
      bid 67234.55 / ask 67234.57 | spread 0.02 | 412 msg/s | book synced
    SIGNAL: BUY | 0.723 | Positive momentum, Volume spike        (when a signal fires)

On a terminal the view is redrawn in place; otherwise (CI, a pipe) plain blocks of lines are
printed, so it works with no stdin and no tty. :class:`LiveView` is shared with
``fastws demo``.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from fastws.events import AggTrade, Ticker, Trade
from fastws.signals import Momentum, SignalEngine, VolumeSpike, format_signal
from fastws.venues import BINANCE_SPOT, BINANCE_SPOT_TESTNET, BINANCE_USDM, BINANCE_USDM_TESTNET, Venue

__all__ = ["VENUES", "LiveView", "streams_for", "main"]

#: Venues ``--venue`` accepts.
VENUES: dict[str, Venue] = {v.name: v for v in (BINANCE_SPOT, BINANCE_SPOT_TESTNET, BINANCE_USDM,
                                                 BINANCE_USDM_TESTNET)}


def streams_for(symbol: str, books: bool = True, market: str = "spot") -> list[str]:
    """The streams the live view needs for one symbol (USD-M has ``@aggTrade``, no ``@trade``)."""
    s = symbol.lower()
    trades = "trade" if market == "spot" else "aggTrade"
    out = [f"{s}@ticker", f"{s}@{trades}", f"{s}@bookTicker"]
    if books:
        out.append(f"{s}@depth@100ms")
    return out


def _fmt(x: float, digits: int = 8) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") or "0"


class LiveView:
    """Signal engines and the printed view for a set of symbols on one MarketStream.

    Parameters
    ----------
    ms : MarketStream
        The stream (its ``@ticker`` and ``@trade`` events feed the engines).
    symbols : sequence of str
    out : file, optional
        Where to print (stdout).
    tty : bool, optional
        Redraw in place (default: ``out.isatty()``).
    short_windows : bool
        Signal windows for a short session (5 s momentum over 30 s volatility, 2 s volume spikes
        against 30 s): signals can fire within a 20 s demo. Off: the library defaults (60 s, 300 s).
    """

    def __init__(self, ms: Any, symbols: Sequence[str], *, out: IO[str] | None = None,
                 tty: bool | None = None, short_windows: bool = False) -> None:
        self.ms = ms
        self.symbols = [s.upper() for s in symbols]
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.engines: dict[str, SignalEngine] = {}
        for sym in self.symbols:
            if short_windows:
                eng = SignalEngine(sym, momentum=Momentum(window_s=5, volatility_s=30, min_updates=5),
                                   volume=VolumeSpike(window_s=2, baseline_s=30, min_baseline_s=6))
            else:
                eng = SignalEngine(sym)
            self.engines[sym] = eng
        self.signals_fired = 0
        self._prev: dict[str, tuple[float, int]] = {}
        self._lines = 0
        ms.on(Trade, self._feed)
        ms.on(AggTrade, self._feed)
        ms.on(Ticker, self._feed)

    def _feed(self, ev: Any) -> None:
        eng = self.engines.get(ev.symbol)
        if eng is not None:
            eng.on_event(ev)

    def _rate(self, sym: str, stats: Any, now: float) -> float:
        total = 0
        prefix = sym.lower() + "@"
        for name, d in stats.streams.items():
            if name.startswith(prefix):
                total += d["messages"]
        prev = self._prev.get(sym)
        self._prev[sym] = (now, total)
        if prev is None or now - prev[0] <= 0:
            return 0.0
        return (total - prev[1]) / (now - prev[0])

    def lines(self) -> list[str]:
        """The view now, as lines."""
        stats = self.ms.stats()
        now = time.monotonic()
        now_ms = int(time.time() * 1000)
        out = []
        for sym in self.symbols:
            eng = self.engines[sym]
            line = eng.ticker_line() or f"{sym}: waiting for data"
            out.append(line)
            book = self.ms.books.get(sym)
            parts = []
            if book is not None and book.best_bid() is not None and book.best_ask() is not None:
                bid, ask = book.best_bid_price, book.best_ask_price
                parts.append(f"bid {_fmt(bid)} / ask {_fmt(ask)} | spread {_fmt(ask - bid)}")
            parts.append(f"{self._rate(sym, stats, now):.0f} msg/s")
            if book is not None:
                parts.append("book synced" if book.is_synced else "book resyncing")
            out.append("  " + " | ".join(parts))
            assessment = eng.assess(now_ms)
            if assessment.signal is not None:
                self.signals_fired += 1
                out.append(format_signal(assessment.signal))
            else:
                out.append(f"  signal: {assessment.status}")
        out.append(f"[{stats.msgs_per_s:.0f} msg/s total | {stats.connections} connection(s) | "
                   f"{stats.reconnects} reconnects | {stats.gaps} gaps | {stats.resyncs} resyncs | "
                   f"{stats.parse_errors} parse errors]")
        return out

    def note(self, text: str) -> None:
        """Print a message line; on a terminal the next view is drawn below it."""
        self.out.write(text + "\n")
        self.out.flush()
        self._lines = 0

    def render(self) -> None:
        """Print the view: redrawn in place on a terminal, a plain block otherwise."""
        lines = self.lines()
        if self.tty:
            if self._lines:
                self.out.write(f"\x1b[{self._lines}F\x1b[J")
            self.out.write("\n".join(lines) + "\n")
            self._lines = len(lines)
        else:
            self.out.write("\n".join(lines) + "\n\n")
        self.out.flush()


async def _monitor(args: argparse.Namespace) -> int:
    from fastws.market_stream import MarketStream
    symbols = [s.upper() for s in args.symbols]
    venue = VENUES[args.venue or "binance-spot"]
    streams = [n for s in symbols for n in streams_for(s, not args.no_books, venue.market)]
    if args.sim:
        from fastws.demo import _have_aiohttp
        from fastws.sim import Exchange
        async with Exchange(symbols, market=venue.market, rest=_have_aiohttp()) as ex:
            return await _watch(MarketStream(streams, venue=ex.venue), symbols, args)
    return await _watch(MarketStream(streams, venue=venue, ca_file=args.ca_file), symbols, args)


async def _watch(ms: Any, symbols: list[str], args: argparse.Namespace) -> int:
    async with ms:
        view = LiveView(ms, symbols, short_windows=args.short_windows)
        end = time.monotonic() + args.seconds if args.seconds else math.inf
        while time.monotonic() < end:
            await asyncio.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            view.render()
        print(ms.stats().summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fastws monitor", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("symbols", nargs="+", metavar="SYMBOL", help="e.g. BTCUSDT ETHUSDT")
    p.add_argument("--sim", action="store_true", help="watch the embedded simulator instead")
    p.add_argument("--venue", choices=sorted(VENUES), help="default binance-spot")
    p.add_argument("--ca-file", help="CA bundle for wss:// (default: the system store)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: Ctrl-C)")
    p.add_argument("--no-books", action="store_true", help="no depth stream / order books")
    p.add_argument("--short-windows", action="store_true",
                   help="signal windows for short sessions (5 s momentum, 2 s volume spikes)")
    args = p.parse_args(argv)
    if args.interval <= 0:
        p.error("--interval must be > 0")
    from fastws.connection import run
    try:
        return run(_monitor(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear one-line error, not a traceback
        print(f"fastws monitor: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``fastws monitor SYMBOL...``: a live view of symbols on a venue or a simulator, until Ctrl-C.

For each symbol it streams ``@ticker``, ``@trade``, ``@bookTicker`` and ``@depth@100ms``
through :class:`~fastws.market_stream.MarketStream` (book synced from snapshots), feeds a
:class:`~fastws.signals.SignalEngine` and shows, every ``--interval`` seconds::

    BTCUSDT: $67234.5600 | Vol: 1234 | 24h: +2.45%
      bid 67234.55 / ask 67234.57 | spread 0.02 | 412 msg/s | book synced
    SIGNAL: BUY | 0.723 | Positive momentum, Volume spike        (when a signal fires)

Where: Binance spot by default, ``--venue NAME`` another venue, ``--sim`` an embedded
simulator, ``--url ws://HOST:PORT`` a running ``fastws sim``; ``--bus nats://HOST:PORT`` reads
them from the NATS bus a ``fastws serve`` feeds (``--bus URL --sim`` for ``fastws serve --sim``),
books synced from the bus. On a terminal the view is one
redrawn screen; in a pipe or a log it prints plain blocks of lines. Ctrl-C ends it with the
summary (exit status 130).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import time
from typing import Any

from fastws.cliargs import ArgumentParser, non_negative, positive
from fastws.live import LiveScreen, LiveView, liven, sleep_or_stop, stop_event, streams_for, venue_for_url
from fastws.venues import BINANCE_SPOT, BINANCE_SPOT_TESTNET, BINANCE_USDM, BINANCE_USDM_TESTNET, Venue

__all__ = ["VENUES", "LiveView", "streams_for", "main", "connect_failure"]

#: Venues ``--venue`` accepts.
VENUES: dict[str, Venue] = {v.name: v for v in (BINANCE_SPOT, BINANCE_SPOT_TESTNET, BINANCE_USDM,
                                                 BINANCE_USDM_TESTNET)}


class _LastWarning(logging.Handler):
    """Keeps the last warning logged while connecting (the reason of the retries)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def connect_failure(exc: BaseException, venue: Venue, timeout: float, last: str | None = None) -> str:
    """One line saying what could not connect, where, and why."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        why = str(exc) or f"no connection within {timeout:g} s"
        if last:
            why += f"; last attempt: {last.split(': ', 1)[-1].removesuffix('; retrying')}"
    else:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if exc.__cause__ is not None and str(exc.__cause__):
            why += f" ({exc.__cause__})"
    return f"could not connect to {venue.name} at {venue.stream_url}: {why}"


async def _monitor(args: argparse.Namespace) -> int:
    from fastws.market_stream import MarketStream
    symbols = [s.upper() for s in args.symbols]
    if args.url:
        venue = venue_for_url(args.url, args.market or "spot", ca_file=args.ca_file)
    else:
        venue = VENUES[args.venue or "binance-spot"]
    streams = [n for s in symbols for n in streams_for(s, not args.no_books, venue.market)]
    if getattr(args, "bus", None):
        # the same view fed from a NATS bus (a `fastws serve` publishing these symbols)
        import dataclasses
        from fastws.bus.consumer import BusStream
        if args.sim:
            venue = dataclasses.replace(venue, name=f"sim-{args.market or 'spot'}")
        bus_venue = dataclasses.replace(venue, stream_url=args.bus)
        return await _watch(BusStream(streams, nats=args.bus, venue=venue,
                                      connect_timeout=args.timeout), bus_venue, symbols, args)
    if args.sim:
        from fastws.sim import Exchange
        async with Exchange(symbols, market=venue.market) as ex:
            liven(ex)
            return await _watch(MarketStream(streams, venue=ex.venue, connect_timeout=args.timeout),
                                ex.venue, symbols, args)
    return await _watch(MarketStream(streams, venue=venue, ca_file=args.ca_file,
                                     connect_timeout=args.timeout), venue, symbols, args)


async def _watch(ms: Any, venue: Venue, symbols: list[str], args: argparse.Namespace) -> int:
    stop, signals = stop_event()
    t0 = time.monotonic()
    lg = logging.getLogger("fastws")
    level = lg.level
    keep = _LastWarning()
    saved = (lg.handlers[:], lg.propagate)
    if not args.verbose:
        # the retries while connecting: the one line below says it all
        lg.setLevel(logging.WARNING)
        lg.handlers, lg.propagate = [keep], False
    try:
        await ms.start()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        await ms.close()
        print(f"fastws monitor: {connect_failure(exc, venue, args.timeout, keep.last)}",
              file=sys.stderr)
        return 1
    finally:
        lg.setLevel(level)
        lg.handlers, lg.propagate = saved
    try:
        print(f"fastws monitor: connected to {venue.name} at {venue.stream_url} "
              f"({len(symbols)} symbols, {len(ms.streams)} streams)", flush=True)
        short = args.short_windows or ((args.sim or bool(args.url)) and not args.long_windows)
        view = LiveView(ms, symbols, short_windows=short, verbose=args.verbose)
        end = t0 + args.seconds if args.seconds else math.inf
        with LiveScreen() as screen:
            while time.monotonic() < end:
                if await sleep_or_stop(stop, min(args.interval, max(0.0, end - time.monotonic()))):
                    break
                screen.show(view.lines())
        st = ms.stats()
    finally:
        await ms.close()
    elapsed = time.monotonic() - t0
    print(f"summary: {elapsed:.1f} s on {venue.name}, {st.summary()}, "
          f"{view.signals_fired} signal lines" + (" (interrupted)" if signals else ""), flush=True)
    return 130 if signals else 0


def build_parser() -> ArgumentParser:
    doc = __doc__.replace("``", "").replace(":class:", "").replace("`~", "").replace("`", "")
    p = ArgumentParser(prog="fastws monitor", description=doc.split("\n\n")[0],
                       epilog="\n\n".join(doc.split("\n\n")[1:]).replace("::", ":"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("symbols", nargs="+", metavar="SYMBOL", help="e.g. BTCUSDT ETHUSDT")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--sim", action="store_true", help="watch an embedded simulator")
    where.add_argument("--venue", choices=sorted(VENUES), help="a Binance venue (default binance-spot)")
    where.add_argument("--url", help="a running fastws sim, e.g. ws://127.0.0.1:8765")
    p.add_argument("--market", choices=("spot", "usdm"), help="with --url: the simulator's market")
    p.add_argument("--bus", metavar="NATS_URL",
                   help="read from a NATS bus that `fastws serve` feeds (with --venue, or --sim "
                        "for a `fastws serve --sim`) instead of connecting to the venue")
    p.add_argument("--ca-file", help="CA bundle for wss:// (default: the system store)")
    p.add_argument("--interval", type=positive, default=1.0, help="seconds between refreshes")
    p.add_argument("--seconds", type=non_negative, default=0.0, help="stop after this long (0: at Ctrl-C)")
    p.add_argument("--timeout", type=positive, default=15.0, help="seconds to wait for the connection")
    p.add_argument("--no-books", action="store_true", help="no depth stream / order books")
    p.add_argument("--short-windows", action="store_true",
                   help="signal windows for short sessions (5 s momentum, 2 s volume spikes); "
                        "the default on a simulator")
    p.add_argument("--long-windows", action="store_true",
                   help="the library's signal windows (60 s momentum, 300 s volume baseline); "
                        "the default on a venue")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="each detector's figures and why no signal fired, under every symbol")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.ca_file:
        import os
        if not os.path.isfile(args.ca_file):
            print(f"fastws monitor: --ca-file {args.ca_file}: no such file", file=sys.stderr)
            return 2
    from fastws.connection import run
    try:
        return run(_monitor(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except ValueError as exc:
        print(f"fastws monitor: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a clear one-line error, not a traceback
        print(f"fastws monitor: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

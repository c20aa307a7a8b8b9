"""``fastws demo``: the embedded simulator streamed through MarketStream, with books and signals.

It starts :class:`fastws.sim.Exchange` on loopback (no network, no keys), subscribes every
symbol's ``@ticker``, ``@trade``, ``@bookTicker`` and ``@depth@100ms`` through
:class:`~fastws.market_stream.MarketStream` (order books synced from WS API snapshots), and shows
the live view of ``fastws monitor`` for ``--seconds`` (default 20): last price, 24 h volume and
change, best bid/ask, spread, messages per second and the signal line per symbol.

With faults on (the default) the simulator misbehaves on purpose halfway through, the way
Binance does in production: a gap in one symbol's update ids (that book alone resyncs) and a
``serverShutdown`` (the connection is replaced make-before-break, nothing is lost). The summary
at the end says what happened. Exit status 0 when data flowed and every book ended synced;
Ctrl-C ends it early with the summary and exit status 130.

Works with no stdin and no terminal (CI): plain lines are printed instead of a redrawn screen.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from fastws.cliargs import ArgumentParser, positive
from fastws.live import LiveScreen, LiveView, liven, sleep_or_stop, stop_event, streams_for

__all__ = ["DEFAULT_SYMBOLS", "main", "run_demo"]

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")


async def run_demo(seconds: float = 20.0, symbols: tuple[str, ...] = DEFAULT_SYMBOLS, *,
                   interval: float = 1.0, faults: bool = True, tls: bool = False,
                   market: str = "spot", out: Any = None, tty: bool | None = None,
                   seed: int | None = None, verbose: bool = False) -> int:
    """The demo as a coroutine (``main`` runs it); returns the exit status."""
    from fastws.market_stream import MarketStream
    from fastws.sim import Exchange

    out = out or sys.stdout
    symbols = tuple(s.upper() for s in symbols)
    streams = [n for s in symbols for n in streams_for(s, market=market)]
    stop, signals = stop_event()
    t0 = time.monotonic()
    kw: dict[str, Any] = {} if seed is None else {"seed": seed}
    async with Exchange(list(symbols), market=market, tls=tls, rate=80.0, **kw) as ex:
        liven(ex)
        print(f"fastws demo: simulator ({market}) at {ex.venue.stream_url}; "
              f"{len(streams)} streams for {', '.join(symbols)}; {seconds:g} s", file=out, flush=True)
        async with MarketStream(streams, venue=ex.venue) as ms:
            view = LiveView(ms, symbols, short_windows=True, verbose=verbose)
            end = t0 + seconds
            fault_times = [t0 + seconds * 0.4, t0 + seconds * 0.6] if faults else []
            with LiveScreen(out, tty=tty) as screen:
                while True:
                    now = time.monotonic()
                    if now >= end:
                        break
                    if fault_times and now >= fault_times[0]:
                        fault_times.pop(0)
                        if len(fault_times) == 1:
                            screen.note(f"-- fault: {symbols[0]} update ids skip ahead (a gap)")
                            ex.faults.gap(symbols[0])
                        elif ex.connections:
                            screen.note("-- fault: serverShutdown on the stream connection")
                            ex.faults.server_shutdown(conn=ex.connections[0], close_after=1.0)
                    if await sleep_or_stop(stop, min(interval, end - now)):
                        break
                    screen.show(view.lines())
            if not signals:
                try:
                    await ms.wait_synced(timeout=3.0)
                except TimeoutError:
                    pass
            st = ms.stats()
            synced = sum(1 for s in symbols if s in ms.books and ms.books[s].is_synced)
        elapsed = time.monotonic() - t0
    print(f"summary: {elapsed:.1f} s, {st.messages} messages ({st.messages / max(elapsed, 1e-9):.0f}/s), "
          f"{st.reconnects} reconnects, {st.server_shutdowns} server shutdowns handled, "
          f"{st.gaps} gaps, {st.resyncs} resyncs, {st.parse_errors} parse errors, "
          f"{view.signals_fired} signal lines, books synced {synced}/{len(symbols)}"
          + (" (interrupted)" if signals else ""), file=out, flush=True)
    if signals:
        return 130
    return 0 if st.messages > 0 and synced == len(symbols) else 1


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="fastws demo", description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("--seconds", type=positive, default=20.0, help="how long to run (default 20)")
    p.add_argument("--symbols", nargs="+", default=list(DEFAULT_SYMBOLS), metavar="SYMBOL")
    p.add_argument("--interval", type=positive, default=1.0, help="seconds between refreshes")
    p.add_argument("--no-faults", action="store_true", help="no gap / serverShutdown halfway")
    p.add_argument("--tls", action="store_true", help="serve wss:// with a generated CA")
    p.add_argument("--market", choices=("spot", "usdm"), default="spot")
    p.add_argument("--seed", type=int, help="seed of the simulated market (default: a fixed one)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="each detector's figures and why no signal fired, under every symbol")
    args = p.parse_args(argv)
    try:
        from fastws.sim.cli import parse_symbols
        symbols = tuple(parse_symbols(",".join(args.symbols)))
    except ValueError as exc:
        p.error(str(exc))
    from fastws.connection import run
    try:
        return run(run_demo(args.seconds, symbols, interval=args.interval,
                            faults=not args.no_faults, tls=args.tls, market=args.market,
                            seed=args.seed, verbose=args.verbose))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"fastws demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

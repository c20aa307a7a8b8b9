"""Binance Stream Stability WebSocket diagnostic: does a multi-symbol ticker stream stay up?

It holds ``<symbol>@ticker`` for several symbols on one fastws.MarketStream for ``--seconds``
(default 60), prints each symbol's price line every ``--every`` seconds
(``BTCUSDT: $67234.5600 | Vol: 1234 | 24h: +2.45%``), and counts the messages per symbol, the
reconnects and the longest silence of each symbol. On the embedded simulator the connection is
cut once halfway (``--no-faults``: not) so the reconnect path is part of the run. It ends with
a verdict: STABLE when every symbol kept updating (no silence longer than ``--max-silence``
seconds) and every reconnect was recovered, UNSTABLE with the reasons otherwise.

Usage:
    python diagnostic_scripts/stream_stability_diagnostic.py                   # embedded simulator
    python diagnostic_scripts/stream_stability_diagnostic.py --seconds 300 --url ws://127.0.0.1:8765
    python diagnostic_scripts/stream_stability_diagnostic.py --venue binance-spot --symbols BTCUSDT ETHUSDT

Output: a header, ``Test: <name>`` and ``✓ Test passed`` / ``✗ Test failed: why`` per test,
the summary ending ``N passed, M failed`` and the verdict. Ctrl-C stops cleanly (connections
closed) with exit status 130.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _house import GREEN, RED, RESET, add_target_arguments, expect, main_loop, wait_for  # noqa: E402

from fastws import MarketStream, Ticker, format_ticker  # noqa: E402
from fastws.live import liven, venue_for_url  # noqa: E402
from fastws.monitor import VENUES  # noqa: E402

ARGS: argparse.Namespace
#: what the stability test found, for the verdict
FOUND: dict[str, Any] = {}


class Tally:
    """Per-symbol counts of one run: messages, last ticker, longest silence."""

    def __init__(self, symbols: list[str]) -> None:
        self.count = {s: 0 for s in symbols}
        self.last: dict[str, Any] = {}
        self.last_t = {s: time.monotonic() for s in symbols}
        self.longest = {s: 0.0 for s in symbols}

    def on_ticker(self, ev: Any) -> None:
        s = ev.symbol
        if s not in self.count:
            return
        now = time.monotonic()
        if self.count[s]:
            self.longest[s] = max(self.longest[s], now - self.last_t[s])
        self.count[s] += 1
        self.last_t[s] = now
        self.last[s] = (ev.last_price, ev.volume, ev.price_change_percent)

    def close(self) -> None:
        """Count the silence still running at the end."""
        now = time.monotonic()
        for s in self.count:
            self.longest[s] = max(self.longest[s], now - self.last_t[s])


class Target:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.symbols = [s.upper() for s in args.symbols]
        self.ex: Any = None

    @property
    def sim(self) -> bool:
        return self.args.venue is None and self.args.url is None

    async def __aenter__(self) -> "Target":
        if self.sim:
            from fastws.sim import Exchange
            self.ex = Exchange(self.symbols)
            await self.ex.start()
            liven(self.ex)                    # prices that move, and 24 h statistics
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.ex is not None:
            await self.ex.close()

    @property
    def venue(self) -> Any:
        if self.sim:
            return self.ex.venue
        if self.args.url:
            return venue_for_url(self.args.url, ca_file=self.args.ca_file)
        return VENUES[self.args.venue]

    def stream(self) -> MarketStream:
        return MarketStream([f"{s.lower()}@ticker" for s in self.symbols], venue=self.venue,
                            ca_file=self.args.ca_file)


async def check_connect(t: Target) -> str:
    async with t.stream() as ms:
        conn = next(iter(ms.pool.shards.values()))
        expect(conn.confirmed == set(ms.streams), f"LIST_SUBSCRIPTIONS shows {sorted(conn.confirmed)}")
        tally = Tally(t.symbols)
        ms.on(Ticker, tally.on_ticker)
        await wait_for(lambda: all(tally.count.values()), 15, "a ticker of every symbol")
        return f"{len(ms.streams)} ticker streams confirmed, every symbol updating"


async def check_stability(t: Target) -> str:
    seconds, every = ARGS.seconds, ARGS.every
    tally = Tally(t.symbols)
    faults = t.sim and not ARGS.no_faults
    injected = 0
    async with t.stream() as ms:
        ms.on(Ticker, tally.on_ticker)
        t0 = time.monotonic()
        cut_at = t0 + seconds / 2 if faults else float("inf")
        next_print = t0 + min(every, seconds)
        while (now := time.monotonic()) < t0 + seconds:
            if now >= cut_at:
                cut_at = float("inf")
                t.ex.faults.close(how="reset")
                injected += 1
                print(f"  -- fault: the connection is cut (reset) at {now - t0:.1f} s", flush=True)
            if now >= next_print:
                next_print += every
                for s in t.symbols:
                    last = tally.last.get(s)
                    line = format_ticker(s, *last) if last else f"{s}: no ticker yet"
                    print(f"  {line} | {tally.count[s]} msgs", flush=True)
            await asyncio.sleep(0.05)
        tally.close()
        st = ms.stats()
    total = sum(tally.count.values())
    FOUND.update(seconds=seconds, total=total, reconnects=st.reconnects, injected=injected,
                 tally=tally, max_silence=ARGS.max_silence)
    silent = {s: round(v, 1) for s, v in tally.longest.items() if v > ARGS.max_silence}
    dead = [s for s, n in tally.count.items() if n == 0]
    expect(not dead, f"no ticker at all from {', '.join(dead)}")
    expect(not silent, f"silent longer than {ARGS.max_silence:g} s: {silent}")
    expect(st.reconnects >= injected, f"{injected} cuts but {st.reconnects} reconnects")
    per = ", ".join(f"{s} {n}" for s, n in tally.count.items())
    return (f"{total} messages in {seconds:g} s ({per}); {st.reconnects} reconnects"
            f"{f' ({injected} injected)' if injected else ''}; longest silence "
            f"{max(tally.longest.values()):.1f} s")


CHECKS = [
    ("connect and subscribe the ticker streams", check_connect, "any"),
    ("stream stability", check_stability, "any"),
]


def verdict() -> str:
    if not FOUND:
        return f"{RED}Verdict: UNSTABLE: the stability test did not complete{RESET}"
    tally = FOUND["tally"]
    silent = [s for s, v in tally.longest.items() if v > FOUND["max_silence"]]
    dead = [s for s, n in tally.count.items() if n == 0]
    facts = (f"{FOUND['total']} messages in {FOUND['seconds']:g} s, {FOUND['reconnects']} reconnects"
             f" ({FOUND['injected']} injected), longest silence {max(tally.longest.values()):.1f} s")
    if dead or silent or FOUND["reconnects"] < FOUND["injected"]:
        why = "; ".join(filter(None, [dead and f"no data from {', '.join(dead)}",
                                      silent and f"too long silent: {', '.join(silent)}"]))
        return f"{RED}Verdict: UNSTABLE: {why or 'a cut was not recovered'} ({facts}){RESET}"
    return f"{GREEN}Verdict: STABLE: every symbol kept updating ({facts}){RESET}"


def main(argv: list[str] | None = None) -> int:
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_arguments(ap)
    ap.add_argument("--symbols", nargs="+", default=["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the run (default 60)")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between price lines (default 5)")
    ap.add_argument("--max-silence", type=float, default=5.0,
                    help="longest acceptable gap between two tickers of a symbol (default 5 s)")
    ap.add_argument("--no-faults", action="store_true", help="no connection cut halfway on the simulator")
    ARGS = ap.parse_args(argv)
    if ARGS.seconds <= 0 or ARGS.every <= 0 or ARGS.max_silence <= 0:
        ap.error("--seconds, --every and --max-silence must be > 0")
    ARGS.timeout = max(ARGS.timeout, ARGS.seconds + 30)
    logging.basicConfig(level=logging.INFO if ARGS.verbose else logging.CRITICAL,
                        format="  %(name)s: %(message)s")
    where = (f"running simulator at {ARGS.url}" if ARGS.url else
             f"venue {ARGS.venue}" if ARGS.venue else "embedded simulator")
    rc = main_loop(ARGS, CHECKS, lambda: Target(ARGS), where, "Stream Stability")
    if rc != 130:
        print(verdict(), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""Soak: MarketStream against the simulator with a link fault every few seconds (not CI).

Run from the repository root::

    python bench/soak_links.py --minutes 15          # the full soak
    python bench/soak_links.py --minutes 3 --every 5 # a short one

Every ``--every`` seconds one fault from :data:`FAULTS` is injected (round robin). Reported
every 30 s and at the end: RSS and open file descriptors of the process, trades lost outside
the fault windows (the lossy faults get a window: the outage they cause), trades and depth
events duplicated (must be 0), reconnects, and at the end whether every book is synced and
equal to the simulator's own book.

The accounting is done as the events arrive, in a few counters per stream (no list of every
event received), so the process's RSS is the library's and the simulator's, not the harness's.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import defaultdict
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastws.events import DepthUpdate, Trade  # noqa: E402
from fastws.market_stream import MarketStream  # noqa: E402
from fastws.sim import Exchange, ManualClock  # noqa: E402
from fastws.testing import fast_limits  # noqa: E402

SYMS = ["BTCUSDT", "ETHUSDT"]
STREAMS = ["btcusdt@depth@100ms", "ethusdt@depth@100ms", "btcusdt@trade", "ethusdt@trade"]
LOSSY_WINDOW = 6.0   # seconds after a lossy fault during which lost trades are the fault's own

Fault = tuple[str, bool, Callable[[Exchange], Any]]


def _faults() -> list[Fault]:
    """(name, lossy, inject)."""
    return [
        ("serverShutdown", False, lambda ex: ex.faults.server_shutdown(close_after=3.0)),
        ("lagging replacement", False,
         lambda ex: (ex.faults.lag_new_links(0.3), ex.faults.server_shutdown(close_after=4.0))),
        ("shutdown on the replacement", False,
         lambda ex: (ex.faults.shutdown_new_link(after=0.02, close_after=0.3),
                     ex.faults.server_shutdown(close_after=3.0))),
        ("reset", True, lambda ex: ex.faults.close(how="reset")),
        ("close 1011", True, lambda ex: ex.faults.close(code=1011, reason="soak")),
        ("429 Retry-After 1 + reset", True,
         lambda ex: (ex.faults.refuse_upgrades(429, count=1, retry_after=1), ex.faults.close(how="reset"))),
        ("fragments", False, lambda ex: ex.faults.fragment_frames(size=50, count=40)),
        ("unsubscribed frames", False, lambda ex: ex.faults.send_unsubscribed("xrpusdt@trade", 3)),
        ("stray control error", False, lambda ex: ex.faults.control_errors_without_id(count=1)),
        ("endless continuation", True, lambda ex: ex.faults.endless_continuation(chunk=1 << 20)),
        ("slow 0.2 s, lifted", False,
         lambda ex: (ex.faults.slow(0.2), asyncio.get_running_loop().call_later(1.0, ex.faults.slow, 0.0))),
        ("drop new link + reset", True,
         lambda ex: (ex.faults.drop_new_links(after=0.3, count=1), ex.faults.close(how="reset"))),
    ]


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def soak(minutes: float, every: float) -> int:
    limits = fast_limits("spot", ping_interval=1.0, pong_timeout=5.0)
    clock = ManualClock(int(time.time()) * 1000)
    windows: list[tuple[float, float]] = []
    counts: dict[str, int] = defaultdict(int)
    # per stream, updated as events arrive: [last id, delivered, lost inside, lost outside,
    # repeated or backwards]
    trades: dict[str, list[int]] = defaultdict(lambda: [-1, 0, 0, 0, 0])
    depth: dict[str, list[int]] = defaultdict(lambda: [-1, 0, 0])   # [last u, delivered, repeated]

    def in_window(t: float) -> bool:
        for w0, w1 in reversed(windows):        # the recent ones first
            if w0 <= t <= w1:
                return True
            if w1 < t - 2 * LOSSY_WINDOW:
                break
        return False

    def on_trade(ev: Trade) -> None:
        st = trades[ev.stream]
        tid = ev.trade_id
        st[1] += 1
        if st[0] >= 0:
            if tid <= st[0]:
                st[4] += 1
                return
            if tid > st[0] + 1:
                st[2 if in_window(time.monotonic()) else 3] += tid - st[0] - 1
        st[0] = tid

    def on_depth(ev: DepthUpdate) -> None:
        st = depth[ev.stream]
        st[1] += 1
        if ev.final_update_id <= st[0]:
            st[2] += 1
        st[0] = max(st[0], ev.final_update_id)
    async with Exchange(SYMS, limits=limits, clock=clock) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, min_silence=2.0, connect_timeout=10) as ms:
            ms.on(Trade, on_trade)
            ms.on(DepthUpdate, on_depth)
            stop = asyncio.Event()

            async def drive() -> None:
                while not stop.is_set():
                    await ex.advance(50)
                    await asyncio.sleep(0.01)
            driver = asyncio.create_task(drive())
            faults = _faults()
            t0 = time.monotonic()
            end = t0 + minutes * 60
            i = 0
            next_report = t0
            samples = []
            while time.monotonic() < end:
                name, lossy, inject = faults[i % len(faults)]
                i += 1
                now = time.monotonic()
                try:
                    inject(ex)
                    counts[name] += 1
                except KeyError:
                    counts[name + " (no link open)"] += 1
                if lossy:
                    windows.append((now, now + LOSSY_WINDOW))
                await asyncio.sleep(every)
                if time.monotonic() >= next_report:
                    samples.append((time.monotonic() - t0, _rss_mb(), _fds()))
                    st = ms.stats()
                    print(f"t={samples[-1][0]:6.0f} s  RSS {samples[-1][1]:6.1f} MB  fds {samples[-1][2]:3d}  "
                          f"reconnects {st.reconnects}  cutovers/shutdowns {st.server_shutdowns}  "
                          f"messages {st.messages}", flush=True)
                    next_report += 30
            ex.faults.clear()
            await asyncio.sleep(3)
            stop.set()
            await driver
            # books: stop the market on a boundary and compare with the simulator
            await ex.advance(1000 - ex.now_ms() % 1000)
            await ex.advance(1000)
            equal = True
            try:
                await ms.wait_synced(SYMS, 15)
                await asyncio.sleep(0.5)
                for sym in SYMS:
                    book = ms.books[sym]
                    bids, asks = ex.book(sym)
                    gb, ga = book.top(None)
                    equal &= (book.update_id == ex.update_id(sym)
                              and [[float(p), float(q)] for p, q in bids] == gb.tolist()
                              and [[float(p), float(q)] for p, q in asks] == ga.tolist())
            except Exception as exc:
                print("books not synced:", exc)
                equal = False
            st = ms.stats()
    lost_inside = sum(v[2] for v in trades.values())
    lost_outside = sum(v[3] for v in trades.values())
    dup = sum(v[4] for v in trades.values()) + sum(v[2] for v in depth.values())
    samples.append((time.monotonic() - t0, _rss_mb(), _fds()))
    print()
    print(f"duration {minutes:g} min, a fault every {every:g} s: {sum(counts.values())} faults")
    for k, v in sorted(counts.items()):
        print(f"  {v:4d} x {k}")
    print(f"trades delivered {sum(v[1] for v in trades.values())}, depth events "
          f"{sum(v[1] for v in depth.values())}; trades lost inside fault windows {lost_inside}; "
          f"lost outside {lost_outside}; duplicated or backwards (trades + depth) {dup}")
    print(f"reconnects {st.reconnects}, serverShutdowns {st.server_shutdowns}, gaps {st.gaps}, "
          f"resyncs {st.resyncs}, parse errors {st.parse_errors}")
    print(f"RSS first/last/max {samples[0][1]:.1f}/{samples[-1][1]:.1f}/{max(s[1] for s in samples):.1f} MB; "
          f"fds first/last/max {samples[0][2]}/{samples[-1][2]}/{max(s[2] for s in samples)}")
    print(f"books equal to the simulator's at the end: {equal}")
    return 0 if (dup == 0 and lost_outside == 0 and equal) else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--every", type=float, default=5.0)
    args = ap.parse_args()
    try:
        import uvloop
        raise SystemExit(uvloop.run(soak(args.minutes, args.every)))
    except ImportError:
        raise SystemExit(asyncio.run(soak(args.minutes, args.every)))


if __name__ == "__main__":
    main()

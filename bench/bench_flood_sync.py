"""Flood sync: how many snapshots each book needs, and how long until every book is synced,
under a diff-depth flood far beyond Binance's rate.

Method: a simulator (``fastws.sim.Exchange``) with ``--books`` symbols, its clock moved in real
time (50 ms steps); from the start each symbol floods ``--rate`` extra genuine diff-depth
events per second (``ex.faults.flood_depth``: each takes the next update id and restates
``--levels`` levels, so books stay checkable) and every depth snapshot is answered
``--delay`` seconds late (``ex.faults.delay_responses``: a venue slowed by the flood). A
``MarketStream`` subscribes ``<symbol>@depth@100ms`` for every symbol; we time until every
book is synced (``--timeout`` at most) and read each book's ``BookSync.stats``.

Run it once per code version (``PYTHONPATH=<checkout>`` for an older one) on an otherwise idle
machine; figures go to bench/README.md ("Flood sync").

    python bench/bench_flood_sync.py --books 4 --rate 20000 --delay 0.5 [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from typing import Any

from fastws.market_stream import MarketStream
from fastws.sim import Exchange, ManualClock
from fastws.testing import fast_limits

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT"]


async def run(books: int, rate: int, delay: float, levels: int, timeout: float) -> dict[str, Any]:
    syms = SYMBOLS[:books]
    limits = fast_limits("spot", ping_interval=1.0, pong_timeout=5.0)
    clock = ManualClock((int(time.time()) // 1) * 1000)
    async with Exchange(syms, limits=limits, clock=clock) as ex:
        for s in syms:
            ex.faults.flood_depth(s, per_second=rate, seconds=timeout + 10, levels=levels)
        if delay > 0:
            ex.faults.delay_responses(delay, methods="depth")
        stop = asyncio.Event()

        async def drive() -> None:
            t0 = time.monotonic()
            done = 0
            while not stop.is_set():
                due = int((time.monotonic() - t0) * 1000) // 50 * 50
                if due > done:
                    await ex.advance(due - done)
                    done = due
                await asyncio.sleep(0.005)

        driver = asyncio.create_task(drive())
        t0 = time.monotonic()
        synced_at: float | None = None
        async with MarketStream([f"{s.lower()}@depth@100ms" for s in syms], venue=ex.venue,
                                connect_timeout=30) as ms:
            try:
                await ms.wait_synced(timeout=timeout)
                synced_at = time.monotonic() - t0
            except TimeoutError:
                pass
            st = {s: ms.syncs[s].stats for s in syms}
            msgs = ms.stats().messages
        stop.set()
        await driver
    snaps = [st[s].snapshots for s in syms]
    return {
        "books": books, "rate_per_book": rate, "snapshot_delay_s": delay, "levels": levels,
        "all_synced_s": None if synced_at is None else round(synced_at, 2),
        "snapshots_per_book": snaps,
        "snapshots_mean": round(statistics.mean(snaps), 1),
        "stale_snapshots": sum(st[s].stale_snapshots for s in syms),
        "buffer_dropped": sum(st[s].buffer_dropped for s in syms),
        "messages": msgs,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--books", type=int, default=4)
    ap.add_argument("--rate", type=int, default=20_000, help="flood events per second per book")
    ap.add_argument("--delay", type=float, default=0.5, help="seconds each snapshot answer takes")
    ap.add_argument("--levels", type=int, default=5, help="levels restated by each flood event")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    out = asyncio.run(run(args.books, args.rate, args.delay, args.levels, args.timeout))
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>20}: {v}")


if __name__ == "__main__":
    main()

"""Per-update cost of fastws.ring and fastws.signals, side by side with plain Python containers.

What is measured (one process, ``timeit`` best of ``--repeat`` runs, nanoseconds per call):

* ``RingBuffer.append`` vs ``collections.deque(maxlen=...).append`` (the floor for a Python
  append) and ``RecordRing.append(t, price, qty)``;
* ``RingBuffer.mean(n)`` over 1 000 of 4 096 samples vs ``statistics.fmean`` over the same
  slice of a deque (what a bot would otherwise write);
* ``SignalEngine.on_trade`` (float inputs, 1 trade per ms, so a bar is flushed every 1 000
  trades) and ``SignalEngine.assess`` with the default 60 s / 300 s lookbacks.

Data: synthetic floats; no I/O. Results are given in ns and as ratios to the deque floor.
The machine is shared: absolute figures move by tens of percent, the ratios less.

Run: ``.venv/bin/python bench/bench_signals.py [--repeat 5] [--json]``
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import timeit
from collections import deque
from typing import Any, Callable

from fastws.ring import RecordRing, RingBuffer
from fastws.signals import SignalEngine

T0 = 1_700_000_000_000


def best_ns(fn: Callable[[], Any], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--number", type=int, default=200_000)
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    args = ap.parse_args(argv)
    n, r = args.number, args.repeat

    d: deque[float] = deque(maxlen=4096)
    rb = RingBuffer(4096)
    rr = RecordRing(4096)
    for i in range(4096):
        d.append(float(i))
        rb.append(float(i))
        rr.append(i, float(i), 1.0)
    counter = itertools.count(4096)

    res: dict[str, float] = {}
    res["deque.append"] = best_ns(lambda: d.append(1.5), n, r)
    res["RingBuffer.append"] = best_ns(lambda: rb.append(1.5), n, r)
    res["RecordRing.append"] = best_ns(lambda: rr.append(next(counter), 1.5, 2.5), n, r)
    res["RingBuffer.mean(1000)"] = best_ns(lambda: rb.mean(1000), n // 20, r)
    res["fmean(deque[-1000:])"] = best_ns(
        lambda: statistics.fmean(itertools.islice(d, 4096 - 1000, None)), n // 200, r
    )

    eng = SignalEngine("BTCUSDT")
    clock = itertools.count(T0)
    price = [100.0]

    def trade() -> None:
        price[0] *= 1.000001
        eng.on_trade(next(clock), price[0], 0.5, False)

    res["SignalEngine.on_trade"] = best_ns(trade, n, r)
    res["SignalEngine.assess"] = best_ns(eng.assess, n // 200, r)

    floor = res["deque.append"]
    if args.json:
        json.dump({"ns": res, "ratio_to_deque_append": {k: v / floor for k, v in res.items()}},
                  sys.stdout, indent=2)
        print()
    else:
        print(f"{'operation':28} {'ns/call':>10} {'x deque.append':>15}")
        for k, v in res.items():
            print(f"{k:28} {v:10.0f} {v / floor:15.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

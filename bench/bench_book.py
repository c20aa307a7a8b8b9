"""Order book benchmark: fastws.OrderBook against the usual Python books, on real and synthetic depth.

What is measured (one process, all books side by side in the same run, best of ``--repeat``):

* **per message**: apply one diff-depth message, then ask for the best bid and the best ask
  (price and quantity). Reported in ns per message and ns per level update.
* **apply only** (fastws): ns per level inside ``OrderBook.apply``, on the real captures and
  amortised over large synthetic messages (1000 levels each, so the per-call cost vanishes).
* **best bid/ask from Python** (fastws): ``book.best_bid()`` and ``book.best_bid_price``.

Data:

* ``spot``: the BTCUSDT spot session of ``shared/binance/recorded`` (part1 + part2, 6,493
  ``depth@100ms`` events after the snapshot, about 40 levels each), parsed by fastws.parser
  beforehand (parsing is not timed).
* ``usdm``: the BTCUSDT USD-M capture of 2024-08-08 (6,547 ``depth@0ms`` events).
* ``synthetic``: a seeded random walk of the mid price, 10-level messages near the top with
  one level in four deleted, plus a 1000x1000 snapshot; same stream for every book.

Competitors (each gets its natural input: fastws the parser's DepthUpdate with numpy arrays,
the Python books lists of ``[price, qty]`` floats, as ``json.loads`` + ``float`` would give):

* ``dict-sorted``: two dicts, best price by sorting the side on read (the common approach);
* ``SortedDict``: ``sortedcontainers.SortedDict`` per side, best via ``peekitem``;
* ``order-book``: the ``order-book`` C extension (``order_book.OrderBook``), best via ``index(0)``.

Run: ``python bench/bench_book.py [--repeat 5] [--json] [--data spot,usdm,synthetic]``.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastws.book import OrderBook  # noqa: E402
from fastws.events import DepthUpdate  # noqa: E402

RECORDED = Path(os.environ.get("FASTWS_SHARED_DIR", ROOT.parent / "shared")) / "binance" / "recorded"
CAPTURES = {
    "spot": ("spot", ["hftbacktest_spot_btcusdt_20240808_part1.gz",
                      "hftbacktest_spot_btcusdt_20240809_part2.gz"]),
    "usdm": ("usdm", ["hftbacktest_usdm_btcusdt_20240808.gz"]),
}


# ---------------------------------------------------------------- data

class Dataset:
    def __init__(self, name: str, tick: str, snapshot: tuple[list, list], events: list[DepthUpdate]):
        self.name = name
        self.tick = tick
        self.snap_bids, self.snap_asks = snapshot
        self.events = events
        self.lists = [(e.bids.tolist(), e.asks.tolist()) for e in events]
        self.levels = sum(len(b) + len(a) for b, a in self.lists)


def load_capture(name: str) -> Dataset:
    from fastws.captures import RecordKind, read_capture
    from fastws.parser import Parser

    market, files = CAPTURES[name]
    parser = Parser(market=market)
    snap = None
    events: list[DepthUpdate] = []
    for rec in read_capture([RECORDED / f for f in files]):
        if rec.kind is RecordKind.SNAPSHOT:
            snap = orjson.loads(rec.payload)
        elif b"@depth" in rec.payload[:40]:
            events.append(parser.parse(rec.payload))
    assert snap is not None
    L = snap["lastUpdateId"]  # keep the chain from the bridging event on
    events = [e for e in events
              if (e.final_update_id > L if market == "spot" else e.final_update_id >= L)]
    bids = [[float(p), float(q)] for p, q in snap["bids"]]
    asks = [[float(p), float(q)] for p, q in snap["asks"]]
    return Dataset(name, "0.01" if market == "spot" else "0.1", (bids, asks), events)


def synthetic(n_events: int = 20_000, levels: int = 10, seed: int = 7) -> Dataset:
    rng = np.random.default_rng(seed)
    tick = 0.01
    mid = 6_000_000  # ticks
    snap_b = [[(mid - 1 - i) * tick, float(rng.integers(1, 500)) / 100] for i in range(1000)]
    snap_a = [[(mid + 1 + i) * tick, float(rng.integers(1, 500)) / 100] for i in range(1000)]
    events = []
    for k in range(n_events):
        mid += int(rng.integers(-3, 4))
        offs = rng.integers(1, 60, size=levels)
        qty = rng.integers(0, 500, size=levels) / 100
        qty[rng.random(levels) < 0.25] = 0.0
        nb = levels // 2
        b = np.column_stack([(mid - offs[:nb]) / 100.0, qty[:nb]])
        a = np.column_stack([(mid + offs[nb:]) / 100.0, qty[nb:]])
        events.append(DepthUpdate("SYN", k + 2, k + 2, b, a))
    # keep the synthetic book uncrossed: bids below mid, asks above, mid moves slowly
    return Dataset("synthetic", "0.01", (snap_b, snap_a), _uncross(events, snap_b, snap_a))


def _uncross(events, snap_b, snap_a):
    """Add deletes so no update leaves bid >= ask (a reference dict book decides)."""
    bids = {p: q for p, q in snap_b}
    asks = {p: q for p, q in snap_a}
    out = []
    for e in events:
        b, a = e.bids.tolist(), e.asks.tolist()
        for p, q in b:
            bids.pop(p, None) if q == 0 else bids.__setitem__(p, q)
        for p, q in a:
            asks.pop(p, None) if q == 0 else asks.__setitem__(p, q)
        lo_ask = min(p for p, _ in a) if a else None
        hi_bid = max(p for p, _ in b) if b else None
        extra_b = [[p, 0.0] for p in list(bids) if lo_ask is not None and p >= lo_ask]
        extra_a = [[p, 0.0] for p in list(asks) if hi_bid is not None and p <= hi_bid]
        for p, _ in extra_b:
            del bids[p]
        for p, _ in extra_a:
            del asks[p]
        if extra_b or extra_a:
            b = [r for r in b if not (lo_ask is not None and r[0] >= lo_ask)] + extra_b
            a = [r for r in a if not (hi_bid is not None and r[0] <= hi_bid)] + extra_a
        out.append(DepthUpdate("SYN", e.first_update_id, e.final_update_id,
                               np.array(b, dtype=float).reshape(-1, 2), np.array(a, dtype=float).reshape(-1, 2)))
    return out


# ---------------------------------------------------------------- books (adapters)

def run_fastws(ds: Dataset) -> int:
    book = OrderBook("X", ds.tick)
    book.apply_snapshot(ds.events[0].first_update_id - 1 if ds.name == "synthetic" else 0,
                        ds.snap_bids, ds.snap_asks)
    _prime(book, ds)
    apply, bb, ba = book.apply, book.best_bid, book.best_ask
    events = ds.events
    t0 = time.perf_counter_ns()
    for ev in events:
        apply(ev)
        bb()
        ba()
    return time.perf_counter_ns() - t0


def run_fastws_apply_only(ds: Dataset) -> int:
    book = OrderBook("X", ds.tick)
    book.apply_snapshot(0, ds.snap_bids, ds.snap_asks)
    _prime(book, ds)
    apply = book.apply
    events = ds.events
    t0 = time.perf_counter_ns()
    for ev in events:
        apply(ev)
    return time.perf_counter_ns() - t0


def _prime(book: OrderBook, ds: Dataset) -> None:
    """Set update_id so the first event bridges (the benchmark is not about sync)."""
    first = ds.events[0]
    uid = first.first_update_id - 1 if first.prev_final_update_id < 0 else first.first_update_id
    book.apply_snapshot(uid, ds.snap_bids, ds.snap_asks)


def run_dict_sorted(ds: Dataset) -> int:
    bids = {p: q for p, q in ds.snap_bids}
    asks = {p: q for p, q in ds.snap_asks}
    t0 = time.perf_counter_ns()
    for b, a in ds.lists:
        for p, q in b:
            if q == 0.0:
                bids.pop(p, None)
            else:
                bids[p] = q
        for p, q in a:
            if q == 0.0:
                asks.pop(p, None)
            else:
                asks[p] = q
        bp = sorted(bids, reverse=True)[0]
        (bp, bids[bp])
        ap = sorted(asks)[0]
        (ap, asks[ap])
    return time.perf_counter_ns() - t0


def run_sorteddict(ds: Dataset) -> int:
    from sortedcontainers import SortedDict

    bids = SortedDict({p: q for p, q in ds.snap_bids})
    asks = SortedDict({p: q for p, q in ds.snap_asks})
    t0 = time.perf_counter_ns()
    for b, a in ds.lists:
        for p, q in b:
            if q == 0.0:
                bids.pop(p, None)
            else:
                bids[p] = q
        for p, q in a:
            if q == 0.0:
                asks.pop(p, None)
            else:
                asks[p] = q
        bids.peekitem(-1)
        asks.peekitem(0)
    return time.perf_counter_ns() - t0


def run_order_book(ds: Dataset) -> int:
    from order_book import OrderBook as CBook

    ob = CBook()
    ob.bids = {p: q for p, q in ds.snap_bids}
    ob.asks = {p: q for p, q in ds.snap_asks}
    obb, oba = ob.bids, ob.asks
    t0 = time.perf_counter_ns()
    for b, a in ds.lists:
        for p, q in b:
            if q == 0.0:
                if p in obb:
                    del obb[p]
            else:
                obb[p] = q
        for p, q in a:
            if q == 0.0:
                if p in oba:
                    del oba[p]
            else:
                oba[p] = q
        obb.index(0)
        oba.index(0)
    return time.perf_counter_ns() - t0


BOOKS: dict[str, Callable[[Dataset], int]] = {
    "fastws": run_fastws,
    "order-book": run_order_book,
    "SortedDict": run_sorteddict,
    "dict-sorted": run_dict_sorted,
}


def best_of(fn: Callable[[Dataset], int], ds: Dataset, repeat: int) -> int:
    best = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t = fn(ds)
        finally:
            gc.enable()
        best = t if best is None else min(best, t)
    assert best is not None
    return best


def large_message_ns_per_level(repeat: int) -> float:
    """ns per level inside apply, amortised over 1000-level messages near the top of book."""
    rng = np.random.default_rng(3)
    mid = 6_000_000
    book = OrderBook("X", "0.01")
    book.apply_snapshot(0, [[(mid - 1 - i) / 100, 1.0] for i in range(1000)],
                        [[(mid + 1 + i) / 100, 1.0] for i in range(1000)])
    evs = []
    for k in range(200):
        offs = rng.permutation(np.arange(1, 1001))[:500]
        q = rng.integers(0, 100, size=500) / 10
        b = np.column_stack([(mid - offs) / 100.0, q])
        a = np.column_stack([(mid + offs) / 100.0, q[::-1]])
        evs.append(DepthUpdate("X", k + 1, k + 1, b, a))
    best = None
    for _ in range(repeat):
        book.apply_snapshot(0, [[(mid - 1 - i) / 100, 1.0] for i in range(1000)],
                            [[(mid + 1 + i) / 100, 1.0] for i in range(1000)])
        t0 = time.perf_counter_ns()
        for ev in evs:
            book.apply(ev)
        t = time.perf_counter_ns() - t0
        best = t if best is None else min(best, t)
    return best / (200 * 1000)


def query_ns(repeat: int) -> dict[str, float]:
    book = OrderBook("X", "0.01")
    book.apply_snapshot(1, [[100.0 - i / 100, 1.0] for i in range(1000)],
                        [[100.01 + i / 100, 1.0] for i in range(1000)])
    n = 200_000
    out = {}
    for label, stmt in (("best_bid()", book.best_bid), ("best_ask()", book.best_ask)):
        best = None
        for _ in range(repeat):
            t0 = time.perf_counter_ns()
            for _ in range(n):
                stmt()
            t = time.perf_counter_ns() - t0
            best = t if best is None else min(best, t)
        out[label] = best / n
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            book.best_bid_price
        t = time.perf_counter_ns() - t0
        best = t if best is None else min(best, t)
    out["best_bid_price"] = best / n
    best = None
    for _ in range(repeat):  # the empty loop, to subtract if wanted
        t0 = time.perf_counter_ns()
        for _ in range(n):
            pass
        t = time.perf_counter_ns() - t0
        best = t if best is None else min(best, t)
    out["empty loop"] = best / n
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", default="spot,usdm,synthetic")
    ap.add_argument("--books", default=",".join(BOOKS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results: dict[str, Any] = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count(), "numpy": np.__version__},
        "datasets": {},
    }
    for name in args.data.split(","):
        ds = synthetic() if name == "synthetic" else load_capture(name)
        per = {}
        for book in args.books.split(","):
            t = best_of(BOOKS[book], ds, args.repeat)
            per[book] = {"ns_per_message": t / len(ds.events), "ns_per_level": t / ds.levels}
        t = best_of(run_fastws_apply_only, ds, args.repeat)
        results["datasets"][name] = {
            "messages": len(ds.events),
            "levels_per_message": ds.levels / len(ds.events),
            "books": per,
            "fastws_apply_only_ns_per_level": t / ds.levels,
            "fastws_apply_only_ns_per_message": t / len(ds.events),
        }
    results["fastws_apply_ns_per_level_1000_level_messages"] = large_message_ns_per_level(args.repeat)
    results["fastws_query_ns"] = query_ns(args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"python {results['machine']['python']} on {results['machine']['platform']}, "
          f"{results['machine']['cpus']} cpus; best of {args.repeat}")
    for name, r in results["datasets"].items():
        print(f"\n{name}: {r['messages']} messages, {r['levels_per_message']:.1f} levels/message "
              "(apply + best bid + best ask per message)")
        base = r["books"].get("fastws", {}).get("ns_per_message")
        print(f"  {'book':<12} {'ns/message':>11} {'ns/level':>9} {'x fastws':>9}")
        for book, v in r["books"].items():
            ratio = f"{v['ns_per_message'] / base:8.1f}x" if base else ""
            print(f"  {book:<12} {v['ns_per_message']:>11.0f} {v['ns_per_level']:>9.1f} {ratio:>9}")
        print(f"  fastws apply only: {r['fastws_apply_only_ns_per_message']:.0f} ns/message, "
              f"{r['fastws_apply_only_ns_per_level']:.1f} ns/level")
    print(f"\nfastws apply, 1000-level messages: "
          f"{results['fastws_apply_ns_per_level_1000_level_messages']:.1f} ns/level")
    print("fastws queries from Python (ns per call, loop included): "
          + ", ".join(f"{k} {v:.0f}" for k, v in results["fastws_query_ns"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

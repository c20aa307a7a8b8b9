"""Unit tests of fastws.book.OrderBook: ticks, snapshot, update rules, queries, bounds."""
from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from fastws.book import DEFAULT_CAPACITY, OVERFLOW_SLOT_BYTES, OrderBook
from fastws.events import DepthUpdate, PartialDepth
from fastws.exceptions import CrossedBook, InvalidUsage, SequenceGap


def spot(U, u, bids=(), asks=(), symbol="BTCUSDT"):
    return DepthUpdate(symbol, U, u, np.array(bids, dtype=float).reshape(-1, 2),
                       np.array(asks, dtype=float).reshape(-1, 2))


def usdm(U, u, pu, bids=(), asks=(), symbol="BTCUSDT"):
    return DepthUpdate(symbol, U, u, np.array(bids, dtype=float).reshape(-1, 2),
                       np.array(asks, dtype=float).reshape(-1, 2), prev_final_update_id=pu)


def simple_book(**kw):
    b = OrderBook("BTCUSDT", kw.pop("tick_size", "0.01"), **kw)
    b.apply_snapshot(100, [["100.00", "1"], ["99.99", "2"], ["99.50", "3"]],
                     [["100.01", "1.5"], ["100.05", "2.5"], ["101.00", "4"]])
    return b


# ---------------------------------------------------------------- construction and ticks

@pytest.mark.parametrize("tick, price, tick_index", [
    ("0.01", 61837.63, 6183763),
    (0.01, 61837.63, 6183763),
    (Decimal("0.10"), 28145.1, 281451),
    ("0.00000001", 6.37e-06, 637),
    ("0.5", 100.5, 201),
    (5, 1005.0, 201),
    ("10", 28140.0, 2814),
    (1e-08, 6.547e-05, 6547),
])
def test_price_tick_round_trip(tick, price, tick_index):
    b = OrderBook("X", tick)
    assert b.price_to_tick(price) == tick_index
    assert b.tick_to_price(tick_index) == price  # bit-identical to float(decimal string)


def test_tick_to_price_is_the_correctly_rounded_decimal():
    b = OrderBook("X", "0.01")
    for t in range(6183700, 6183800):
        assert b.tick_to_price(t) == float(Decimal(t) / 100)


@pytest.mark.parametrize("tick", ["0", "-0.01", "abc", float("nan"), float("inf"), True, [0.01]])
def test_bad_tick_size(tick):
    with pytest.raises((ValueError, TypeError)):
        OrderBook("X", tick)


@pytest.mark.parametrize("cap", [0, 63, 100, 3000, 1 << 21])
def test_bad_capacity(cap):
    with pytest.raises(ValueError, match="power of two"):
        OrderBook("X", "0.01", capacity=cap)


def test_bad_max_levels_and_symbol():
    with pytest.raises(ValueError):
        OrderBook("X", "0.01", max_levels=-1)
    with pytest.raises(TypeError):
        OrderBook(123, "0.01")


def test_off_grid_price_with_a_given_tick_is_an_error_and_changes_nothing():
    """The levels are untouched, but the book now misses that event: it is stale."""
    b = simple_book()
    before = b.top(None)
    with pytest.raises(ValueError, match="not on the tick grid"):
        b.apply(spot(101, 101, bids=[[99.0, 1.0], [100.005, 1.0]]))
    after = b.top(None)
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
    assert b.update_id == 100 and not b.is_synced and b.is_stale
    with pytest.raises(ValueError):
        b.price_to_tick(100.005)


@pytest.mark.parametrize("qty", [-1.0, float("nan"), float("inf")])
def test_invalid_quantity_is_an_error_and_changes_nothing(qty):
    b = simple_book()
    with pytest.raises(ValueError, match="invalid quantity"):
        b.apply(spot(101, 101, asks=[[100.02, 1.0], [100.03, qty]]))
    assert b.quantity_at("ask", 100.02) == 0.0
    assert b.update_id == 100 and not b.is_synced


@pytest.mark.parametrize("tick", ["0.01", None])
@pytest.mark.parametrize("price", [1e-10, 1e-9, 0.004])
def test_a_price_below_half_a_tick_is_never_a_level_at_zero(tick, price):
    """Old code: a price below half a tick became a book level at price 0.0."""
    b = OrderBook("BTCUSDT", tick)
    b.apply_snapshot(100, [["100.00", "1"]], [["100.01", "1"]])
    if tick is None:
        # an inferred grid is refined to the price's decimals: a real level, not 0.0
        assert b.apply(spot(101, 101, bids=[[price, 1.0]]))
        assert b.quantity_at("bid", price) == 1.0
    else:
        with pytest.raises(ValueError, match="rounds to zero ticks|not on the tick grid"):
            b.apply(spot(101, 101, bids=[[price, 1.0]]))
        assert not b.is_synced
    assert 0.0 not in b.top(None)[0][:, 0]
    with pytest.raises(ValueError, match="rounds to zero ticks"):
        OrderBook("BTCUSDT", "0.01").apply_snapshot(1, [[1e-10, 1.0]], [["1.00", "1"]])
    inferred = OrderBook("BTCUSDT")
    inferred.apply_snapshot(1, [[1e-10, 1.0], ["1.00", "1"]], [["2.00", "1"]])
    assert inferred.top(None)[0][:, 0].tolist() == [1.0, 1e-10]


@pytest.mark.parametrize("price", [0.0, -5.0, float("nan"), float("inf")])
def test_non_positive_price_is_an_error(price):
    b = simple_book()
    with pytest.raises(ValueError, match="positive finite"):
        b.apply(spot(101, 101, bids=[[price, 1.0]]))
    assert not b.is_synced          # it misses that event


def test_tick_inferred_from_snapshot_and_refined_without_losing_levels():
    b = OrderBook("ETHUSDT")
    assert b.tick_size is None
    b.apply_snapshot(1, [["2500.1", "1"], ["2499.0", "2"]], [["2500.2", "3"]])
    assert b.tick_size == 0.1 and b.tick_inferred
    b.apply(spot(2, 2, bids=[[2500.15, 7.0]]))  # needs a finer grid: re-keyed, nothing lost
    assert b.tick_size == 0.01
    bids, asks = b.top(None)
    assert bids.tolist() == [[2500.15, 7.0], [2500.1, 1.0], [2499.0, 2.0]]
    assert asks.tolist() == [[2500.2, 3.0]]


def test_empty_snapshot_cannot_infer_tick():
    b = OrderBook("X")
    with pytest.raises(ValueError, match="infer the tick"):
        b.apply_snapshot(1, [], [])
    assert not b.is_synced
    b2 = OrderBook("X", "0.1")
    b2.apply_snapshot(1, [], [])
    assert b2.is_synced and b2.best_bid() is None and b2.best_ask() is None
    assert math.isnan(b2.mid) and math.isnan(b2.spread) and b2.spread_ticks == -1


def test_levels_without_tick_or_snapshot():
    b = OrderBook("X")
    with pytest.raises(InvalidUsage):
        b.apply(spot(1, 1, bids=[[1.0, 1.0]]))
    with pytest.raises(InvalidUsage):
        b.price_to_tick(1.0)


# ---------------------------------------------------------------- snapshot

def test_snapshot_skips_zero_rows_and_accepts_any_order_and_strings():
    b = OrderBook("X", "0.01")
    b.apply_snapshot(7, [["99.00", "0"], ["98.00", "1"], ["99.50", "2.5"]],
                     np.array([[101.0, 0.0], [100.5, 3.0], [100.25, 0.1]]))
    bids, asks = b.top(None)
    assert bids.tolist() == [[99.5, 2.5], [98.0, 1.0]]
    assert asks.tolist() == [[100.25, 0.1], [100.5, 3.0]]
    assert b.update_id == 7 and b.is_synced and not b.is_stale
    assert b.bid_count == 2 and b.ask_count == 2


@pytest.mark.parametrize("rows", [[["1", "2", "3"]], [["abc", "1"]], "nonsense"])
def test_bad_snapshot_rows(rows):
    b = simple_book()
    with pytest.raises(ValueError):
        b.apply_snapshot(200, rows, [])
    assert b.update_id == 100 and b.best_bid() == (100.0, 1.0)


def test_crossed_snapshot_marks_book_stale():
    b = OrderBook("X", "0.01")
    with pytest.raises(CrossedBook):
        b.apply_snapshot(1, [["100.02", "1"]], [["100.01", "1"]])
    assert b.is_crossed and not b.is_synced and b.is_stale


def test_deep_snapshot_5000_levels_per_side_is_kept_exactly():
    b = OrderBook("BTCUSDT", "0.01", capacity=1024)
    bid_ticks = 6_000_000 - np.arange(5000) * 7
    ask_ticks = 6_000_001 + np.arange(5000) * 11
    bids = np.column_stack([bid_ticks / 100.0, np.arange(1, 5001) * 0.001])
    asks = np.column_stack([ask_ticks / 100.0, np.arange(1, 5001) * 0.002])
    b.apply_snapshot(1, bids, asks)
    got_b, got_a = b.top(None)
    assert np.array_equal(got_b, bids) and np.array_equal(got_a, asks)
    assert b.stats["bid_overflow"] > 0 and b.stats["ask_overflow"] > 0  # most levels outside the window


def test_partial_depth_event_acts_as_snapshot():
    b = OrderBook("X", "0.01")
    assert b.apply(PartialDepth(55, [[10.0, 1.0]], [[10.01, 2.0]]))
    assert b.update_id == 55 and b.best_bid() == (10.0, 1.0) and b.is_synced


# ---------------------------------------------------------------- update-id rules

def test_spot_rules_bridge_ignore_gap():
    b = simple_book()
    assert not b.apply(spot(90, 100, bids=[[100.0, 9.0]]))  # u <= lastUpdateId: held already
    assert b.best_bid() == (100.0, 1.0)
    assert b.apply(spot(95, 105, bids=[[100.0, 9.0]]))  # bridges U <= 101 <= u
    assert b.update_id == 105 and b.best_bid() == (100.0, 9.0)
    assert b.apply(spot(106, 110))
    assert not b.apply(spot(106, 110))  # duplicate: ignored
    with pytest.raises(SequenceGap) as ei:
        b.apply(spot(112, 115, bids=[[100.0, 1.0]]))
    assert ei.value.expected == 111 and ei.value.got == 112
    assert b.is_stale and not b.is_synced and b.update_id == 110
    assert b.best_bid() == (100.0, 9.0)  # readable, untouched by the rejected event
    with pytest.raises(InvalidUsage, match="stale"):
        b.apply(spot(111, 111))
    b.apply_snapshot(120, [["1.00", "1"]], [["2.00", "1"]])
    assert b.is_synced and b.best_bid() == (1.0, 1.0)


def test_usdm_rules_bridge_then_pu_chain():
    b = simple_book()  # lastUpdateId 100
    assert not b.apply(usdm(80, 99, 70, bids=[[100.0, 5.0]]))  # u < L: dropped
    with pytest.raises(SequenceGap):
        OrderBook("X", "0.01").apply_snapshot(100, [], []) or None
        nb = simple_book()
        nb.apply(usdm(101, 120, 99))  # U > L: the snapshot is not bridged
    assert b.apply(usdm(95, 130, 94, bids=[[100.0, 5.0]]))  # U <= L <= u
    assert b.update_id == 130
    assert b.apply(usdm(131, 140, 130))
    assert not b.apply(usdm(131, 140, 130))  # duplicate (u <= update_id): ignored
    with pytest.raises(SequenceGap) as ei:
        b.apply(usdm(150, 160, 145))
    assert ei.value.expected == 140 and ei.value.got == 145 and b.is_stale


def test_usdm_event_right_after_the_snapshot_bridges_by_pu():
    b = simple_book()  # lastUpdateId 100
    assert b.apply(usdm(104, 110, 100, bids=[[100.0, 3.0]]))  # U > L but pu == L: continues it
    assert b.update_id == 110 and b.best_bid() == (100.0, 3.0)
    nb = simple_book()
    with pytest.raises(SequenceGap):
        nb.apply(usdm(104, 110, 99))


def test_usdm_bridge_with_u_equal_to_last_update_id():
    b = simple_book()
    assert b.apply(usdm(90, 100, 89))
    assert b.apply(usdm(101, 101, 100))


def test_crossing_update_is_reported_and_book_marked_stale():
    b = simple_book()
    with pytest.raises(CrossedBook) as ei:
        b.apply(spot(101, 101, bids=[[100.02, 1.0]]))
    assert ei.value.best_bid == 100.02 and ei.value.best_ask == 100.01
    assert b.is_crossed and not b.is_synced
    with pytest.raises(InvalidUsage):
        b.apply(spot(102, 102))


def test_apply_rejects_other_objects():
    b = simple_book()
    with pytest.raises(TypeError):
        b.apply({"e": "depthUpdate"})


def test_mark_stale_and_clear():
    b = simple_book()
    b.mark_stale()
    assert not b.is_synced and b.is_stale and b.best_bid() == (100.0, 1.0)
    b.clear()
    assert b.best_bid() is None and b.update_id == -1 and not b.is_synced


def test_non_contiguous_level_arrays_are_accepted():
    b = simple_book()
    arr = np.array([[100.0, 0.0, 7.0], [99.99, 5.0, 7.0]])[:, :2]  # not C-contiguous
    ev = DepthUpdate("BTCUSDT", 101, 101, np.zeros((0, 2)), np.zeros((0, 2)))
    assert b.apply(ev)
    b2 = simple_book()
    b2.apply_snapshot(100, arr, [[100.01, 1.0]])
    assert b2.best_bid() == (99.99, 5.0)


# ---------------------------------------------------------------- queries

def test_queries():
    b = simple_book()
    assert b.best_bid() == (100.0, 1.0) and b.best_ask() == (100.01, 1.5)
    assert b.best_bid_price == 100.0 and b.best_bid_quantity == 1.0
    assert b.best_ask_price == 100.01 and b.best_ask_quantity == 1.5
    assert b.mid == (100.0 + 100.01) / 2
    assert b.spread == 0.01 and b.spread_ticks == 1
    bids, asks = b.top(2)
    assert bids.tolist() == [[100.0, 1.0], [99.99, 2.0]]
    assert asks.tolist() == [[100.01, 1.5], [100.05, 2.5]]
    assert b.top(0)[0].shape == (0, 2)
    assert b.top(100)[0].shape == (3, 2)
    assert b.quantity_at("bid", 99.99) == 2.0 and b.quantity_at("ask", 99.99) == 0.0
    assert b.quantity_at("ask", 100.005) == 0.0  # off grid: nothing there
    assert b.cumulative_quantity("bid", 99.99) == 3.0
    assert b.cumulative_quantity("bid", 99.985) == 3.0
    assert b.cumulative_quantity("bid", 99.0) == 6.0
    assert b.cumulative_quantity("ask", 100.05) == 4.0
    assert b.cumulative_quantity("ask", 100.049) == 1.5
    assert b.impact_price("ask", 1.5) == 100.01
    assert b.impact_price("ask", 1.6) == 100.05
    assert b.impact_price("bid", 3.5) == 99.5
    assert math.isnan(b.impact_price("bid", 100.0))
    assert b.average_price("ask", 2.0) == pytest.approx((1.5 * 100.01 + 0.5 * 100.05) / 2)
    assert math.isnan(b.average_price("ask", 1000.0))
    assert b.imbalance() == pytest.approx((1 - 1.5) / 2.5)
    assert b.imbalance(3) == pytest.approx((6 - 8) / 14)
    with pytest.raises(ValueError):
        b.quantity_at("buy", 100.0)
    with pytest.raises(ValueError):
        b.impact_price("ask", 0.0)
    with pytest.raises(ValueError):
        b.imbalance(0)
    with pytest.raises(ValueError):
        b.top(-1)
    assert "BTCUSDT" in repr(b) and "synced=True" in repr(b)


def test_best_price_follows_deletes_through_the_bitmap():
    b = OrderBook("X", "1", capacity=256)
    ticks = np.arange(1000, 1200, 3)
    b.apply_snapshot(1, np.column_stack([ticks, np.ones(len(ticks))]), [[5000, 1]])
    u = 1
    for t in ticks[::-1]:  # delete from the top down: each delete finds the next best
        u += 1
        b.apply(spot(u, u, bids=[[float(t), 0.0]]))
        expect = ticks[ticks < t]
        assert b.best_bid() == ((float(expect[-1]), 1.0) if len(expect) else None)


# ---------------------------------------------------------------- window and memory

def test_window_moves_with_the_market_and_overflow_levels_come_back():
    b = OrderBook("X", "1", capacity=64)
    b.apply_snapshot(1, [[1000, 1], [900, 2], [10, 3]], [[9000, 1], [9500, 4]])
    u = 1
    # best prices run far past the window and back: every resting level must survive
    probes = list(range(1101, 8900, 173)) + list(range(8900, 1001, -211))
    for px in probes:
        u += 1
        b.apply(spot(u, u, bids=[[px, 0.5]], asks=[[px + 1, 0.5]]))
        assert b.best_bid() == (px, 0.5)
        u += 1
        b.apply(spot(u, u, bids=[[px, 0.0]], asks=[[px + 1, 0.0]]))
        assert b.best_bid() == (1000, 1) and b.best_ask() == (9000, 1)
    bids, asks = b.top(None)
    assert bids.tolist() == [[1000, 1], [900, 2], [10, 3]]
    assert asks.tolist() == [[9000, 1], [9500, 4]]
    assert b.stats["recentres"] > 10


def test_max_levels_trims_the_deepest_levels():
    b = OrderBook("X", "1", capacity=64, max_levels=100)
    bids = [[10_000 - i, 1] for i in range(300)]
    b.apply_snapshot(1, bids, [[20_000, 1]])
    assert b.bid_count == 100
    assert b.top(None)[0][-1].tolist() == [9901, 1]  # the 100 best are kept
    assert b.stats["trimmed"] == 200


def test_memory_is_stated():
    b = OrderBook("X", "0.01")
    assert b.capacity == DEFAULT_CAPACITY
    ladders = 2 * (DEFAULT_CAPACITY * 8 + DEFAULT_CAPACITY // 8 + 8)
    assert ladders == 66_576
    assert b.nbytes == ladders + 2 * 64 * OVERFLOW_SLOT_BYTES
    b.apply_snapshot(1, [[1000.0 - i * 0.5, 1] for i in range(1000)],
                     [[1001.0 + i * 0.5, 1] for i in range(1000)])
    assert b.nbytes <= ladders + 2 * 2048 * OVERFLOW_SLOT_BYTES  # ~132 KB, as documented
    assert OrderBook("X", "1").max_levels == 10_000
    # the hard bound: max_levels (+1/16 slack) per side
    big = OrderBook("X", "1")
    big.apply_snapshot(1, [[100_000 - i, 1] for i in range(20_000)], [[200_000 + i, 1] for i in range(20_000)])
    assert big.bid_count == 10_000 and big.ask_count == 10_000
    assert big.nbytes <= ladders + 2 * 32768 * OVERFLOW_SLOT_BYTES  # the ~1.1 MB bound


@pytest.mark.slow
def test_user_cython_code_can_cimport_the_book(tmp_path):
    """book.pxd is the C API: a user extension cimports OrderBook and calls its C methods."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("Cython")
    repo = Path(__file__).resolve().parent.parent
    (tmp_path / "userbook.pyx").write_text(
        "# cython: language_level=3\n"
        "from libc.stdint cimport int64_t\n"
        "from fastws.book cimport OrderBook\n"
        "def spread_ticks(OrderBook book):\n"
        "    cdef double bp, bq, ap, aq\n"
        "    cdef int64_t tb, ta\n"
        "    if not (book.c_best_bid(&bp, &bq) and book.c_best_ask(&ap, &aq)):\n"
        "        return None\n"
        "    book.c_price_to_tick(bp, &tb)\n"
        "    book.c_price_to_tick(ap, &ta)\n"
        "    return ta - tb, bq + aq\n"
    )
    (tmp_path / "setup.py").write_text(
        "from setuptools import setup, Extension\n"
        "from Cython.Build import cythonize\n"
        "setup(ext_modules=cythonize([Extension('userbook', ['userbook.pyx'])], quiet=True))\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(repo)}
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], cwd=tmp_path,
                   env=env, check=True, capture_output=True)
    sys.path.insert(0, str(tmp_path))
    try:
        import userbook  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    b = OrderBook("X", "0.01")
    b.apply_snapshot(1, [[100.0, 1.0]], [[100.05, 2.0]])
    assert userbook.spread_ticks(b) == (5, 3.0)
    assert userbook.spread_ticks(OrderBook("X", "0.01")) is None


def test_docstring_example_runs():
    import doctest

    import fastws.book

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(fastws.book.OrderBook, "OrderBook",
                            globs={"OrderBook": OrderBook, "DepthUpdate": DepthUpdate}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries >= 3

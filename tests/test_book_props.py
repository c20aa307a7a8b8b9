"""Property tests: the Cython OrderBook against the plain dict ReferenceBook.

Random snapshots (zero-quantity rows, duplicates, deep sides) and update streams whose mid
price wanders far and fast (many window moves and heavy overflow traffic with small ladders),
deletes of levels that do not exist, then every query compared with the reference.
"""
from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastws.book import OrderBook
from fastws.events import DepthUpdate
from fastws.exceptions import CrossedBook
from tests.reference_book import ReferenceBook

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TICKS = ["0.01", "1", "0.5", "0.00000001", "0.1"]
qty = st.one_of(st.just(0.0), st.sampled_from([1e-8, 0.001, 1.5, 2.0, 12345.678]),
                st.floats(min_value=1e-8, max_value=1e6, allow_nan=False))
nonzero_qty = st.floats(min_value=1e-8, max_value=1e6, allow_nan=False)


def price_of(tick_size: str, t: int) -> float:
    return float(Decimal(t) * Decimal(tick_size))


@st.composite
def scenario(draw):
    tick = draw(st.sampled_from(TICKS))
    cap = draw(st.sampled_from([64, 128, 1024]))
    mid = draw(st.integers(10_000, 5_000_000))
    depth = st.lists(st.tuples(st.integers(1, 20 * cap), qty), max_size=60)
    snap_b = draw(depth)
    snap_a = draw(depth)
    steps = draw(st.lists(
        st.tuples(
            st.one_of(st.integers(-3, 3), st.integers(-10 * cap, 10 * cap)),  # mid move
            st.lists(st.tuples(st.integers(1, 3 * cap), qty), max_size=12),   # bids below mid
            st.lists(st.tuples(st.integers(1, 3 * cap), qty), max_size=12),   # asks above mid
            st.lists(st.integers(1, 5 * cap), max_size=3),                    # deletes, maybe absent
        ),
        max_size=40,
    ))
    return tick, cap, mid, snap_b, snap_a, steps


def rows(tick, mid, offs, sign):
    return [[price_of(tick, mid + sign * o), q] for o, q in offs if mid + sign * o > 0]


def assert_same(book: OrderBook, ref: ReferenceBook, n=None):
    assert book.best_bid() == ref.best_bid()
    assert book.best_ask() == ref.best_ask()
    bids, asks = book.top(n)
    rb, ra = ref.top(n)
    assert [tuple(r) for r in bids.tolist()] == rb
    assert [tuple(r) for r in asks.tolist()] == ra
    assert book.bid_count == len(ref.bids) and book.ask_count == len(ref.asks)


@SETTINGS
@given(scenario())
def test_book_matches_reference_through_wide_moves(sc):
    tick, cap, mid, snap_b, snap_a, steps = sc
    book = OrderBook("X", tick, capacity=cap, max_levels=0)
    ref = ReferenceBook()
    sb, sa = rows(tick, mid, snap_b, -1), rows(tick, mid, snap_a, +1)
    book.apply_snapshot(1, sb, sa)
    ref.snapshot(1, sb, sa)
    assert_same(book, ref, None)
    u = 1
    for move, bids, asks, deletes in steps:
        mid = max(20 * cap, mid + move)
        b = rows(tick, mid, bids, -1)
        a = rows(tick, mid, asks, +1)
        # the market moved: levels on the wrong side of the new mid go (as the exchange would)
        b += [[p, 0.0] for p in ref.bids if p >= price_of(tick, mid)]
        a += [[p, 0.0] for p in ref.asks if p <= price_of(tick, mid)]
        # deletes of levels that may well not exist
        b += [[price_of(tick, mid - d), 0.0] for d in deletes if mid - d > 0]
        a += [[price_of(tick, mid + d), 0.0] for d in deletes]
        u += 1
        ev = DepthUpdate("X", u, u, np.array(b, dtype=float).reshape(-1, 2),
                         np.array(a, dtype=float).reshape(-1, 2))
        assert book.apply(ev)
        ref.apply(b, a, u)
        assert book.update_id == u and book.is_synced
        assert_same(book, ref, 10)
    assert_same(book, ref, None)


@SETTINGS
@given(scenario(), st.data())
def test_queries_match_reference(sc, data):
    tick, cap, mid, snap_b, snap_a, _ = sc
    book = OrderBook("X", tick, capacity=cap)
    ref = ReferenceBook()
    sb, sa = rows(tick, mid, snap_b, -1), rows(tick, mid, snap_a, +1)
    book.apply_snapshot(1, sb, sa)
    ref.snapshot(1, sb, sa)
    rb, ra = ref.top()
    for _ in range(5):
        off = data.draw(st.integers(-25 * cap, 25 * cap))
        p = price_of(tick, max(1, mid + off))
        assert book.quantity_at("bid", p) == ref.bids.get(p, 0.0)
        assert book.quantity_at("ask", p) == ref.asks.get(p, 0.0)
        assert book.cumulative_quantity("bid", p) == pytest.approx(sum(q for x, q in rb if x >= p))
        assert book.cumulative_quantity("ask", p) == pytest.approx(sum(q for x, q in ra if x <= p))
        want = data.draw(st.floats(min_value=1e-6, max_value=1e7))
        for side, levels in (("bid", rb), ("ask", ra)):
            acc, expect = 0.0, math.nan
            for x, q in levels:
                acc += q
                if acc >= want:
                    expect = x
                    break
            got = book.impact_price(side, want)
            assert (math.isnan(got) and math.isnan(expect)) or got == expect
    n = data.draw(st.integers(1, 30))
    qb = sum(q for _, q in rb[:n])
    qa = sum(q for _, q in ra[:n])
    imb = book.imbalance(n)
    if qb + qa == 0:
        assert math.isnan(imb)
    else:
        assert imb == pytest.approx((qb - qa) / (qb + qa))


@SETTINGS
@given(st.sampled_from(TICKS), st.integers(1000, 100_000),
       st.lists(st.tuples(st.booleans(), st.integers(-300, 300), nonzero_qty), min_size=1, max_size=30))
def test_crossing_is_detected_exactly_when_the_reference_crosses(tick, mid, updates):
    book = OrderBook("X", tick, capacity=64)
    ref = ReferenceBook()
    sb, sa = [[price_of(tick, mid - 1), 1.0]], [[price_of(tick, mid + 1), 1.0]]
    book.apply_snapshot(1, sb, sa)
    ref.snapshot(1, sb, sa)
    u = 1
    for is_bid, off, q in updates:
        row = [[price_of(tick, mid + off), q]]
        u += 1
        ev = DepthUpdate("X", u, u, np.array(row if is_bid else [], dtype=float).reshape(-1, 2),
                         np.array([] if is_bid else row, dtype=float).reshape(-1, 2))
        ref.apply(row if is_bid else [], [] if is_bid else row, u)
        if ref.crossed:
            with pytest.raises(CrossedBook):
                book.apply(ev)
            assert book.is_crossed and not book.is_synced
            assert_same(book, ref, None)  # readable: the update was kept
            return
        assert book.apply(ev) and book.is_synced
        assert_same(book, ref, None)

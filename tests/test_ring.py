"""fastws.ring: RingBuffer and RecordRing against plain-Python deque/list references."""
from __future__ import annotations

import math
from collections import deque
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastws.ring import RecordRing, RingBuffer

SETTINGS = settings(deadline=None, max_examples=80)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


# -- RingBuffer: construction and validation ------------------------------------------------


@pytest.mark.parametrize("cap", [0, -1])
def test_capacity_must_be_positive(cap):
    with pytest.raises(ValueError, match="capacity must be > 0"):
        RingBuffer(cap)
    with pytest.raises(ValueError, match="capacity must be > 0"):
        RecordRing(cap)


@pytest.mark.parametrize("cap", [1.5, "3", None, True])
def test_capacity_must_be_int(cap):
    with pytest.raises(TypeError, match="capacity must be an int"):
        RingBuffer(cap)


@pytest.mark.parametrize("dtype", [np.complex128, np.bool_, "U3", object])
def test_dtype_must_be_numeric(dtype):
    with pytest.raises(TypeError, match="integer or float dtype"):
        RingBuffer(4, dtype=dtype)


def test_basic_wrap_and_reads():
    rb = RingBuffer(3)
    assert len(rb) == 0 and not rb and not rb.full
    assert rb.values().shape == (0,)
    with pytest.raises(IndexError):
        rb.last()
    with pytest.raises(ValueError, match="empty"):
        rb.mean()
    assert rb.sum() == 0.0
    for x in (1.0, 2.0, 3.0, 4.0, 5.0):
        rb.append(x)
    assert rb.full and len(rb) == 3 and rb.capacity == 3
    assert rb.values().tolist() == [3.0, 4.0, 5.0]
    assert rb[0] == 3.0 and rb[-1] == 5.0 and rb.last() == 5.0
    assert rb.sum(2) == 9.0 and rb.mean(2) == 4.5 and rb.mean() == 4.0
    assert rb.sum(100) == 12.0  # n larger than len is clipped
    assert list(rb) == [3.0, 4.0, 5.0]
    with pytest.raises(IndexError):
        rb[3]
    rb.clear()
    assert len(rb) == 0 and rb.values().tolist() == []
    rb.append(7.0)
    assert rb.values().tolist() == [7.0]
    assert "len=1" in repr(rb) and "last=7.0" in repr(rb)


def test_values_is_a_copy_and_segments_are_views():
    rb = RingBuffer(4)
    rb.extend([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    vals = rb.values()
    older, newer = rb.segments()
    assert np.concatenate([older, newer]).tolist() == vals.tolist() == [3.0, 4.0, 5.0, 6.0]
    assert older.base is not None  # views into storage
    vals[0] = 99.0
    assert rb[0] == 3.0  # the copy is the caller's
    rb.append(7.0)  # overwrites the oldest slot in place: the documented danger
    assert 7.0 in np.concatenate([older, newer]).tolist()


@pytest.mark.parametrize("bad", ["1.5", b"1", None, True, [1.0], 1 + 2j])
def test_append_rejects_non_numbers_and_loses_nothing(bad):
    rb = RingBuffer(3)
    rb.extend([1.0, 2.0])
    with pytest.raises(TypeError):
        rb.append(bad)
    assert rb.values().tolist() == [1.0, 2.0]


def test_append_accepts_numeric_types():
    rb = RingBuffer(5)
    for x in (1, 2.5, np.float32(3.5), np.int64(4), Decimal("5.25")):
        rb.append(x)
    assert rb.values().tolist() == [1.0, 2.5, 3.5, 4.0, 5.25]


def test_integer_ring_refuses_truncation_and_overflow():
    rb = RingBuffer(3, dtype=np.int32)
    with pytest.raises(TypeError, match="truncate"):
        rb.append(1.5)
    with pytest.raises(OverflowError):
        rb.append(2**40)
    with pytest.raises(TypeError, match="truncate"):
        rb.extend([1.0, 2.5])
    with pytest.raises(OverflowError):
        rb.extend(np.array([1, 2**40]))
    assert len(rb) == 0
    rb.extend(np.array([1, 2, 3, 4], dtype=np.int64))
    rb.append(np.int16(5))
    assert rb.values().dtype == np.int32 and rb.values().tolist() == [3, 4, 5]
    assert rb.sum() == 12 and isinstance(rb.sum(), int)


@pytest.mark.parametrize("bad", [[[1.0, 2.0]], "abc", 3.0, ["a", "b"]])
def test_extend_rejects_bad_shapes_and_loses_nothing(bad):
    rb = RingBuffer(3)
    rb.append(1.0)
    with pytest.raises((TypeError, ValueError)):
        rb.extend(bad)
    assert rb.values().tolist() == [1.0]


def test_extend_accepts_iterators_and_empty():
    rb = RingBuffer(3)
    rb.extend(x * 1.0 for x in range(5))
    rb.extend([])
    assert rb.values().tolist() == [2.0, 3.0, 4.0]


# -- RingBuffer vs deque ----------------------------------------------------------------------

ring_ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), finite),
        st.tuples(st.just("extend"), st.lists(finite, max_size=25)),
        st.tuples(st.just("clear"), st.none()),
    ),
    max_size=60,
)


@SETTINGS
@given(cap=st.integers(1, 17), ops=ring_ops, n=st.integers(0, 20))
def test_ring_matches_deque(cap, ops, n):
    rb = RingBuffer(cap)
    ref: deque[float] = deque(maxlen=cap)
    for op, arg in ops:
        if op == "append":
            rb.append(arg)
            ref.append(arg)
        elif op == "extend":
            rb.extend(arg)
            ref.extend(arg)
        else:
            rb.clear()
            ref.clear()
        assert len(rb) == len(ref)
        assert rb.values().tolist() == list(ref)
    older, newer = rb.segments()
    assert np.concatenate([older, newer]).tolist() == list(ref)
    if ref:
        assert rb.last() == ref[-1]
        assert rb[0] == ref[0]
        tail = list(ref)[-n:] if n else []
        assert rb.tail(n).tolist() == tail
        assert rb.sum(n) == pytest.approx(math.fsum(tail), abs=1e-6)
        if tail:
            assert rb.mean(n) == pytest.approx(math.fsum(tail) / len(tail), abs=1e-6)
    assert rb.full == (len(ref) == cap)


@SETTINGS
@given(
    cap=st.integers(1, 9),
    chunks=st.lists(st.lists(st.integers(-1000, 1000), max_size=12), max_size=8),
)
def test_int_ring_matches_deque(cap, chunks):
    rb = RingBuffer(cap, dtype=np.int64)
    ref: deque[int] = deque(maxlen=cap)
    for chunk in chunks:
        if len(chunk) == 1:
            rb.append(chunk[0])
        else:
            rb.extend(chunk)
        ref.extend(chunk)
        assert rb.values().tolist() == list(ref)
        assert rb.sum() == sum(ref)


# -- RecordRing ---------------------------------------------------------------------------------


def test_record_ring_validation():
    with pytest.raises(ValueError, match="time field and at least one value"):
        RecordRing(4, fields=("time",))
    with pytest.raises(ValueError, match="duplicate"):
        RecordRing(4, fields=("time", "p", "p"))
    with pytest.raises(ValueError, match="identifiers"):
        RecordRing(4, fields=("time", "bad name"))
    with pytest.raises(TypeError, match="sequence of column names"):
        RecordRing(4, fields="time")
    with pytest.raises(ValueError, match="ticks_per_second"):
        RecordRing(4, ticks_per_second=0)


def test_record_ring_append_errors_lose_nothing():
    r = RecordRing(3)
    r.append(1000, 1.0, 2.0)
    with pytest.raises(ValueError, match="non-decreasing"):
        r.append(999, 1.0, 1.0)
    with pytest.raises(ValueError, match="expects 2 value"):
        r.append(2000, 1.0)
    with pytest.raises(TypeError, match="time must be an int"):
        r.append(2000.0, 1.0, 1.0)
    with pytest.raises(TypeError, match="numbers"):
        r.append(2000, "1.0", 1.0)
    with pytest.raises(TypeError, match="numbers"):
        r.append(2000, 1.0, None)
    with pytest.raises(OverflowError, match="int64"):
        r.append(2**64, 1.0, 1.0)
    with pytest.raises(ValueError, match="non-decreasing"):
        r.extend([3000, 2500], [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="older than the newest"):
        r.extend([500], [1.0], [1.0])
    with pytest.raises(ValueError, match="shape"):
        r.extend([3000, 4000], [1.0], [1.0, 2.0])
    with pytest.raises(TypeError, match="integers"):
        r.extend([3000.5], [1.0], [1.0])
    with pytest.raises(ValueError, match="value column"):
        r.extend([3000], [1.0])
    assert r.values().tolist() == [(1000, 1.0, 2.0)]
    assert r.last() == (1000, 1.0, 2.0)
    r.append(1000, 3.0, 4.0)  # equal time is fine
    assert len(r) == 2


def test_record_ring_reads():
    r = RecordRing(4, fields=("time", "price", "qty", "side"))
    assert r.last_time() is None and r.first_time() is None
    assert len(r.window(10)) == 0 and len(r.since(0)) == 0
    with pytest.raises(IndexError):
        r.last()
    for i in range(6):
        r.append(1000 * (i + 1), 100.0 + i, 0.5 * i, float(i % 2))
    assert r.first_time() == 3000 and r.last_time() == 6000
    out = r.since(4500)
    assert out.dtype.names == ("time", "price", "qty", "side")
    assert out["time"].tolist() == [5000, 6000] and out["price"].tolist() == [104.0, 105.0]
    assert r.between(4000, 5000)["time"].tolist() == [4000, 5000]
    assert r.window(2.0)["time"].tolist() == [5000, 6000]  # (4000, 6000]
    assert r.window(2.0, now=5000)["time"].tolist() == [4000, 5000]
    assert r.column("qty").tolist() == [1.0, 1.5, 2.0, 2.5]
    assert r.column("time", -2).tolist() == [5000, 6000]
    assert r.sum("qty", r.index_since(5000)) == 4.5
    with pytest.raises(KeyError, match="no field"):
        r.column("nope")
    with pytest.raises(ValueError, match="value columns"):
        r.sum("time")
    with pytest.raises(ValueError, match="seconds"):
        r.window(-1)
    older, newer = r.segments("price")
    assert np.concatenate([older, newer]).tolist() == [102.0, 103.0, 104.0, 105.0]
    assert list(r)[0] == (3000, 102.0, 1.0, 0.0)
    assert "first_time=3000" in repr(r)
    r.clear()
    assert len(r) == 0
    r.append(1, 1.0, 1.0, 1.0)  # after clear any time is accepted again
    assert r.values()["time"].tolist() == [1]


def test_record_ring_microseconds():
    r = RecordRing(8, ticks_per_second=1_000_000)
    r.extend([1_000_000, 1_500_000, 2_000_000], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert r.window(0.75)["price"].tolist() == [2.0, 3.0]


@st.composite
def record_batches(draw):
    """Batches of non-decreasing times (with repeats), each appended one by one or extended."""
    t = draw(st.integers(0, 50))
    batches = []
    for _ in range(draw(st.integers(0, 10))):
        steps = draw(st.lists(st.integers(0, 3), max_size=15))
        times = []
        for s in steps:
            t += s
            times.append(t)
        batches.append((draw(st.booleans()), times))
    return batches


@SETTINGS
@given(
    cap=st.integers(1, 13),
    batches=record_batches(),
    q=st.integers(-5, 120),
    q2=st.integers(-5, 120),
    secs=st.integers(0, 40),
)
def test_record_ring_matches_list(cap, batches, q, q2, secs):
    r = RecordRing(cap, ticks_per_second=1)
    ref: deque[tuple[int, float, float]] = deque(maxlen=cap)
    k = 0
    for one_by_one, times in batches:
        rows = [(t, float(k + i), float((k + i) % 7)) for i, t in enumerate(times)]
        k += len(times)
        if one_by_one:
            for row in rows:
                r.append(*row)
        else:
            r.extend([x[0] for x in rows], [x[1] for x in rows], [x[2] for x in rows])
        ref.extend(rows)
        assert r.values().tolist() == list(ref)
    rows = list(ref)
    assert r.since(q).tolist() == [x for x in rows if x[0] >= q]
    assert r.index_since(q) == sum(1 for x in rows if x[0] < q)
    assert r.index_after(q) == sum(1 for x in rows if x[0] <= q)
    lo, hi = min(q, q2), max(q, q2)
    assert r.between(lo, hi).tolist() == [x for x in rows if lo <= x[0] <= hi]
    now = rows[-1][0] if rows else 0
    assert r.window(secs).tolist() == [x for x in rows if now - secs < x[0] <= now]
    assert r.window(secs, now=q).tolist() == [x for x in rows if q - secs < x[0] <= q]
    start = r.index_since(q)
    assert r.sum("qty", start) == pytest.approx(sum(x[2] for x in rows[start:]))
    assert r.column("price", start).tolist() == [x[1] for x in rows[start:]]

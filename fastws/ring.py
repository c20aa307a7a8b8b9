"""Fixed-capacity numpy ring buffers for recent numeric samples (state layer, no I/O).

Two containers:

``RingBuffer``
    One column of numbers (``float64`` by default). ``append`` is O(1) and allocates nothing;
    once full, every append overwrites the oldest sample.
``RecordRing``
    Several columns sharing one ring: an ``int64`` timestamp column (the first field, by
    default ``"time"``) plus ``float64`` columns (``"price"``, ``"qty"`` by default), for recent
    trades, tickers or bars. Timestamps must be non-decreasing, which lets ``since(t)``,
    ``between(t0, t1)`` and ``window(seconds)`` find their range by binary search over the
    ring's two contiguous segments (O(log n)), then copy only the matching records.

Indexing is *logical*: index 0 is the oldest stored sample and ``len - 1`` the newest, whatever
the physical position in the array.

Copies and views
----------------
Every method returning an array (``values``, ``tail``, ``column``, ``since``, ...) returns a
**copy** the caller owns, except ``segments()`` which returns **views** into the storage.

DANGER: the views from ``segments()`` are overwritten in place by later appends once the ring
is full (and their meaning changes after ``clear``). Use them only for a read that completes
before the next append, e.g. a reduction; call ``.copy()`` to keep them.

Neither class is thread-safe; use them from the thread (event loop) that feeds them.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, SupportsFloat, SupportsIndex, Union

import numpy as np
import numpy.typing as npt

__all__ = ["RingBuffer", "RecordRing"]

Number = Union[int, float, Decimal, np.integer[Any], np.floating[Any]]


def _check_capacity(capacity: object) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)):
        raise TypeError(f"capacity must be an int, got {type(capacity).__name__}")
    cap = int(capacity)
    if cap <= 0:
        raise ValueError(f"capacity must be > 0, got {cap}")
    return cap


def _check_count(n: object, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    k = int(n)
    if k < 0:
        raise ValueError(f"{name} must be >= 0, got {k}")
    return k


def _as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        raise TypeError(f"RecordRing.append: values must be numbers, got {value!r}")
    return float(value)


class _Ring:
    """Index bookkeeping shared by both containers: ``_head`` is the next physical write slot."""

    __slots__ = ("_cap", "_head", "_len")

    def __init__(self, capacity: int) -> None:
        self._cap = capacity
        self._head = 0
        self._len = 0

    @property
    def capacity(self) -> int:
        """Maximum number of samples kept."""
        return self._cap

    @property
    def full(self) -> bool:
        """True once ``len == capacity`` (every further append evicts the oldest sample)."""
        return self._len == self._cap

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def _ranges(self, start: int, stop: int) -> tuple[tuple[int, int], ...]:
        """Physical ``(a, b)`` slices covering logical ``[start, stop)``, oldest first."""
        if stop <= start:
            return ()
        cap = self._cap
        first = self._head - self._len
        if first < 0:
            first += cap
        a = first + start
        if a >= cap:
            a -= cap
        n = stop - start
        if a + n <= cap:
            return ((a, a + n),)
        return ((a, cap), (0, a + n - cap))

    def _clip(self, start: int, stop: int | None) -> tuple[int, int]:
        n = self._len
        stop = n if stop is None else stop
        if start < 0:
            start += n
        if stop < 0:
            stop += n
        return max(0, min(start, n)), max(0, min(stop, n))

    def _physical(self, index: SupportsIndex) -> int:
        i = index.__index__()
        n = self._len
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"ring index {index.__index__()} out of range (len {n})")
        p = self._head - n + i
        return p + self._cap if p < 0 else p

    def _advance(self) -> int:
        """Claim the next slot (the caller has already written it) and return the new head."""
        h = self._head + 1
        if h == self._cap:
            h = 0
        self._head = h
        if self._len < self._cap:
            self._len += 1
        return h

    def _advance_by(self, k: int) -> None:
        self._head = (self._head + k) % self._cap
        self._len = min(self._cap, self._len + k)

    def clear(self) -> None:
        """Forget every sample (capacity and storage are kept; nothing is reallocated)."""
        self._head = 0
        self._len = 0


class RingBuffer(_Ring):
    """A fixed-capacity ring of numbers backed by one preallocated numpy array.

    Parameters
    ----------
    capacity : int
        Number of samples kept (> 0). Any size is allowed, not only powers of two.
    dtype : numpy dtype-like, default ``numpy.float64``
        A numeric dtype (signed/unsigned integer or float). Integer rings refuse float input
        instead of truncating it.

    Notes
    -----
    ``append`` writes one slot and moves an index: O(1), no allocation. ``sum(n)`` and
    ``mean(n)`` reduce at most two contiguous views in C without copying (O(n) in numpy, no
    Python loop). Results of ``values()``/``tail()`` are copies, oldest first; ``segments()``
    returns views (see the DANGER note in the module docstring).

    Examples
    --------
    >>> rb = RingBuffer(3)
    >>> rb.extend([1.0, 2.0, 3.0, 4.0])
    >>> rb.values()
    array([2., 3., 4.])
    >>> rb.last(), rb.mean(2)
    (4.0, 3.5)
    """

    __slots__ = ("_buf", "_is_int")

    def __init__(self, capacity: int, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__(_check_capacity(capacity))
        dt = np.dtype(dtype)
        if dt.kind not in "iuf":
            raise TypeError(f"RingBuffer dtype must be an integer or float dtype, got {dt}")
        self._buf: npt.NDArray[Any] = np.zeros(self._cap, dtype=dt)
        self._is_int = dt.kind in "iu"

    @property
    def dtype(self) -> np.dtype[Any]:
        """The element dtype."""
        return self._buf.dtype

    def append(self, value: Number) -> None:
        """Add one sample, evicting the oldest when full. O(1), no allocation.

        Raises
        ------
        TypeError
            ``value`` is not a number (or is a float given to an integer ring).
        ValueError / OverflowError
            ``value`` cannot be represented in the ring's dtype. The ring is left unchanged.
        """
        if type(value) is not float or self._is_int:
            self._check_value(value)
        try:
            self._buf[self._head] = value
        except (TypeError, ValueError, OverflowError) as exc:
            raise type(exc)(
                f"RingBuffer({self._buf.dtype}).append: cannot store {value!r}: {exc}"
            ) from None
        self._advance()

    def _check_value(self, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
            raise TypeError(
                f"RingBuffer({self._buf.dtype}).append needs a number, got {type(value).__name__}"
            )
        if self._is_int and not isinstance(value, numbers.Integral):
            raise TypeError(
                f"RingBuffer({self._buf.dtype}).append needs an int (refusing to truncate "
                f"{value!r})"
            )

    def extend(self, values: Iterable[Number] | npt.NDArray[Any]) -> None:
        """Append many samples in order (vectorised; only the last ``capacity`` are kept).

        ``values`` is any 1-D sequence or array. It is validated and converted completely
        before anything is written, so a bad element leaves the ring unchanged.
        """
        if isinstance(values, np.ndarray):
            arr = values
        elif isinstance(values, (str, bytes)):
            raise TypeError("RingBuffer.extend needs a sequence of numbers, got a string")
        else:
            seq = values if isinstance(values, Sequence) else list(values)
            try:
                arr = np.asarray(seq)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"RingBuffer.extend: cannot read values as numbers: {exc}") from None
        if arr.ndim != 1:
            raise ValueError(f"RingBuffer.extend needs a 1-D sequence, got shape {arr.shape}")
        if arr.size == 0:
            return
        arr = self._convert(arr)
        k = arr.shape[0]
        cap = self._cap
        if k >= cap:
            self._buf[:] = arr[k - cap:]
            self._head = 0
            self._len = cap
            return
        h = self._head
        first = min(k, cap - h)
        self._buf[h:h + first] = arr[:first]
        if first < k:
            self._buf[: k - first] = arr[first:]
        self._advance_by(k)

    def _convert(self, arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
        dt = self._buf.dtype
        if arr.dtype == dt:
            return arr
        kind = arr.dtype.kind
        if kind not in "biuf":
            if kind == "O":
                try:
                    return arr.astype(dt)
                except (TypeError, ValueError, OverflowError) as exc:
                    raise ValueError(f"RingBuffer.extend: not all numbers: {exc}") from None
            raise TypeError(f"RingBuffer.extend: cannot store {arr.dtype} values in a {dt} ring")
        if self._is_int:
            if kind == "f":
                raise TypeError(f"RingBuffer.extend: refusing to truncate floats into a {dt} ring")
            if not np.can_cast(arr.dtype, dt, "safe"):
                info = np.iinfo(dt)
                if arr.min() < info.min or arr.max() > info.max:
                    raise OverflowError(f"RingBuffer.extend: values out of range for {dt}")
        return arr.astype(dt)

    # -- reading -----------------------------------------------------------------------------

    def last(self) -> Any:
        """The newest sample (a Python scalar). Raises ``IndexError`` when empty."""
        if self._len == 0:
            raise IndexError("last() of an empty RingBuffer")
        h = self._head - 1
        return self._buf[h if h >= 0 else self._cap - 1].item()

    def __getitem__(self, index: SupportsIndex) -> Any:
        """Logical indexing: ``rb[0]`` is the oldest sample, ``rb[-1]`` the newest."""
        return self._buf[self._physical(index)].item()

    def values(self) -> npt.NDArray[Any]:
        """All samples, oldest first, as a new array (a copy)."""
        return self.tail(self._len)

    def tail(self, n: int) -> npt.NDArray[Any]:
        """The newest ``min(n, len)`` samples, oldest first, as a new array (a copy)."""
        k = min(_check_count(n), self._len)
        parts = [self._buf[a:b] for a, b in self._ranges(self._len - k, self._len)]
        if not parts:
            return np.empty(0, dtype=self._buf.dtype)
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)

    def segments(self) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """``(older, newer)`` views whose concatenation is ``values()``. No copy.

        DANGER: these are views into the ring's storage. Once the ring is full, the next
        ``append`` overwrites the oldest element of ``older`` in place. Copy them to keep them.
        """
        r = self._ranges(0, self._len)
        empty = self._buf[:0]
        if not r:
            return empty, empty
        if len(r) == 1:
            return self._buf[r[0][0]:r[0][1]], empty
        return self._buf[r[0][0]:r[0][1]], self._buf[r[1][0]:r[1][1]]

    def sum(self, n: int | None = None) -> Any:
        """Sum of the newest ``min(n, len)`` samples (all when ``n`` is None); 0 when empty."""
        k = self._len if n is None else min(_check_count(n), self._len)
        total: Any = self._buf.dtype.type(0)
        for a, b in self._ranges(self._len - k, self._len):
            total = total + np.add.reduce(self._buf[a:b])
        return total.item()

    def mean(self, n: int | None = None) -> float:
        """Mean of the newest ``min(n, len)`` samples (all when ``n`` is None).

        Raises ``ValueError`` when that is no sample at all (empty ring or ``n == 0``).
        """
        k = self._len if n is None else min(_check_count(n), self._len)
        if k == 0:
            raise ValueError("mean() of no samples (the RingBuffer is empty or n == 0)")
        return float(self.sum(k)) / k

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values().tolist())

    def __repr__(self) -> str:
        last = f", last={self.last()!r}" if self._len else ""
        return (
            f"RingBuffer(capacity={self._cap}, dtype={self._buf.dtype}, len={self._len}{last})"
        )


class RecordRing(_Ring):
    """A fixed-capacity ring of timestamped records: one ``int64`` time column + float64 columns.

    Parameters
    ----------
    capacity : int
        Number of records kept (> 0); the oldest record is evicted when full.
    fields : sequence of str, default ``("time", "price", "qty")``
        Column names, unique identifiers. The **first** is the timestamp column (``int64``),
        every other column is ``float64``. At least one value column is required.
    ticks_per_second : int, default 1000
        Timestamp units per second, used by ``window(seconds)``: 1000 for Binance's
        millisecond times, 1_000_000 for microseconds.

    Notes
    -----
    Timestamps must be non-decreasing (equal times are fine): ``append``/``extend`` refuse an
    older time with ``ValueError`` and store nothing. Range queries binary-search the two
    contiguous segments of the ring (``numpy.searchsorted``) and copy only the matching
    records. Query results are numpy structured arrays (copies, oldest first) with the
    ring's field names, e.g. ``r = ring.since(t); r["price"]``.

    Examples
    --------
    >>> r = RecordRing(4)
    >>> for t, p in [(1000, 10.0), (2000, 11.0), (3000, 12.0)]:
    ...     r.append(t, p, 1.0)
    >>> r.since(2000)["price"]
    array([11., 12.])
    >>> r.window(1.5)["time"]          # (3000 - 1500, 3000]
    array([2000, 3000])
    """

    __slots__ = (
        "_fields", "_index", "_nvals", "_tps", "_times", "_vals", "_rec_dtype", "_tlast", "_rows",
    )

    def __init__(
        self,
        capacity: int,
        fields: Sequence[str] = ("time", "price", "qty"),
        *,
        ticks_per_second: int = 1000,
    ) -> None:
        super().__init__(_check_capacity(capacity))
        if isinstance(fields, str) or not isinstance(fields, Sequence):
            raise TypeError("fields must be a sequence of column names, e.g. ('time', 'price')")
        names = tuple(fields)
        if len(names) < 2:
            raise ValueError(
                "RecordRing needs a time field and at least one value field, got "
                f"{names!r}"
            )
        for name in names:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"field names must be identifiers, got {name!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate field names in {names!r}")
        if isinstance(ticks_per_second, bool) or not isinstance(ticks_per_second, int):
            raise TypeError("ticks_per_second must be an int")
        if ticks_per_second <= 0:
            raise ValueError(f"ticks_per_second must be > 0, got {ticks_per_second}")
        self._fields = names
        self._tlast = 0  # newest stored time (meaningful only while len > 0)
        self._index = {name: i - 1 for i, name in enumerate(names)}
        self._nvals = len(names) - 1
        self._tps = ticks_per_second
        self._times: npt.NDArray[np.int64] = np.zeros(self._cap, dtype=np.int64)
        # one contiguous row per value column, so column reads are contiguous too
        self._vals: npt.NDArray[np.float64] = np.zeros((self._nvals, self._cap), dtype=np.float64)
        self._rows = tuple(self._vals[j] for j in range(self._nvals))  # per-column views
        self._rec_dtype = np.dtype(
            [(names[0], np.int64)] + [(name, np.float64) for name in names[1:]]
        )

    @property
    def fields(self) -> tuple[str, ...]:
        """Column names; the first is the time column."""
        return self._fields

    @property
    def dtype(self) -> np.dtype[Any]:
        """The structured dtype of query results."""
        return self._rec_dtype

    @property
    def ticks_per_second(self) -> int:
        """Timestamp units per second (used by ``window``)."""
        return self._tps

    # -- writing -----------------------------------------------------------------------------

    def _last_time(self) -> int:
        return self._tlast

    def append(self, time: int, *values: SupportsFloat) -> None:
        """Add one record ``(time, value1, value2, ...)`` in field order. O(1), no allocation.

        Raises
        ------
        TypeError
            ``time`` is not an int, or a value is not a number.
        ValueError
            Wrong number of values, or ``time`` older than the newest stored record. The ring
            is left unchanged.
        """
        if type(time) is not int:
            if isinstance(time, bool) or not isinstance(time, (int, np.integer)):
                raise TypeError(
                    f"RecordRing.append: time must be an int, got {type(time).__name__}"
                )
            time = int(time)
        if len(values) != self._nvals:
            raise ValueError(
                f"RecordRing.append expects {self._nvals} value(s) after time "
                f"({', '.join(self._fields[1:])}), got {len(values)}"
            )
        if self._len and time < self._tlast:
            raise ValueError(
                f"RecordRing.append: time {time} is older than the newest record "
                f"({self._tlast}); times must be non-decreasing"
            )
        if self._nvals == 2:  # the common (price, qty) case without a Python loop
            v0, v1 = values
            f0 = v0 if type(v0) is float else _as_float(v0)
            f1 = v1 if type(v1) is float else _as_float(v1)
            floats: tuple[float, ...] | list[float] = (f0, f1)
        else:
            floats = [v if type(v) is float else _as_float(v) for v in values]
        h = self._head
        try:
            self._times[h] = time
        except OverflowError:
            raise OverflowError(f"RecordRing.append: time {time} does not fit int64") from None
        for row, f in zip(self._rows, floats):
            row[h] = f
        self._tlast = time
        self._advance()

    def extend(self, times: npt.ArrayLike, *columns: npt.ArrayLike) -> None:
        """Append many records given column-wise: ``extend(times, prices, qtys)``.

        Every column must be 1-D with the same length; ``times`` must be integers, sorted
        (non-decreasing) and not older than the newest stored record. Everything is validated
        before anything is written. Only the last ``capacity`` records are kept.
        """
        if len(columns) != self._nvals:
            raise ValueError(
                f"RecordRing.extend expects {self._nvals} value column(s) after times, "
                f"got {len(columns)}"
            )
        t = np.asarray(times)
        if t.ndim != 1:
            raise ValueError(f"RecordRing.extend: times must be 1-D, got shape {t.shape}")
        if t.size and t.dtype.kind not in "iu":
            raise TypeError(f"RecordRing.extend: times must be integers, got {t.dtype}")
        k = t.shape[0]
        cols = []
        for name, col in zip(self._fields[1:], columns):
            try:
                c = np.asarray(col, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"RecordRing.extend: column {name!r} is not numeric: {exc}") from None
            if c.shape != (k,):
                raise ValueError(
                    f"RecordRing.extend: column {name!r} has shape {c.shape}, expected ({k},)"
                )
            cols.append(c)
        if k == 0:
            return
        if t.dtype.kind == "u" and t.max() > np.iinfo(np.int64).max:
            raise OverflowError("RecordRing.extend: times do not fit int64")
        t = t.astype(np.int64)
        if k > 1 and bool(np.any(t[1:] < t[:-1])):
            raise ValueError("RecordRing.extend: times must be non-decreasing")
        if self._len and int(t[0]) < self._last_time():
            raise ValueError(
                f"RecordRing.extend: first time {int(t[0])} is older than the newest record "
                f"({self._last_time()})"
            )
        cap = self._cap
        if k >= cap:
            self._times[:] = t[k - cap:]
            for j, c in enumerate(cols):
                self._vals[j, :] = c[k - cap:]
            self._head = 0
            self._len = cap
            self._tlast = int(t[-1])
            return
        h = self._head
        first = min(k, cap - h)
        self._times[h:h + first] = t[:first]
        for j, c in enumerate(cols):
            self._vals[j, h:h + first] = c[:first]
        if first < k:
            rest = k - first
            self._times[:rest] = t[first:]
            for j, c in enumerate(cols):
                self._vals[j, :rest] = c[first:]
        self._advance_by(k)
        self._tlast = int(t[-1])

    # -- reading -----------------------------------------------------------------------------

    def last(self) -> tuple[int | float, ...]:
        """The newest record as ``(time, value1, ...)``. Raises ``IndexError`` when empty."""
        if self._len == 0:
            raise IndexError("last() of an empty RecordRing")
        return self[-1]

    def last_time(self) -> int | None:
        """Time of the newest record, or None when empty."""
        return self._last_time() if self._len else None

    def first_time(self) -> int | None:
        """Time of the oldest record still stored, or None when empty."""
        return int(self._times[self._physical(0)]) if self._len else None

    def __getitem__(self, index: SupportsIndex) -> tuple[int | float, ...]:
        """Record ``index`` (0 = oldest, -1 = newest) as ``(time, value1, ...)``."""
        p = self._physical(index)
        return (int(self._times[p]), *(float(v) for v in self._vals[:, p]))

    def index_since(self, t: int) -> int:
        """Logical index of the first record with ``time >= t`` (``len`` if none). O(log n)."""
        return self._bound(t, "left")

    def index_after(self, t: int) -> int:
        """Logical index of the first record with ``time > t`` (``len`` if none). O(log n)."""
        return self._bound(t, "right")

    def _bound(self, t: int, side: Any) -> int:
        r = self._ranges(0, self._len)
        if not r:
            return 0
        times = self._times
        a, b = r[0]
        if len(r) == 1:
            return int(np.searchsorted(times[a:b], t, side=side))
        older = times[a:b]
        # the boundary is in the older segment unless every older time is below it
        if (older[-1] >= t) if side == "left" else (older[-1] > t):
            return int(np.searchsorted(older, t, side=side))
        c, d = r[1]
        return (b - a) + int(np.searchsorted(times[c:d], t, side=side))

    def slice(self, start: int = 0, stop: int | None = None) -> npt.NDArray[np.void]:
        """Records ``[start, stop)`` in logical order (negative indexes count from the newest),
        as a structured array copy."""
        a, b = self._clip(start, stop)
        out = np.empty(max(0, b - a), dtype=self._rec_dtype)
        pos = 0
        names = self._fields
        for p, q in self._ranges(a, b):
            m = q - p
            out[names[0]][pos:pos + m] = self._times[p:q]
            for j, name in enumerate(names[1:]):
                out[name][pos:pos + m] = self._vals[j, p:q]
            pos += m
        return out

    def values(self) -> npt.NDArray[np.void]:
        """Every record, oldest first, as a structured array copy."""
        return self.slice(0, self._len)

    def since(self, t: int) -> npt.NDArray[np.void]:
        """Records with ``time >= t``, oldest first (structured array copy)."""
        return self.slice(self.index_since(t), self._len)

    def between(self, t0: int, t1: int) -> npt.NDArray[np.void]:
        """Records with ``t0 <= time <= t1``, oldest first (structured array copy)."""
        return self.slice(self.index_since(t0), self.index_after(t1))

    def window(self, seconds: float, now: int | None = None) -> npt.NDArray[np.void]:
        """Records in the last ``seconds``: ``now - span < time <= now``.

        ``span = round(seconds * ticks_per_second)``; ``now`` defaults to the newest record's
        time (empty result when the ring is empty). Half-open like a pandas rolling window.
        """
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, numbers.Real)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError(f"window seconds must be a finite number >= 0, got {seconds!r}")
        if now is None:
            if not self._len:
                return self.slice(0, 0)
            now = self._last_time()
        span = round(seconds * self._tps)
        return self.slice(self.index_after(now - span), self.index_after(now))

    def column(self, name: str, start: int = 0, stop: int | None = None) -> npt.NDArray[Any]:
        """One column over records ``[start, stop)`` as a plain 1-D array copy, oldest first."""
        src, row = self._column_source(name)
        a, b = self._clip(start, stop)
        parts = [src[row, p:q] if row >= 0 else src[p:q] for p, q in self._ranges(a, b)]
        if not parts:
            return np.empty(0, dtype=src.dtype)
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)

    def segments(self, name: str) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """``(older, newer)`` views of one column; their concatenation is ``column(name)``.

        DANGER: views into the ring's storage, overwritten in place by later appends once
        the ring is full. Copy them to keep them.
        """
        src, row = self._column_source(name)
        col = src[row] if row >= 0 else src
        r = self._ranges(0, self._len)
        empty = col[:0]
        if not r:
            return empty, empty
        if len(r) == 1:
            return col[r[0][0]:r[0][1]], empty
        return col[r[0][0]:r[0][1]], col[r[1][0]:r[1][1]]

    def sum(self, name: str, start: int = 0, stop: int | None = None) -> float:
        """Sum of a value column over records ``[start, stop)`` without copying (0.0 if none)."""
        src, row = self._column_source(name)
        if row < 0:
            raise ValueError("sum() is for value columns, not the time column")
        a, b = self._clip(start, stop)
        total = 0.0
        for p, q in self._ranges(a, b):
            total += float(np.add.reduce(src[row, p:q]))
        return total

    def _column_source(self, name: str) -> tuple[npt.NDArray[Any], int]:
        if name == self._fields[0]:
            return self._times, -1
        try:
            return self._vals, self._index[name]
        except KeyError:
            raise KeyError(f"no field {name!r}; fields are {self._fields!r}") from None

    def __iter__(self) -> Iterator[tuple[int | float, ...]]:
        for i in range(self._len):
            yield self[i]

    def __repr__(self) -> str:
        span = ""
        if self._len:
            span = f", first_time={self.first_time()}, last_time={self.last_time()}"
        return (
            f"RecordRing(capacity={self._cap}, fields={self._fields!r}, len={self._len}{span})"
        )

# cython: language_level=3
"""Rate-limit windows, integer price/quantity grids and the signing payload, in C (pure: no I/O).

:class:`fastws.api.protocol.RateLimits` keeps its windows in a :class:`WindowSet`: every request
asks it how long to wait (:meth:`WindowSet.delay`), reserves its weight
(:meth:`WindowSet.reserve`), and every answer hands it the server's ``rateLimits``
(:meth:`WindowSet.update`) and ends the reservation (:meth:`WindowSet.release`). These run
for every request, so they are typed C loops over the few windows (calendar-aligned, SPEC
§5.3); the decisions (bans, 429s, errors) stay in :mod:`fastws.api.protocol`.

Times are epoch milliseconds; counts are 64-bit integers.
"""
cimport cython
from libc.stdint cimport int64_t

from fastws.exceptions import InvalidUsage

__all__ = ["INTERVAL_MS", "Window", "WindowSet", "Grid", "signing_parts", "ClockState"]

#: Length of each ``rateLimits`` interval unit in ms.
INTERVAL_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
cdef dict _INTERVAL_MS = INTERVAL_MS

# window kinds (bit positions in a "reported" mask)
cdef enum:
    K_OTHER = 0
    K_WEIGHT = 1
    K_ORDERS = 2
    K_RAW = 3


cdef inline int _kind(str t):
    if t == "REQUEST_WEIGHT":
        return K_WEIGHT
    if t == "ORDERS":
        return K_ORDERS
    if t == "RAW_REQUESTS":
        return K_RAW
    return K_OTHER


cdef inline int64_t _floor_mod(int64_t a, int64_t b) noexcept:
    cdef int64_t r = a % b
    if r < 0:
        r += b
    return r


cdef inline int64_t _as_i64(object v) except? -1:
    if type(v) is int:
        return v
    return int(v)


cdef class Window:
    """One rate-limit window as tracked (the fields of :class:`fastws.api.protocol.RateLimit`).

    Parameters
    ----------
    type : str
        ``REQUEST_WEIGHT``, ``ORDERS``, ``RAW_REQUESTS``...
    interval : str
        ``SECOND``, ``MINUTE``, ``HOUR`` or ``DAY`` (KeyError otherwise).
    interval_num : int
        Window length in ``interval`` units (> 0).
    limit, count, reset_at : int
        The ceiling, the usage, and the epoch ms from which ``count`` is surely 0 (0: nothing
        counted).
    """

    def __init__(self, str type, str interval, int64_t interval_num, int64_t limit,
                 int64_t count=0, int64_t reset_at=0):
        if interval_num <= 0:
            raise ValueError("interval_num must be > 0")
        self.type = type
        self.interval = interval
        self.interval_num = interval_num
        self.limit = limit
        self.count = count
        self.reset_at = reset_at
        self.length_ms = <int64_t>_INTERVAL_MS[interval] * interval_num
        self.kind = _kind(type)

    @property
    def remaining(self):
        """``limit - count`` (never negative)."""
        return max(0, self.limit - self.count)

    def __repr__(self):
        return (f"Window({self.type}/{self.interval_num}{self.interval}, count={self.count}, "
                f"limit={self.limit}, reset_at={self.reset_at})")


@cython.final
cdef class WindowSet:
    """The windows of one IP/account and the requests in flight (see the module docstring).

    Parameters
    ----------
    edge_ms : int
        Bound on the difference between our clock and the server's: a count is held until
        ``align(now + edge) + length + edge``.
    """

    def __init__(self, int64_t edge_ms=250):
        self.windows = {}
        self.edge_ms = edge_ms
        self.blocked_until = 0
        self.pending_weight = 0
        self.pending_orders = 0
        self.pending_raw = 0

    cpdef int64_t reset_for(self, Window w, int64_t now_ms):
        """End of the calendar-aligned window holding ``now_ms``, plus the clock guard."""
        cdef int64_t t = now_ms + self.edge_ms
        return t - _floor_mod(t, w.length_ms) + w.length_ms + self.edge_ms

    cpdef roll(self, int64_t now_ms):
        """Zero the windows whose reset time has passed."""
        cdef Window w
        for obj in self.windows.values():
            w = <Window>obj
            if w.reset_at and now_ms >= w.reset_at:
                w.count = 0
                w.reset_at = 0

    cpdef charge(self, Window w, int64_t amount, int64_t now_ms):
        """Add ``amount`` to ``w`` (its reset moves to the end of the current window)."""
        cdef int64_t reset
        if amount:
            w.count += amount
            reset = self.reset_for(w, now_ms)
            if reset > w.reset_at:
                w.reset_at = reset

    cpdef int64_t pending_of(self, str type):
        """What requests in flight reserve of ``type``."""
        cdef int k = _kind(type)
        if k == K_WEIGHT:
            return self.pending_weight
        if k == K_ORDERS:
            return self.pending_orders
        if k == K_RAW:
            return self.pending_raw
        return 0

    cpdef int64_t delay(self, int64_t weight, int64_t orders, int64_t now_ms) except -1:
        """Milliseconds to wait before a request of ``weight`` adding ``orders`` fits every
        window (the ``retryAfter`` hold included; a ban is the caller's business).

        Raises InvalidUsage if the request can never fit a window.
        """
        cdef Window w
        cdef int64_t n, pend, reset
        cdef int64_t wait = self.blocked_until - now_ms
        if wait < 0:
            wait = 0
        for obj in self.windows.values():
            w = <Window>obj
            if w.reset_at and now_ms >= w.reset_at:
                w.count = 0
                w.reset_at = 0
            if w.kind == K_WEIGHT:
                n = weight
                pend = self.pending_weight
            elif w.kind == K_ORDERS:
                n = orders
                pend = self.pending_orders
            elif w.kind == K_RAW:
                n = 1
                pend = self.pending_raw
            else:
                continue
            if n <= 0:
                continue
            if n > w.limit:
                raise InvalidUsage(
                    f"a request needing {n} {w.type} can never fit the limit {w.limit} per "
                    f"{w.interval_num} {w.interval}"
                )
            if w.count + pend + n > w.limit:
                # wait for the reset; in-flight answers may free room earlier (ask again then)
                reset = w.reset_at if w.reset_at else self.reset_for(w, now_ms)
                if reset - now_ms > wait:
                    wait = reset - now_ms
        return wait

    cpdef reserve(self, int64_t weight, int64_t orders):
        """Count a request as sent (its weight and orders are in flight)."""
        self.pending_weight += weight
        self.pending_orders += orders
        self.pending_raw += 1

    cpdef release(self, int64_t weight, int64_t orders, int64_t now_ms, object reported=()):
        """A request was answered or abandoned: its reservation ends, and its cost is added to
        the windows of the types the answer did not report (``reported``: type names)."""
        cdef int mask = 0
        for t in reported:
            if isinstance(t, str):
                mask |= 1 << _kind(<str>t)
        self._release_mask(weight, orders, now_ms, mask)

    cdef void _release_mask(self, int64_t weight, int64_t orders, int64_t now_ms, int mask):
        """:meth:`release` with the reported types as a mask of window kinds."""
        cdef Window w
        cdef int64_t amount, reset
        self.pending_weight = self.pending_weight - weight if self.pending_weight > weight else 0
        self.pending_orders = self.pending_orders - orders if self.pending_orders > orders else 0
        self.pending_raw = self.pending_raw - 1 if self.pending_raw > 1 else 0
        for obj in self.windows.values():
            w = <Window>obj
            if w.reset_at and now_ms >= w.reset_at:
                w.count = 0
                w.reset_at = 0
            if w.kind == K_OTHER or mask & (1 << w.kind):
                continue
            amount = weight if w.kind == K_WEIGHT else orders if w.kind == K_ORDERS else 1
            if amount:                       # charge(), without a Python-visible call
                w.count += amount
                reset = self.reset_for(w, now_ms)
                if reset > w.reset_at:
                    w.reset_at = reset

    cpdef list update(self, object entries, int64_t now_ms):
        """Take the server's figures from a ``rateLimits`` array; unknown windows are added,
        malformed entries skipped. Returns the ``rateLimitType`` values seen."""
        cdef list seen = []
        cdef Window w
        cdef int64_t num, limit, count, unit
        if not isinstance(entries, list):
            return seen
        self.roll(now_ms)
        for e in <list>entries:
            try:
                type_ = e["rateLimitType"]
                interval = e["interval"]
                num = _as_i64(e["intervalNum"])
                limit = _as_i64(e["limit"])
                count = _as_i64(e["count"])
                unit = _INTERVAL_MS[interval]
            except (KeyError, TypeError, ValueError, OverflowError):
                continue
            if num <= 0 or unit <= 0 or not isinstance(type_, str):
                continue
            key = (type_, interval, num)
            found = self.windows.get(key)
            if found is None:
                w = Window(type_, interval, num, limit)
                self.windows[key] = w
            else:
                w = <Window>found
            w.limit = limit
            w.count = count
            w.reset_at = self.reset_for(w, now_ms) if count else 0
            seen.append(type_)
        return seen


cdef int64_t _I64_MAX = 9223372036854775807


@cython.final
cdef class Grid:
    """A price or quantity grid in integer units of ``10**-places`` (an order's fast path).

    :meth:`scaled` takes the common case only: a plain decimal string (ASCII digits, at most
    one ``.``) or an int, on the grid and within ``[lo, hi]`` (``hi`` 0: no maximum), and
    positive. Anything else gives None, and the caller's Decimal path decides (rounds, or
    raises the filter error), so the outcome is the same, only faster.

    Parameters
    ----------
    places : int
        Decimal places of the step (0-18).
    step, lo, hi : int
        Step, minimum and maximum in units (``step`` > 0).
    """

    def __init__(self, int places, int64_t step, int64_t lo, int64_t hi):
        if not 0 <= places <= 18 or step <= 0 or lo < 0 or hi < 0:
            raise ValueError("bad grid")
        self.places = places
        self.step = step
        self.lo = lo
        self.hi = hi

    cpdef object scaled(self, object value):
        """``value`` in units if on the grid and within bounds, else None."""
        cdef int64_t v = self.units(value)
        return None if v < 0 else v

    cdef int64_t units(self, object value) except -2:
        """:meth:`scaled` for C callers: -1 instead of None."""
        cdef int64_t v = 0
        cdef int64_t scale
        cdef int frac_digits = 0
        cdef bint seen_dot = False
        cdef bint any_whole = False
        cdef Py_UCS4 c
        cdef int d
        if type(value) is str:
            if not (<str>value):
                return -1
            for c in <str>value:
                if c == ".":
                    if seen_dot or not any_whole:
                        return -1
                    seen_dot = True
                    continue
                if c < u"0" or c > u"9":
                    return -1
                d = <int>c - 48
                if seen_dot:
                    frac_digits += 1
                    if frac_digits > self.places:
                        if d != 0:
                            return -1      # off the grid: the Decimal path refuses or rounds
                        continue
                else:
                    any_whole = True
                if v > (_I64_MAX - d) // 10:
                    return -1
                v = v * 10 + d
            if seen_dot and frac_digits == 0:
                return -1                  # "1." : let Decimal decide
            if frac_digits > self.places:
                frac_digits = self.places
            for _ in range(self.places - frac_digits):
                if v > _I64_MAX // 10:
                    return -1
                v *= 10
        elif type(value) is int:
            if value <= 0 or value > _I64_MAX:
                return -1
            v = value
            for _ in range(self.places):
                if v > _I64_MAX // 10:
                    return -1
                v *= 10
        else:
            return -1
        if v <= 0 or v < self.lo or (self.hi and v > self.hi) or v % self.step or (v - self.lo) % self.step:
            return -1
        return v

    cpdef str text(self, int64_t v):
        """The exact decimal text of ``v`` units, with the grid's decimal places."""
        cdef str digits = str(v)
        cdef int places = self.places
        if not places:
            return digits
        if len(digits) <= places:
            digits = "0" * (places + 1 - len(digits)) + digits
        return digits[:len(digits) - places] + "." + digits[len(digits) - places:]


cpdef tuple signing_parts(dict params, object format_value):
    """``(sent, payload)`` of a WS API request's ``params`` (SPEC §7.2), for
    :func:`fastws.api.signing.sign_params`: ``sent`` holds the values as they go into the JSON
    (``None`` left out), ``payload`` is ``name=value`` over the sorted names joined with ``&``,
    UTF-8 encoded. ``str`` and ``int`` values are handled here; every other type goes through
    ``format_value(name, value) -> (json_value, text)`` (bools, Decimals, lists, errors).
    """
    cdef dict sent = {}
    cdef dict texts = {}
    cdef list parts
    for name, value in params.items():
        if type(name) is not str and not isinstance(name, str):
            raise InvalidUsage(f"param names must be str, got {type(name).__name__}")
        if value is None:
            continue
        if type(value) is str:
            sent[name] = value
            texts[name] = value
        elif type(value) is int:
            sent[name] = value
            texts[name] = str(value)
        else:
            json_value, text = format_value(name, value)
            sent[name] = json_value
            texts[name] = text
    names = sorted(texts)
    parts = [None] * len(names)
    cdef Py_ssize_t i = 0
    for k in names:
        parts[i] = k + "=" + texts[k]
        i += 1
    return sent, "&".join(parts).encode("utf-8")


@cython.final
cdef class ClockState:
    """The server clock estimate as the compiled request paths read it (typed C fields), kept by
    :class:`fastws.api.signing.ClockOffset`: ``offset`` (server - local, ms), ``uncertainty``
    (ms) and ``newest`` (local epoch ms of the newest sample, -1.0 with none)."""

    def __init__(self):
        self.offset = 0.0
        self.uncertainty = 0.0
        self.newest = -1.0

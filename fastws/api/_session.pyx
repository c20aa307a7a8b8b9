# cython: language_level=3
"""Hot paths of the WS API client in C: rate-limit windows and the connection's listener.

:class:`fastws.api.protocol.RateLimits` keeps its windows in a :class:`WindowSet`: every request
asks it how long to wait (:meth:`WindowSet.delay`), reserves its weight
(:meth:`WindowSet.reserve`), and every answer hands it the server's ``rateLimits``
(:meth:`WindowSet.update`) and ends the reservation (:meth:`WindowSet.release`). These run
for every request, so they are typed C loops over the few windows (calendar-aligned, SPEC
§5.3); the decisions (bans, 429s, errors) stay in :mod:`fastws.api.protocol`.

:class:`ApiListener` is the picows listener of a WS API connection: picows calls it through C
(no Python frame per frame); text frames go to the link's ``frame(bytes)``, pings are answered
at once with the same payload, a close frame is answered and the connection dropped.

Times are epoch milliseconds; counts are 64-bit integers.
"""
cimport cython
from cpython.bytes cimport PyBytes_FromFormat, PyBytes_FromStringAndSize
from libc.math cimport nearbyint
from libc.stdint cimport int64_t
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

from picows.picows cimport WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from collections.abc import Mapping
from types import MappingProxyType

import orjson

from fastws.exceptions import InvalidUsage

__all__ = ["INTERVAL_MS", "Window", "WindowSet", "ApiListener", "account_success", "resolve",
           "signing_parts", "Grid", "client_response", "client_request", "client_check", "LinkState",
           "Deadlines", "Session", "FrameParams", "decode_flat"]

cdef object _loads = orjson.loads
cdef object _tuple_new = tuple.__new__

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


cpdef object account_success(object proto, dict msg, object id_, object status, int64_t now_ms):
    """The success answer (status 2xx, no ``error``) of ``proto`` (an ApiProtocol): the request
    in flight it answers leaves ``proto._pending``, its ``rateLimits`` feed the windows, the
    reservation ends; returns the ``ApiResponse`` (``proto._response_type``)."""
    cdef WindowSet core = <WindowSet>proto.limits._core
    cdef object req = None
    cdef object entries = ()
    cdef list reported
    if type(id_) is int:
        req = (<dict>proto._pending).pop(id_, None)
    raw = msg.get("rateLimits")
    if raw is not None:
        reported = core.update(raw, now_ms)
        if type(raw) is list:
            for e in <list>raw:
                if type(e) is not dict:
                    entries = tuple([e for e in <list>raw if isinstance(e, dict)])
                    break
            else:
                entries = tuple(<list>raw)
    else:
        reported = []
    if req is not None:
        core.release((<tuple>req)[4], (<tuple>req)[5], now_ms, reported)
    return _tuple_new(proto._response_type, (id_, status, msg.get("result"), None, req, entries))


cdef inline int64_t _server_ms(object clock) except? -1:
    """``ClockOffset.server_time(time.time() * 1000)`` without Python calls."""
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    cdef double local_ms = <double>ts.tv_sec * 1000.0 + <double>ts.tv_nsec * 1e-6
    return <int64_t>nearbyint(local_ms + <double>clock._offset)


# -- answers to checks (``ping``): read by a strict byte scanner, not decoded ------------------

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)

from cpython.ref cimport PyObject
from libc.string cimport memcmp, memcpy

#: the params of requests whose caller drops the answer (:func:`client_check`): their plain
#: success answer is resolved with None, read by :func:`_resolve_scanned` without a JSON decode.
#: (Requests whose params are a :class:`FrameParams`, the order fast path's, keep only the
#: decoded ``result``.)
cdef object _CHECK_PARAMS = MappingProxyType({})

DEF _MAX_ENTRIES = 8


cdef struct _Entry:
    Py_ssize_t type_at
    Py_ssize_t type_len
    Py_ssize_t interval_at
    Py_ssize_t interval_len
    int64_t num
    int64_t limit
    int64_t count


cdef inline Py_ssize_t _lit(const char* p, Py_ssize_t i, Py_ssize_t n, const char* lit,
                            Py_ssize_t k) noexcept:
    """``i + k`` if ``p[i:i+k]`` is ``lit``, else -1."""
    if i < 0 or i + k > n or memcmp(p + i, lit, k) != 0:
        return -1
    return i + k


cdef inline Py_ssize_t _uint(const char* p, Py_ssize_t i, Py_ssize_t n, int64_t* out) noexcept:
    """Index after a JSON non-negative integer (1-18 digits, no leading zero) at ``i``, its
    value in ``out``; -1 if there is none."""
    cdef int64_t v = 0
    cdef Py_ssize_t j = i
    if i < 0:
        return -1
    while j < n and p[j] >= 48 and p[j] <= 57:
        v = v * 10 + (p[j] - 48)
        j += 1
        if j - i > 18:
            return -1
    if j == i or (p[i] == 48 and j - i > 1):
        return -1
    out[0] = v
    return j


cdef inline Py_ssize_t _name(const char* p, Py_ssize_t i, Py_ssize_t n, Py_ssize_t* length) noexcept:
    """Index of the closing quote of a JSON string of plain ASCII (no escape) starting at
    ``i`` (after its opening quote); -1 otherwise."""
    cdef Py_ssize_t j = i
    if i < 0:
        return -1
    while j < n and p[j] != 34:
        if p[j] == 92 or p[j] < 32 or p[j] > 126:
            return -1
        j += 1
    if j >= n:
        return -1
    length[0] = j - i
    return j


cdef inline bint _same(object s, const char* p, Py_ssize_t length) noexcept:
    """``s`` (a str) is the ASCII text ``p[:length]``."""
    return (type(s) is str and PyUnicode_IS_COMPACT_ASCII(s) and PyUnicode_GET_LENGTH(s) == length
            and memcmp(PyUnicode_DATA(s), p, length) == 0)


cdef inline Py_ssize_t _skip_string(const char* p, Py_ssize_t i, Py_ssize_t n) noexcept:
    """Index after a JSON string whose opening quote is at ``i - 1`` (escapes skipped, not
    checked: the caller hands the text to orjson, which validates it); -1 if unterminated."""
    while i < n:
        if p[i] == 34:
            return i + 1
        if p[i] == 92:
            i += 1
        i += 1
    return -1


cdef inline Py_ssize_t _skip_object(const char* p, Py_ssize_t i, Py_ssize_t n) noexcept:
    """Index after the JSON object starting at ``i`` (``{``), strings and nesting followed;
    -1 if there is none or it does not end (the text is validated by orjson later)."""
    cdef int depth = 0
    cdef char c
    if i < 0 or i >= n or p[i] != 123:
        return -1
    while i < n:
        c = p[i]
        if c == 34:
            i = _skip_string(p, i + 1, n)
            if i < 0:
                return -1
            continue
        if c == 123 or c == 91:
            depth += 1
            if depth > 64:
                return -1
        elif c == 125 or c == 93:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


# -- a flat JSON object decoded in place (an order's ACK / RESULT answer) --------------------------

cdef extern from "Python.h":
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)
    object PyLong_FromLongLong(long long v)

DEF _KEYS_MAX = 64
DEF _KEY_LEN_MAX = 40

cdef struct _Key:
    Py_ssize_t n
    char text[_KEY_LEN_MAX]
    PyObject* obj                  # a strong reference, kept for the life of the process

cdef _Key _keys[_KEYS_MAX]
cdef int _nkeys = 0


cdef object _key(const char* p, Py_ssize_t n):
    """The ``str`` of an ASCII key, from a small cache of the keys seen (answers repeat them)."""
    global _nkeys
    cdef int i
    for i in range(_nkeys):
        if _keys[i].n == n and memcmp(_keys[i].text, p, n) == 0:
            return <object>_keys[i].obj
    k = PyUnicode_FromKindAndData(1, p, n)
    if _nkeys < _KEYS_MAX and n <= _KEY_LEN_MAX:
        _keys[_nkeys].n = n
        memcpy(_keys[_nkeys].text, p, n)
        Py_INCREF(k)
        _keys[_nkeys].obj = <PyObject*>k
        _nkeys += 1
    return k


cdef object _flat_object(const char* p, Py_ssize_t n):
    """``orjson.loads(p[:n])`` for a compact JSON object whose values are plain ASCII strings
    (no escapes), integers of up to 18 digits, ``true``, ``false`` or ``null`` (an order's ACK
    or RESULT answer), read in place; None for anything else (nesting, floats, escapes,
    whitespace...), which orjson then decodes."""
    cdef Py_ssize_t i = 1, j, klen
    cdef int64_t v
    cdef bint neg
    cdef char c
    cdef dict out = {}
    if n < 2 or p[0] != 123 or p[n - 1] != 125:
        return None
    if n == 2:
        return out
    while True:
        if p[i] != 34:
            return None
        j = _name(p, i + 1, n, &klen)
        if j < 0 or j + 2 >= n or p[j + 1] != 58:
            return None
        key = _key(p + i + 1, klen)
        i = j + 2
        c = p[i]
        if c == 34:
            j = _name(p, i + 1, n, &klen)
            if j < 0:
                return None
            value = PyUnicode_FromKindAndData(1, p + i + 1, klen)
            i = j + 1
        elif c == 45 or (c >= 48 and c <= 57):
            neg = c == 45
            j = _uint(p, i + 1 if neg else i, n, &v)
            if j < 0 or (j < n and (p[j] == 46 or p[j] == 101 or p[j] == 69)):
                return None
            value = PyLong_FromLongLong(-v if neg else v)
            i = j
        elif i + 4 <= n and memcmp(p + i, b"true", 4) == 0:
            value = True
            i += 4
        elif i + 5 <= n and memcmp(p + i, b"false", 5) == 0:
            value = False
            i += 5
        elif i + 4 <= n and memcmp(p + i, b"null", 4) == 0:
            value = None
            i += 4
        else:
            return None
        out[key] = value
        if i >= n:
            return None
        if p[i] == 125:
            return out if i == n - 1 else None
        if p[i] != 44:
            return None
        i += 1


def decode_flat(bytes data):
    """The decoder the answer scanner uses for an order's flat ``result`` (exposed for tests):
    ``orjson.loads(data)`` for the objects it takes, None for the rest."""
    return _flat_object(data, len(data))


cdef int _resolve_scanned(object proto, WindowSet core, dict pending, dict waiters, bytes data,
                          object clock) except -1:
    """A success answer in exactly the server's compact form ``{"id":N,"status":2xx,
    "result":{...}[,"rateLimits":[{"rateLimitType":"..","interval":"..","intervalNum":N,
    "limit":N,"count":N},...]]}``, every window already known, to a request whose future is
    marked by its params (:data:`_CHECK_PARAMS`: resolved with None; a :class:`FrameParams`:
    resolved with the decoded ``result`` alone): the same accounting as :func:`account_success`, the envelope read by a
    byte scanner (no ``rateLimits`` dicts, no ``ApiResponse``). Returns 1 when done, 0 (nothing
    changed) for anything else."""
    cdef const char* p = data
    cdef Py_ssize_t n = len(data)
    cdef Py_ssize_t i, rs, rend
    cdef int64_t id_v = 0, status = 0
    cdef _Entry ents[_MAX_ENTRIES]
    cdef PyObject* found[_MAX_ENTRIES]       # borrowed: core.windows holds them
    cdef int k = 0, j
    cdef bint has_limits = False
    cdef bint check
    cdef Window w
    i = _uint(p, _lit(p, 0, n, b'{"id":', 6), n, &id_v)
    if i < 0:
        return 0
    # only requests marked by their params, checked before anything is scanned further
    id_ = <object>id_v
    req = pending.get(id_)
    if req is None:
        return 0
    params = (<tuple>req)[2]
    check = params is _CHECK_PARAMS
    if not check and type(params) is not FrameParams:
        return 0
    i = _uint(p, _lit(p, i, n, b',"status":', 10), n, &status)
    rs = _lit(p, i, n, b',"result":', 10)
    rend = _skip_object(p, rs, n)
    i = rend
    if i < 0 or status < 200 or status >= 300:
        return 0
    if i + 1 != n:
        i = _lit(p, i, n, b',"rateLimits":[', 15)
        if i < 0:
            return 0
        has_limits = True
        if i < n and p[i] == 93:             # ]
            i += 1
        else:
            while True:
                if k == _MAX_ENTRIES:
                    return 0
                i = _lit(p, i, n, b'{"rateLimitType":"', 18)
                ents[k].type_at = i
                i = _name(p, i, n, &ents[k].type_len)
                i = _lit(p, i, n, b'","interval":"', 14)
                ents[k].interval_at = i
                i = _name(p, i, n, &ents[k].interval_len)
                i = _uint(p, _lit(p, i, n, b'","intervalNum":', 16), n, &ents[k].num)
                i = _uint(p, _lit(p, i, n, b',"limit":', 9), n, &ents[k].limit)
                i = _uint(p, _lit(p, i, n, b',"count":', 9), n, &ents[k].count)
                i = _lit(p, i, n, b'}', 1)
                if i < 0 or i >= n or ents[k].num <= 0:
                    return 0
                k += 1
                if p[i] == 93:               # ]
                    i += 1
                    break
                if p[i] != 44:               # ,
                    return 0
                i += 1
    if i + 1 != n or p[i] != 125:            # }
        return 0
    fut = waiters.get(id_)
    if fut is None:
        return 0
    for j in range(k):                       # every window must be known already
        found[j] = NULL
        for obj in core.windows.values():
            w = <Window>obj
            if (w.interval_num == ents[j].num and _same(w.type, p + ents[j].type_at, ents[j].type_len)
                    and _same(w.interval, p + ents[j].interval_at, ents[j].interval_len)):
                found[j] = <PyObject*>w
                break
        if found[j] == NULL:
            return 0
    result = None
    if not check:
        result = _flat_object(p + rs, rend - rs)
        if result is None:
            try:
                result = _loads(PyBytes_FromStringAndSize(p + rs, rend - rs))
            except Exception:
                return 0                     # not JSON after all: the general path says so
    # account: as account_success (update, then release with the reported kinds)
    cdef int64_t now_ms = proto._clock() if clock is None else _server_ms(clock)
    cdef int mask = 0
    del waiters[id_]
    del pending[id_]
    if has_limits:
        core.roll(now_ms)
    for j in range(k):
        w = <Window>found[j]
        w.limit = ents[j].limit
        w.count = ents[j].count
        w.reset_at = core.reset_for(w, now_ms) if ents[j].count else 0
        mask |= 1 << w.kind
    core._release_mask(_as_i64((<tuple>req)[4]), _as_i64((<tuple>req)[5]), now_ms, mask)
    if not fut.done():
        fut.set_result(result)
    return 1


cpdef bint resolve(object proto, dict waiters, bytes data, object clock=None) except -1:
    """Handle a text frame that is a plain success answer to a request of ``proto`` waited on in
    ``waiters`` (id -> future): account it (:func:`account_success`) and resolve the future.

    ``clock``: the :class:`fastws.api.signing.ClockOffset` behind ``proto``'s clock, read in C
    (``proto._clock()`` otherwise).

    Returns False, having changed nothing, for anything else (events, errors, unknown ids, a
    frame that is not JSON): the caller takes the general path (DEBUG logging changes nothing).
    """
    return _resolve(proto, <WindowSet>proto.limits._core, proto._pending, waiters, data, clock)


cdef bint _resolve(object proto, WindowSet core, dict pending, dict waiters, bytes data,
                   object clock) except -1:
    # DEBUG logging never changes the path: the scanned answer is logged, not re-routed
    if _resolve_scanned(proto, core, pending, waiters, data, clock):
        if proto._debug:
            proto._log.debug("< answer resolved by the scanner (%d bytes)", len(data))
        return True
    try:
        msg = _loads(data)
    except Exception:
        return False
    if type(msg) is not dict:
        return False
    status = (<dict>msg).get("status")
    if type(status) is not int or not (200 <= <long long>status < 300) or "error" in <dict>msg:
        return False
    id_ = (<dict>msg).get("id")
    if type(id_) is not int:
        return False
    fut = waiters.pop(id_, None)
    if fut is None:
        return False
    resp = account_success(proto, <dict>msg, id_, status,
                           proto._clock() if clock is None else _server_ms(clock))
    if not fut.done():
        fut.set_result(resp)
    return True


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


cdef class ApiListener(WSListener):
    """picows listener of one WS API connection (see the module docstring).

    Plain success answers to requests waited on are resolved here (:func:`resolve`); every
    other text frame goes to ``link.frame(bytes)``.

    Parameters
    ----------
    link : object
        The connection object: ``link.transport`` is set on connect; ``link.frame(bytes)`` gets
        the text frames not resolved here; ``link.lost()`` is called on disconnect;
        ``link.waiters`` (id -> future) and ``link.client.protocol`` (the ApiProtocol) are the
        requests in flight.
    """

    def __init__(self, object link):
        super().__init__()
        self.link = link
        self._frame = link.frame
        self._waiters = link.waiters
        self._protocol = link.client.protocol
        self._core = <WindowSet>self._protocol.limits._core
        self._pending = self._protocol._pending
        # the protocol's clock is the client's server clock: read it in C
        self._clock = link.client.clock
        self._fragments = None
        self.max_message = link.client.max_message_size

    cpdef on_ws_connected(self, WSTransport transport):
        self.link.transport = transport

    cdef void _drop(self, WSTransport transport, int code, str reason) except *:
        """Close the link with ``code`` and say why (the requests in flight fail with it)."""
        self._fragments = None
        if self.link.close_reason is not None:
            return                        # already dropped: frames still buffered are ignored
        self.link.close_reason = reason
        if not transport.is_close_frame_sent:
            transport.send_close(<WSCloseCode>code, reason.encode()[:120])
        transport.disconnect()

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.link.lost()

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef WSMsgType t = frame.msg_type
        cdef bytes data
        if t == WSMsgType.TEXT and frame.fin and self._fragments is None:
            data = frame.get_payload_as_bytes()
            if not _resolve(self._protocol, self._core, self._pending, self._waiters, data, self._clock):
                self._frame(data)
        elif t == WSMsgType.TEXT or t == WSMsgType.CONTINUATION:
            # a fragmented message (RFC 6455 §5.4): reassembled up to max_message bytes
            if self.link.close_reason is not None:
                return                    # dropped: what is still buffered is ignored
            if t == WSMsgType.TEXT:
                if self._fragments is not None:
                    self._drop(transport, 1002, "WS API: a new message began inside a fragmented one")
                    return
                self._fragments = bytearray()
            elif self._fragments is None:
                self._drop(transport, 1002, "WS API: a continuation frame without a message")
                return
            if len(self._fragments) + frame.payload_size > self.max_message:
                self._drop(transport, 1009, f"WS API message longer than max_message_size "
                                            f"({self.max_message} bytes)")
                return
            self._fragments += frame.get_payload_as_memoryview()
            if frame.fin:
                data = bytes(self._fragments)
                self._fragments = None
                if not _resolve(self._protocol, self._core, self._pending, self._waiters, data, self._clock):
                    self._frame(data)
        elif t == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif t == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()


# -- the lazily decoded params of a request sent by a fast path ----------------------------------

@cython.final
cdef class FrameParams:
    """The ``params`` of a request an order fast path sent (``ApiRequest.params``): a read-only
    mapping decoded from the frame on first use (building a dict per order would cost more than
    the rest of the request's bookkeeping). Like the frame, it holds the API key and signature;
    ``repr`` leaves them out. Their type also tells the answer scanner that the caller keeps
    only the answer's ``result``."""
    def __init__(self, bytes data):
        self._data = data
        self._params = None

    cdef dict _get(self):
        if self._params is None:
            self._params = _loads(self._data)["params"]
        return self._params

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())

    def __contains__(self, key):
        return key in self._get()

    def get(self, key, default=None):
        return self._get().get(key, default)

    def keys(self):
        return self._get().keys()

    def items(self):
        return self._get().items()

    def values(self):
        return self._get().values()

    def __eq__(self, other):
        if isinstance(other, FrameParams):
            return self._get() == (<FrameParams>other)._get()
        return self._get() == other

    __hash__ = None

    def __repr__(self):
        shown = {k: ("****" if k in ("apiKey", "signature") else v) for k, v in self._get().items()}
        return f"FrameParams({shown!r})"


Mapping.register(FrameParams)


# -- named tuples built in C ---------------------------------------------------------------------

cdef extern from *:
    """
    static PyObject* fw_tuple_alloc(PyObject* t, Py_ssize_t n) {
        return ((PyTypeObject*)t)->tp_alloc((PyTypeObject*)t, n);
    }
    """
    object fw_tuple_alloc(object t, Py_ssize_t n)

from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_SET_ITEM


cdef inline void _set(object t, Py_ssize_t i, object v) noexcept:
    """Item ``i`` of the new tuple ``t`` (empty until then) is ``v``."""
    Py_INCREF(v)
    PyTuple_SET_ITEM(t, i, v)


cdef inline object _request_record(object id_, str method, object params, bytes data, object weight,
                                   object orders, object sent_at):
    """``ApiRequest(id_, method, params, data, weight, orders, sent_at)`` allocated and filled in
    C (no argument tuple, no ``tuple.__new__`` call)."""
    r = fw_tuple_alloc(_ApiRequest, 7)
    _set(r, 0, id_)
    _set(r, 1, method)
    _set(r, 2, params)
    _set(r, 3, data)
    _set(r, 4, weight)
    _set(r, 5, orders)
    _set(r, 6, sent_at)
    return r


# -- per-connection state read in C -------------------------------------------------------------

cdef class LinkState:
    """The fields of one WS API connection that the compiled paths read
    (:class:`fastws.api.client._Link` adds its methods): ``client``, ``serial``, ``transport``
    (picows, None until connected and after it is lost), ``waiters`` (id -> future),
    ``closed``, ``connected_at``, ``loop``, and the loop's ``create_future`` and ``time``
    bound once (``new_future``, ``loop_time``)."""


cdef class Deadlines:
    """The timeouts of the requests in flight, served by one loop timer.

    A request registers its deadline (``entries[id] = (deadline, future, method, timeout)``)
    and removes it when answered; the timer is armed for the earliest deadline and, when it
    fires, fails the requests that are due with ``asyncio.TimeoutError`` and re-arms for the
    next one. Arming and cancelling a loop timer per request costs more than the rest of a
    ``ping``'s bookkeeping.
    """

    def __init__(self):
        self.entries = {}
        self.handle = None
        self.armed_at = 0.0
        self.loop = None

    def add(self, loop, key, fut, str method, double timeout):
        """Fail ``fut`` with ``asyncio.TimeoutError`` ``timeout`` s from now unless removed
        (``entries.pop(key)``) before."""
        cdef double deadline = loop.time() + timeout
        self.entries[key] = (deadline, fut, method, timeout)
        if deadline < self.armed_at or self.handle is None or loop is not self.loop:
            self.arm(loop, deadline)

    cpdef arm(self, object loop, double deadline):
        """(Re-)arm the timer for ``deadline`` (loop time)."""
        if self.handle is not None:
            self.handle.cancel()
        self.loop = loop
        self.armed_at = deadline
        self.handle = loop.call_at(deadline, self._fire)

    def _fire(self):
        self.handle = None
        loop = self.loop
        if loop is None:  # pragma: no cover - cancelled
            return
        cdef double now = loop.time() + 0.001    # loop timers have a millisecond's granularity
        nxt = None
        for key, entry in list(self.entries.items()):
            deadline, fut, method, timeout = entry
            if deadline <= now:
                del self.entries[key]
                if not fut.done():
                    if _TimeoutError is None:
                        _bind()
                    fut.set_exception(_TimeoutError(
                        f"no answer to WS API request {method} (id {key}) within {timeout:g} s"))
            elif nxt is None or deadline < nxt:
                nxt = deadline
        if nxt is not None:
            self.armed_at = nxt
            self.handle = loop.call_at(nxt, self._fire)

    def cancel(self):
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.entries.clear()


cdef class Session:
    """What the compiled request paths read of one :class:`fastws.api.client.ApiClient`, in
    typed fields: the objects it keeps for its life (``protocol``, its windows and in-flight
    table, the clock, the ready event, the deadlines) and the ones it changes, which
    ``ApiClient`` keeps here rather than in its ``__dict__`` (``link``, ``logged_on``,
    ``recv_window``, ``timeout``, ``requests``), so both sides see one value."""

    def __init__(self):
        self.deadlines = Deadlines()
        self.link = None
        self.logged_on = False
        self.recv_window = None
        self.timeout = 10.0
        self.requests = 0

    def attach(self, client, proto, clock, ready, bint sync_clock, bint plain_clock):
        """Record the client's long-lived objects (once, from ``ApiClient.__init__``)."""
        self.client = client
        self.proto = proto
        self.limits = proto.limits
        self.core = <WindowSet>proto.limits._core
        self.pending = proto._pending
        self.clock = clock
        self.ready = ready
        self.sync_clock = sync_clock
        self.plain_clock = plain_clock


# -- the request path of fastws.api.client.ApiClient -----------------------------------------

cdef object _request_weight = None
cdef object _order_count = None
cdef object _ConnectionClosedError = None
cdef object _TimeoutError = None
cdef object _get_running_loop = None
cdef object _TEXT = None
cdef dict _FIXED_W = None        # api_protocol._FIXED_WEIGHTS
cdef dict _FIXED_O = None        # api_protocol._FIXED_ORDERS
cdef dict _TAILS = None          # api_protocol._TAILS: frame tail per parameterless method
cdef object _ApiProtocol = None
cdef object _ApiRequest = None
cdef object _ApiResponse = None
cdef object _ApiClient_server_ms = None


cdef _bind():
    global _request_weight, _order_count, _ConnectionClosedError, _TimeoutError
    global _get_running_loop, _TEXT, _FIXED_W, _FIXED_O, _TAILS, _ApiProtocol, _ApiRequest
    global _ApiClient_server_ms, _ApiResponse
    import asyncio

    from picows import WSMsgType as _WSMsgType

    from fastws.api import protocol as api_protocol
    from fastws.api.client import ApiClient
    from fastws.exceptions import ConnectionClosedError
    _request_weight = api_protocol.request_weight
    _order_count = api_protocol.order_count
    _FIXED_W = dict(api_protocol._FIXED_WEIGHTS)
    _FIXED_O = dict(api_protocol._FIXED_ORDERS)
    _TAILS = api_protocol._TAILS
    _ApiProtocol = api_protocol.ApiProtocol
    _ApiRequest = api_protocol.ApiRequest
    _ApiResponse = api_protocol.ApiResponse
    _ApiClient_server_ms = ApiClient.__dict__["_server_ms"]
    _ConnectionClosedError = ConnectionClosedError
    _TimeoutError = asyncio.TimeoutError
    _get_running_loop = asyncio.get_running_loop
    _TEXT = _WSMsgType.TEXT


cdef object _start_plain(object client, str method, object timeout, int mark, int64_t* id_out):
    """The common case of a request without params nor signature (``ping``, ``time``...) on an
    open connection, with room in every window and no ban: check the windows, build the frame
    from the method's template, register the request (in-flight table, reservation, waiter,
    deadline) and send it, in C. Returns the future of the answer, or None having changed
    nothing when any condition does not hold (the general path of :func:`client_response`
    then does the same work step by step, pacing included)."""
    cdef Session s = <Session?>client._c
    cdef LinkState link
    if s.link is None:
        return None
    link = <LinkState>s.link
    if link.closed or link.transport is None or not s.ready._value:
        return None
    proto = s.proto
    if type(proto) is not _ApiProtocol:
        return None
    w = _FIXED_W.get(method)
    o = _FIXED_O.get(method)
    tail = _TAILS.get(method)
    if w is None or o is None or tail is None:   # tail: the general path caches it once
        return None
    if s.limits._banned is not None:
        return None
    # the protocol's clock is the client's server clock (ApiClient._server_ms): read it in C
    cdef int64_t now = _server_ms(s.clock) if s.plain_clock else client._server_ms()
    cdef WindowSet core = s.core
    cdef int64_t weight = w
    cdef int64_t orders = o
    if core.delay(weight, orders, now) > 0:
        return None
    # ApiProtocol.request, inlined (no params, no debug log)
    id_ = proto._next_id
    cdef long idv = id_
    proto._next_id = id_ + 1
    data = PyBytes_FromFormat(b'{"id":%ld%s', idv, <char*>(<bytes>tail))
    fut = send_request(s, link, <WSTransport>link.transport, method, {}, data, w, o, now, timeout, id_, mark)
    id_out[0] = idv
    return fut


cdef object send_request(Session s, LinkState link, WSTransport tr, str method, object params,
                         bytes data, object weight, object orders, int64_t now, object timeout,
                         object id_, int mark):
    """Register a request a fast path has built (the protocol's in-flight table and
    reservation, the future on the link's loop, the waiter, the shared deadline timer), send
    ``data`` and return the future. ``mark``: 0, or ``MARK_CHECK`` (the answer is dropped: the
    request's params become :data:`_CHECK_PARAMS`, which the answer scanner looks for); a
    request whose params are a :class:`FrameParams` keeps only its answer's ``result``."""
    if mark == MARK_CHECK:
        params = _CHECK_PARAMS
    req = _request_record(id_, method, params, data, weight, orders, now)
    s.pending[id_] = req
    s.core.reserve(weight, orders)
    loop = link.loop                     # the connection's loop: no getpid() in get_running_loop
    fut = link.new_future()              # loop.create_future, bound once per connection
    link.waiters[id_] = fut
    cdef Deadlines d = s.deadlines
    cdef double t = s.timeout if timeout is None else <double>timeout
    cdef double deadline = link.loop_time() + t
    d.entries[id_] = (deadline, fut, method, t)
    if deadline < d.armed_at or d.handle is None or loop is not d.loop:
        d.arm(loop, deadline)
    tr.send(WSMsgType.TEXT, data)
    s.requests += 1
    if proto_debug(s):
        s.proto._log.debug("> %s id=%s weight=%s (fast path)", method, id_, weight)
    return fut


cdef inline bint proto_debug(Session s) except -1:
    return s.proto._debug


cdef void forget(Session s, dict waiters, object id_) noexcept:
    """A request is over (answered, failed or cancelled): its deadline and waiter go."""
    s.deadlines.entries.pop(id_, None)
    waiters.pop(id_, None)


cdef int bind() except -1:
    """Import what the request paths need (once; the modules import each other)."""
    if _TEXT is None:
        _bind()
    return 0


async def client_response(object client, str method, object params=None, *, bint signed=False,
                          object timeout=None):
    """Send one request and return the whole :class:`~fastws.api.protocol.ApiResponse` (errors
    not raised): :meth:`fastws.api.client.ApiClient.response`, compiled.

    ``signed=True`` adds ``timestamp`` and, unless the session is logged on, ``apiKey`` and
    ``signature`` (SPEC §7.2). Rate limits are checked first (pacing, or IPBannedError during a
    ban); the answer is awaited with the client's timeout (one shared loop timer).
    """
    cdef int64_t id_ = 0
    if _TEXT is None:
        _bind()
    fut = _start_plain(client, method, timeout, 0, &id_) if params is None and not signed else None
    if fut is None:
        return await _response(client, method, params, signed, timeout)
    cdef Session s = <Session>client._c
    cdef dict waiters = (<LinkState>s.link).waiters
    try:
        return await fut
    except _TimeoutError:
        s.proto.abandon(id_)
        raise
    finally:
        forget(s, waiters, id_)


async def client_request(object client, str method, object params=None, *, bint signed=False,
                         object timeout=None):
    """Send one request and return its ``result`` (the server's error raised):
    :meth:`fastws.api.client.ApiClient.request`, compiled (see :func:`client_response`)."""
    cdef int64_t id_ = 0
    if _TEXT is None:
        _bind()
    fut = _start_plain(client, method, timeout, 0, &id_) if params is None and not signed else None
    if fut is None:
        resp = await _response(client, method, params, signed, timeout)
        return resp.unwrap()
    cdef Session s = <Session>client._c
    cdef dict waiters = (<LinkState>s.link).waiters
    try:
        resp = await fut
    except _TimeoutError:
        s.proto.abandon(id_)
        raise
    finally:
        forget(s, waiters, id_)
    if type(resp) is _ApiResponse:       # ApiResponse.unwrap, inlined
        err = (<tuple>resp)[3]
        if err is not None:
            raise err
        return (<tuple>resp)[2]
    return resp.unwrap()


async def client_check(object client, str method, object timeout=None):
    """Send one request without params nor signature (``ping``) and return None once it is
    answered, raising the server's error: ``client.request(method)`` with the result dropped,
    compiled (see :func:`client_response`), so that a caller can hand this coroutine out
    without a coroutine of its own around it."""
    cdef int64_t id_ = 0
    if _TEXT is None:
        _bind()
    # its plain success answer: scanned, resolved with None (MARK_CHECK)
    fut = _start_plain(client, method, timeout, MARK_CHECK, &id_)
    if fut is None:
        resp = await _response(client, method, None, False, timeout)
        resp.unwrap()
        return None
    cdef Session s = <Session>client._c
    cdef dict waiters = (<LinkState>s.link).waiters
    try:
        resp = await fut
    except _TimeoutError:
        s.proto.abandon(id_)
        raise
    finally:
        forget(s, waiters, id_)
    if resp is None:
        return None
    if type(resp) is _ApiResponse:
        err = (<tuple>resp)[3]
        if err is not None:
            raise err
    else:
        resp.unwrap()
    return None


async def _response(object client, str method, object params, bint signed, object timeout,
                    bint clock_resend=True):
    """The general path of :func:`client_response` (pacing, signing, any params).

    A signed request answered -1021 (its timestamp outside ``recvWindow``: the clock stepped)
    makes the client re-sync its clock at once, and is then sent again, once, with a fresh
    timestamp and signature (``clock_resend``). That is safe: -1021 is a rejection before
    execution (SPEC §7.4), so the first request did nothing; a second -1021 is returned."""
    given = params
    link = client._link
    if link is None or link.closed or link.transport is None or not client._ready.is_set():
        link = await client._current_link()
    proto = client.protocol
    weight = _request_weight(method, params, client.market)
    orders = _order_count(method, params)
    now = client._server_ms()
    limits = proto.limits
    # the C windows straight away unless a ban is recorded (delay_ms raises then)
    if limits._banned is None:
        wait = (<WindowSet>limits._core).delay(weight, orders, now)
    else:
        wait = limits.delay_ms(weight, orders, now)
    if wait > 0:
        await client._pace(method, params, weight)
        if link.closed or link.transport is None:  # dropped while pacing
            link = await client._current_link()
        now = client._server_ms()
    if signed:
        if client.logged_on:
            p = dict(params or {})
            p["timestamp"] = client.timestamp()
            recv_window = client.recv_window
            if recv_window is not None and "recvWindow" not in p:
                p["recvWindow"] = recv_window
            params = p
        else:
            params = client._sign(params or {})
    tr = link.transport
    if tr is None:
        raise _ConnectionClosedError(None, "WS API connection is not open")
    req = proto.request(method, params, weight=weight, now_ms=now, orders=orders)
    id_ = (<tuple>req)[0]
    loop = _get_running_loop()
    fut = loop.create_future()
    cdef dict waiters = link.waiters
    waiters[id_] = fut
    # one shared timer, not asyncio.wait_for: no extra task, no timer per request
    deadlines = client._deadlines
    t = client.timeout if timeout is None else timeout
    deadline = loop.time() + t
    cdef dict entries = deadlines.entries
    entries[id_] = (deadline, fut, method, t)
    if deadline < deadlines.armed_at or deadlines.handle is None or loop is not deadlines.loop:
        deadlines.arm(loop, deadline)
    tr.send(_TEXT, (<tuple>req)[3])
    client.requests += 1
    try:
        resp = await fut
    except _TimeoutError:
        proto.abandon(id_)
        raise
    finally:
        entries.pop(id_, None)
        waiters.pop(id_, None)
    if signed and clock_resend and type(resp) is _ApiResponse:
        err = (<tuple>resp)[3]
        if err is not None and err.code == -1021:
            if await client._clock_rejected():
                return await _response(client, method, given, signed, timeout, False)
    return resp

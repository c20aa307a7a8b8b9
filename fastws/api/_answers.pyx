# cython: language_level=3
"""WS API answers in C (pure: no I/O): the success accounting, the strict byte scanner of the
server's compact success answers, the flat decoder of an order's result, the lazily decoded
params of a fast-path request, and the request record built in C.

The named tuple classes come from :mod:`fastws.api.protocol`, which hands them down with
:func:`bind_types` when it is imported (this module imports nothing above it).
"""
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.math cimport nearbyint
from libc.stdint cimport int64_t
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

from fastws.api._limits cimport ClockState, Window, WindowSet

from collections.abc import Mapping
from types import MappingProxyType

import orjson
from asyncio import InvalidStateError

__all__ = ["account_success", "resolve", "decode_flat", "FrameParams", "RequestIds", "bind_types",
           "REQUEST_FIELDS", "RESPONSE_FIELDS"]

cdef object _loads = orjson.loads
cdef object _InvalidStateError = InvalidStateError


cdef inline int _settle(object fut, object result) except -1:
    """``fut.set_result(result)`` unless ``fut`` is already done (a timeout or a cancellation
    got there first): one call instead of ``done()`` then ``set_result()``."""
    try:
        fut.set_result(result)
    except _InvalidStateError:
        pass
    return 0
cdef object _tuple_new = tuple.__new__
cdef object _ApiRequest = None


cdef inline int64_t _as_i64(object v) except? -1:
    if type(v) is int:
        return v
    return int(v)


#: the field order the named accessors of _answers.pxd (req_id, req_weight...) and
#: request_record assume
REQUEST_FIELDS = ("id", "method", "params", "data", "weight", "orders", "sent_at")
RESPONSE_FIELDS = ("id", "status", "result", "error", "request", "rate_limits")


def bind_types(request_type):
    """Called once by :mod:`fastws.api.protocol`: the ``ApiRequest`` named tuple the request
    records built here are instances of (the protocol checks that its fields, and
    ``ApiResponse``'s, are in the order of :data:`REQUEST_FIELDS` / :data:`RESPONSE_FIELDS`)."""
    global _ApiRequest
    _ApiRequest = request_type


cpdef object account_success(object proto, dict msg, object id_, object status, int64_t now_ms):
    """The success answer (status 2xx, no ``error``) of ``proto`` (an ApiProtocol): the request
    in flight it answers leaves ``proto.pending``, its ``rateLimits`` feed the windows, the
    reservation ends; returns the ``ApiResponse`` (``proto.response_type``)."""
    cdef WindowSet core = <WindowSet>proto.limits.core
    cdef object req = None
    cdef object entries = ()
    cdef list reported
    if type(id_) is int:
        req = (<dict>proto.pending).pop(id_, None)
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
        core.release(req_weight(req), req_orders(req), now_ms, reported)
    return _tuple_new(proto.response_type, (id_, status, msg.get("result"), None, req, entries))


cdef int64_t server_ms(ClockState clock) except? -1:
    """``ClockOffset.server_time(time.time() * 1000)`` without Python calls."""
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    cdef double local_ms = <double>ts.tv_sec * 1000.0 + <double>ts.tv_nsec * 1e-6
    return <int64_t>nearbyint(local_ms + clock.offset)


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
    cdef Py_ssize_t end = 0
    if n < 2 or p[n - 1] != 125:
        return None
    out = _flat_prefix(p, n, &end)
    return out if end == n else None


cdef object _flat_prefix(const char* p, Py_ssize_t n, Py_ssize_t* end):
    """The flat object of :func:`_flat_object` that starts ``p[:n]`` (what follows it is not
    read), its length in ``end``; None for anything else."""
    cdef Py_ssize_t i = 1, j, klen
    cdef int64_t v
    cdef bint neg
    cdef char c
    cdef dict out = {}
    if n < 2 or p[0] != 123:
        return None
    if p[1] == 125:
        end[0] = 2
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
            end[0] = i + 1
            return out
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
    params = req_params(req)
    check = params is _CHECK_PARAMS
    if not check and type(params) is not FrameParams:
        return 0
    i = _uint(p, _lit(p, i, n, b',"status":', 10), n, &status)
    rs = _lit(p, i, n, b',"result":', 10)
    if rs < 0 or status < 200 or status >= 300:
        return 0
    # an order's flat result is decoded as it is scanned; anything else is skipped here and
    # decoded (or dropped: a check) once the rest of the answer is known to be plain
    result = None
    rend = -1
    if not check:
        result = _flat_prefix(p + rs, n - rs, &rend)
        if result is not None:
            rend += rs
    if rend < 0:
        rend = _skip_object(p, rs, n)
    i = rend
    if i < 0:
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
    if not check and result is None:
        try:
            result = _loads(PyBytes_FromStringAndSize(p + rs, rend - rs))
        except Exception:
            return 0                         # not JSON after all: the general path says so
    # account: as account_success (update, then release with the reported kinds)
    cdef int64_t now_ms = proto.clock() if clock is None else server_ms(<ClockState>clock)
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
    core._release_mask(_as_i64(req_weight(req)), _as_i64(req_orders(req)), now_ms, mask)
    _settle(fut, result)
    return 1


cpdef bint resolve(object proto, dict waiters, bytes data, object clock=None) except -1:
    """Handle a text frame that is a plain success answer to a request of ``proto`` waited on in
    ``waiters`` (id -> future): account it (:func:`account_success`) and resolve the future.

    ``clock``: the :class:`fastws.api.signing.ClockOffset` behind ``proto``'s clock, read in C
    (``proto.clock()`` otherwise).

    Returns False, having changed nothing, for anything else (events, errors, unknown ids, a
    frame that is not JSON): the caller takes the general path (DEBUG logging changes nothing).
    """
    if clock is not None and type(clock) is not ClockState:
        clock = clock.state                  # a ClockOffset: its typed figures
    return resolve_frame(proto, <WindowSet>proto.limits.core, proto.pending, waiters, data, clock)


cdef bint resolve_frame(object proto, WindowSet core, dict pending, dict waiters, bytes data,
                   object clock) except -1:
    # DEBUG logging never changes the path: the scanned answer is logged, not re-routed
    if _resolve_scanned(proto, core, pending, waiters, data, clock):
        if proto.debug:
            proto.log.debug("< answer resolved by the scanner (%d bytes)", len(data))
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
                           proto.clock() if clock is None else server_ms(<ClockState>clock))
    _settle(fut, resp)
    return True


# -- request ids -------------------------------------------------------------------------------------

cdef class RequestIds:
    """The request ids of one :class:`~fastws.api.protocol.ApiProtocol` (its ``next_id``), in a
    C field that the compiled request paths take ids from without a Python attribute read
    and write per request.

    Parameters
    ----------
    first_id : int
        The first id :meth:`take` returns.
    """

    def __init__(self, int64_t first_id=1):
        self.next_id = first_id

    cpdef int64_t take(self) except? -1:
        """A fresh id (ids increase by one and are never reused)."""
        self.next_id += 1
        return self.next_id - 1

    def __repr__(self):
        return f"RequestIds(next_id={self.next_id})"


# -- the lazily decoded params of a request sent by a fast path ----------------------------------

@cython.final
cdef class FrameParams:
    """The ``params`` of a request an order fast path sent (``ApiRequest.params``): a read-only
    mapping decoded from the frame on first use (building a dict per order would cost more than
    the rest of the request's bookkeeping). Like the frame, it holds the API key and signature;
    ``repr`` leaves them out. Their type also tells the answer scanner that the caller keeps
    only the answer's ``result``."""
    def __init__(self, bytes data):
        self.frame = data
        self.decoded = None

    cdef dict _get(self):
        if self.decoded is None:
            self.decoded = _loads(self.frame)["params"]
        return self.decoded

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


cdef FrameParams frame_params(bytes data):
    """``FrameParams(data)`` without the type call and its argument parsing."""
    cdef FrameParams p = FrameParams.__new__(FrameParams)
    p.frame = data
    p.decoded = None
    return p


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


cdef object request_record(object id_, str method, object params, bytes data, object weight,
                           object orders, object sent_at, int mark):
    """``ApiRequest(id_, method, params, data, weight, orders, sent_at)`` allocated and filled in
    C (no argument tuple, no ``tuple.__new__`` call)."""
    if mark == MARK_CHECK:
        params = _CHECK_PARAMS
    r = fw_tuple_alloc(_ApiRequest, 7)
    _set(r, 0, id_)
    _set(r, 1, method)
    _set(r, 2, params)
    _set(r, 3, data)
    _set(r, 4, weight)
    _set(r, 5, orders)
    _set(r, 6, sent_at)
    return r

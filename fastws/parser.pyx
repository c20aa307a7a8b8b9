# cython: language_level=3
"""Binance stream frames (bytes, bytearray, memoryview or str) -> typed events, in one pass.

How a frame is decoded
----------------------
1. The top-level object is scanned once: every relevant key's value span (offset, length,
   kind) goes into a small fixed table on the C stack; every value is validated as it is
   passed, so a frame is either fully valid JSON or a ``ParseError``. In the same pass the
   ``data`` object of a combined-stream envelope and a kline's ``k`` / forceOrder's ``o`` are
   scanned into their own tables, decimal strings are converted while their closing quote is
   looked for, integers while they are validated, and depth level arrays are parsed into the
   parser's scratch buffer (8 digits at a time).
2. The event kind comes from ``e`` (or, where Binance sends none, the stream name and the
   keys, as SPEC §9 says); the event is filled from the table, the level arrays copied once
   into fresh numpy float64 (n, 2) arrays.
3. Decimal strings are bit-identical to ``float(s)``: an exact fast path (at most 19 digits,
   one correctly rounded double operation), one x87 extended-precision operation with a
   double-rounding check for 19-digit mantissas, CPython's own correctly rounded ``strtod``
   for everything else. Integers are int64 (overflow is an error).

Anything else that is valid JSON (unknown ``e``, WS API frames, user data...) comes back as
what ``orjson.loads`` returns (a dict, usually). Control frames come back as
:class:`~fastws.events.ControlResponse` / :class:`~fastws.events.ControlError`.
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport PyUnicode_Check, PyUnicode_DecodeUTF8
from libc.math cimport NAN
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

cimport numpy as cnp

from fastws.events cimport (
    AggTrade, AvgPrice, BlockTrade, BookTicker, ContinuousKline, ControlError,
    ControlResponse, DepthUpdate, Event, EventType, ForceOrder, Kline, MarkPrice, MiniTicker,
    PartialDepth, ReferencePrice, ServerShutdown, Ticker, Trade, WindowTicker,
)
from fastws.includes.fwjson cimport (
    fw_dec_fast, fw_decimal, fw_decimal_esc, fw_err, fw_int64, fw_levels, fw_literal, fw_number,
    fw_refs_are, fw_skip, fw_sole_ref, fw_string_end, fw_unescape, fw_ws,
)

import orjson

from fastws.exceptions import ParseError

cnp.import_array()

__all__ = ["Parser", "parse", "MARKETS"]

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL

MARKETS = ("spot", "usdm")

# value kinds recorded by the scan
cdef enum:
    K_STR = 1
    K_STR_ESC = 2
    K_INT = 3
    K_FLOAT = 4
    K_OBJ = 5
    K_ARR = 6
    K_TRUE = 7
    K_FALSE = 8
    K_NULL = 9
    K_DEC = 10         # a string whose body was parsed as a decimal during the scan (dval)
    K_INT64 = 11       # an integer converted during the scan (ival)

cdef enum:
    MAXK = 32          # relevant keys recorded per object (one-letter and _known_key names)
    KBUF = 256         # room for keys that hold escapes, decoded

# decimal field flags
cdef enum:
    D_REQ = 0
    D_NULL = 1         # null -> nan
    D_EMPTY = 2        # "" -> nan
    D_OPT = 4          # missing -> nan

cdef struct Entry:
    const char *key
    Py_ssize_t klen
    const char *val     # strings: first byte after the quote; other kinds: first byte
    Py_ssize_t vlen     # strings: body length; other kinds: the value's length
    Py_ssize_t count    # arrays: number of elements
    Py_ssize_t lv       # depth levels already parsed into Parser._lv at this level index, or -1
    double dval         # K_DEC: the decimal value of the string
    int64_t ival        # K_INT64: the integer
    int kind

cdef struct Obj:
    int n                    # entries recorded
    int total                # keys seen (recorded or not)
    bint overflow            # a relevant key did not fit: the object is not decoded as an event
    bint sub_found
    int nested_idx           # entry index whose object value was scanned into `nested`, or -1
    unsigned char idx1[64]   # one-letter keys '@'..DEL -> entry index + 1 (0: absent)
    Entry ent[MAXK]
    Py_ssize_t kused
    char kbuf[KBUF]


cdef inline bint _is_str(int kind):
    """A plain string (K_DEC strings are plain strings that also hold a parsed decimal)."""
    return kind == K_STR or kind == K_DEC


cdef inline bint _eq(const Entry *en, const char *s, Py_ssize_t n):
    return _is_str(en.kind) and en.vlen == n and memcmp(en.val, s, n) == 0


cdef inline int _find(Obj *o, const char *key, Py_ssize_t klen):
    """Index+1 of the last entry named ``key`` (duplicate keys: the last wins, as in orjson)."""
    cdef int i
    for i in range(o.n - 1, -1, -1):
        if o.ent[i].klen == klen and memcmp(o.ent[i].key, key, klen) == 0:
            return i + 1
    return 0


cdef inline bint _known_key(const char *k, Py_ssize_t n):
    """Multi-letter keys the decoder reads; every other long key is validated and skipped."""
    if n == 2:
        return (memcmp(k, b"pu", 2) == 0 or memcmp(k, b"ps", 2) == 0 or memcmp(k, b"ct", 2) == 0
                or memcmp(k, b"ap", 2) == 0 or memcmp(k, b"id", 2) == 0)
    if n == 4:
        return (memcmp(k, b"data", 4) == 0 or memcmp(k, b"bids", 4) == 0
                or memcmp(k, b"asks", 4) == 0 or memcmp(k, b"code", 4) == 0)
    if n == 6:
        return memcmp(k, b"stream", 6) == 0 or memcmp(k, b"result", 6) == 0
    if n == 3:
        return memcmp(k, b"msg", 3) == 0
    return n == 12 and memcmp(k, b"lastUpdateId", 12) == 0


cdef inline int _k1(Obj *o, char c):
    """Index+1 of the one-letter key ``c`` (an ASCII letter), 0 when absent."""
    return o.idx1[(<unsigned char>c) - 64]


# stream name classes (SPEC §9: payloads without "e" are told apart by their stream)
cdef enum:
    S_OTHER = 0
    S_BOOK_TICKER = 1
    S_PARTIAL_DEPTH = 2


cdef int _stream_tag(str s):
    cdef Py_ssize_t i
    if "@bookTicker" in s:
        return S_BOOK_TICKER
    i = s.find("@depth")  # <symbol>@depth<N>[@100ms]: "@depth" followed by a digit
    if i >= 0 and i + 6 < len(s) and s[i + 6].isdigit():
        return S_PARTIAL_DEPTH
    return S_OTHER


cdef class _StrCache:
    def __cinit__(self, bint classify=False):
        self.objs = [None] * STR_CACHE_SIZE
        self.next = 0
        self.last = 0
        self.classify = classify
        memset(self.lens, 0xff, sizeof(self.lens))  # -1: empty slot
        memset(self.tags, 0, sizeof(self.tags))

    cdef object get(self, const char *s, Py_ssize_t n):
        cdef int tag
        return self.get_tagged(s, n, &tag)

    cdef object get_tagged(self, const char *s, Py_ssize_t n, int *tag):
        """The str of the UTF-8 bytes s[:n] (validated), reused while it stays cached."""
        cdef int i, j
        if n > STR_CACHE_WIDTH:
            obj = PyUnicode_DecodeUTF8(s, n, NULL)
            tag[0] = _stream_tag(obj) if self.classify else 0
            return obj
        # the last hit first: one symbol per connection is the common case
        i = self.last
        if self.lens[i] == n and memcmp(self.keys[i], s, n) == 0:
            tag[0] = self.tags[i]
            return self.objs[i]
        for j in range(STR_CACHE_SIZE):
            if self.lens[j] == n and memcmp(self.keys[j], s, n) == 0:
                self.last = j
                tag[0] = self.tags[j]
                return self.objs[j]
        obj = PyUnicode_DecodeUTF8(s, n, NULL)
        i = self.next
        self.next = (i + 1) % STR_CACHE_SIZE
        memcpy(self.keys[i], s, n)
        self.lens[i] = n
        self.objs[i] = obj
        self.tags[i] = _stream_tag(obj) if self.classify else 0
        self.last = i
        tag[0] = self.tags[i]
        return obj


cdef int _fail(Parser self, str reason, const char *pos, str path) except -1:
    cdef Py_ssize_t off = -1
    if pos != NULL and self._base != NULL:
        off = pos - self._base
    raise ParseError(reason, off, path, self._payload)


cdef int _fail_err(Parser self, fw_err *err, str path) except -1:
    if err.msg != NULL and memcmp(err.msg, b"python error", 12) == 0:
        raise  # a Python exception is already set (MemoryError)
    reason = (<bytes>err.msg).decode() if err.msg != NULL else "invalid JSON"
    _fail(self, reason, err.pos, path)
    return -1


cdef inline str _sub(str path, str key):
    return path + "." + key


cdef const char *_try_levels(Parser self, const char *p, const char *end, Py_ssize_t *count,
                             Py_ssize_t *off) except? NULL:
    """Parse a depth level array into the parser's scratch during the scan (one pass).

    NULL when the value is not a clean level array (the caller validates it generically and
    ``_levels`` reports the precise problem if the event needs it)."""
    cdef fw_err err
    cdef const char *q
    cdef Py_ssize_t cap
    cdef double *grown
    while True:
        q = fw_levels(p, end, self._lv + 2 * self._lv_used, self._lv_cap - self._lv_used,
                      count, &err)
        if q != NULL:
            off[0] = self._lv_used
            self._lv_used += count[0]
            return q
        if err.msg != NULL:
            if memcmp(err.msg, b"python error", 12) == 0:
                raise  # MemoryError from the slow decimal path
            return NULL
        cap = max(2 * self._lv_cap, self._lv_used + 2 * count[0] + 64)
        grown = <double *>PyMem_Realloc(self._lv, cap * 2 * sizeof(double))
        if grown == NULL:
            raise MemoryError()
        self._lv = grown
        self._lv_cap = cap


cdef str _nested_path(str path, char c):
    """``path`` + ".k" / ".o" without building a string for the common paths."""
    if path == "$":
        return "$.k" if c == b'k' else "$.o"
    if path == "$.data":
        return "$.data.k" if c == b'k' else "$.data.o"
    return path + (".k" if c == b'k' else ".o")


cdef const char *_scan_obj(Parser self, Obj *o, const char *p, const char *end, str path,
                           Obj *sub, Obj *nested, Obj *sub_nested) except NULL:
    """Scan the object at ``p`` ('{') into ``o``; return the position after its '}'.

    In the same pass, an object under the key ``data`` is scanned into ``sub`` (the
    combined-stream envelope; its own ``k``/``o`` object into ``sub_nested``) and an object
    under ``k`` or ``o`` (kline, forceOrder) into ``nested``, when those are given."""
    cdef fw_err err
    cdef int esc = 0, isint = 0, kind = 0
    cdef const char *q
    cdef const char *kp
    cdef const char *vstart = NULL
    cdef Py_ssize_t klen, vlen = 0, count, lv = -1
    cdef double dval = 0.0
    cdef int64_t ival = 0
    cdef Entry *en
    cdef bint is_data
    err.msg = NULL
    o.n = 0
    o.total = 0
    o.overflow = False
    o.kused = 0
    o.sub_found = False
    o.nested_idx = -1
    memset(o.idx1, 0, sizeof(o.idx1))     # (not 8-byte stores: idx1 is not 8-byte aligned)
    p = fw_ws(p + 1, end)
    if p < end and p[0] == b'}':
        return p + 1
    while True:
        if p >= end:
            _fail(self, "unexpected end of data", p, path)
        if p[0] != b'"':
            _fail(self, "expected a key string", p, path)
        q = fw_string_end(p + 1, end, &esc, &err)
        if q == NULL:
            _fail_err(self, &err, path)
        kp = p + 1
        klen = q - kp
        if esc:
            if o.kused + klen <= KBUF:
                klen = fw_unescape(kp, klen, o.kbuf + o.kused)
                kp = o.kbuf + o.kused
                o.kused += klen
            else:
                klen = -1  # never matches: an absurdly long escaped key
        p = fw_ws(q + 1, end)
        if p >= end:
            _fail(self, "unexpected end of data", p, path)
        if p[0] != b':':
            _fail(self, "expected ':'", p, path)
        p = fw_ws(p + 1, end)
        if p >= end:
            _fail(self, "unexpected end of data", p, path)
        count = 0
        c = p[0]
        if c == b'"':
            vstart = p + 1
            # decimal strings (most values) are parsed in the same pass that finds their end
            if fw_dec_fast(vstart, end, &dval, &q) and q < end and q[0] == b'"':
                kind = K_DEC
            else:
                q = fw_string_end(vstart, end, &esc, &err)
                if q == NULL:
                    _fail_err(self, &err, _sub(path, PyUnicode_DecodeUTF8(kp, klen, "replace")) if klen >= 0 else path)
                kind = K_STR_ESC if esc else K_STR
            vlen = q - vstart
            p = q + 1
        elif c == b'{':
            is_data = sub != NULL and klen == 4 and memcmp(kp, b"data", 4) == 0
            vstart = p
            if is_data:
                q = _scan_obj(self, sub, p, end, "$.data", NULL, sub_nested, NULL)
                o.sub_found = True
            elif nested != NULL and klen == 1 and (kp[0] == b'k' or kp[0] == b'o'):
                q = _scan_obj(self, nested, p, end, _nested_path(path, kp[0]), NULL, NULL, NULL)
                o.nested_idx = o.n if o.n < MAXK else -1
            else:
                q = fw_skip(p, end, NULL, &err)
                if q == NULL:
                    _fail_err(self, &err, _sub(path, PyUnicode_DecodeUTF8(kp, klen, "replace")) if klen >= 0 else path)
            kind = K_OBJ
            vlen = q - p
            p = q
        elif c == b'[':
            q = NULL
            if ((klen == 1 and (kp[0] == b'b' or kp[0] == b'a')) or
                    (klen == 4 and (memcmp(kp, b"bids", 4) == 0 or memcmp(kp, b"asks", 4) == 0))):
                q = _try_levels(self, p, end, &count, &lv)
            if q == NULL:
                lv = -1
                q = fw_skip(p, end, &count, &err)
                if q == NULL:
                    _fail_err(self, &err, _sub(path, PyUnicode_DecodeUTF8(kp, klen, "replace")) if klen >= 0 else path)
            kind = K_ARR
            vstart = p
            vlen = q - p
            p = q
        elif c == b'-' or (c >= b'0' and c <= b'9'):
            q = fw_number(p, end, &isint, &ival, &err)
            if q == NULL:
                _fail_err(self, &err, path)
            kind = K_INT64 if isint == 2 else (K_INT if isint == 1 else K_FLOAT)
            vstart = p
            vlen = q - p
            p = q
        elif c == b't':
            q = fw_literal(p, end, b"true", 4, &err)
            if q == NULL:
                _fail_err(self, &err, path)
            kind = K_TRUE
            vstart = p
            vlen = 4
            p = q
        elif c == b'f':
            q = fw_literal(p, end, b"false", 5, &err)
            if q == NULL:
                _fail_err(self, &err, path)
            kind = K_FALSE
            vstart = p
            vlen = 5
            p = q
        elif c == b'n':
            q = fw_literal(p, end, b"null", 4, &err)
            if q == NULL:
                _fail_err(self, &err, path)
            kind = K_NULL
            vstart = p
            vlen = 4
            p = q
        else:
            _fail(self, "expected a JSON value", p, path)
        o.total += 1
        if klen == 1 or _known_key(kp, klen):
            if o.n >= MAXK:
                o.overflow = True
                en = NULL
            else:
                en = &o.ent[o.n]
        else:
            en = NULL
        if en != NULL:
            en.key = kp
            en.klen = klen
            en.val = vstart
            en.vlen = vlen
            en.count = count
            en.lv = lv if kind == K_ARR else -1
            en.dval = dval
            en.ival = ival
            en.kind = kind
            if klen == 1 and <unsigned char>kp[0] >= 64 and <unsigned char>kp[0] < 128:
                o.idx1[(<unsigned char>kp[0]) - 64] = o.n + 1
            o.n += 1
        p = fw_ws(p, end)
        if p >= end:
            _fail(self, "unexpected end of data", p, path)
        if p[0] == b',':
            p = fw_ws(p + 1, end)
            continue
        if p[0] == b'}':
            return p + 1
        _fail(self, "expected ',' or '}'", p, path)


# ---------------------------------------------------------------------------- field getters

cdef str _missing(str key):
    return f"missing required field {key!r}"


cdef inline int64_t _int(Parser self, Obj *o, int i, str path, str key) except? -1:
    if i and o.ent[i - 1].kind == K_INT64:
        return o.ent[i - 1].ival
    return _int_slow(self, o, i, path, key)


cdef int64_t _int_slow(Parser self, Obj *o, int i, str path, str key) except? -1:
    cdef int64_t v = 0
    cdef int r
    cdef Entry *en
    if i == 0:
        _fail(self, _missing(key), NULL, _sub(path, key))
    en = &o.ent[i - 1]
    if en.kind != K_INT:
        _fail(self, "expected an integer", en.val, _sub(path, key))
    r = fw_int64(en.val, en.vlen, &v)
    if r:
        _fail(self, "integer out of int64 range", en.val, _sub(path, key))
    return v


cdef int64_t _int_opt(Parser self, Obj *o, int i, str path, str key) except? -2:
    if i == 0:
        return -1
    return _int(self, o, i, path, key)


cdef inline double _dec(Parser self, Obj *o, int i, str path, str key, int flags) except? -1.0:
    """Decimal string field -> float64 (inline fast path; everything else in _dec_slow)."""
    if i and o.ent[i - 1].kind == K_DEC:
        return o.ent[i - 1].dval
    return _dec_slow(self, o, i, path, key, flags)


cdef double _dec_slow(Parser self, Obj *o, int i, str path, str key, int flags) except? -1.0:
    cdef double v = 0.0
    cdef int r = 1
    cdef Entry *en
    if i == 0:
        if flags & D_OPT:
            return NAN
        _fail(self, _missing(key), NULL, _sub(path, key))
    en = &o.ent[i - 1]
    if _is_str(en.kind):
        if en.vlen == 0 and flags & D_EMPTY:
            return NAN
        r = fw_decimal(en.val, en.vlen, &v)
    elif en.kind == K_STR_ESC:
        r = fw_decimal_esc(en.val, en.vlen, &v)
    elif en.kind == K_NULL and flags & D_NULL:
        return NAN
    else:
        _fail(self, "expected a decimal string", en.val, _sub(path, key))
    if r < 0:
        raise  # MemoryError from the slow path
    if r:
        _fail(self, "invalid decimal string", en.val, _sub(path, key))
    return v


cdef bint _bool(Parser self, Obj *o, int i, str path, str key) except? -1:
    cdef Entry *en
    if i == 0:
        _fail(self, _missing(key), NULL, _sub(path, key))
    en = &o.ent[i - 1]
    if en.kind == K_TRUE:
        return True
    if en.kind == K_FALSE:
        return False
    _fail(self, "expected true or false", en.val, _sub(path, key))


cdef object _decode_str(const Entry *en):
    cdef char *buf
    cdef Py_ssize_t m
    if _is_str(en.kind):
        return PyUnicode_DecodeUTF8(en.val, en.vlen, NULL)
    buf = <char *>PyMem_Malloc(en.vlen + 1)
    if buf == NULL:
        raise MemoryError()
    try:
        m = fw_unescape(en.val, en.vlen, buf)
        return PyUnicode_DecodeUTF8(buf, m, NULL)
    finally:
        PyMem_Free(buf)


cdef object _text(Parser self, Obj *o, int i, str path, str key, _StrCache cache):
    cdef Entry *en
    if i == 0:
        _fail(self, _missing(key), NULL, _sub(path, key))
    en = &o.ent[i - 1]
    if _is_str(en.kind):
        return cache.get(en.val, en.vlen)
    if en.kind == K_STR_ESC:
        return _decode_str(en)
    _fail(self, "expected a string", en.val, _sub(path, key))


cdef object _levels(Parser self, Obj *o, int i, str path, str key):
    cdef Entry *en
    cdef fw_err err
    cdef cnp.npy_intp dims[2]
    cdef const char *q
    cdef Py_ssize_t count = 0
    if i == 0:
        _fail(self, _missing(key), NULL, _sub(path, key))
    en = &o.ent[i - 1]
    if en.kind != K_ARR:
        _fail(self, "expected an array of [price, quantity] levels", en.val, _sub(path, key))
    dims[0] = en.count
    dims[1] = 2
    arr = cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT64, 0)
    if en.lv >= 0:  # parsed during the scan
        memcpy(cnp.PyArray_DATA(arr), self._lv + 2 * en.lv, en.count * 2 * sizeof(double))
        return arr
    # not a clean level array: parse again here for the precise error
    q = fw_levels(en.val, en.val + en.vlen, <double *>cnp.PyArray_DATA(arr), en.count, &count,
                  &err)
    if q == NULL:
        if err.msg == NULL:
            err.msg = b"a level must be [price, quantity]"
        p = _sub(path, key)
        if err.index >= 0:
            p = f"{p}[{err.index}]"
            if err.sub >= 0:
                p = f"{p}[{err.sub}]"
        _fail_err(self, &err, p)
    return arr


cdef inline bint _plain_levels(object a):
    """An ndarray exactly as ``_levels`` made it (float64 rows of 2, C order, owning its
    data): nothing has re-shaped, re-typed or re-strided it in place."""
    cdef cnp.ndarray arr
    if type(a) is not cnp.ndarray:
        return False
    arr = <cnp.ndarray>a
    return (cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_DIMS(arr)[1] == 2
            and cnp.PyArray_TYPE(arr) == cnp.NPY_FLOAT64
            and cnp.PyArray_STRIDES(arr)[0] == 16 and cnp.PyArray_STRIDES(arr)[1] == 8
            and cnp.PyArray_CHKFLAGS(arr, cnp.NPY_ARRAY_OWNDATA | cnp.NPY_ARRAY_WRITEABLE))


cdef object _levels_reused(Parser self, Obj *o, int i, str path, str key, bint asks,
                           bint recycled):
    """``_levels`` for a DepthUpdate, refilling the last event's array in place when that
    event is being refilled (nobody holds it) and nobody else holds the array either.

    The parser keeps a reference to the last arrays it made, so "nobody else" is a
    reference count of 2 (that event and the parser). Creating two numpy arrays was a fifth
    of the cost of a small depth frame; an array a user holds (or a view of it, which
    references it) is never written again."""
    cdef Entry *en
    cdef cnp.ndarray arr
    cdef cnp.npy_intp *dims
    cdef PyObject *old          # borrowed (a local object reference would count)
    cdef Py_ssize_t rows
    cdef Py_ssize_t n
    if asks:
        old = <PyObject *>self._spare_asks
        rows = self._asks_rows
    else:
        old = <PyObject *>self._spare_bids
        rows = self._bids_rows
    if i != 0 and o.ent[i - 1].kind == K_ARR and o.ent[i - 1].lv >= 0:
        en = &o.ent[i - 1]
        n = en.count
        if (recycled and n <= rows and fw_refs_are(old, 2) and _plain_levels(<object>old)):
            arr = <cnp.ndarray>old
            dims = cnp.PyArray_DIMS(arr)
            if (dims[0] <= 1) != (n <= 1):
                # rows of 2 float64 at strides (16, 8): C-contiguous whatever n; also
                # F-contiguous with at most one row (what numpy computes for that shape)
                if n <= 1:
                    cnp.PyArray_ENABLEFLAGS(arr, cnp.NPY_ARRAY_F_CONTIGUOUS)
                else:
                    cnp.PyArray_CLEARFLAGS(arr, cnp.NPY_ARRAY_F_CONTIGUOUS)
            dims[0] = n
            memcpy(cnp.PyArray_DATA(arr), self._lv + 2 * en.lv, n * 2 * sizeof(double))
            return arr
    arr = _levels(self, o, i, path, key)
    if asks:
        self._spare_asks = arr
        self._asks_rows = cnp.PyArray_DIMS(arr)[0]
    else:
        self._spare_bids = arr
        self._bids_rows = cnp.PyArray_DIMS(arr)[0]
    return arr


cdef object _json_value(Parser self, const Entry *en, str path):
    """Any value span -> Python object (off the hot path: control frames). A value orjson
    refuses (a number out of its range such as ``1e400``) is a ParseError like any other."""
    if _is_str(en.kind) or en.kind == K_STR_ESC:
        return _decode_str(en)
    try:
        return orjson.loads(PyBytes_FromStringAndSize(en.val, en.vlen))
    except orjson.JSONDecodeError as exc:
        _fail(self, f"invalid JSON value ({exc.msg})", en.val, path)


cdef inline void _base(Event ev, Parser self, object stream):
    ev.stream = stream
    ev.raw = self._raw


# ---------------------------------------------------------------------------- event builders

cdef inline BookTicker _new_book_ticker(Parser self, object stream):
    """The event to fill: the last one again when nobody else holds it, else a new one."""
    cdef BookTicker ev
    if self._spare_book_ticker is not None and fw_sole_ref(<PyObject *>self._spare_book_ticker):
        ev = <BookTicker>self._spare_book_ticker
    else:
        ev = BookTicker.__new__(BookTicker)
        self._spare_book_ticker = ev
    _base(ev, self, stream)
    ev.type = EventType.BOOK_TICKER
    return ev


cdef inline DepthUpdate _new_depth_update(Parser self, object stream, bint *recycled):
    """As :func:`_new_book_ticker`; ``recycled`` says whether the last one is filled again
    (its level arrays may then be refilled in place)."""
    cdef DepthUpdate ev
    if self._spare_depth is not None and fw_sole_ref(<PyObject *>self._spare_depth):
        ev = <DepthUpdate>self._spare_depth
        recycled[0] = True
    else:
        ev = DepthUpdate.__new__(DepthUpdate)
        self._spare_depth = ev
    _base(ev, self, stream)
    ev.type = EventType.DEPTH_UPDATE
    return ev


cdef object _depth_update(Parser self, Obj *o, object stream, str path):
    cdef DepthUpdate ev
    cdef bint recycled = False
    ev = _new_depth_update(self, stream, &recycled)
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.first_update_id = _int(self, o, _k1(o, c'U'), path, "U")
    ev.final_update_id = _int(self, o, _k1(o, c'u'), path, "u")
    if self._usdm:
        ev.transaction_time = _int(self, o, _k1(o, c'T'), path, "T")
        ev.prev_final_update_id = _int(self, o, _find(o, b"pu", 2), path, "pu")
    else:
        ev.transaction_time = _int_opt(self, o, _k1(o, c'T'), path, "T")
        ev.prev_final_update_id = _int_opt(self, o, _find(o, b"pu", 2), path, "pu")
    ev.bids = _levels_reused(self, o, _k1(o, c'b'), path, "b", False, recycled)
    ev.asks = _levels_reused(self, o, _k1(o, c'a'), path, "a", True, recycled)
    return ev


cdef object _partial_depth(Parser self, Obj *o, object stream, str path):
    cdef PartialDepth ev = PartialDepth.__new__(PartialDepth)
    _base(ev, self, stream)
    ev.type = EventType.PARTIAL_DEPTH
    ev.symbol = None if stream is None else (<str>stream).partition("@")[0].upper()
    ev.last_update_id = _int(self, o, _find(o, b"lastUpdateId", 12), path, "lastUpdateId")
    ev.event_time = _int_opt(self, o, _k1(o, c'E'), path, "E")
    ev.transaction_time = _int_opt(self, o, _k1(o, c'T'), path, "T")
    ev.bids = _levels(self, o, _find(o, b"bids", 4), path, "bids")
    ev.asks = _levels(self, o, _find(o, b"asks", 4), path, "asks")
    return ev


cdef object _book_ticker(Parser self, Obj *o, object stream, str path):
    cdef BookTicker ev
    ev = _new_book_ticker(self, stream)
    ev.update_id = _int(self, o, _k1(o, c'u'), path, "u")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.best_bid_price = _dec(self, o, _k1(o, c'b'), path, "b", D_REQ)
    ev.best_bid_quantity = _dec(self, o, _k1(o, c'B'), path, "B", D_REQ)
    ev.best_ask_price = _dec(self, o, _k1(o, c'a'), path, "a", D_REQ)
    ev.best_ask_quantity = _dec(self, o, _k1(o, c'A'), path, "A", D_REQ)
    if self._usdm:
        ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
        ev.transaction_time = _int(self, o, _k1(o, c'T'), path, "T")
    else:
        ev.event_time = _int_opt(self, o, _k1(o, c'E'), path, "E")
        ev.transaction_time = _int_opt(self, o, _k1(o, c'T'), path, "T")
    return ev


cdef const char *_BT_KEYS = b'","b":"' b'","B":"' b'","a":"' b'","A":"'


cdef object _fast_book_ticker(Parser self, const char *buf, const char *end):
    """A spot bookTicker in the exact shape Binance sends it, or None.

    ``{"stream":"<s>@bookTicker","data":{"u":<int>,"s":"<sym>","b":"<d>","B":"<d>",
    "a":"<d>","A":"<d>"}}`` plus optional trailing whitespace, checked byte for byte as it is
    read (strings validated, decimals parsed by the same fast path as the scan). Any other
    byte anywhere (key order, whitespace, escapes, extra keys, a number the fast paths do not
    take) returns None before anything is built, and the generic scan decides, so results
    and errors are those of the generic path. Saves the generic scan's per-key work (key
    strings, entries, the key index) on the busiest stream."""
    cdef const char *p = buf
    cdef const char *q = NULL
    cdef const char *s0
    cdef const char *y0
    cdef int stag = 0, k
    cdef int64_t uid = 0
    cdef double v[4]
    cdef Py_ssize_t sn, yn
    cdef BookTicker ev
    q = _fast_str(p, end, b'{"stream":"', 11, &s0, &sn)
    if q == NULL or sn < 11 or memcmp(q - 11, b"@bookTicker", 11) != 0:
        return None
    p = _fast_int(q, end, b'","data":{"u":', 14, &uid)
    if p == NULL:
        return None
    p = _fast_str(p, end, b',"s":"', 6, &y0, &yn)
    if p == NULL:
        return None
    for k in range(4):
        if end - p < 7 or memcmp(p, _BT_KEYS + 7 * k, 7) != 0:
            return None
        if not fw_dec_fast(p + 7, end, &v[k], &q) or q >= end or q[0] != b'"':
            return None
        p = q
    if end - p < 3 or memcmp(p, b'"}}', 3) != 0:
        return None
    if fw_ws(p + 3, end) != end:
        return None
    stream = self._streams.get_tagged(s0, sn, &stag)
    if stag != S_BOOK_TICKER:
        return None
    ev = _new_book_ticker(self, stream)
    ev.update_id = uid
    ev.symbol = self._symbols.get(y0, yn)
    ev.best_bid_price = v[0]
    ev.best_bid_quantity = v[1]
    ev.best_ask_price = v[2]
    ev.best_ask_quantity = v[3]
    ev.event_time = -1
    ev.transaction_time = -1
    return ev


cdef inline const char *_fast_str(const char *p, const char *end, const char *lit,
                                   Py_ssize_t n, const char **start, Py_ssize_t *length):
    """``lit`` (ending in the opening quote) then a string without escapes: its closing quote,
    with ``start`` and ``length`` set, or NULL."""
    cdef fw_err err
    cdef int esc = 0
    cdef const char *q
    if end - p < n or memcmp(p, lit, n) != 0:
        return NULL
    start[0] = p + n
    q = fw_string_end(p + n, end, &esc, &err)
    if q == NULL or esc:
        return NULL
    length[0] = q - start[0]
    return q


cdef inline const char *_fast_int(const char *p, const char *end, const char *lit,
                                   Py_ssize_t n, int64_t *out):
    """``lit`` then a JSON integer of at most 18 digits, or NULL."""
    cdef fw_err err
    cdef int isint = 0
    cdef const char *q
    if end - p < n or memcmp(p, lit, n) != 0:
        return NULL
    q = fw_number(p + n, end, &isint, out, &err)
    if q == NULL or isint != 2:
        return NULL
    return q


cdef object _fast_depth(Parser self, const char *buf, const char *end):
    """A spot depthUpdate in the exact shape Binance sends it, or None.

    ``{"stream":"<s>","data":{"e":"depthUpdate","E":<int>,"s":"<sym>","U":<int>,"u":<int>,
    "b":[levels],"a":[levels]}}`` plus optional trailing whitespace, checked byte for byte
    as it is read (the level arrays by the scan's own level reader); anything else returns
    None, having built nothing, and the generic scan decides (see ``_fast_book_ticker``)."""
    cdef const char *p = buf
    cdef const char *q = NULL
    cdef const char *s0
    cdef const char *y0
    cdef int stag = 0
    cdef int64_t E = 0, U = 0, u = 0
    cdef Py_ssize_t sn, yn, nb = 0, na = 0, lb = -1, la = -1
    cdef Obj lv
    cdef DepthUpdate ev
    cdef bint recycled = False
    q = _fast_str(p, end, b'{"stream":"', 11, &s0, &sn)
    if q == NULL:
        return None
    p = _fast_int(q, end, b'","data":{"e":"depthUpdate","E":', 32, &E)
    if p == NULL:
        return None
    q = _fast_str(p, end, b',"s":"', 6, &y0, &yn)
    if q == NULL:
        return None
    p = _fast_int(q, end, b'","U":', 6, &U)
    if p == NULL:
        return None
    p = _fast_int(p, end, b',"u":', 5, &u)
    if p == NULL or end - p < 6 or memcmp(p, b',"b":[', 6) != 0:
        return None
    p = _try_levels(self, p + 5, end, &nb, &lb)
    if p == NULL or end - p < 6 or memcmp(p, b',"a":[', 6) != 0:
        self._lv_used = 0
        return None
    p = _try_levels(self, p + 5, end, &na, &la)
    if p == NULL or end - p < 2 or memcmp(p, b'}}', 2) != 0 or fw_ws(p + 2, end) != end:
        self._lv_used = 0
        return None
    stream = self._streams.get_tagged(s0, sn, &stag)
    ev = _new_depth_update(self, stream, &recycled)
    ev.event_time = E
    ev.symbol = self._symbols.get(y0, yn)
    ev.first_update_id = U
    ev.final_update_id = u
    ev.transaction_time = -1
    ev.prev_final_update_id = -1
    lv.ent[0].kind = K_ARR
    lv.ent[0].count = nb
    lv.ent[0].lv = lb
    ev.bids = _levels_reused(self, &lv, 1, "$.data", "b", False, recycled)
    lv.ent[0].count = na
    lv.ent[0].lv = la
    ev.asks = _levels_reused(self, &lv, 1, "$.data", "a", True, recycled)
    return ev


cdef object _trade(Parser self, Obj *o, object stream, str path):
    cdef Trade ev
    if self._spare_trade is not None and fw_sole_ref(<PyObject *>self._spare_trade):
        ev = <Trade>self._spare_trade  # nobody else holds the last one: fill it again
    else:
        ev = Trade.__new__(Trade)
        self._spare_trade = ev
    _base(ev, self, stream)
    ev.type = EventType.TRADE
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.trade_id = _int(self, o, _k1(o, c't'), path, "t")
    ev.price = _dec(self, o, _k1(o, c'p'), path, "p", D_REQ)
    ev.quantity = _dec(self, o, _k1(o, c'q'), path, "q", D_REQ)
    ev.trade_time = _int(self, o, _k1(o, c'T'), path, "T")
    ev.is_buyer_maker = _bool(self, o, _k1(o, c'm'), path, "m")
    return ev


cdef object _agg_trade(Parser self, Obj *o, object stream, str path):
    cdef AggTrade ev
    if self._spare_agg_trade is not None and fw_sole_ref(<PyObject *>self._spare_agg_trade):
        ev = <AggTrade>self._spare_agg_trade  # nobody else holds the last one: fill it again
    else:
        ev = AggTrade.__new__(AggTrade)
        self._spare_agg_trade = ev
    _base(ev, self, stream)
    ev.type = EventType.AGG_TRADE
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.agg_trade_id = _int(self, o, _k1(o, c'a'), path, "a")
    ev.price = _dec(self, o, _k1(o, c'p'), path, "p", D_REQ)
    ev.quantity = _dec(self, o, _k1(o, c'q'), path, "q", D_REQ)
    ev.first_trade_id = _int(self, o, _k1(o, c'f'), path, "f")
    ev.last_trade_id = _int(self, o, _k1(o, c'l'), path, "l")
    ev.trade_time = _int(self, o, _k1(o, c'T'), path, "T")
    ev.is_buyer_maker = _bool(self, o, _k1(o, c'm'), path, "m")
    return ev


cdef object _block_trade(Parser self, Obj *o, object stream, str path):
    cdef BlockTrade ev = BlockTrade.__new__(BlockTrade)
    _base(ev, self, stream)
    ev.type = EventType.BLOCK_TRADE
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.block_trade_id = _int(self, o, _k1(o, c't'), path, "t")
    ev.price = _dec(self, o, _k1(o, c'p'), path, "p", D_REQ)
    ev.quantity = _dec(self, o, _k1(o, c'q'), path, "q", D_REQ)
    ev.trade_time = _int(self, o, _k1(o, c'T'), path, "T")
    ev.is_buyer_maker = _bool(self, o, _k1(o, c'm'), path, "m")
    return ev


cdef Obj *_nested(Parser self, Obj *o, char c, str path, Obj *nested, Obj *scratch) except NULL:
    """The scanned object under the one-letter key ``c``: the one the scan already made when
    it is this key's, else scanned now into ``scratch``."""
    cdef int i = _k1(o, c)
    cdef Entry *en
    key = "k" if c == b'k' else "o"
    if i == 0:
        _fail(self, _missing(key), NULL, _sub(path, key))
    en = &o.ent[i - 1]
    if en.kind != K_OBJ:
        _fail(self, "expected an object", en.val, _sub(path, key))
    if nested != NULL and o.nested_idx == i - 1:
        return nested
    _scan_obj(self, scratch, en.val, en.val + en.vlen, _nested_path(path, c), NULL, NULL, NULL)
    return scratch


cdef int _fill_kline(Parser self, Kline ev, Obj *o, str path, Obj *nested) except -1:
    """Fields of the ``k`` object of a kline / continuous_kline event."""
    cdef Obj scratch
    cdef Obj *kobj = _nested(self, o, c'k', path, nested, &scratch)
    kp = _nested_path(path, c'k')
    ev.start_time = _int(self, kobj, _k1(kobj, c't'), kp, "t")
    ev.close_time = _int(self, kobj, _k1(kobj, c'T'), kp, "T")
    ev.interval = _text(self, kobj, _k1(kobj, c'i'), kp, "i", self._texts)
    ev.first_trade_id = _int(self, kobj, _k1(kobj, c'f'), kp, "f")
    ev.last_trade_id = _int(self, kobj, _k1(kobj, c'L'), kp, "L")
    ev.open = _dec(self, kobj, _k1(kobj, c'o'), kp, "o", D_REQ)
    ev.close = _dec(self, kobj, _k1(kobj, c'c'), kp, "c", D_REQ)
    ev.high = _dec(self, kobj, _k1(kobj, c'h'), kp, "h", D_REQ)
    ev.low = _dec(self, kobj, _k1(kobj, c'l'), kp, "l", D_REQ)
    ev.volume = _dec(self, kobj, _k1(kobj, c'v'), kp, "v", D_REQ)
    ev.trade_count = _int(self, kobj, _k1(kobj, c'n'), kp, "n")
    ev.is_closed = _bool(self, kobj, _k1(kobj, c'x'), kp, "x")
    ev.quote_volume = _dec(self, kobj, _k1(kobj, c'q'), kp, "q", D_REQ)
    ev.taker_buy_base_volume = _dec(self, kobj, _k1(kobj, c'V'), kp, "V", D_REQ)
    ev.taker_buy_quote_volume = _dec(self, kobj, _k1(kobj, c'Q'), kp, "Q", D_REQ)
    return 0


cdef object _kline(Parser self, Obj *o, object stream, str path, Obj *nested):
    cdef Kline ev = Kline.__new__(Kline)
    _base(ev, self, stream)
    ev.type = EventType.KLINE
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    _fill_kline(self, ev, o, path, nested)
    return ev


cdef object _continuous_kline(Parser self, Obj *o, object stream, str path, Obj *nested):
    cdef ContinuousKline ev = ContinuousKline.__new__(ContinuousKline)
    _base(ev, self, stream)
    ev.type = EventType.CONTINUOUS_KLINE
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.pair = _text(self, o, _find(o, b"ps", 2), path, "ps", self._symbols)
    ev.symbol = ev.pair
    ev.contract_type = _text(self, o, _find(o, b"ct", 2), path, "ct", self._texts)
    _fill_kline(self, ev, o, path, nested)
    return ev


cdef object _mini_ticker(Parser self, Obj *o, object stream, str path):
    cdef MiniTicker ev = MiniTicker.__new__(MiniTicker)
    _base(ev, self, stream)
    ev.type = EventType.MINI_TICKER
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.close = _dec(self, o, _k1(o, c'c'), path, "c", D_REQ)
    ev.open = _dec(self, o, _k1(o, c'o'), path, "o", D_REQ)
    ev.high = _dec(self, o, _k1(o, c'h'), path, "h", D_REQ)
    ev.low = _dec(self, o, _k1(o, c'l'), path, "l", D_REQ)
    ev.volume = _dec(self, o, _k1(o, c'v'), path, "v", D_REQ)
    ev.quote_volume = _dec(self, o, _k1(o, c'q'), path, "q", D_REQ)
    return ev


cdef object _ticker(Parser self, Obj *o, object stream, str path):
    cdef Ticker ev = Ticker.__new__(Ticker)
    _base(ev, self, stream)
    ev.type = EventType.TICKER
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.price_change = _dec(self, o, _k1(o, c'p'), path, "p", D_REQ)
    ev.price_change_percent = _dec(self, o, _k1(o, c'P'), path, "P", D_REQ)
    ev.weighted_avg_price = _dec(self, o, _k1(o, c'w'), path, "w", D_REQ)
    ev.prev_close_price = _dec(self, o, _k1(o, c'x'), path, "x", D_OPT)
    ev.last_price = _dec(self, o, _k1(o, c'c'), path, "c", D_REQ)
    ev.last_quantity = _dec(self, o, _k1(o, c'Q'), path, "Q", D_REQ)
    ev.best_bid_price = _dec(self, o, _k1(o, c'b'), path, "b", D_OPT)
    ev.best_bid_quantity = _dec(self, o, _k1(o, c'B'), path, "B", D_OPT)
    ev.best_ask_price = _dec(self, o, _k1(o, c'a'), path, "a", D_OPT)
    ev.best_ask_quantity = _dec(self, o, _k1(o, c'A'), path, "A", D_OPT)
    ev.open = _dec(self, o, _k1(o, c'o'), path, "o", D_REQ)
    ev.high = _dec(self, o, _k1(o, c'h'), path, "h", D_REQ)
    ev.low = _dec(self, o, _k1(o, c'l'), path, "l", D_REQ)
    ev.volume = _dec(self, o, _k1(o, c'v'), path, "v", D_REQ)
    ev.quote_volume = _dec(self, o, _k1(o, c'q'), path, "q", D_REQ)
    ev.open_time = _int(self, o, _k1(o, c'O'), path, "O")
    ev.close_time = _int(self, o, _k1(o, c'C'), path, "C")
    ev.first_trade_id = _int(self, o, _k1(o, c'F'), path, "F")
    ev.last_trade_id = _int(self, o, _k1(o, c'L'), path, "L")
    ev.trade_count = _int(self, o, _k1(o, c'n'), path, "n")
    return ev


cdef object _window_ticker(Parser self, Obj *o, object stream, str path, const Entry *e):
    cdef WindowTicker ev = WindowTicker.__new__(WindowTicker)
    _base(ev, self, stream)
    ev.type = EventType.WINDOW_TICKER
    ev.window = self._texts.get(e.val, 2)
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.price_change = _dec(self, o, _k1(o, c'p'), path, "p", D_REQ)
    ev.price_change_percent = _dec(self, o, _k1(o, c'P'), path, "P", D_REQ)
    ev.open = _dec(self, o, _k1(o, c'o'), path, "o", D_REQ)
    ev.high = _dec(self, o, _k1(o, c'h'), path, "h", D_REQ)
    ev.low = _dec(self, o, _k1(o, c'l'), path, "l", D_REQ)
    ev.last_price = _dec(self, o, _k1(o, c'c'), path, "c", D_REQ)
    ev.weighted_avg_price = _dec(self, o, _k1(o, c'w'), path, "w", D_REQ)
    ev.volume = _dec(self, o, _k1(o, c'v'), path, "v", D_REQ)
    ev.quote_volume = _dec(self, o, _k1(o, c'q'), path, "q", D_REQ)
    ev.open_time = _int(self, o, _k1(o, c'O'), path, "O")
    ev.close_time = _int(self, o, _k1(o, c'C'), path, "C")
    ev.first_trade_id = _int(self, o, _k1(o, c'F'), path, "F")
    ev.last_trade_id = _int(self, o, _k1(o, c'L'), path, "L")
    ev.trade_count = _int(self, o, _k1(o, c'n'), path, "n")
    return ev


cdef object _avg_price(Parser self, Obj *o, object stream, str path):
    cdef AvgPrice ev = AvgPrice.__new__(AvgPrice)
    _base(ev, self, stream)
    ev.type = EventType.AVG_PRICE
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.interval = _text(self, o, _k1(o, c'i'), path, "i", self._texts)
    ev.price = _dec(self, o, _k1(o, c'w'), path, "w", D_REQ)
    ev.last_trade_time = _int(self, o, _k1(o, c'T'), path, "T")
    return ev


cdef object _reference_price(Parser self, Obj *o, object stream, str path):
    cdef ReferencePrice ev = ReferencePrice.__new__(ReferencePrice)
    _base(ev, self, stream)
    ev.type = EventType.REFERENCE_PRICE
    ev.event_time = _int_opt(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.price = _dec(self, o, _k1(o, c'r'), path, "r", D_NULL)
    ev.engine_time = _int(self, o, _k1(o, c't'), path, "t")
    return ev


cdef object _server_shutdown(Parser self, Obj *o, object stream, str path):
    cdef ServerShutdown ev = ServerShutdown.__new__(ServerShutdown)
    _base(ev, self, stream)
    ev.type = EventType.SERVER_SHUTDOWN
    ev.symbol = None
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    return ev


cdef object _mark_price(Parser self, Obj *o, object stream, str path):
    cdef MarkPrice ev = MarkPrice.__new__(MarkPrice)
    _base(ev, self, stream)
    ev.type = EventType.MARK_PRICE
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    ev.symbol = _text(self, o, _k1(o, c's'), path, "s", self._symbols)
    ev.mark_price = _dec(self, o, _k1(o, c'p'), path, "p", D_REQ)
    ev.index_price = _dec(self, o, _k1(o, c'i'), path, "i", D_EMPTY)
    ev.estimated_settle_price = _dec(self, o, _k1(o, c'P'), path, "P", D_EMPTY)
    ev.funding_rate = _dec(self, o, _k1(o, c'r'), path, "r", D_EMPTY)
    ev.next_funding_time = _int(self, o, _k1(o, c'T'), path, "T")
    return ev


cdef object _force_order(Parser self, Obj *o, object stream, str path, Obj *nested):
    cdef ForceOrder ev = ForceOrder.__new__(ForceOrder)
    cdef Obj scratch
    cdef Obj *so
    _base(ev, self, stream)
    ev.type = EventType.FORCE_ORDER
    ev.event_time = _int(self, o, _k1(o, c'E'), path, "E")
    so = _nested(self, o, c'o', path, nested, &scratch)
    op = _nested_path(path, c'o')
    ev.symbol = _text(self, so, _k1(so, c's'), op, "s", self._symbols)
    ev.side = _text(self, so, _k1(so, c'S'), op, "S", self._texts)
    ev.order_type = _text(self, so, _k1(so, c'o'), op, "o", self._texts)
    ev.time_in_force = _text(self, so, _k1(so, c'f'), op, "f", self._texts)
    ev.orig_quantity = _dec(self, so, _k1(so, c'q'), op, "q", D_REQ)
    ev.price = _dec(self, so, _k1(so, c'p'), op, "p", D_REQ)
    ev.avg_price = _dec(self, so, _find(so, b"ap", 2), op, "ap", D_REQ)
    ev.order_status = _text(self, so, _k1(so, c'X'), op, "X", self._texts)
    ev.last_filled_quantity = _dec(self, so, _k1(so, c'l'), op, "l", D_REQ)
    ev.filled_quantity = _dec(self, so, _k1(so, c'z'), op, "z", D_REQ)
    ev.trade_time = _int(self, so, _k1(so, c'T'), op, "T")
    return ev


# ---------------------------------------------------------------------------- dispatch

cdef object _event(Parser self, Obj *o, object stream, str path, int stag, Obj *nested):
    """The typed event for a scanned object, or None when it is not a known event."""
    cdef int i = _k1(o, c'e')
    cdef const Entry *e
    if o.overflow:
        return None  # more relevant keys than MAXK: only an adversary sends that; orjson decodes it
    if i:
        e = &o.ent[i - 1]
        if not _is_str(e.kind):
            return None
        n = e.vlen
        if n == 11 and _eq(e, b"depthUpdate", 11):
            return _depth_update(self, o, stream, path)
        if n == 5 and _eq(e, b"trade", 5):
            return _trade(self, o, stream, path)
        if n == 10 and _eq(e, b"bookTicker", 10):
            return _book_ticker(self, o, stream, path)
        if n == 8 and _eq(e, b"aggTrade", 8):
            return _agg_trade(self, o, stream, path)
        if n == 15 and _eq(e, b"markPriceUpdate", 15):
            return _mark_price(self, o, stream, path)
        if n == 5 and _eq(e, b"kline", 5):
            return _kline(self, o, stream, path, nested)
        if n == 16 and _eq(e, b"continuous_kline", 16):
            return _continuous_kline(self, o, stream, path, nested)
        if n == 10 and _eq(e, b"24hrTicker", 10):
            return _ticker(self, o, stream, path)
        if n == 14 and _eq(e, b"24hrMiniTicker", 14):
            return _mini_ticker(self, o, stream, path)
        if n == 8 and (_eq(e, b"1hTicker", 8) or _eq(e, b"4hTicker", 8)
                       or _eq(e, b"1dTicker", 8)):
            return _window_ticker(self, o, stream, path, e)
        if n == 10 and _eq(e, b"blockTrade", 10):
            return _block_trade(self, o, stream, path)
        if n == 8 and _eq(e, b"avgPrice", 8):
            return _avg_price(self, o, stream, path)
        if n == 14 and _eq(e, b"referencePrice", 14):
            return _reference_price(self, o, stream, path)
        if n == 10 and _eq(e, b"forceOrder", 10):
            return _force_order(self, o, stream, path, nested)
        if n == 14 and _eq(e, b"serverShutdown", 14):
            return _server_shutdown(self, o, stream, path)
        return None
    # no "e": spot bookTicker and partial depth (SPEC §9), by stream name, then by keys
    if stag == S_BOOK_TICKER:
        return _book_ticker(self, o, stream, path)
    if stag == S_PARTIAL_DEPTH:
        return _partial_depth(self, o, stream, path)
    if _find(o, b"lastUpdateId", 12):
        return _partial_depth(self, o, stream, path)
    if _k1(o, c'u') and _k1(o, c'b') and _k1(o, c'a'):
        return _book_ticker(self, o, stream, path)
    return None


cdef object _control(Parser self, Obj *o, str path):
    """``{"result", "id"}`` -> ControlResponse, ``{"code", "msg"[, "id"]}`` -> ControlError."""
    cdef int ir, ii, ic, im
    cdef ControlError err
    ii = _find(o, b"id", 2)
    ir = _find(o, b"result", 6)
    if ir and ii and o.total == 2:
        return ControlResponse(_json_value(self, &o.ent[ii - 1], path + ".id"),
                               _json_value(self, &o.ent[ir - 1], path + ".result"))
    ic = _find(o, b"code", 4)
    im = _find(o, b"msg", 3)
    if ic and im and (o.total == 2 or (o.total == 3 and ii)):
        err = ControlError.__new__(ControlError)
        err.code = _int(self, o, ic, path, "code")
        err.msg = _text(self, o, im, path, "msg", self._texts)
        err.id = _json_value(self, &o.ent[ii - 1], path + ".id") if ii else None
        return err
    return None


cdef object _array(Parser self, const char *p, const char *end, object stream, str path,
                   const char **endp, int stag):
    """An array of events (``!...@arr``); None when an element is not a known event."""
    cdef Obj o
    cdef Obj nested
    cdef Py_ssize_t i = 0
    cdef list out = []
    p = fw_ws(p + 1, end)
    if p < end and p[0] == b']':
        endp[0] = p + 1
        return out
    while True:
        if p >= end:
            _fail(self, "unexpected end of data", p, path)
        if p[0] != b'{':
            return None
        ep = f"{path}[{i}]"
        self._lv_used = 0
        p = _scan_obj(self, &o, p, end, ep, NULL, &nested, NULL)
        ev = _event(self, &o, stream, ep, stag, &nested)
        if ev is None:
            return None
        out.append(ev)
        i += 1
        p = fw_ws(p, end)
        if p >= end:
            _fail(self, "unexpected end of data", p, path)
        if p[0] == b',':
            p = fw_ws(p + 1, end)
            continue
        if p[0] == b']':
            endp[0] = p + 1
            return out
        _fail(self, "expected ',' or ']'", p, path)


cdef object _fallback(Parser self):
    """Any other valid JSON: what orjson.loads returns."""
    try:
        return orjson.loads(self._payload)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", exc.pos, "$", self._payload) from None


cdef class Parser:
    """Reusable Binance stream frame decoder: the hot-path object.

    Parameters
    ----------
    market : {"spot", "usdm"}
        Which venue the frames come from. On ``"usdm"`` the USD-M-only fields are required
        (``depthUpdate`` ``T``/``pu``, ``bookTicker`` ``E``/``T``); on ``"spot"`` they are
        read when present and -1 otherwise.
    keep_raw : bool
        For ``bytearray`` / ``memoryview`` input, keep a ``bytes`` copy of the payload as
        ``event.raw`` (needed by ``event.decimal()``). ``bytes`` / ``str`` input is always
        kept by reference, with no copy.

    Notes
    -----
    ``parse`` returns a typed event, a list of events (``!...@arr`` streams), a
    ``ControlResponse`` / ``ControlError``, or, for any other valid JSON, what
    ``orjson.loads`` returns. Malformed frames, and known events with a missing field or a
    wrong type, raise ``ParseError`` with the offset and JSON path of the problem.

    A parser keeps small caches (symbol and stream name strings) and, for the hot kinds
    (bookTicker, trade, aggTrade, depthUpdate), the last event it returned: when nothing
    else references that event any more, the next one is written into it instead of
    allocating (a freelist of one; invisible to code that holds its events). A depthUpdate
    refilled that way also refills its ``bids`` / ``asks`` arrays in place when nothing else
    references them (no array, or view of one, that a caller holds is ever written). It is not
    meant to be shared between threads that run Python code concurrently.
    """

    def __init__(self, market="spot", keep_raw=False):
        if market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}, got {market!r}")
        self.market = market
        self._usdm = market == "usdm"
        self.keep_raw = bool(keep_raw)
        self._symbols = _StrCache()
        self._streams = _StrCache(True)
        self._texts = _StrCache()

    def __cinit__(self, *args, **kwargs):
        self._lv_cap = 256
        self._lv_used = 0
        self._lv = <double *>PyMem_Malloc(self._lv_cap * 2 * sizeof(double))
        if self._lv == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self._lv)
        self._lv = NULL

    def __repr__(self):
        return f"Parser(market={self.market!r}, keep_raw={self.keep_raw!r})"

    def __reduce__(self):
        return (Parser, (self.market, self.keep_raw))

    cpdef object parse(self, object payload):
        """Decode one frame.

        Parameters
        ----------
        payload : bytes, bytearray, memoryview or str
            The WebSocket message, a raw payload or a combined-stream envelope. Buffers are
            read in place (no copy) and need no NUL terminator.

        Returns
        -------
        Event, list of Event, ControlResponse, ControlError, or a plain JSON value (dict).

        Raises
        ------
        ParseError
            The frame is not valid JSON, or it is a known event with a missing field or a
            field of the wrong type.
        TypeError
            ``payload`` is not bytes-like or str.
        """
        cdef Py_buffer view
        cdef Py_ssize_t n
        cdef const char *buf
        if PyBytes_Check(payload):
            return self.parse_buffer(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload),
                                     payload, payload)
        if PyUnicode_Check(payload):
            try:
                buf = PyUnicode_AsUTF8AndSize(payload, &n)
            except UnicodeEncodeError as exc:  # lone surrogates: not representable as UTF-8
                raise ParseError(f"payload str is not valid Unicode: {exc.reason}", exc.start,
                                 "$", None) from None
            return self.parse_buffer(buf, n, payload, payload)
        try:
            PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        except (TypeError, BufferError) as exc:
            raise TypeError(
                f"payload must be bytes, bytearray, a contiguous memoryview or str, "
                f"not {type(payload).__name__}") from exc
        try:
            raw = PyBytes_FromStringAndSize(<const char *>view.buf, view.len) if self.keep_raw else None
            return self.parse_buffer(<const char *>view.buf, view.len, payload, raw)
        finally:
            PyBuffer_Release(&view)

    cdef object parse_buffer(self, const char *buf, Py_ssize_t n, object payload, object raw):
        cdef Obj top
        cdef Obj data
        cdef Obj top_nested
        cdef Obj data_nested
        cdef const char *end = buf + n
        cdef const char *p
        cdef const char *q = NULL
        cdef Entry *en
        cdef int i_stream, i_data, stag = 0
        if self._busy:
            # re-entered (a finalizer run by the garbage collector during an allocation
            # parses with this same parser): the per-call state is in use, work elsewhere
            return Parser(self.market, self.keep_raw).parse_buffer(buf, n, payload, raw)
        self._busy = True
        self._payload = payload
        self._raw = raw
        self._base = buf
        self._lv_used = 0
        try:
            if not self._usdm and n > 11 and buf[1] == b'"':
                result = _fast_book_ticker(self, buf, end)   # the busiest streams' exact shapes
                if result is None:
                    result = _fast_depth(self, buf, end)
                if result is not None:
                    return result
            p = fw_ws(buf, end)
            if p >= end:
                _fail(self, "empty payload", p, "$")
            if p[0] == b'{':
                p = _scan_obj(self, &top, p, end, "$", &data, &top_nested, &data_nested)
                if fw_ws(p, end) != end:
                    _fail(self, "trailing data after the JSON document", fw_ws(p, end), "$")
                i_stream = _find(&top, b"stream", 6)
                i_data = _find(&top, b"data", 4)
                if i_stream and i_data and (_is_str(top.ent[i_stream - 1].kind)
                                            or top.ent[i_stream - 1].kind == K_STR_ESC):
                    en = &top.ent[i_stream - 1]
                    if en.kind == K_STR_ESC:
                        stream = _decode_str(en)
                        stag = _stream_tag(stream)
                    else:
                        stream = self._streams.get_tagged(en.val, en.vlen, &stag)
                    en = &top.ent[i_data - 1]
                    if en.kind == K_OBJ and top.sub_found:
                        result = _event(self, &data, stream, "$.data", stag, &data_nested)
                    elif en.kind == K_ARR:
                        result = _array(self, en.val, en.val + en.vlen, stream, "$.data", &q,
                                        stag)
                    else:
                        result = None
                else:
                    result = _event(self, &top, None, "$", S_OTHER, &top_nested)
                    if result is None:
                        result = _control(self, &top, "$")
            elif p[0] == b'[':
                result = _array(self, p, end, None, "$", &q, S_OTHER)
                if result is not None and fw_ws(q, end) != end:
                    _fail(self, "trailing data after the JSON document", fw_ws(q, end), "$")
            else:
                result = None
            if result is None:
                result = _fallback(self)
            return result
        finally:
            self._payload = None
            self._raw = None
            self._base = NULL
            self._busy = False


_default_parsers = {}


def parse(payload, market="spot"):
    """Decode one frame with a shared :class:`Parser` for ``market`` (``"spot"``/``"usdm"``).

    Convenience for scripts; hot loops should keep their own ``Parser``. See
    :meth:`Parser.parse` for inputs, results and errors.
    """
    p = _default_parsers.get(market)
    if p is None:
        p = _default_parsers[market] = Parser(market)
    return (<Parser>p).parse(payload)

# cython: language_level=3
"""The order fast path: ``OrderStream.place`` for the common orders in one C pass.

A ``LIMIT``, ``LIMIT_MAKER`` or ``MARKET`` order whose price and quantity are already on the
symbol's grid (``str``, ``int`` or ``Decimal``), on a session that signs with HMAC (or is
logged on), with room in its rate-limit windows, is checked, written, signed and sent here
without a params dict:

- the checks of :meth:`fastws.api.order_stream.OrderStream.build_order` on integers: side, type,
  time in force, response type, the symbol's allowed order types, ``PRICE_FILTER``,
  ``LOT_SIZE`` / ``MARKET_LOT_SIZE`` and ``NOTIONAL`` (the filters pre-scaled once per symbol
  in an :class:`OrderSpec`);
- the frame is written into a buffer straight from the integer units, its SPEC §7.2 payload
  (names sorted) beside it in the same pass, and its HMAC-SHA256 hex written after it
  (:mod:`fastws.api._hmac` with the x86 SHA extensions; else a copy of the signer's
  pre-keyed OpenSSL object);
- the request is registered and sent as :func:`fastws.api._session.send_request` does for
  ``ping``, and its plain success answer is read by the answer scanner of
  :mod:`fastws.api._session`, which decodes only the ``result``.

The frame is byte for byte the one the general path sends for the same order, id, timestamp
and client order id (a test checks it). Anything else (other order types or params,
``**extra``, an off-grid value, a ``Decimal`` in exponent form, RSA/Ed25519 per-request
signing, pacing needed, a ban, a dropped connection, a subclass; DEBUG logging changes nothing) takes the
general path, :meth:`OrderStream._place`, which does the same step by step, raises the
errors and rounds.
"""
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport nearbyint
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

from fastws.api._answers cimport frame_params
from fastws.api._limits cimport ClockState, Grid, WindowSet
from fastws.api._session cimport LinkState, Session, bind, forget, send_request
from picows.picows cimport WSTransport
from fastws.api._hmac cimport HmacSha256

import os
from decimal import Decimal

from fastws.api import protocol as api_protocol
from fastws.api import signing
from fastws.exceptions import ConnectionClosedError, OutcomeUnknownError

import orjson

__all__ = ["OrderSpec", "OrderPath", "order_place", "order_frame", "new_client_order_id", "enable", "enabled",
           "UNKNOWN", "CLOCK_REJECTED"]

cdef extern from *:
    """
    static inline int fw_mul_overflow(int64_t a, int64_t b, int64_t* r) {
        return __builtin_mul_overflow(a, b, r);
    }
    """
    bint fw_mul_overflow(int64_t a, int64_t b, int64_t* r) noexcept

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object)

cdef object _Decimal = Decimal
cdef object _loads = orjson.loads

# order types of the fast path (bits of OrderSpec.types)
cdef enum:
    T_LIMIT = 1
    T_LIMIT_MAKER = 2
    T_MARKET = 4

DEF _FRAME_MAX = 2048
DEF _NAME_MAX = 64          # symbol, self-trade prevention mode: longer ones take the general path
DEF _KEY_MAX = 256          # API key


# -- client order ids ----------------------------------------------------------------------

#: ``fw`` + 12 random hex characters drawn once per process
cdef bytes _CID_PREFIX = b"fw" + os.urandom(6).hex().encode()
cdef int64_t _cid_next = 1


cdef inline Py_ssize_t _cid_write(char* w, int64_t n) noexcept:
    """Write the client order id number ``n`` (prefix + lowercase hex); returns its length."""
    cdef char tmp[16]
    cdef int k = 0
    cdef Py_ssize_t plen = len(_CID_PREFIX)
    memcpy(w, <char*>_CID_PREFIX, plen)
    while True:
        tmp[k] = b"0123456789abcdef"[n & 15]
        k += 1
        n >>= 4
        if n == 0:
            break
    while k:
        k -= 1
        w[plen] = tmp[k]
        plen += 1
    return plen


cdef inline int64_t _draw_cid() noexcept:
    """The next client order id number (one counter for every order of the process)."""
    global _cid_next
    _cid_next += 1
    return _cid_next - 1


def new_client_order_id():
    """A fresh client order id: ``fw`` + 12 random hex chars drawn once per process + a hex
    counter (unique across restarts and within a process; Binance allows 36 of
    ``[.A-Z:/a-z0-9_-]``). The order fast path draws from the same counter."""
    cdef char buf[40]
    cdef Py_ssize_t n = _cid_write(buf, _draw_cid())
    return buf[:n].decode("ascii")


# -- writing ---------------------------------------------------------------------------------

cdef inline char* _put(char* w, const char* s, Py_ssize_t n) noexcept:
    memcpy(w, s, n)
    return w + n


cdef inline char* _put_int(char* w, int64_t v) noexcept:
    """The decimal text of ``v`` (``str(v)``)."""
    cdef char tmp[24]
    cdef int k = 0
    cdef uint64_t u
    if v < 0:
        w[0] = 45
        w += 1
        u = <uint64_t>(-(v + 1)) + 1
    else:
        u = <uint64_t>v
    while True:
        tmp[k] = <char>(48 + u % 10)
        k += 1
        u //= 10
        if u == 0:
            break
    while k:
        k -= 1
        w[0] = tmp[k]
        w += 1
    return w


cdef inline char* _put_units(char* w, int64_t v, int places) noexcept:
    """The text of ``v`` units of ``10**-places`` (:meth:`fastws.api._limits.Grid.text`)."""
    cdef char tmp[24]
    cdef int k = 0
    while True:
        tmp[k] = <char>(48 + v % 10)
        k += 1
        v //= 10
        if v == 0:
            break
    while k <= places:             # at least one whole digit
        tmp[k] = 48
        k += 1
    while k > places:
        k -= 1
        w[0] = tmp[k]
        w += 1
    if places:
        w[0] = 46
        w += 1
        while k:
            k -= 1
            w[0] = tmp[k]
            w += 1
    return w


cdef inline char* _put_hex(char* w, const unsigned char* s, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        w[0] = b"0123456789abcdef"[s[i] >> 4]
        w[1] = b"0123456789abcdef"[s[i] & 15]
        w += 2
    return w


cdef inline const char* _plain(object s, Py_ssize_t* n, Py_ssize_t most) except? NULL:
    """UTF-8 of ``s`` if it is a ``str`` of 1..``most`` printable ASCII characters that JSON
    writes as they are (no ``"``, no ``\\``), else NULL."""
    cdef const char* p
    cdef Py_ssize_t i
    if type(s) is not str or not PyUnicode_IS_COMPACT_ASCII(s):
        return NULL
    p = PyUnicode_AsUTF8AndSize(s, n)
    if n[0] < 1 or n[0] > most:
        return NULL
    for i in range(n[0]):
        if p[i] < 32 or p[i] > 126 or p[i] == 34 or p[i] == 92:
            return NULL
    return p


cdef inline bint _cid_ok(const char* p, Py_ssize_t n) noexcept:
    """Binance's client order id rule: 1-36 of ``[.A-Z:/a-z0-9_-]``."""
    cdef Py_ssize_t i
    cdef char c
    if n < 1 or n > 36:
        return False
    for i in range(n):
        c = p[i]
        if not ((c >= 97 and c <= 122) or (c >= 65 and c <= 90) or (c >= 47 and c <= 58)
                or c == 46 or c == 95 or c == 45):
            return False
    return True


cdef inline bint _upper_word(const char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if not ((p[i] >= 65 and p[i] <= 90) or p[i] == 95):
            return False
    return True


# -- per symbol --------------------------------------------------------------------------------

cdef int64_t _I64_MAX = 9223372036854775807


cdef inline bint _fits(object v) except -1:
    return v is not None and 0 <= v <= _I64_MAX


@cython.final
cdef class OrderSpec:
    """A symbol's filters as the order fast path reads them (built once per
    :class:`~fastws.api.base_operations.SymbolFilters` from its integer grids).

    Parameters
    ----------
    filters : SymbolFilters
    """
    # fields in order_fast.pxd: symbol (bytes; None when not plain ASCII: no fast path),
    # the grids, the notional bounds, types (bit mask of the fast order types allowed)

    def __init__(self, filters):
        cdef Py_ssize_t n
        sym = filters.symbol
        self.symbol = (<bytes>sym.encode("ascii")) if _plain(sym, &n, _NAME_MAX) != NULL else None
        grids = filters.grids
        self.price = grids.price
        self.qty = grids.qty
        self.mqty = grids.market_qty
        bounds = grids.notional
        self.has_not = bounds is not None and _fits(bounds[0]) and _fits(bounds[1])
        if self.has_not:
            self.not_lo = bounds[0]
            self.not_hi = bounds[1]
        self.min_not = filters.min_notional > 0
        self.max_not = filters.max_notional > 0
        allowed = filters.order_types
        self.types = 0
        if not allowed or "LIMIT" in allowed:
            self.types |= T_LIMIT
        if not allowed or "LIMIT_MAKER" in allowed:
            self.types |= T_LIMIT_MAKER
        if not allowed or "MARKET" in allowed:
            self.types |= T_MARKET

    def __repr__(self):
        return f"OrderSpec({self.symbol!r}, types={self.types})"


# -- the order --------------------------------------------------------------------------------

cdef struct _Order:
    # inputs, checked
    const char* symbol
    Py_ssize_t symbol_n
    const char* side
    Py_ssize_t side_n
    const char* otype
    Py_ssize_t otype_n
    const char* tif
    Py_ssize_t tif_n
    const char* resp
    Py_ssize_t resp_n
    const char* stp
    Py_ssize_t stp_n
    const char* cid
    Py_ssize_t cid_n
    const char* key
    Py_ssize_t key_n
    int64_t price
    int price_places
    int64_t qty
    int qty_places
    int64_t recv_window
    # outputs
    int64_t id
    int64_t cid_num


#: the exact values the fast path takes (anything else: the general path, which normalises or
#: refuses); _TYPE_BITS[i] is the OrderSpec.types bit of _TYPES[i] / _USDM_TYPES[i]
cdef tuple _SIDES = ("BUY", "SELL")
cdef tuple _TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER")
cdef tuple _USDM_TYPES = ("LIMIT", "MARKET")
cdef int[3] _TYPE_BITS = [T_LIMIT, T_MARKET, T_LIMIT_MAKER]
cdef tuple _TIFS = ("GTC", "IOC", "FOK")
cdef tuple _USDM_TIFS = ("GTC", "IOC", "FOK", "GTX")
cdef tuple _RESPS = ("ACK", "RESULT", "FULL")


cdef int _pick(object value, tuple names, const char** text, Py_ssize_t* n) except -2:
    """The index of ``value`` in ``names`` (equal ``str``s), its UTF-8 in ``text``/``n`` (the
    module's constant holds it); -1 if it is not there."""
    cdef Py_ssize_t i
    if type(value) is not str:
        return -1
    for i in range(len(names)):
        if value == names[i]:
            text[0] = PyUnicode_AsUTF8AndSize(names[i], n)
            return i
    return -1


cdef int _check(OrderSpec spec, str market, object side, object otype, object quantity,
                object price, object tif, object cid, object resp, object stp, _Order* o) except -1:
    """The checks of ``build_order`` for a fast-path order, filling ``o``; 1 if the order
    takes the fast path, 0 if not (nothing is raised here: the general path raises)."""
    cdef Py_ssize_t n
    cdef int t, i
    cdef bint limit_like
    cdef Grid g
    cdef int64_t notional
    if spec.symbol is None:
        return 0
    o.symbol = <char*>spec.symbol
    o.symbol_n = len(spec.symbol)
    if _pick(side, _SIDES, &o.side, &o.side_n) < 0:
        return 0
    i = _pick(otype, _TYPES if market == "spot" else _USDM_TYPES, &o.otype, &o.otype_n)
    if i < 0:
        return 0
    t = _TYPE_BITS[i]
    if not (spec.types & t):
        return 0                                  # FilterError from the general path
    # time in force: LIMIT only (GTC when not given, as place() does)
    o.tif = NULL
    o.tif_n = 0
    if t == T_LIMIT:
        if _pick("GTC" if tif is None else tif, _TIFS if market == "spot" else _USDM_TIFS,
                 &o.tif, &o.tif_n) < 0:
            return 0
    elif tif is not None:
        return 0
    # response type: as given (place() upper-cases it; only exact names are fast)
    o.resp = NULL
    o.resp_n = 0
    if resp is not None and resp != "" and _pick(resp, _RESPS, &o.resp, &o.resp_n) < 0:
        return 0
    o.stp = NULL
    o.stp_n = 0
    if stp is not None:
        o.stp = _plain(stp, &o.stp_n, _NAME_MAX)
        if o.stp == NULL or not _upper_word(o.stp, o.stp_n):
            return 0
    o.cid = NULL
    o.cid_n = 0
    if cid is not None and cid != "":
        o.cid = _plain(cid, &o.cid_n, 36)
        if o.cid == NULL or not _cid_ok(o.cid, o.cid_n):
            return 0
    # price and quantity on their grids (exact, within bounds)
    limit_like = t != T_MARKET
    o.price = -1
    if limit_like:
        if price is None or spec.price is None:
            return 0
        if type(price) is _Decimal:
            price = str(price)
        o.price = spec.price.units(price)
        if o.price < 0:
            return 0
        o.price_places = spec.price.places
    elif price is not None:
        return 0
    if quantity is None:
        return 0
    g = spec.mqty if t == T_MARKET else spec.qty
    if g is None:
        return 0
    if type(quantity) is _Decimal:
        quantity = str(quantity)
    o.qty = g.units(quantity)
    if o.qty < 0:
        return 0
    o.qty_places = g.places
    if limit_like:                                # NOTIONAL, as build_order's integer check
        if not spec.has_not or fw_mul_overflow(o.price, o.qty, &notional):
            return 0
        if (spec.min_not and notional < spec.not_lo) or (spec.max_not and notional > spec.not_hi):
            return 0
    return 1


cdef Py_ssize_t _write(_Order* o, char* frame, char* payload, Py_ssize_t* payload_n, int64_t timestamp,
                       bint sign) noexcept:
    """Write the frame (JSON keys in the order the general path sends them, the signature
    left to the caller when ``sign``) and, when ``sign``, the SPEC §7.2 payload (names
    sorted). Returns the frame's length so far."""
    cdef char* w = frame
    cdef char* q = payload
    cdef char cidbuf[40]
    cdef const char* cid = o.cid
    cdef Py_ssize_t cid_n = o.cid_n
    if cid == NULL:
        cid_n = _cid_write(cidbuf, o.cid_num)
        cid = cidbuf
    w = _put(w, b'{"id":', 6)
    w = _put_int(w, o.id)
    w = _put(w, b',"method":"order.place","params":{"symbol":"', 44)
    w = _put(w, o.symbol, o.symbol_n)
    w = _put(w, b'","side":"', 10)
    w = _put(w, o.side, o.side_n)
    w = _put(w, b'","type":"', 10)
    w = _put(w, o.otype, o.otype_n)
    w = _put(w, b'","quantity":"', 14)
    w = _put_units(w, o.qty, o.qty_places)
    if o.price >= 0:
        w = _put(w, b'","price":"', 11)
        w = _put_units(w, o.price, o.price_places)
    if o.tif != NULL:
        w = _put(w, b'","timeInForce":"', 17)
        w = _put(w, o.tif, o.tif_n)
    w = _put(w, b'","newClientOrderId":"', 22)
    w = _put(w, cid, cid_n)
    if o.resp != NULL:
        w = _put(w, b'","newOrderRespType":"', 22)
        w = _put(w, o.resp, o.resp_n)
    if o.stp != NULL:
        w = _put(w, b'","selfTradePreventionMode":"', 29)
        w = _put(w, o.stp, o.stp_n)
    w = _put(w, b'","timestamp":', 14)
    w = _put_int(w, timestamp)
    if o.recv_window > 0:
        w = _put(w, b',"recvWindow":', 14)
        w = _put_int(w, o.recv_window)
    if not sign:
        w = _put(w, b'}}', 2)
        payload_n[0] = 0
        return w - frame
    w = _put(w, b',"apiKey":"', 11)
    w = _put(w, o.key, o.key_n)
    w = _put(w, b'","signature":"', 15)
    # the payload: every param but the signature, names sorted (SPEC §7.2)
    q = _put(q, b'apiKey=', 7)
    q = _put(q, o.key, o.key_n)
    q = _put(q, b'&newClientOrderId=', 18)
    q = _put(q, cid, cid_n)
    if o.resp != NULL:
        q = _put(q, b'&newOrderRespType=', 18)
        q = _put(q, o.resp, o.resp_n)
    if o.price >= 0:
        q = _put(q, b'&price=', 7)
        q = _put_units(q, o.price, o.price_places)
    q = _put(q, b'&quantity=', 10)
    q = _put_units(q, o.qty, o.qty_places)
    if o.recv_window > 0:
        q = _put(q, b'&recvWindow=', 12)
        q = _put_int(q, o.recv_window)
    if o.stp != NULL:
        q = _put(q, b'&selfTradePreventionMode=', 25)
        q = _put(q, o.stp, o.stp_n)
    q = _put(q, b'&side=', 6)
    q = _put(q, o.side, o.side_n)
    q = _put(q, b'&symbol=', 8)
    q = _put(q, o.symbol, o.symbol_n)
    if o.tif != NULL:
        q = _put(q, b'&timeInForce=', 13)
        q = _put(q, o.tif, o.tif_n)
    q = _put(q, b'&timestamp=', 11)
    q = _put_int(q, timestamp)
    q = _put(q, b'&type=', 6)
    q = _put(q, o.otype, o.otype_n)
    payload_n[0] = q - payload
    return w - frame


cdef bytes _signed_frame(_Order* o, int64_t timestamp, object keyed):
    """The frame of order ``o``, signed with ``keyed`` (a :class:`~fastws.api._hmac.HmacSha256`,
    or a pre-keyed ``hashlib`` HMAC-SHA256 object, copied per signature), or unsigned (a
    logged-on session) when ``keyed`` is None."""
    cdef char frame[_FRAME_MAX]
    cdef char payload[_FRAME_MAX]
    cdef Py_ssize_t payload_n = 0
    cdef bint sign = keyed is not None
    cdef Py_ssize_t n = _write(o, frame, payload, &payload_n, timestamp, sign)
    cdef bytes digest
    if sign:
        if type(keyed) is HmacSha256:
            (<HmacSha256>keyed).hex_into(<const unsigned char*>payload, <size_t>payload_n, frame + n)
            n += 64
        else:
            mac = keyed.copy()
            mac.update(PyBytes_FromStringAndSize(payload, payload_n))
            digest = mac.digest()
            if len(digest) != 32:
                raise ValueError("HMAC-SHA256 digest of unexpected size")
            n = _put_hex(frame + n, <const unsigned char*><char*>digest, 32) - frame
        frame[n] = 34           # "
        frame[n + 1] = 125      # }
        frame[n + 2] = 125      # }
        n += 3
    return PyBytes_FromStringAndSize(frame, n)


def order_frame(spec, str market, side, type, quantity, price, time_in_force, client_order_id,
                response_type, self_trade_prevention_mode, *, int64_t id, int64_t timestamp,
                recv_window=None, api_key=None, keyed=None):
    """The frame the fast path would send for this order (no I/O; for tests and tools), or
    None when the order takes the general path. ``keyed``: an :class:`~fastws.api._hmac.HmacSha256`
    or a pre-keyed ``hashlib`` HMAC-SHA256 object, and ``api_key``; or None for an unsigned
    (logged-on) frame. A
    generated client order id is drawn when ``client_order_id`` is None."""
    cdef _Order o
    if not isinstance(spec, OrderSpec):
        raise TypeError("spec must be an OrderSpec")
    if not _check(<OrderSpec>spec, market, side, type, quantity, price, time_in_force,
                  client_order_id, response_type, self_trade_prevention_mode, &o):
        return None
    o.recv_window = 0
    if recv_window is not None:
        if not (type_of(recv_window) is int and 0 < recv_window <= 60000):
            return None
        o.recv_window = recv_window
    if keyed is not None:
        o.key = _plain(api_key, &o.key_n, _KEY_MAX)
        if o.key == NULL:
            return None
    o.id = id
    o.cid_num = 0
    if o.cid == NULL:
        o.cid_num = _draw_cid()
    return _signed_frame(&o, timestamp, keyed)


cdef object type_of = type


@cython.final
cdef class OrderPath:
    """What the fast path reads of one :class:`~fastws.api.order_stream.OrderStream`, resolved once
    when the stream is made (handed over by the stream): the session's filter cache, its C session, the
    market, the signer's keyed HMAC state and the API key (both fixed for a client's life).

    ``keyed`` is None without an HMAC signer: such a session's orders take the fast path only
    while it is logged on (no signature). ``ok`` is False when the stream is not a plain
    OrderStream on a plain ApiClient: every order then takes the general path.
    """
    cdef dict filters
    cdef dict specs                   # symbol -> (SymbolFilters, its OrderSpec)
    cdef Session session
    cdef str market
    cdef public bint validate         # OrderStream.validate (the stream's property writes it)
    cdef object keyed
    cdef bytes key
    cdef bint ok

    def __init__(self, dict filters, Session session, str market, object keyed, object api_key,
                 bint plain):
        cdef Py_ssize_t n
        if not _bound:
            _bind()
        self.ok = False
        self.validate = True
        self.specs = {}
        if not plain:                 # a subclass of OrderStream or ApiClient: the general path
            return
        self.filters = filters
        self.session = session
        self.market = market
        self.keyed = None
        self.key = None
        if keyed is not None and api_key is not None and _plain(api_key, &n, _KEY_MAX) != NULL:
            self.keyed = keyed
            self.key = api_key.encode("ascii")
        self.ok = True

    def __repr__(self):
        return f"OrderPath(ok={self.ok}, signed={self.keyed is not None})"


# -- the request path --------------------------------------------------------------------------

cdef bint _enabled = True


def enable(bint on=True):
    """Turn the order fast path on (default) or off: with ``False`` every order takes the general
    path (:meth:`~fastws.api.order_stream.OrderStream._place`), for comparisons and troubleshooting.
    The orders sent and the answers are the same either way."""
    global _enabled
    _enabled = on


def enabled():
    """Whether the order fast path is on (see :func:`enable`)."""
    return _enabled


cdef bint _bound = False
cdef object _ApiProtocol = None
cdef object _ClockOffset = None
cdef object _HmacSigner = None
cdef object _TimeoutError = None
cdef object _ConnectionClosedError = None
cdef object _OutcomeUnknownError = None
cdef object _W = None
cdef object _O = None
cdef double _RESYNC_MS = 0.0
cdef str _METHOD = "order.place"


cdef int _bind() except -1:
    global _bound, _ApiProtocol, _ClockOffset, _HmacSigner, _TimeoutError
    global _ConnectionClosedError, _OutcomeUnknownError, _W, _O, _RESYNC_MS
    import asyncio

    bind()
    _ApiProtocol = api_protocol.ApiProtocol
    _ClockOffset = signing.ClockOffset
    _HmacSigner = signing.HmacSigner
    _TimeoutError = asyncio.TimeoutError
    _ConnectionClosedError = ConnectionClosedError
    _OutcomeUnknownError = OutcomeUnknownError
    _W = api_protocol._FIXED_WEIGHTS.get(_METHOD)
    _O = api_protocol._FIXED_ORDERS.get(_METHOD)
    _RESYNC_MS = signing.CLOCK_RESYNC_MS
    _bound = True
    return 0


cdef object _start_order(OrderPath op, object stream, object symbol, object side, object otype,
                         object quantity, object price, object tif, object cid, object resp,
                         object stp, object timeout, _Order* o):
    """Check, write, sign, register and send an order on the fast path; the future of its
    answer, or None having changed nothing when the order or the session does not qualify."""
    cdef timespec ts
    cdef double local_ms, offset
    cdef int64_t now, timestamp, weight, orders
    cdef WindowSet core
    if not op.ok or not op.validate:
        return None
    f = op.filters.get(symbol)
    if f is None:
        return None                               # first order on the symbol: exchangeInfo
    cached = op.specs.get(symbol)
    if cached is not None and (<tuple>cached)[0] is f:
        spec = (<tuple>cached)[1]
    else:                                         # new or refreshed filters
        spec = f.grids.order_spec
        if len(op.specs) < 4096:
            op.specs[symbol] = (f, spec)
    if type(spec) is not OrderSpec or _W is None or _O is None:
        return None
    cdef Session s = op.session
    if not _check(<OrderSpec>spec, op.market, side, otype, quantity, price, tif, cid, resp,
                  stp, o):
        return None
    # the session: open, ready, a plain protocol, no ban, debug off
    if s.link is None:
        return None
    cdef LinkState link = <LinkState>s.link
    if link.closed or link.transport is None or not s.is_ready:
        return None
    proto = s.proto
    if type(proto) is not _ApiProtocol:
        return None
    if s.limits.banned is not None:
        return None
    # signing: a logged-on session signs nothing; otherwise HMAC with the signer's keyed state
    keyed = None
    if not s.logged_on:
        keyed = op.keyed
        if keyed is None:
            return None                           # RSA / Ed25519 / none: the general path
        o.key = <char*>op.key
        o.key_n = len(op.key)
    rw = s.recv_window
    o.recv_window = 0
    if rw is not None:
        if type(rw) is not int:
            return None                           # microseconds (a Decimal): the general path
        o.recv_window = rw
    if not s.plain_clock:
        return None                               # a client with its own clock: general path
    cdef ClockState cs = s.clock_state
    clock_gettime(CLOCK_REALTIME, &ts)
    local_ms = <double>ts.tv_sec * 1000.0 + <double>ts.tv_nsec * 1e-6
    if s.sync_clock and cs.newest >= 0.0 and local_ms - cs.newest > _RESYNC_MS:
        return None                               # the general path starts the resync
    offset = cs.offset
    now = <int64_t>nearbyint(local_ms + offset)
    timestamp = <int64_t>(local_ms + offset - cs.uncertainty)
    core = s.core
    weight = _W
    orders = _O
    if core.delay(weight, orders, now) > 0:
        return None                               # pacing: the general path waits
    # committed from here on
    o.id = s.ids.take()
    id_ = o.id
    o.cid_num = 0
    if o.cid == NULL:
        o.cid_num = _draw_cid()
    data = _signed_frame(o, timestamp, keyed)
    # FrameParams as the params: the answer scanner resolves the future with the result alone
    return send_request(s, link, <WSTransport>link.transport, _METHOD, frame_params(data), data, _W, _O,
                        now, timeout, id_, 0)


cdef str _cid_text(_Order* o, object given):
    cdef char buf[40]
    cdef Py_ssize_t n
    if o.cid != NULL:
        return given
    n = _cid_write(buf, o.cid_num)
    return buf[:n].decode("ascii")


#: what :func:`order_place` returns for an outcome the caller must settle:
#: ``(UNKNOWN, client_order_id, exception)`` or ``(CLOCK_REJECTED, client_order_id, error)``
UNKNOWN = 1
CLOCK_REJECTED = 2


async def order_place(OrderPath path, object stream, object symbol, object side, object type,
                      object quantity, object price, object time_in_force, object client_order_id,
                      object response_type, object self_trade_prevention_mode, object timeout):
    """The order fast path of :meth:`fastws.api.order_stream.OrderStream.place` (which owns the
    signature, the documentation and every decision): check, write, sign, register, send and
    await one order in C. Returns the answer's ``result`` (a dict); None, having sent nothing,
    when the order or the session does not qualify (the caller takes the general path); or a
    tuple for the caller to settle: ``(UNKNOWN, client_order_id, exc)`` when the outcome is
    unknown (5xx, -1006/-1007, timeout, dropped connection) and ``(CLOCK_REJECTED,
    client_order_id, error)`` on -1021. Any other error answer is raised."""
    cdef _Order o
    if not _bound:
        _bind()
    if not _enabled:
        return None
    fut = _start_order(path, stream, symbol, side, type, quantity, price, time_in_force,
                       client_order_id, response_type, self_trade_prevention_mode, timeout, &o)
    if fut is None:
        return None
    cdef int64_t id_ = o.id
    cdef Session s = path.session
    cdef dict waiters = (<LinkState>s.link).waiters
    try:
        try:
            resp = await fut
        except _TimeoutError:
            s.proto.abandon(id_)
            raise
        finally:
            forget(s, waiters, id_)
        if type_of(resp) is dict:                 # the scanned answer: the result alone
            return resp
        err = resp.error
        if err is None or err.code != -1021:
            return resp.unwrap()                  # an ApiResponse: the error raised
    except (_OutcomeUnknownError, _TimeoutError, _ConnectionClosedError) as exc:
        return (UNKNOWN, _cid_text(&o, client_order_id), exc)
    return (CLOCK_REJECTED, _cid_text(&o, client_order_id), err)

# cython: language_level=3
"""The WS API's only I/O, in C: the connection's listener, its state, and the one request path.

A :class:`Session` holds what the request path reads of one client (typed fields); every
request goes through it: :func:`send_request` (the one submit: record, reservation, waiter,
deadline, send), :func:`forget` (the one end of a wait), and the answers are accounted by
:mod:`fastws.api._answers` (the one account). The decisions (bans, 429s, errors, pacing) stay
in :mod:`fastws.api.protocol` and :mod:`fastws.api.client`.

:class:`ApiListener` is the picows listener of a WS API connection: picows calls it through C
(no Python frame per frame); text frames go to the link's ``frame(bytes)``, pings are answered
at once with the same payload, a close frame is answered and the connection dropped.

Times are epoch milliseconds; counts are 64-bit integers.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.math cimport nearbyint
from libc.stdint cimport int64_t
from libc.string cimport memcpy
from posix.time cimport CLOCK_MONOTONIC, CLOCK_REALTIME, clock_gettime, timespec

from picows.picows cimport WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from collections.abc import Mapping
from types import MappingProxyType

import orjson

from fastws.api._answers cimport (
    MARK_CHECK,
    req_data,
    req_id,
    request_record,
    resolve_frame,
    resp_error,
    resp_result,
    server_ms,
)
from fastws.api._limits cimport WindowSet

from fastws.api import protocol as api_protocol
from fastws.exceptions import ConnectionClosedError

__all__ = ["ApiListener", "client_response", "client_request", "client_check", "LinkState",
           "Deadlines", "Session"]

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
        self._core = <WindowSet>self._protocol.limits.core
        self._pending = self._protocol.pending
        # the protocol's clock is the client's server clock: read it in C
        self._clock = link.client.clock.state
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
            if not resolve_frame(self._protocol, self._core, self._pending, self._waiters, data, self._clock):
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
                if not resolve_frame(self._protocol, self._core, self._pending, self._waiters, data, self._clock):
                    self._frame(data)
        elif t == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif t == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()


# -- per-connection state read in C -------------------------------------------------------------

cdef class LinkState:
    """The fields of one WS API connection that the compiled paths read
    (:class:`fastws.api.client._Link` adds its methods): ``client``, ``serial``, ``transport``
    (picows, None until connected and after it is lost), ``waiters`` (id -> future),
    ``closed``, ``connected_at``, ``loop``, and the loop's ``create_future`` and ``time``
    bound once (``new_future``, ``loop_time``)."""


cdef inline double monotonic() noexcept:
    """``time.monotonic()`` in C (the clock of the deadlines: reading the loop's ``time()``
    is a Python call per request)."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef class Deadlines:
    """The timeouts of the requests in flight, served by one loop timer.

    A request registers its deadline (``entries[id] = (deadline, future, method, timeout)``,
    ``deadline`` on the monotonic clock, ``time.monotonic()``) and removes it when answered;
    the timer is armed for the earliest deadline and, when it fires, fails the requests that
    are due with ``asyncio.TimeoutError`` and re-arms for the next one. Arming and cancelling
    a loop timer per request costs more than the rest of a ``ping``'s bookkeeping.
    """

    def __init__(self):
        self.entries = {}
        self.handle = None
        self.armed_at = 0.0
        self.loop = None

    def add(self, loop, key, fut, str method, double timeout):
        """Fail ``fut`` with ``asyncio.TimeoutError`` ``timeout`` s from now unless removed
        (``entries.pop(key)``) before."""
        cdef double deadline = monotonic() + timeout
        self.entries[key] = (deadline, fut, method, timeout)
        if deadline < self.armed_at or self.handle is None or loop is not self.loop:
            self.arm(loop, deadline)

    cpdef arm(self, object loop, double deadline):
        """(Re-)arm the timer for ``deadline`` (monotonic clock)."""
        if self.handle is not None:
            self.handle.cancel()
        self.loop = loop
        self.armed_at = deadline
        self.handle = loop.call_later(max(0.0, deadline - monotonic()), self._fire)

    def _fire(self):
        self.handle = None
        loop = self.loop
        if loop is None:  # pragma: no cover - cancelled
            return
        cdef double now = monotonic() + 0.001    # loop timers have a millisecond's granularity
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
            self.handle = loop.call_later(max(0.0, nxt - monotonic()), self._fire)

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
        self.is_ready = False

    def attach(self, client, proto, clock, str market, bint sync_clock, bint plain_clock, *,
               current_link, pace, sign, clock_rejected, server_ms, timestamp):
        """Record the client's long-lived objects and the hooks of its general path (once,
        from ``ApiClient.__init__``): ``current_link()`` (await a ready link), ``pace(method,
        params, weight)``, ``sign(params)``, ``clock_rejected()`` (re-sync after -1021),
        ``server_ms()`` and ``timestamp()``. The compiled code reads nothing else of the
        client."""
        self.client = client
        self.proto = proto
        self.ids = <RequestIds?>proto.ids
        self.limits = proto.limits
        self.core = <WindowSet>proto.limits.core
        self.pending = proto.pending
        self.clock = clock
        self.clock_state = clock.state
        self.market = market
        self.sync_clock = sync_clock
        self.plain_clock = plain_clock
        self.current_link = current_link
        self.pace = pace
        self.sign = sign
        self.clock_rejected = clock_rejected
        self.server_ms = server_ms
        self.timestamp = timestamp


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
cdef dict _PLAIN = {}            # method -> (weight, orders, tail): the three above in one look-up
cdef object _ApiProtocol = None
cdef object _ApiResponse = None


cdef _bind():
    global _request_weight, _order_count, _ConnectionClosedError, _TimeoutError
    global _get_running_loop, _TEXT, _FIXED_W, _FIXED_O, _TAILS, _ApiProtocol, _ApiResponse
    import asyncio

    from picows import WSMsgType as _WSMsgType

    _request_weight = api_protocol.request_weight
    _order_count = api_protocol.order_count
    _FIXED_W = dict(api_protocol._FIXED_WEIGHTS)
    _FIXED_O = dict(api_protocol._FIXED_ORDERS)
    _TAILS = api_protocol._TAILS
    _ApiProtocol = api_protocol.ApiProtocol
    _ApiResponse = api_protocol.ApiResponse
    _ConnectionClosedError = ConnectionClosedError
    _TimeoutError = asyncio.TimeoutError
    _get_running_loop = asyncio.get_running_loop
    _TEXT = _WSMsgType.TEXT


cdef bytes _id_frame(long idv, bytes tail):
    """``b'{"id":<idv>' + tail``: a parameterless request's frame from its method's tail."""
    cdef char digits[24]
    cdef int k = 0
    cdef unsigned long u = <unsigned long>idv if idv >= 0 else <unsigned long>(-idv)
    while True:
        digits[k] = <char>(48 + u % 10)
        k += 1
        u //= 10
        if u == 0:
            break
    cdef Py_ssize_t tl = len(tail)
    cdef Py_ssize_t neg = 1 if idv < 0 else 0
    out = PyBytes_FromStringAndSize(NULL, 6 + neg + k + tl)
    cdef char* w = PyBytes_AS_STRING(out)
    memcpy(w, b'{"id":', 6)
    w += 6
    if neg:
        w[0] = 45
        w += 1
    while k:
        k -= 1
        w[0] = digits[k]
        w += 1
    memcpy(w, <char*>tail, tl)
    return out


cdef object _start_plain(Session s, str method, object timeout, int mark, int64_t* id_out):
    """The common case of a request without params nor signature (``ping``, ``time``...) on an
    open connection, with room in every window and no ban: check the windows, build the frame
    from the method's template, register the request (in-flight table, reservation, waiter,
    deadline) and send it, in C. Returns the future of the answer, or None having changed
    nothing when any condition does not hold (the general path of :func:`client_response`
    then does the same work step by step, pacing included)."""
    cdef LinkState link
    if s.link is None:
        return None
    link = <LinkState>s.link
    if link.closed or link.transport is None or not s.is_ready:
        return None
    proto = s.proto
    if type(proto) is not _ApiProtocol:
        return None
    entry = _PLAIN.get(method)
    if entry is None:
        w = _FIXED_W.get(method)
        o = _FIXED_O.get(method)
        tail = _TAILS.get(method)
        if w is None or o is None or tail is None:   # tail: the general path caches it once
            return None
        entry = (w, o, tail)
        if len(_PLAIN) < 1024:
            _PLAIN[method] = entry
    w = (<tuple>entry)[0]
    o = (<tuple>entry)[1]
    tail = (<tuple>entry)[2]
    if s.limits.banned is not None:
        return None
    # the protocol's clock is the client's server clock (ApiClient._server_ms): read it in C
    cdef int64_t now = server_ms(s.clock_state) if s.plain_clock else s.server_ms()
    cdef WindowSet core = s.core
    cdef int64_t weight = w
    cdef int64_t orders = o
    if core.delay(weight, orders, now) > 0:
        return None
    # ApiProtocol.request, inlined (no params, no debug log)
    cdef long idv = s.ids.take()
    id_ = idv
    data = _id_frame(idv, <bytes>tail)
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
    req = request_record(id_, method, params, data, weight, orders, now, mark)
    s.pending[id_] = req
    s.core.reserve(weight, orders)
    fut = submit(s, link, tr, id_, method, data, timeout)
    if proto_debug(s):
        s.proto.log.debug("> %s id=%s weight=%s (fast path)", method, id_, weight)
    return fut


cdef object submit(Session s, LinkState link, WSTransport tr, object id_, str method, bytes data,
                   object timeout):
    """The one submit of every request, whichever path built it (already in the protocol's
    in-flight table): its future on the link's loop, its waiter, its deadline on the shared
    timer, the frame sent, the count. Returns the future; :func:`forget` ends it."""
    loop = link.loop                     # the connection's loop: no getpid() in get_running_loop
    fut = link.new_future()              # loop.create_future, bound once per connection
    link.waiters[id_] = fut
    cdef Deadlines d = s.deadlines
    cdef double t = s.timeout if timeout is None else <double>timeout
    cdef double deadline = monotonic() + t
    d.entries[id_] = (deadline, fut, method, t)
    if deadline < d.armed_at or d.handle is None or loop is not d.loop:
        d.arm(loop, deadline)
    tr.send(WSMsgType.TEXT, data)
    s.requests += 1
    return fut


cdef inline bint proto_debug(Session s) except -1:
    return s.proto.debug


cdef void forget(Session s, dict waiters, object id_) noexcept:
    """A request is over (answered, failed or cancelled): its deadline and waiter go."""
    s.deadlines.entries.pop(id_, None)
    waiters.pop(id_, None)


cdef int bind() except -1:
    """Import what the request paths need (once; the modules import each other)."""
    if _TEXT is None:
        _bind()
    return 0


async def client_response(Session s, str method, object params=None, *, bint signed=False,
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
    fut = _start_plain(s, method, timeout, 0, &id_) if params is None and not signed else None
    if fut is None:
        return await _response(s, method, params, signed, timeout)
    cdef dict waiters = (<LinkState>s.link).waiters
    try:
        return await fut
    except _TimeoutError:
        s.proto.abandon(id_)
        raise
    finally:
        forget(s, waiters, id_)


async def client_request(Session s, str method, object params=None, *, bint signed=False,
                         object timeout=None):
    """Send one request and return its ``result`` (the server's error raised):
    :meth:`fastws.api.client.ApiClient.request`, compiled (see :func:`client_response`)."""
    cdef int64_t id_ = 0
    if _TEXT is None:
        _bind()
    fut = _start_plain(s, method, timeout, 0, &id_) if params is None and not signed else None
    if fut is None:
        resp = await _response(s, method, params, signed, timeout)
        return resp.unwrap()
    cdef dict waiters = (<LinkState>s.link).waiters
    try:
        resp = await fut
    except _TimeoutError:
        s.proto.abandon(id_)
        raise
    finally:
        forget(s, waiters, id_)
    if type(resp) is _ApiResponse:       # ApiResponse.unwrap, inlined
        err = resp_error(resp)
        if err is not None:
            raise err
        return resp_result(resp)
    return resp.unwrap()


async def client_check(Session s, str method, object timeout=None):
    """Send one request without params nor signature (``ping``) and return None once it is
    answered, raising the server's error: ``client.request(method)`` with the result dropped,
    compiled (see :func:`client_response`), so that a caller can hand this coroutine out
    without a coroutine of its own around it."""
    cdef int64_t id_ = 0
    if _TEXT is None:
        _bind()
    # its plain success answer: scanned, resolved with None (MARK_CHECK)
    fut = _start_plain(s, method, timeout, MARK_CHECK, &id_)
    if fut is None:
        resp = await _response(s, method, None, False, timeout)
        resp.unwrap()
        return None
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
        err = resp_error(resp)
        if err is not None:
            raise err
    else:
        resp.unwrap()
    return None


async def _response(Session s, str method, object params, bint signed, object timeout,
                    bint clock_resend=True):
    """The general path of :func:`client_response` (pacing, signing, any params); the same
    submit as the fast paths (:func:`submit`).

    A signed request answered -1021 (its timestamp outside ``recvWindow``: the clock stepped)
    makes the client re-sync its clock at once, and is then sent again, once, with a fresh
    timestamp and signature (``clock_resend``). That is safe: -1021 is a rejection before
    execution (SPEC §7.4), so the first request did nothing; a second -1021 is returned."""
    given = params
    link = s.link
    if link is None or link.closed or link.transport is None or not s.is_ready:
        link = await s.current_link()
    proto = s.proto
    weight = _request_weight(method, params, s.market)
    orders = _order_count(method, params)
    now = s.server_ms()
    limits = s.limits
    # the C windows straight away unless a ban is recorded (delay_ms raises then)
    if limits.banned is None:
        wait = s.core.delay(weight, orders, now)
    else:
        wait = limits.delay_ms(weight, orders, now)
    if wait > 0:
        await s.pace(method, params, weight)
        if link.closed or link.transport is None:  # dropped while pacing
            link = await s.current_link()
        now = s.server_ms()
    if signed:
        if s.logged_on:
            p = dict(params or {})
            p["timestamp"] = s.timestamp()
            recv_window = s.recv_window
            if recv_window is not None and "recvWindow" not in p:
                p["recvWindow"] = recv_window
            params = p
        else:
            params = s.sign(params or {})
    tr = link.transport
    if tr is None:
        raise _ConnectionClosedError(None, "WS API connection is not open")
    req = proto.request(method, params, weight=weight, now_ms=now, orders=orders)
    id_ = req_id(req)
    cdef dict waiters = (<LinkState>link).waiters
    fut = submit(s, <LinkState>link, <WSTransport>tr, id_, method, req_data(req), timeout)
    try:
        resp = await fut
    except _TimeoutError:
        proto.abandon(id_)
        raise
    finally:
        forget(s, waiters, id_)
    if signed and clock_resend and type(resp) is _ApiResponse:
        err = resp_error(resp)
        if err is not None and err.code == -1021:
            if await s.clock_rejected():
                return await _response(s, method, given, signed, timeout, False)
    return resp

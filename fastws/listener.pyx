# cython: language_level=3
"""The per-frame work of a market-stream connection: a Cython picows listener.

One :class:`StreamListener` sits on each picows stream connection. For every frame it

1. answers a PING at once with the same payload (SPEC §2.2) and tells its owner, which counts
   the pong against the connection's control budget;
2. hands the TEXT payload to :meth:`fastws.parser.Parser.parse_buffer` straight from picows'
   read buffer (no ``bytes`` object, no copy, no decode);
3. classifies the result: control answers (``ControlResponse`` / ``ControlError``) and
   ``serverShutdown`` go to the owner (the connection layer); market events are counted per
   stream (:class:`StreamStat`: messages, bytes, last time) and checked against the last
   update/trade id delivered on that stream, so a duplicate (a server repeat, or the overlap of
   two connections during a cut-over) never reaches the user;
4. calls :meth:`StreamListener.on_event`, whose default hands the event to the shared
   :class:`Router`: the depth hook (the book sync) first, then the callbacks registered per
   event type and per stream, then the ``async for`` queue hook. No queue, no task switch.

A frame that does not parse is counted and given to the owner with the exception (it logs once
per kind with an excerpt); the stream goes on. Binary frames are counted as bad frames.

Fastest path: subclass :class:`StreamListener` in Cython and override ``cpdef on_event``, then
pass the class as ``MarketStream(..., listener_factory=MidListener)``::

    # mybot.pyx  (build with the fastws source dir on Cython's include path)
    from fastws.listener cimport StreamListener
    from fastws.events cimport BookTicker

    cdef class MidListener(StreamListener):
        cdef public double last_mid

        cpdef on_event(self, object ev):
            if type(ev) is BookTicker:            # handled in C: no Python call at all
                self.last_mid = ((<BookTicker>ev).best_bid_price
                                 + (<BookTicker>ev).best_ask_price) * 0.5
            else:                                 # books, callbacks, the async-for queue
                StreamListener.on_event(self, ev)

Everything here runs on the event loop thread; nothing blocks. After a change to
``parser.pxd`` or ``events.pxd`` this module (and any user subclass) must be rebuilt.
"""
cimport cython
from libc.stdint cimport int64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

from fastws.events cimport (
    AggTrade, BookTicker, ControlError, ControlResponse, DepthUpdate, Event, ServerShutdown, Trade,
)
from fastws.parser cimport Parser

__all__ = ["StreamStat", "StreamTable", "Router", "StreamListener", "monotonic"]


cdef inline double _now() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


def monotonic():
    """The clock the listener stamps messages with (same as ``time.monotonic()`` on Linux)."""
    return _now()


@cython.final
cdef class StreamStat:
    """Counters of one stream, shared by every connection that carries it.

    Attributes
    ----------
    name : str
    messages, bytes : int
        Events delivered (after deduplication) and their payload bytes.
    duplicates : int
        Events dropped because their update/trade id (or, during a cut-over, their event time)
        was already delivered.
    last_time : float
        ``time.monotonic()`` of the last delivered event; 0.0 before the first.
    last_id : int
        The last update id (depth, bookTicker) or trade id delivered; -1 if none.
    last_event_time : int
        The newest event time (``E``) delivered; -1 if none.
    """

    def __init__(self, str name):
        self.name = name
        self.last_id = -1
        self.last_event_time = -1

    def as_dict(self):
        return {"messages": self.messages, "bytes": self.bytes, "duplicates": self.duplicates,
                "last_time": self.last_time, "last_id": self.last_id,
                "last_event_time": self.last_event_time}

    def __repr__(self):
        return f"StreamStat({self.name!r}, messages={self.messages}, bytes={self.bytes})"


@cython.final
cdef class StreamTable:
    """Per-stream statistics and deduplication state of one shard (all its connections).

    ``overlap`` is set while an old and a new connection both deliver (make-before-break): then
    events without an id are also deduplicated by event time. ``dedupe`` (default True) turns
    the id check off, for benchmarks that replay the same frames again and again.
    """

    def __init__(self):
        self.stats = {}
        self.overlap = False
        self.dedupe = True

    cdef StreamStat get(self, str name):
        st = self.stats.get(name)
        if st is None:
            st = StreamStat(name)
            self.stats[name] = st
        return <StreamStat>st

    cpdef reset_ids(self):
        """Forget the last ids delivered (after a link switch, so that a venue whose ids were
        reset by a restart is not taken for a stream of duplicates)."""
        for st in self.stats.values():
            (<StreamStat>st).last_id = -1

    def stat(self, str name):
        """The :class:`StreamStat` of ``name`` (created empty if unknown)."""
        return self.get(name)

    def forget(self, str name):
        """Drop the state of a stream that was unsubscribed."""
        self.stats.pop(name, None)


@cython.final
cdef class Router:
    """Hands events to the book hook, the callbacks and the queue hook, in that order.

    Shared by every listener of one :class:`~fastws.market_stream.MarketStream`. Callback
    tables are replaced as a whole (:meth:`set_callbacks`), never mutated while dispatching.
    An exception raised by a callback (or a hook) is counted and passed to
    ``error_hook(exc, callback, ev)``; it never stops the stream (picows would otherwise drop
    the connection).
    """

    def __init__(self):
        self._by_type = {}
        self._by_stream = {}
        self._has_stream = False
        self.depth_hook = None
        self.queue_hook = None
        self.error_hook = None

    def set_callbacks(self, dict by_type, dict by_stream):
        """Install callback tables: ``{event type: (cb, ...)}`` and ``{stream name: (cb, ...)}``."""
        self._by_type = {k: tuple(v) for k, v in by_type.items() if v}
        self._by_stream = {k: tuple(v) for k, v in by_stream.items() if v}
        self._has_stream = bool(self._by_stream)

    cdef void _call(self, tuple cbs, object ev):
        for cb in cbs:
            try:
                cb(ev)
            except Exception as exc:
                self.callback_errors += 1
                hook = self.error_hook
                if hook is not None:
                    try:
                        hook(exc, cb, ev)
                    except Exception:
                        pass

    cpdef dispatch(self, object ev):
        """Route one event (or each item of an ``!...@arr`` list)."""
        cdef object cbs
        if type(ev) is list:
            for item in <list>ev:
                self.dispatch(item)
            return
        if self.depth_hook is not None and type(ev) is DepthUpdate:
            self._call((self.depth_hook,), ev)
        cbs = self._by_type.get(type(ev))
        if cbs is not None:
            self._call(<tuple>cbs, ev)
        if self._has_stream and isinstance(ev, Event):
            cbs = self._by_stream.get((<Event>ev).stream)
            if cbs is not None:
                self._call(<tuple>cbs, ev)
        if self.queue_hook is not None:
            self._call((self.queue_hook,), ev)


cdef class StreamListener(WSListener):
    """picows listener of one market-stream connection (see the module docstring).

    Parameters
    ----------
    parser : Parser
        The decoder for the venue's market.
    router : Router
        Where events go.
    table : StreamTable
        Per-stream counters and dedup state, shared by the connections of one shard.
    owner : object
        The connection object; called (rarely) with ``on_connected(transport)``,
        ``on_disconnected()``, ``on_control(ev)``, ``on_server_shutdown(ev)``, ``on_ping()``,
        ``on_close_frame(code, reason)``, ``on_first_message()`` and
        ``on_bad_frame(kind, excerpt, exc)``.
    """

    def __init__(self, Parser parser, Router router, StreamTable table, object owner):
        super().__init__()
        self.parser = parser
        self.router = router
        self.table = table
        self.owner = owner
        self._fragments = None
        self._last_stream = None
        self._last_stat = None
        self.muted = False

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        self.last_frame_time = _now()
        self.owner.on_connected(transport)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.owner.on_disconnected()

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef WSMsgType t = frame.msg_type
        cdef double now = _now()
        cdef object ev
        cdef bytes whole
        self.last_frame_time = now
        self.frames += 1
        if t == WSMsgType.TEXT and frame.fin:
            self.bytes += frame.payload_size
            if self.muted:
                return
            try:
                ev = self.parser.parse_buffer(frame.payload_ptr, frame.payload_size, None, None)
            except Exception as exc:
                self.parse_errors += 1
                self.owner.on_bad_frame("parse", frame.get_payload_as_bytes()[:160], exc)
                return
            self._handle(ev, frame.payload_size, now)
        elif t == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
            self.pings += 1
            self.owner.on_ping()
        elif t == WSMsgType.PONG:
            pass
        elif t == WSMsgType.CLOSE:
            code = frame.get_close_code()
            try:
                reason = frame.get_close_reason()
            except Exception:
                reason = ""
            if not transport.is_close_frame_sent:
                transport.send_close(code)
            transport.disconnect()
            self.owner.on_close_frame(int(code), reason)
        elif t == WSMsgType.TEXT or t == WSMsgType.CONTINUATION:
            # fragmented message (Binance does not fragment; handled for completeness)
            if t == WSMsgType.TEXT:
                self._fragments = bytearray()
            if self._fragments is None:
                self.parse_errors += 1
                self.owner.on_bad_frame("continuation", frame.get_payload_as_bytes()[:160], None)
                return
            self._fragments += frame.get_payload_as_memoryview()
            if frame.fin:
                whole = bytes(self._fragments)
                self._fragments = None
                self.bytes += len(whole)
                try:
                    ev = self.parser.parse(whole)
                except Exception as exc:
                    self.parse_errors += 1
                    self.owner.on_bad_frame("parse", whole[:160], exc)
                    return
                self._handle(ev, len(whole), now)
        else:
            self.parse_errors += 1
            self.owner.on_bad_frame("binary", frame.get_payload_as_bytes()[:160], None)

    cdef void _handle(self, object ev, Py_ssize_t size, double now) except *:
        cdef Event e
        cdef StreamStat st
        cdef int64_t id_ = -1
        cdef object tp = type(ev)
        if tp is ControlResponse or tp is ControlError:
            self.owner.on_control(ev)
            return
        if isinstance(ev, Event):
            e = <Event>ev
            if e.stream is self._last_stream and self._last_stat is not None:
                st = self._last_stat
            elif e.stream is not None:
                st = self.table.get(<str>e.stream)
                self._last_stream = e.stream
                self._last_stat = st
            else:
                st = None
            if tp is ServerShutdown:
                self.owner.on_server_shutdown(ev)
            elif st is not None:
                if tp is DepthUpdate:
                    id_ = (<DepthUpdate>ev).final_update_id
                elif tp is BookTicker:
                    id_ = (<BookTicker>ev).update_id
                elif tp is Trade:
                    id_ = (<Trade>ev).trade_id
                elif tp is AggTrade:
                    id_ = (<AggTrade>ev).agg_trade_id
                if id_ >= 0 and self.table.dedupe:
                    if id_ <= st.last_id:
                        st.duplicates += 1
                        self.duplicates += 1
                        return
                    st.last_id = id_
                elif self.table.overlap and 0 <= e.event_time <= st.last_event_time:
                    st.duplicates += 1
                    self.duplicates += 1
                    return
                if e.event_time > st.last_event_time:
                    st.last_event_time = e.event_time
                st.messages += 1
                st.bytes += size
                st.last_time = now
        elif tp is list and len(<list>ev) > 0 and isinstance((<list>ev)[0], Event):
            # an !...@arr frame: counted under its stream; during a cut-over overlap a frame
            # not newer than the last one delivered is a duplicate
            e = <Event>(<list>ev)[0]
            if e.stream is not None:
                st = self.table.get(<str>e.stream)
                if self.table.overlap and 0 <= e.event_time <= st.last_event_time:
                    st.duplicates += 1
                    self.duplicates += 1
                    return
                if e.event_time > st.last_event_time:
                    st.last_event_time = e.event_time
                st.messages += 1
                st.bytes += size
                st.last_time = now
        self.messages += 1
        if self.messages == 1:
            self.owner.on_first_message()
        self.on_event(ev)

    cpdef on_event(self, object ev):
        """Called for every market event (after deduplication); default: ``router.dispatch``.

        Override in a Cython subclass for the fastest path (see ``listener.pxd``).
        """
        self.router.dispatch(ev)

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
   recent update/trade ids delivered on that stream, so a repeat the server sends never
   reaches the user; frames of streams not subscribed are counted and dropped;
4. calls :meth:`StreamListener.on_event`, whose default hands the event to the shared
   :class:`Router`: the depth hook (the book sync) first, then the callbacks registered per
   event type and per stream, then the ``async for`` queue hook. No queue, no task switch.

A frame that does not parse is counted and given to the owner with the exception (it logs once
per kind with an excerpt); the stream goes on. Binary frames are counted as bad frames. Valid
JSON that is no known event is delivered as what ``orjson.loads`` returns (a dict, usually).
Fragmented messages are reassembled up to ``max_message_size`` bytes (16 MiB by default);
beyond it the owner is told (``on_message_too_big``) and drops the link.

Deduplication happens only where duplicates arise:

- *repeats the venue sends*: an event whose id is one of the last :data:`RECENT` ids delivered
  on its stream is dropped. There is no high-water mark: an event with an absurdly high id is
  delivered once and mutes nothing; two events that arrive swapped are both delivered;
- *the overlap of two links during a switch* (make-before-break): while
  :attr:`StreamTable.switching`, each stream has one *source* link whose events are delivered;
  the other link's events are held back (bounded, for a fall-back) or dropped when already
  delivered. The replacement (``candidate``) becomes a stream's source as soon as it proves it
  carries the stream without being ahead: it sends an event already delivered (a lagging
  link: its backlog up to the last delivered event is dropped by a short-lived *floor*, then
  it delivers), or it continues the delivered ids exactly (trade and aggTrade ids, depth
  ``U``/``pu``), or the source delivers an event the candidate holds (a link running ahead:
  what it holds beyond that goes out, in order). Events without an id are compared by event
  time (``E``); two such events that share an ``E`` across the switch point may be reduced
  to one. If the candidate dies or announces its shutdown, the old link takes its streams
  back, delivering what it held that is newer.

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

__all__ = ["StreamStat", "StreamTable", "Router", "StreamListener", "monotonic", "RECENT_IDS",
           "DEFAULT_MAX_MESSAGE_SIZE"]


cdef inline double _now() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


def monotonic():
    """The clock the listener stamps messages with (same as ``time.monotonic()`` on Linux)."""
    return _now()



# RECENT (ids remembered per stream to recognise a repeat the venue sends) is in listener.pxd.
#: Events held per stream and link during a switch (the oldest go first beyond it).
cdef Py_ssize_t HOLD = 8192
#: Default cap of a reassembled fragmented message.
cdef Py_ssize_t MAX_MESSAGE = 16 << 20
#: Seconds after a forced switch during which a new link's events not newer than the last one
#: delivered are taken for its backlog (then the floor is gone: no permanent high-water mark).
cdef double FLOOR_SECONDS = 30.0

RECENT_IDS = RECENT
DEFAULT_MAX_MESSAGE_SIZE = MAX_MESSAGE


@cython.final
cdef class StreamStat:
    """Counters of one subscribed stream, shared by every connection that carries it.

    Attributes
    ----------
    name : str
    messages, bytes : int
        Events delivered (after deduplication) and their payload bytes.
    duplicates : int
        Events dropped because they were already delivered (a repeat the venue sent, or the
        backlog of a link switched to).
    last_time : float
        ``time.monotonic()`` of the last delivered event; 0.0 before the first.
    last_id : int
        The update id (depth, bookTicker) or trade id of the last event delivered; -1 if none.
    last_event_time : int
        The newest event time (``E``) delivered; -1 if none.
    link : str
        What carries the stream: ``"up"``, or why not (``"reconnecting: ..."``), set by the
        connection.
    """

    def __init__(self, str name):
        self.name = name
        self.last_id = -1
        self.last_event_time = -1
        self.floor = -1
        self.floor_e = -1
        self.link = "up"
        self.source = None
        self.held = None
        self.caught = None

    cdef bint seen(self, int64_t id_) noexcept:
        cdef int i
        for i in range(self._rcount):
            if self._recent[i] == id_:
                return True
        return False

    cdef void remember(self, int64_t id_) noexcept:
        self._recent[self._rpos] = id_
        self._rpos = (self._rpos + 1) % RECENT
        if self._rcount < RECENT:
            self._rcount += 1

    cdef void forget_ids(self) noexcept:
        self._rcount = 0
        self._rpos = 0
        self.last_id = -1
        self.floor = -1
        self.floor_e = -1

    def as_dict(self):
        return {"messages": self.messages, "bytes": self.bytes, "duplicates": self.duplicates,
                "last_time": self.last_time, "last_id": self.last_id,
                "last_event_time": self.last_event_time, "link": self.link}

    def __repr__(self):
        return f"StreamStat({self.name!r}, messages={self.messages}, bytes={self.bytes})"


@cython.final
cdef class StreamTable:
    """Per-stream statistics and deduplication state of one shard (all its connections).

    Once told its streams (:meth:`want`, as every connection does), only those have a
    :class:`StreamStat` (:meth:`forget` removes one); frames of any other stream are counted
    in :attr:`unsubscribed` and dropped. A table never told (a listener used on its own, a
    benchmark) takes every stream it sees. ``dedupe`` (default
    True) turns deduplication off, for benchmarks that replay the same frames again and again.

    A switch (make-before-break) is driven by the connection: :meth:`begin_switch` with the
    replacement's listener, :meth:`pending` until every stream moved, :meth:`finish_switch`
    (streams that did not move are moved then; the replacement's events not newer than what
    was delivered are dropped until a newer one comes), :meth:`drop_link` when a link dies or
    announces its shutdown.
    """

    def __init__(self):
        self.stats = {}
        self.dedupe = True
        self.switching = False
        self.candidate = None
        self.primary = None
        self.version = 0
        self.unsubscribed = 0
        self.last_unsubscribed = None
        self.restricted = False

    @property
    def overlap(self):
        """True while two links deliver the same streams (a switch)."""
        return self.switching

    cdef StreamStat get(self, str name):
        cdef StreamStat new
        st = self.stats.get(name)
        if st is None:
            new = StreamStat(name)
            if self.switching:
                new.source = self.primary
                new.held = {}
                new.caught = set()
            self.stats[name] = new
            return new
        return <StreamStat>st

    cpdef reset_ids(self):
        """Forget the ids delivered (a new link after an unplanned drop: no other link
        delivers, and a venue whose ids restarted lower must not be taken for repeats)."""
        for st in self.stats.values():
            (<StreamStat>st).forget_ids()

    def stat(self, str name):
        """The :class:`StreamStat` of ``name`` (subscribing it in the table if unknown)."""
        return self.get(name)

    def want(self, names):
        """Streams subscribed from now on: their frames are counted and delivered (and,
        from the first call on, only theirs)."""
        self.restricted = True
        for n in names:
            self.get(n)

    def forget(self, str name):
        """Drop the state of a stream that was unsubscribed (its late frames are dropped)."""
        if self.stats.pop(name, None) is not None:
            self.version += 1

    def set_link_state(self, names, str state):
        for n in names:
            st = self.stats.get(n)
            if st is not None:
                (<StreamStat>st).link = state

    # -- switches --------------------------------------------------------------------------------
    def begin_switch(self, object primary, object candidate):
        """``candidate`` (a listener) is to take over from ``primary`` (the delivering one)."""
        cdef StreamStat st
        if self.switching:
            self.finish_switch()
        self.primary = primary
        self.candidate = candidate
        self.switching = True
        self.switch_started = _now()
        for v in self.stats.values():
            st = <StreamStat>v
            st.source = primary
            st.held = {}
            st.caught = set()
            st.at_switch = st.messages

    def pending(self):
        """Streams not yet moved to the candidate that had traffic since the switch began
        (a stream silent on both links has nothing to lose)."""
        cdef StreamStat st
        out = []
        if not self.switching:
            return out
        for v in self.stats.values():
            st = <StreamStat>v
            if st.source is self.candidate:
                continue
            if st.messages != st.at_switch or st.held.get(self.candidate):
                out.append(st.name)
        return out

    def move_stale(self, double quiet):
        """Move to the candidate every stream it holds events of while its source delivered
        nothing for ``quiet`` seconds (a source that stopped: waiting helps nobody).
        Returns the names moved."""
        cdef StreamStat st
        cdef double now = _now()
        moved = []
        if not self.switching or self.candidate is None:
            return moved
        for v in list(self.stats.values()):
            st = <StreamStat>v
            if st.source is self.candidate or not st.held.get(self.candidate):
                continue
            if now - max(st.last_time, self.switch_started) >= quiet:
                self._move(st, self.candidate, True)
                moved.append(st.name)
        return moved

    def unmoved(self):
        """Streams not yet moved to the candidate (with or without traffic)."""
        cdef StreamStat st
        if not self.switching:
            return []
        return [(<StreamStat>v).name for v in self.stats.values()
                if (<StreamStat>v).source is not self.candidate]

    cdef void _move(self, StreamStat st, object to, bint floor) except *:
        """Make ``to`` the source of ``st``: deliver what it holds that is newer, in order."""
        held = st.held.pop(to, None) if st.held is not None else None
        st.source = to
        if floor:
            st.floor = st.last_id if st.last_id >= 0 else -1
            st.floor_e = st.last_event_time if st.last_id < 0 else -1
            st.floor_until = _now() + FLOOR_SECONDS
        if held:
            for key, ev, size in held:
                (<StreamListener>to)._release(st, ev, key, size)

    def finish_switch(self):
        """End a switch: every stream is carried by the candidate from now on."""
        cdef StreamStat st
        if not self.switching:
            return
        cand = self.candidate
        for v in list(self.stats.values()):
            st = <StreamStat>v
            if st.source is not cand and cand is not None:
                self._move(st, cand, True)
            st.source = None
            st.held = None
            st.caught = None
        self.switching = False
        self.primary = cand
        self.candidate = None

    def drop_link(self, object listener):
        """``listener``'s link died or announced its shutdown: streams it carried go back to
        the other live link (what that one held is delivered where newer)."""
        cdef StreamStat st
        if not self.switching:
            if listener is self.primary:
                self.primary = None
            return
        other = self.primary if listener is self.candidate else self.candidate
        for v in list(self.stats.values()):
            st = <StreamStat>v
            if st.held is not None:
                st.held.pop(listener, None)
            if st.source is listener and other is not None:
                self._move(st, other, True)
        if listener is self.candidate:
            # the switch is off; the old link delivers everything again
            for v in self.stats.values():
                st = <StreamStat>v
                st.source = None
                st.held = None
                st.caught = None
            self.switching = False
            self.candidate = None
        else:
            self.primary = None
            self.finish_switch()


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
        ``on_close_frame(code, reason)``, ``on_first_message()``,
        ``on_bad_frame(kind, excerpt, exc)``, ``on_message_too_big(size)`` and
        ``on_unsubscribed(stream, count)``.

    Attributes
    ----------
    max_message_size : int
        Largest fragmented message reassembled (default 16 MiB).
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
        self._version = -1
        self.muted = False
        self.max_message_size = MAX_MESSAGE

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        self.last_frame_time = _now()
        self.owner.on_connected(transport)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self._fragments = None
        self.owner.on_disconnected()

    cdef void _parse_failed(self, bytes payload, object exc, Py_ssize_t size, double now) except *:
        # the live path parses from picows' buffer; a frame that is valid JSON but no known
        # event is decoded again from bytes (rare) and delivered as what orjson returns
        cdef object ev
        try:
            ev = self.parser.parse(payload)
        except Exception as exc2:
            self.parse_errors += 1
            self.owner.on_bad_frame("parse", payload[:160], exc2)
            return
        self._handle(ev, size, now)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef WSMsgType t = frame.msg_type
        cdef double now = _now()
        cdef object ev
        cdef bytes whole
        cdef Py_ssize_t size
        self.last_frame_time = now
        self.frames += 1
        if t == WSMsgType.TEXT and frame.fin:
            self.bytes += frame.payload_size
            if self.muted:
                return
            try:
                # keep_raw: the payload as received goes with the event (ev.raw)
                ev = self.parser.parse_buffer(
                    frame.payload_ptr, frame.payload_size, None,
                    frame.get_payload_as_bytes() if self.parser.keep_raw else None)
            except Exception as exc:
                self._parse_failed(frame.get_payload_as_bytes(), exc, frame.payload_size, now)
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
            self.owner.on_close_frame(int(code), reason)
            if not transport.is_close_frame_sent:
                transport.send_close(code)
            transport.disconnect()
        elif t == WSMsgType.TEXT or t == WSMsgType.CONTINUATION:
            # a fragmented message (Binance does not fragment, a proxy may)
            if t == WSMsgType.TEXT:
                self._fragments = bytearray()
            if self._fragments is None:
                self.parse_errors += 1
                self.owner.on_bad_frame("continuation", frame.get_payload_as_bytes()[:160], None)
                return
            size = len(self._fragments) + frame.payload_size
            if size > self.max_message_size:
                self._fragments = None
                self.parse_errors += 1
                self.owner.on_message_too_big(size)
                return
            self._fragments += frame.get_payload_as_memoryview()
            if frame.fin:
                whole = bytes(self._fragments)
                self._fragments = None
                self.bytes += len(whole)
                if self.muted:
                    return
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

    cdef StreamStat _stat(self, object stream):
        cdef StreamTable table = self.table
        if stream is self._last_stream and self._version == table.version:
            return self._last_stat
        st = table.stats.get(stream)
        if st is None and not table.restricted:
            st = table.get(<str>stream)
        if st is None:
            table.unsubscribed += 1
            table.last_unsubscribed = stream
            if table.unsubscribed == 1 or table.unsubscribed % 10000 == 0:
                self.owner.on_unsubscribed(stream, table.unsubscribed)
            return None
        self._last_stream = stream
        self._last_stat = <StreamStat>st
        self._version = table.version
        return <StreamStat>st

    cdef void _handle(self, object ev, Py_ssize_t size, double now) except *:
        cdef Event e
        cdef StreamStat st
        cdef int64_t id_ = -1
        cdef int64_t key
        cdef bint contiguous = False
        cdef object tp = type(ev)
        if tp is ControlResponse or tp is ControlError:
            self.owner.on_control(ev)
            return
        if tp is ServerShutdown:
            self.owner.on_server_shutdown(ev)
            return
        if isinstance(ev, Event):
            e = <Event>ev
            if e.stream is not None:
                st = self._stat(e.stream)
                if st is None:
                    return
                if tp is DepthUpdate:
                    id_ = (<DepthUpdate>ev).final_update_id
                elif tp is BookTicker:
                    id_ = (<BookTicker>ev).update_id
                elif tp is Trade:
                    id_ = (<Trade>ev).trade_id
                elif tp is AggTrade:
                    id_ = (<AggTrade>ev).agg_trade_id
                if self.table.switching and self.table.dedupe:
                    if st.source is not self:
                        key = id_ if id_ >= 0 else e.event_time
                        if id_ >= 0 and st.last_id >= 0:
                            if tp is Trade or tp is AggTrade:
                                contiguous = id_ == st.last_id + 1
                            elif tp is DepthUpdate:
                                contiguous = ((<DepthUpdate>ev).first_update_id == st.last_id + 1
                                              or (<DepthUpdate>ev).prev_final_update_id == st.last_id)
                        if not self._hold(st, ev, key, id_ >= 0, contiguous, size):
                            return
                        # caught up: this link carries the stream from now on
                    elif not self._fresh(st, id_, e.event_time):
                        return
                    self._deliver(st, ev, id_, size, now)
                    self._trim_others(st, id_ if id_ >= 0 else e.event_time, id_ >= 0)
                    return
                if self.table.dedupe and (id_ >= 0 or st.floor_e >= 0) and not self._fresh(
                        st, id_, e.event_time):
                    return
                self._deliver(st, ev, id_, size, now)
                return
        elif tp is list and len(<list>ev) > 0 and isinstance((<list>ev)[0], Event):
            # an !...@arr frame: counted under its stream, compared by event time in a switch
            e = <Event>(<list>ev)[0]
            if e.stream is not None:
                st = self._stat(e.stream)
                if st is None:
                    return
                if self.table.switching and self.table.dedupe:
                    if st.source is not self:
                        if not self._hold(st, ev, e.event_time, False, False, size):
                            return
                    elif not self._fresh(st, -1, e.event_time):
                        return
                    self._deliver(st, ev, -1, size, now)
                    self._trim_others(st, e.event_time, False)
                    return
                if st.floor_e >= 0 and self.table.dedupe and not self._fresh(st, -1, e.event_time):
                    return
                self._deliver(st, ev, -1, size, now)
                return
        self.messages += 1
        if self.messages == 1:
            self.owner.on_first_message()
        self.on_event(ev)

    cdef bint _fresh(self, StreamStat st, int64_t id_, int64_t et) except -1:
        """Whether an event of the stream's source is not a repeat."""
        if id_ < 0:
            if st.floor_e >= 0:
                if et <= st.floor_e and _now() < st.floor_until:
                    st.duplicates += 1
                    self.duplicates += 1
                    return False
                st.floor_e = -1
            return True
        if st.floor >= 0:
            if id_ <= st.floor and _now() < st.floor_until:
                st.duplicates += 1
                self.duplicates += 1
                return False
            st.floor = -1
        if id_ <= st.last_id and st.seen(id_):
            st.duplicates += 1
            self.duplicates += 1
            return False
        return True

    cdef bint _hold(self, StreamStat st, object ev, int64_t key, bint has_id, bint contiguous,
                    Py_ssize_t size) except -1:
        """An event of a link that is not the stream's source. Returns True when that link is
        the candidate and has caught up (it becomes the source; deliver this event)."""
        cdef int64_t last = st.last_id if has_id else st.last_event_time
        cdef StreamTable table = self.table
        cdef list held
        if last >= 0 and key <= last:
            # already delivered: the backlog of a lagging link
            st.caught.add(self)
            st.duplicates += 1
            self.duplicates += 1
            if self is table.candidate:
                # it carries the stream and is not ahead: it takes over now; what it sends
                # up to the last event delivered is its backlog (dropped by the floor)
                table._move(st, self, True)
            return False
        if self is table.candidate and (contiguous or self in st.caught):
            held = st.held.pop(self, None)
            st.source = self
            if held:
                for k, hev, hsize in held:
                    self._release(st, hev, k, hsize)
                if has_id and key <= st.last_id:
                    return False
            return True
        held = st.held.get(self)
        if held is None:
            held = []
            st.held[self] = held
        held.append((key, ev, size))
        if len(held) > HOLD:
            del held[0]
        return False

    cdef void _trim_others(self, StreamStat st, int64_t key, bint has_id) except *:
        """The source delivered ``key``: what other links hold up to it is their backlog; a
        candidate that held it has caught up and takes over."""
        cdef list held
        cdef Py_ssize_t n
        cdef object cand = self.table.candidate
        if st.held is None or not st.held:
            return
        for lst, held in list(st.held.items()):
            n = 0
            while n < len(held) and <int64_t>held[n][0] <= key:
                n += 1
            if n:
                del held[:n]
                st.duplicates += n
                st.caught.add(lst)
        if cand is not None and cand is not self and cand in st.caught:
            self.table._move(st, cand, False)

    cdef void _release(self, StreamStat st, object ev, int64_t key, Py_ssize_t size) except *:
        """Deliver an event this link held during a switch, if it is newer than the last one."""
        cdef int64_t last
        if type(ev) is list or not isinstance(ev, Event) or (
                type(ev) is not DepthUpdate and type(ev) is not BookTicker and type(ev) is not Trade
                and type(ev) is not AggTrade):
            last = st.last_event_time
            if last >= 0 and key <= last:
                return
            self._deliver(st, ev, -1, size, _now())
        else:
            if st.last_id >= 0 and key <= st.last_id:
                return
            self._deliver(st, ev, key, size, _now())

    cdef void _deliver(self, StreamStat st, object ev, int64_t id_, Py_ssize_t size,
                       double now) except *:
        cdef int64_t et
        if id_ >= 0:
            st.last_id = id_
            st.remember(id_)
        if type(ev) is list:
            et = (<Event>(<list>ev)[0]).event_time
        else:
            et = (<Event>ev).event_time
        if et > st.last_event_time:
            st.last_event_time = et
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

# cython: language_level=3
"""C-level API of the stream listener, for Cython code that wants events without Python calls.

Subclass :class:`StreamListener` in Cython and override ``cpdef on_event(self, ev)``; pass the
class to ``MarketStream(listener_factory=...)``. Call ``StreamListener.on_event(self, ev)`` from
the override to keep the default routing (books, callbacks, the ``async for`` queue).
"""
from libc.stdint cimport int64_t

from picows.picows cimport WSFrame, WSListener, WSTransport

from fastws.parser cimport Parser


cdef enum:
    RECENT = 32                          # ids remembered per stream (repeats the venue sends)


cdef class StreamStat:
    cdef readonly str name
    cdef readonly int64_t messages
    cdef readonly int64_t bytes
    cdef readonly int64_t duplicates
    cdef readonly double last_time       # time.monotonic() of the last message, 0.0 if none
    cdef readonly int64_t last_id        # last update/trade id delivered, -1 if none
    cdef readonly int64_t last_event_time
    cdef public str link                 # "up", or why the stream is not carried now
    cdef int64_t _recent[RECENT]
    cdef int _rpos
    cdef int _rcount
    cdef int64_t floor                   # after a forced switch: backlog ids up to it dropped
    cdef int64_t floor_e                 # the same for streams without ids, by event time
    cdef double floor_until
    cdef object source                   # during a switch: the listener delivering it
    cdef dict held                       # during a switch: listener -> [(key, event, size)]
    cdef set caught                      # during a switch: listeners whose backlog passed
    cdef int64_t at_switch
    cdef bint seen(self, int64_t id_) noexcept
    cdef void remember(self, int64_t id_) noexcept
    cdef void forget_ids(self) noexcept


cdef class StreamTable:
    cdef readonly dict stats             # subscribed stream name -> StreamStat
    cdef public bint dedupe              # drop repeats and switch backlogs (default True)
    cdef readonly bint switching         # two links deliver the same streams (make-before-break)
    cdef readonly object candidate       # the replacement's listener during a switch
    cdef readonly object primary         # the delivering listener
    cdef readonly double switch_started  # monotonic time the switch began
    cdef readonly int64_t version        # bumped when a stream is forgotten
    cdef readonly int64_t unsubscribed   # frames of streams not subscribed (dropped)
    cdef readonly object last_unsubscribed
    cdef readonly bint restricted        # told its streams: frames of others are dropped
    cdef StreamStat get(self, str name)
    cdef void _move(self, StreamStat st, object to, bint floor) except *
    cpdef reset_ids(self)


cdef class Router:
    cdef dict _by_type
    cdef dict _by_stream
    cdef bint _has_stream
    cdef public object depth_hook
    cdef public object queue_hook
    cdef public object error_hook
    cdef readonly int64_t callback_errors
    cpdef dispatch(self, object ev)
    cdef void _call(self, tuple cbs, object ev)


cdef class StreamListener(WSListener):
    cdef readonly Parser parser
    cdef public Router router
    cdef public StreamTable table
    cdef public object owner
    cdef public bint muted               # a retired link: pings answered, data ignored
    cdef readonly WSTransport transport
    cdef readonly int64_t frames
    cdef readonly int64_t messages
    cdef readonly int64_t bytes
    cdef readonly int64_t parse_errors
    cdef readonly int64_t pings
    cdef readonly int64_t duplicates
    cdef readonly double last_frame_time
    cdef public Py_ssize_t max_message_size   # cap of a reassembled fragmented message
    cdef bytearray _fragments
    cdef object _last_stream
    cdef StreamStat _last_stat
    cdef int64_t _version

    cpdef on_event(self, object ev)
    cdef StreamStat _stat(self, object stream)
    cdef void _parse_failed(self, bytes payload, object exc, Py_ssize_t size, double now) except *
    cdef void _handle(self, object ev, Py_ssize_t size, double now) except *
    cdef bint _fresh(self, StreamStat st, int64_t id_, int64_t et) except -1
    cdef bint _hold(self, StreamStat st, object ev, int64_t key, bint has_id, bint contiguous,
                    Py_ssize_t size) except -1
    cdef void _trim_others(self, StreamStat st, int64_t key, bint has_id) except *
    cdef void _release(self, StreamStat st, object ev, int64_t key, Py_ssize_t size) except *
    cdef void _deliver(self, StreamStat st, object ev, int64_t id_, Py_ssize_t size,
                       double now) except *

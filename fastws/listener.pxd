# cython: language_level=3
"""C-level API of the stream listener, for Cython code that wants events without Python calls.

Subclass :class:`StreamListener` in Cython and override ``cpdef on_event(self, ev)``; pass the
class to ``MarketStream(listener_factory=...)``. Call ``StreamListener.on_event(self, ev)`` from
the override to keep the default routing (books, callbacks, the ``async for`` queue).
"""
from libc.stdint cimport int64_t

from picows.picows cimport WSFrame, WSListener, WSTransport

from fastws.parser cimport Parser


cdef class StreamStat:
    cdef readonly str name
    cdef readonly int64_t messages
    cdef readonly int64_t bytes
    cdef readonly int64_t duplicates
    cdef readonly double last_time       # time.monotonic() of the last message, 0.0 if none
    cdef readonly int64_t last_id        # last update/trade id delivered, -1 if none
    cdef readonly int64_t last_event_time


cdef class StreamTable:
    cdef readonly dict stats             # stream name -> StreamStat
    cdef public bint overlap             # two connections deliver the same streams (cut-over)
    cdef public bint dedupe              # drop events whose id was already delivered (default True)
    cdef StreamStat get(self, str name)
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
    cdef bytearray _fragments
    cdef object _last_stream
    cdef StreamStat _last_stat

    cpdef on_event(self, object ev)
    cdef void _handle(self, object ev, Py_ssize_t size, double now) except *

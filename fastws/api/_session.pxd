# cython: language_level=3
"""C-level API of the WS API hot paths (rate-limit windows, the connection listener)."""
from libc.stdint cimport int64_t

from picows.picows cimport WSFrame, WSListener, WSTransport


cdef class Window:
    cdef public str type
    cdef public str interval
    cdef public int64_t interval_num
    cdef public int64_t limit
    cdef public int64_t count
    cdef public int64_t reset_at
    cdef readonly int64_t length_ms
    cdef int kind


cdef class WindowSet:
    cdef public dict windows              # (type, interval, interval_num) -> Window
    cdef public int64_t edge_ms
    cdef public int64_t blocked_until     # epoch ms: hold everything back until then
    cdef readonly int64_t pending_weight  # reserved by requests in flight
    cdef readonly int64_t pending_orders
    cdef readonly int64_t pending_raw
    cpdef int64_t reset_for(self, Window w, int64_t now_ms)
    cpdef roll(self, int64_t now_ms)
    cpdef charge(self, Window w, int64_t amount, int64_t now_ms)
    cpdef int64_t pending_of(self, str type)
    cpdef int64_t delay(self, int64_t weight, int64_t orders, int64_t now_ms) except -1
    cpdef reserve(self, int64_t weight, int64_t orders)
    cpdef release(self, int64_t weight, int64_t orders, int64_t now_ms, object reported=*)
    cdef void _release_mask(self, int64_t weight, int64_t orders, int64_t now_ms, int mask)
    cpdef list update(self, object entries, int64_t now_ms)


cpdef object account_success(object proto, dict msg, object id_, object status, int64_t now_ms)
cpdef bint resolve(object proto, dict waiters, bytes data, object clock=*) except -1


cdef class Grid:
    cdef readonly int places
    cdef readonly int64_t step
    cdef readonly int64_t lo
    cdef readonly int64_t hi
    cpdef object scaled(self, object value)
    cdef int64_t units(self, object value) except -2
    cpdef str text(self, int64_t v)


cpdef tuple signing_parts(dict params, object format_value)


cdef class ApiListener(WSListener):
    cdef public object link
    cdef object _frame
    cdef dict _waiters
    cdef object _protocol
    cdef WindowSet _core
    cdef dict _pending
    cdef object _clock
    cdef object _fragments                # bytearray of a fragmented message, or None
    cdef public Py_ssize_t max_message    # longest message reassembled (bytes)
    cdef void _drop(self, WSTransport transport, int code, str reason) except *


cdef enum:
    MARK_CHECK = 1


cdef class LinkState:
    cdef public object client
    cdef public int serial
    cdef public object transport
    cdef public dict waiters
    cdef public bint closed
    cdef public double connected_at
    cdef public object loop
    cdef public object new_future
    cdef public object loop_time
    cdef public object close_reason       # why fastws dropped the link (None: the peer did)


cdef class Deadlines:
    cdef public dict entries
    cdef public object handle
    cdef public double armed_at
    cdef public object loop
    cpdef arm(self, object loop, double deadline)


cdef class Session:
    cdef public object client
    cdef public object proto
    cdef public object limits
    cdef public WindowSet core
    cdef public dict pending
    cdef public object clock
    cdef public object ready
    cdef public Deadlines deadlines
    cdef public object link
    cdef public bint logged_on
    cdef public object recv_window
    cdef public double timeout
    cdef public int64_t requests
    cdef public bint sync_clock
    cdef public bint plain_clock


cdef class FrameParams:
    cdef bytes _data
    cdef dict _params
    cdef dict _get(self)


cdef object send_request(Session s, LinkState link, WSTransport tr, str method, object params,
                         bytes data, object weight, object orders, int64_t now, object timeout,
                         object id_, int mark)
cdef void forget(Session s, dict waiters, object id_) noexcept
cdef int bind() except -1

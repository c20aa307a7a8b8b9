# cython: language_level=3
"""C-level API of fastws.api._session: the WS API's only I/O (the picows listener, the
connection state, the Session and its submit)."""
from libc.stdint cimport int64_t

from picows.picows cimport WSFrame, WSListener, WSTransport

from fastws.api._answers cimport RequestIds
from fastws.api._limits cimport ClockState, WindowSet


cdef class ApiListener(WSListener):
    cdef public object link
    cdef object _frame
    cdef dict _waiters
    cdef object _protocol
    cdef WindowSet _core
    cdef dict _pending
    cdef ClockState _clock
    cdef object _fragments                # bytearray of a fragmented message, or None
    cdef public Py_ssize_t max_message    # longest message reassembled (bytes)
    cdef void _drop(self, WSTransport transport, int code, str reason) except *


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
    cdef public RequestIds ids            # proto.ids
    cdef public object limits
    cdef public WindowSet core
    cdef public dict pending
    cdef public object clock
    cdef public ClockState clock_state
    cdef public str market
    cdef public bint is_ready             # the client's link is ready for user requests
    cdef public Deadlines deadlines
    cdef public object link
    cdef public bint logged_on
    cdef public object recv_window
    cdef public double timeout
    cdef public int64_t requests
    cdef public bint sync_clock
    cdef public bint plain_clock
    # the client's hooks for the general path (bound methods handed over by attach)
    cdef public object current_link
    cdef public object pace
    cdef public object sign
    cdef public object clock_rejected
    cdef public object server_ms
    cdef public object timestamp


cdef object send_request(Session s, LinkState link, WSTransport tr, str method, object params,
                         bytes data, object weight, object orders, int64_t now, object timeout,
                         object id_, int mark)
cdef object submit(Session s, LinkState link, WSTransport tr, object id_, str method, bytes data,
                   object timeout)
cdef void forget(Session s, dict waiters, object id_) noexcept
cdef int bind() except -1

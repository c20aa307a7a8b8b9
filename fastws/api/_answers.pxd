# cython: language_level=3
"""C-level API of fastws.api._answers (the answer scanner and the request record)."""
from libc.stdint cimport int64_t

from fastws.api._limits cimport ClockState, WindowSet


cdef enum:
    MARK_CHECK = 1          # the caller drops the answer: its params become _CHECK_PARAMS


cdef class FrameParams:
    cdef bytes _data
    cdef dict _params
    cdef dict _get(self)


cpdef object account_success(object proto, dict msg, object id_, object status, int64_t now_ms)
cpdef bint resolve(object proto, dict waiters, bytes data, object clock=*) except -1
cdef bint resolve_frame(object proto, WindowSet core, dict pending, dict waiters, bytes data,
                        object clock) except -1
cdef int64_t server_ms(ClockState clock) except? -1
cdef object request_record(object id_, str method, object params, bytes data, object weight,
                           object orders, object sent_at, int mark)

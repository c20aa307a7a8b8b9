# cython: language_level=3
"""C-level API of fastws.api._answers (the answer scanner and the request record)."""
from libc.stdint cimport int64_t

from fastws.api._limits cimport ClockState, WindowSet


cdef enum:
    MARK_CHECK = 1          # the caller drops the answer: its params become _CHECK_PARAMS


# The fields of fastws.api.protocol.ApiRequest and ApiResponse, by name, for C code (a typed
# tuple read; bind_types checks at import that the positions are the named tuples' own).
cdef inline object req_id(object r):
    return (<tuple>r)[0]
cdef inline object req_params(object r):
    return (<tuple>r)[2]
cdef inline object req_data(object r):
    return (<tuple>r)[3]
cdef inline object req_weight(object r):
    return (<tuple>r)[4]
cdef inline object req_orders(object r):
    return (<tuple>r)[5]
cdef inline object resp_result(object r):
    return (<tuple>r)[2]
cdef inline object resp_error(object r):
    return (<tuple>r)[3]


cdef class RequestIds:
    cdef public int64_t next_id          # the next request id
    cpdef int64_t take(self) except? -1


cdef class FrameParams:
    cdef bytes frame                      # the frame sent
    cdef dict decoded                     # its params, once decoded
    cdef dict _get(self)


cdef FrameParams frame_params(bytes data)
cpdef object account_success(object proto, dict msg, object id_, object status, int64_t now_ms)
cpdef bint resolve(object proto, dict waiters, bytes data, object clock=*) except -1
cdef bint resolve_frame(object proto, WindowSet core, dict pending, dict waiters, bytes data,
                        object clock) except -1
cdef int64_t server_ms(ClockState clock) except? -1
cdef object request_record(object id_, str method, object params, bytes data, object weight,
                           object orders, object sent_at, int mark)

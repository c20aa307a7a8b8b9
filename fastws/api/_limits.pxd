# cython: language_level=3
"""C-level API of fastws.api._limits (rate-limit windows, grids, the signing payload)."""
from libc.stdint cimport int64_t


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


cdef class Grid:
    cdef readonly int places
    cdef readonly int64_t step
    cdef readonly int64_t lo
    cdef readonly int64_t hi
    cpdef object scaled(self, object value)
    cdef int64_t units(self, object value) except -2
    cpdef str text(self, int64_t v)


cpdef tuple signing_parts(dict params, object format_value)


cdef class ClockState:
    cdef public double offset
    cdef public double uncertainty
    cdef public double newest

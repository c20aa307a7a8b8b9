# cython: language_level=3
"""C-level API of the order fast path (see order_fast.pyx)."""
from libc.stdint cimport int64_t

from fastws.api._limits cimport Grid


cdef class OrderSpec:
    cdef readonly bytes symbol
    cdef Grid price, qty, mqty
    cdef int64_t not_lo, not_hi
    cdef bint has_not, min_not, max_not
    cdef readonly int types

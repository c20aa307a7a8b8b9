# cython: language_level=3
"""C-level API of fastws.api._hmac (HMAC-SHA256 keyed once; see hmac_fast.pyx)."""
from fastws.includes.fwsha256 cimport fw_hmac


cdef class HmacSha256:
    cdef fw_hmac _h
    cdef readonly bint accelerated
    cdef void hex_into(self, const unsigned char* msg, size_t n, char* out) noexcept

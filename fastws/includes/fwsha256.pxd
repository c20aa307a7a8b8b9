# cython: language_level=3
"""Cython declarations of the SHA-256 / HMAC-SHA256 code in ``fwsha256.h``."""
from libc.stdint cimport uint32_t


cdef extern from "includes/fwsha256.h":
    ctypedef struct fw_hmac:
        uint32_t inner[8]
        uint32_t outer[8]
    int fw_sha256_ni_available() nogil
    void fw_hmac_init(fw_hmac* h, const unsigned char* key, size_t key_n, int portable) nogil
    void fw_hmac_digest(const fw_hmac* h, const unsigned char* msg, size_t n, unsigned char* out) nogil
    void fw_hmac_hex(const fw_hmac* h, const unsigned char* msg, size_t n, char* out) nogil
    void fw_hmac_wipe(fw_hmac* h) nogil

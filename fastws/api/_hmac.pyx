# cython: language_level=3
"""HMAC-SHA256 in C for signing requests (SPEC §7.1), keyed once, no allocation per signature.

:class:`HmacSha256` keeps the SHA-256 states after the key's inner and outer pad blocks
(RFC 2104), so a signature costs the payload's blocks plus one; with the x86 SHA extensions
(``ACCELERATED``) an order's ~260-byte payload is signed in a fraction of a microsecond, with
no Python call in between when the order fast path (:mod:`fastws.api._orders`) writes the hex
straight into the frame. Without them the portable C code is slower than OpenSSL, and
:class:`fastws.api.signing.HmacSigner` keeps using ``hashlib``'s HMAC instead.

The keyed state is secret-equivalent: it is never shown (``repr``), cannot be pickled, and is
wiped when the object goes away.
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize

from fastws.includes.fwsha256 cimport (
    fw_hmac_digest,
    fw_hmac_hex,
    fw_hmac_init,
    fw_hmac_wipe,
    fw_sha256_ni_available,
)

__all__ = ["HmacSha256", "ACCELERATED"]

#: The CPU has the x86 SHA extensions (SHA-NI) and this build uses them.
ACCELERATED = bool(fw_sha256_ni_available())


cdef class HmacSha256:
    """HMAC-SHA256 with the key ``key`` (bytes-like; any length, as RFC 2104 says).

    Parameters
    ----------
    key : bytes
        The secret.
    portable : bool
        Use the portable C block function even on a CPU with SHA-NI (tests compare both).
    """

    def __init__(self, key, *, bint portable=False):
        cdef Py_buffer view
        PyObject_GetBuffer(key, &view, PyBUF_SIMPLE)
        try:
            fw_hmac_init(&self._h, <const unsigned char*>view.buf, <size_t>view.len, portable)
        finally:
            PyBuffer_Release(&view)
        self.accelerated = not portable and fw_sha256_ni_available()

    def __dealloc__(self):
        fw_hmac_wipe(&self._h)

    def __repr__(self):
        return "HmacSha256(key=****)"

    def __reduce__(self):
        raise TypeError("HmacSha256 holds a secret and cannot be pickled")

    cdef void hex_into(self, const unsigned char* msg, size_t n, char* out) noexcept:
        """The lowercase hex signature of ``msg[:n]``: 64 characters written at ``out``."""
        fw_hmac_hex(&self._h, msg, n, out)

    def digest(self, payload):
        """The 32-byte HMAC of ``payload`` (bytes-like)."""
        cdef Py_buffer view
        cdef unsigned char out[32]
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        try:
            fw_hmac_digest(&self._h, <const unsigned char*>view.buf, <size_t>view.len, out)
        finally:
            PyBuffer_Release(&view)
        return PyBytes_FromStringAndSize(<char*>out, 32)

    def hexdigest(self, payload):
        """The HMAC of ``payload`` (bytes-like) as 64 lowercase hex characters."""
        cdef Py_buffer view
        cdef char out[64]
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        try:
            fw_hmac_hex(&self._h, <const unsigned char*>view.buf, <size_t>view.len, out)
        finally:
            PyBuffer_Release(&view)
        return out[:64].decode("ascii")

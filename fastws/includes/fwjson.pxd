# cython: language_level=3
"""Cython declarations of the C JSON scanners in ``fwjson.h`` (see that file for contracts)."""
from libc.stdint cimport int64_t


from cpython.object cimport PyObject


cdef extern from "includes/fwjson.h":
    bint fw_sole_ref(PyObject *o)
    bint fw_refs_are(PyObject *o, Py_ssize_t n)
    ctypedef struct fw_err:
        const char *pos
        const char *msg
        Py_ssize_t index
        int sub

    const char *fw_ws(const char *p, const char *end) nogil
    const char *fw_string_end(const char *p, const char *end, int *has_esc, fw_err *e) nogil
    Py_ssize_t fw_unescape(const char *s, Py_ssize_t n, char *out) nogil
    const char *fw_number_end(const char *p, const char *end, int *is_int, fw_err *e) nogil
    const char *fw_number(const char *p, const char *end, int *kind, int64_t *ival,
                          fw_err *e) nogil
    const char *fw_literal(const char *p, const char *end, const char *lit, int n,
                           fw_err *e) nogil
    const char *fw_skip(const char *p, const char *end, Py_ssize_t *count, fw_err *e)
    int fw_decimal(const char *s, Py_ssize_t n, double *out)
    int fw_dec_fast(const char *s, const char *end, double *out, const char **stop)
    int fw_decimal_esc(const char *s, Py_ssize_t n, double *out)
    int fw_int64(const char *s, Py_ssize_t n, int64_t *out) nogil
    const char *fw_levels(const char *p, const char *end, double *out, Py_ssize_t cap,
                          Py_ssize_t *count, fw_err *e)

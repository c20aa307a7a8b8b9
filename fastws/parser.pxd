# cython: language_level=3
"""C-level API of the frame parser, for Cython code that wants to skip Python entirely.

``Parser.parse_buffer(buf, n, payload, raw)`` decodes ``n`` bytes at ``buf`` (no NUL needed)
and returns the same object ``Parser.parse`` would; ``payload`` is only used in ``ParseError``
(may be None) and ``raw`` becomes ``event.raw``. The buffer must stay alive during the call.
"""

cdef enum:
    STR_CACHE_SIZE = 16
    STR_CACHE_WIDTH = 48


cdef class _StrCache:
    """A tiny cache of decoded short strings (symbols, stream names, intervals)."""
    cdef char keys[STR_CACHE_SIZE][STR_CACHE_WIDTH]
    cdef Py_ssize_t lens[STR_CACHE_SIZE]
    cdef list objs
    cdef int next
    cdef int last
    cdef int tags[STR_CACHE_SIZE]
    cdef bint classify
    cdef object get(self, const char *s, Py_ssize_t n)
    cdef object get_tagged(self, const char *s, Py_ssize_t n, int *tag)


cdef class Parser:
    cdef readonly str market
    cdef readonly bint keep_raw
    cdef bint _usdm
    cdef object _payload
    cdef object _raw
    cdef const char *_base
    cdef _StrCache _symbols
    cdef _StrCache _streams
    cdef _StrCache _texts
    cdef double *_lv             # scratch for depth levels parsed during the scan
    cdef Py_ssize_t _lv_cap      # in levels
    cdef Py_ssize_t _lv_used
    cdef bint _busy              # inside parse_buffer (a re-entrant call gets a fresh Parser)
    # the last event of the hot kinds, refilled when nobody else holds it (see _recycle)
    cdef object _spare_book_ticker
    cdef object _spare_trade
    cdef object _spare_agg_trade
    cdef object _spare_depth
    # the level arrays of the last DepthUpdate, refilled in place with it (see _levels_reused)
    cdef object _spare_bids
    cdef object _spare_asks
    cdef Py_ssize_t _bids_rows       # rows allocated in _spare_bids (its shape may be fewer)
    cdef Py_ssize_t _asks_rows

    cpdef object parse(self, object payload)
    cdef object parse_buffer(self, const char *buf, Py_ssize_t n, object payload, object raw)

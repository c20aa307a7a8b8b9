# cython: language_level=3
"""C-level interface of the ring-buffer order book (cimport this from your own Cython code).

Everything here uses plain C types (the module is plain C, no C++ runtime needed).

Keys: a side stores integer *keys* with "larger key = better price". Bids use ``key = tick``,
asks use ``key = -tick``, where ``tick = round(price / tick_size)``. ``EMPTY_KEY`` marks an
empty side.
"""
cimport cython
from libc.stdint cimport int64_t, uint64_t

from fastws.events cimport DepthUpdate


cdef extern from *:
    """
    #define FASTWS_BOOK_EMPTY_KEY ((int64_t)INT64_MIN)
    """
    const int64_t EMPTY_KEY "FASTWS_BOOK_EMPTY_KEY"


cdef struct Level:
    int64_t key
    double qty


@cython.final
cdef class _Side:
    # ladder: a ring of `cap` slots (power of two) covering keys [lo, lo + cap)
    cdef double* qty                 # quantity per slot, 0.0 = no level
    cdef uint64_t* bits              # one bit per slot: level present
    cdef uint64_t* summary           # one bit per word of `bits`: word non-zero
    cdef int64_t cap
    cdef int64_t mask
    cdef int64_t nwords
    cdef int64_t nsum
    cdef int64_t lo                  # lowest key of the window
    cdef int64_t nladder             # levels held in the ladder
    # overflow: open-addressing hash table key -> qty of the levels outside the window
    cdef int64_t* hkeys              # EMPTY_KEY = free slot
    cdef double* hvals
    cdef int64_t hcap                # power of two
    cdef int hshift                  # 64 - log2(hcap) (Fibonacci hashing)
    cdef int64_t hcount              # live levels
    cdef int64_t hused               # occupied slots (live + tombstones)
    cdef bint ov_above               # the table may hold keys above the window
    cdef int64_t best                # best (largest) key of the side, EMPTY_KEY when empty
    cdef bint dirty                  # best was deleted; recompute in finish()
    cdef int64_t max_levels          # bound on levels kept (0 = unbounded)
    cdef int64_t trimmed             # levels dropped by the bound (the deepest ones)
    cdef int64_t recentres           # number of window moves

    cdef void reset(self) noexcept
    cdef int64_t _h_home(self, int64_t key) noexcept
    cdef int64_t h_find(self, int64_t key) noexcept
    cdef int h_put(self, int64_t key, double q) except -1
    cdef bint h_del(self, int64_t key) noexcept
    cdef int _h_grow(self, int64_t new_cap) except -1
    cdef int64_t h_max(self) noexcept
    cdef Level* h_sorted(self, Py_ssize_t* n) noexcept
    cdef int set(self, int64_t key, double q) except -1
    cdef double get(self, int64_t key) noexcept
    cdef int64_t overflow_size(self) noexcept
    cdef int64_t _sum_hi_in(self, int64_t a, int64_t b) noexcept
    cdef int64_t _hi_in(self, int64_t a, int64_t b) noexcept
    cdef int64_t ladder_prev(self, int64_t key) noexcept
    cdef void _ladder_clear(self, int64_t slot) noexcept
    cdef int _evict(self, int64_t a, int64_t b) except -1
    cdef int _evict_all(self) except -1
    cdef int recentre(self, int64_t new_lo) except -1
    cdef int finish(self) except -1
    cdef int _trim(self) except -1


cdef class OrderBook:
    cdef readonly object symbol
    cdef readonly int64_t update_id
    cdef _Side _bids
    cdef _Side _asks
    # tick grid: tick_size = _tick_m / _tick_den, _tick_den = 10 ** _tick_exp (exact in double)
    cdef int64_t _tick_m
    cdef int64_t _tick_exp
    cdef double _tick_den
    cdef bint _tick_inferred
    cdef bint _has_tick
    cdef bint _has_snapshot
    cdef bint _stale
    cdef bint _crossed
    cdef bint _need_bridge           # USD-M: the first event after a snapshot must bridge it
    cdef int64_t* _scratch
    cdef Py_ssize_t _scratch_cap
    cdef int64_t _applied
    cdef int64_t _levels_applied

    # C entry points (no Python objects on the success path)
    cdef int c_price_to_tick(self, double price, int64_t* tick) noexcept
    cdef double c_tick_to_price(self, int64_t tick) noexcept
    cdef bint c_best_bid(self, double* price, double* qty) noexcept
    cdef bint c_best_ask(self, double* price, double* qty) noexcept
    cdef int apply_depth(self, DepthUpdate ev) except -1
    cdef int apply_levels(self, const double* bids, Py_ssize_t nb,
                          const double* asks, Py_ssize_t na) except -1
    cdef int _check_crossed(self) except -1
    cdef int _load_side(self, _Side s, const double* rows, Py_ssize_t n, int sign) except -1
    cdef _Side _side(self, side)
    cdef object _top_side(self, _Side s, int sign, object n)

    cpdef bint apply(self, object event) except -1
    cpdef object best_bid(self)
    cpdef object best_ask(self)
    cpdef void mark_stale(self) noexcept

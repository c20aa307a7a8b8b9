# cython: language_level=3
"""The ring-buffer local order book: exact integer ticks, O(1) best price, no level ever lost.

Layout (per side)
-----------------
* **Ladder**: a ring of ``capacity`` slots (a power of two) holding the quantity of each price
  tick in a window ``[lo, lo + capacity)`` of ticks; ``slot = key & (capacity - 1)``. Moving the
  window (re-centring as the market moves) only touches the ticks that leave or enter it,
  never the whole ladder.
* **Bitmap**: one bit per slot plus a summary word per 64 words, so the next best level is
  found with ``clz`` on at most a few words, never by scanning quantities or sorting.
* **Overflow**: every level outside the window, kept exactly in an open-addressing hash table
  (tick -> quantity, O(1) updates), moved back into the ladder when the window reaches it.
  The rare ordered walks past the window (deep ``top(n)``, impact price) sort it on demand.
* The best key of each side is kept up to date on every update, so ``best_bid()`` is O(1).

Both sides use "larger key = better": bids store ``key = tick``, asks ``key = -tick``. Prices
are exact integer ticks of ``tick_size``; a price is converted back as
``tick * m / 10**e`` (``tick_size = m / 10**e``), which is the correctly rounded double of the
decimal, so it equals the parser's ``float(price_string)`` bit for bit. Quantities are the
float64 values received.

Memory (64-bit, defaults ``capacity=4096``, ``max_levels=10000``): the two ladders take
``2 * (4096 * 8 + 4096 / 8 + 8)`` = 66,576 bytes; the overflow tables take 16 bytes a slot
(a table doubles when its live levels pass half of it). Measured: 132 KB right after a
1000x1000 snapshot of BTCUSDT spot, 263 KB after its 10-minute session (about 2,000 and 3,000
levels a side), 329 KB for USD-M BTCUSDT (5,000 and 4,600 levels). Hard bound, with
``max_levels`` (+1/16 slack) reached on both sides: 66,576 + 2 * 32,768 * 16 bytes, about
1.1 MB. ``OrderBook.nbytes`` gives the current figure; 100 busy books take about 30 MB.
"""
cimport cython
cimport numpy as cnp
from libc.math cimport INFINITY, NAN, fabs, floor
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort, realloc
from libc.string cimport memset

from fastws.events cimport DepthUpdate, PartialDepth

import numpy as np
from decimal import Decimal, InvalidOperation

from fastws.exceptions import CrossedBook, InvalidUsage, SequenceGap

cnp.import_array()

__all__ = ["OrderBook", "DEFAULT_CAPACITY", "DEFAULT_MAX_LEVELS", "OVERFLOW_SLOT_BYTES"]

#: Default ladder slots per side (a power of two). 4096 ticks = 40.96 USDT on BTCUSDT spot.
DEFAULT_CAPACITY = 4096
#: Default bound on levels kept per side (Binance snapshots hold at most 5000 levels a side).
DEFAULT_MAX_LEVELS = 10000
#: Bytes per slot of the overflow hash table (int64 tick + float64 quantity).
OVERFLOW_SLOT_BYTES = 16

cdef extern from *:
    """
    #include <stdint.h>
    #if defined(_MSC_VER)
    #include <intrin.h>
    static inline int fastws_clz64(uint64_t x) { unsigned long i; _BitScanReverse64(&i, x); return 63 - (int)i; }
    #else
    #define fastws_clz64(x) __builtin_clzll((unsigned long long)(x))
    #endif
    """
    int clz64 "fastws_clz64"(uint64_t x) nogil

cdef uint64_t ONE = 1
cdef uint64_t ALL = <uint64_t>0xFFFFFFFFFFFFFFFF
cdef uint64_t HASH_MUL = <uint64_t>0x9E3779B97F4A7C15ULL
cdef int64_t H_MIN_CAP = 64
# overflow table load bound (tenths) and window placement (sixteenths of the capacity): after a
# move the best key sits at W_TARGET; the window moves when the best leaves [W_LOW, W_HIGH).
cdef int64_t H_LOAD = 7
cdef int64_t W_TARGET = 10
cdef int64_t W_LOW = 3
cdef int64_t W_HIGH = 15


def _tune(target=None, low=None, high=None, load=None):
    """Benchmarking aid: set the window placement (sixteenths) and table load (tenths)."""
    global W_TARGET, W_LOW, W_HIGH, H_LOAD
    if target is not None:
        W_TARGET = target
    if low is not None:
        W_LOW = low
    if high is not None:
        W_HIGH = high
    if load is not None:
        H_LOAD = load
    return W_TARGET, W_LOW, W_HIGH, H_LOAD
# relative tolerance of the on-grid check (float64 rounding of price * 10**e)
cdef double GRID_ABS_TOL = 1e-7
cdef double GRID_REL_TOL = 1e-15

cdef inline int _to_tick(double price, double den, int64_t m, int64_t* tick) noexcept nogil:
    """0 and the tick of ``price`` on the grid m / den; -1 if not positive, finite, on grid,
    or if it rounds to zero ticks (a price below half a tick is no level: never price 0.0)."""
    cdef double x = price * den
    cdef double r
    cdef int64_t p
    if not (x > 0.0 and x < 4.0e15):
        return -1
    r = floor(x + 0.5)
    if r < 1.0 or fabs(x - r) > GRID_ABS_TOL + x * GRID_REL_TOL:
        return -1
    p = <int64_t>r
    if m != 1:
        if p % m != 0:
            return -1
        p = p // m
    tick[0] = p
    return 0


cdef struct Level:
    int64_t key
    double qty

cdef int _cmp_desc(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const Level*>a).key, y = (<const Level*>b).key
    return (x < y) - (x > y)


cdef inline void _ladder_set(_Side s, int64_t key, double q) noexcept:
    """Set a level inside the ladder window (the caller checked ``lo <= key < lo + cap``)."""
    cdef int64_t slot = key & s.mask
    cdef int64_t w = slot >> 6
    cdef uint64_t bit = ONE << (slot & 63)
    if q != 0.0:
        if s.qty[slot] == 0.0:
            s.bits[w] |= bit
            s.summary[w >> 6] |= ONE << (w & 63)
            s.nladder += 1
        s.qty[slot] = q
        if key > s.best:
            s.best = key
    elif s.qty[slot] != 0.0:
        s.qty[slot] = 0.0
        s.bits[w] &= ~bit
        if s.bits[w] == 0:
            s.summary[w >> 6] &= ~(ONE << (w & 63))
        s.nladder -= 1
        if key == s.best:
            s.dirty = True


@cython.final
cdef class _Side:
    """One side of the book (internal): ladder ring + bitmap + overflow hash table."""

    def __cinit__(self, int64_t cap, int64_t max_levels):
        cdef int64_t i
        self.cap = cap
        self.mask = cap - 1
        self.nwords = cap >> 6
        self.nsum = (self.nwords + 63) >> 6
        self.qty = <double*>calloc(cap, sizeof(double))
        self.bits = <uint64_t*>calloc(self.nwords, sizeof(uint64_t))
        self.summary = <uint64_t*>calloc(self.nsum, sizeof(uint64_t))
        self.hkeys = <int64_t*>malloc(H_MIN_CAP * sizeof(int64_t))
        self.hvals = <double*>malloc(H_MIN_CAP * sizeof(double))
        if (self.qty == NULL or self.bits == NULL or self.summary == NULL
                or self.hkeys == NULL or self.hvals == NULL):
            raise MemoryError()
        self.hcap = H_MIN_CAP
        self.hshift = 64 - 6
        for i in range(H_MIN_CAP):
            self.hkeys[i] = EMPTY_KEY
        self.hcount = 0
        self.hused = 0
        self.ov_above = False
        self.max_levels = max_levels
        self.lo = 0
        self.best = EMPTY_KEY
        self.nladder = 0
        self.dirty = False
        self.trimmed = 0
        self.recentres = 0

    def __dealloc__(self):
        free(self.qty)
        free(self.bits)
        free(self.summary)
        free(self.hkeys)
        free(self.hvals)

    cdef void reset(self) noexcept:
        cdef int64_t i
        memset(self.qty, 0, self.cap * sizeof(double))
        memset(self.bits, 0, self.nwords * sizeof(uint64_t))
        memset(self.summary, 0, self.nsum * sizeof(uint64_t))
        for i in range(self.hcap):
            self.hkeys[i] = EMPTY_KEY
        self.hcount = 0
        self.hused = 0
        self.ov_above = False
        self.nladder = 0
        self.best = EMPTY_KEY
        self.dirty = False

    # ---------------------------------------------------------------- overflow hash table
    # Open addressing, linear probing. A deleted level keeps its key with quantity 0 (a
    # tombstone), so a level that comes back (common: the same prices flicker) reuses its slot
    # and deletes never move entries. Tombstones go at the next rehash.

    cdef inline int64_t _h_home(self, int64_t key) noexcept:
        return <int64_t>((<uint64_t>key * HASH_MUL) >> self.hshift)

    cdef int64_t h_find(self, int64_t key) noexcept:
        """Slot of ``key`` (live or tombstone), or -1."""
        cdef int64_t i = self._h_home(key), hm = self.hcap - 1, k
        while True:
            k = self.hkeys[i]
            if k == key:
                return i
            if k == EMPTY_KEY:
                return -1
            i = (i + 1) & hm

    cdef int h_put(self, int64_t key, double q) except -1:
        """Set a level (q != 0) in the table."""
        cdef int64_t i = self._h_home(key), hm = self.hcap - 1, k, tomb = -1
        while True:
            k = self.hkeys[i]
            if k == key:
                if self.hvals[i] == 0.0:
                    self.hcount += 1
                self.hvals[i] = q
                return 0
            if k == EMPTY_KEY:
                break
            if tomb < 0 and self.hvals[i] == 0.0:
                tomb = i
            i = (i + 1) & hm
        if tomb >= 0:
            i = tomb
        else:
            self.hused += 1
        self.hkeys[i] = key
        self.hvals[i] = q
        self.hcount += 1
        if self.hused * 10 > self.hcap * H_LOAD:
            # rehash: grow if live levels fill half the table, else just drop the tombstones
            self._h_grow(self.hcap * 2 if self.hcount * 2 > self.hcap else self.hcap)
        return 0

    cdef bint h_del(self, int64_t key) noexcept:
        """Remove a level; False if the table does not hold it."""
        cdef int64_t i = self.h_find(key)
        if i < 0 or self.hvals[i] == 0.0:
            return False
        self.hvals[i] = 0.0
        self.hcount -= 1
        return True

    cdef int _h_grow(self, int64_t new_cap) except -1:
        """Rehash the live levels into a table of ``new_cap`` slots (tombstones dropped)."""
        cdef int64_t* ok = self.hkeys
        cdef double* ov = self.hvals
        cdef int64_t oc = self.hcap, i, j, hm, bits = 0
        cdef int64_t* nk = <int64_t*>malloc(new_cap * sizeof(int64_t))
        cdef double* nv = <double*>malloc(new_cap * sizeof(double))
        if nk == NULL or nv == NULL:
            free(nk)
            free(nv)
            raise MemoryError()
        while (<int64_t>1 << bits) < new_cap:
            bits += 1
        for i in range(new_cap):
            nk[i] = EMPTY_KEY
        self.hkeys, self.hvals, self.hcap, self.hshift = nk, nv, new_cap, 64 - bits
        hm = new_cap - 1
        for i in range(oc):
            if ok[i] != EMPTY_KEY and ov[i] != 0.0:
                j = self._h_home(ok[i])
                while nk[j] != EMPTY_KEY:
                    j = (j + 1) & hm
                nk[j] = ok[i]
                nv[j] = ov[i]
        self.hused = self.hcount
        free(ok)
        free(ov)
        return 0

    cdef int64_t h_max(self) noexcept:
        cdef int64_t i, b = EMPTY_KEY
        for i in range(self.hcap):
            if self.hkeys[i] > b and self.hvals[i] != 0.0:
                b = self.hkeys[i]
        return b

    cdef Level* h_sorted(self, Py_ssize_t* n) noexcept:
        """A malloc'd array of the overflow levels, best (largest key) first; NULL on OOM."""
        cdef Level* out = <Level*>malloc((self.hcount + 1) * sizeof(Level))
        cdef int64_t i
        cdef Py_ssize_t k = 0
        if out == NULL:
            return NULL
        for i in range(self.hcap):
            if self.hkeys[i] != EMPTY_KEY and self.hvals[i] != 0.0:
                out[k].key = self.hkeys[i]
                out[k].qty = self.hvals[i]
                k += 1
        qsort(out, k, sizeof(Level), _cmp_desc)
        n[0] = k
        return out

    # ---------------------------------------------------------------- levels

    cdef int set(self, int64_t key, double q) except -1:
        """Set the absolute quantity of a level (0 removes it). Call finish() after a batch."""
        if <uint64_t>(key - self.lo) < <uint64_t>self.cap:
            _ladder_set(self, key, q)
        elif q != 0.0:
            self.h_put(key, q)
            if key > self.best:
                self.best = key
            if key >= self.lo + self.cap:
                self.ov_above = True
        elif self.h_del(key) and key == self.best:
            self.dirty = True
        return 0

    cdef double get(self, int64_t key) noexcept:
        cdef int64_t i
        if <uint64_t>(key - self.lo) < <uint64_t>self.cap:
            return self.qty[key & self.mask]
        i = self.h_find(key)
        return self.hvals[i] if i >= 0 else 0.0

    cdef int64_t overflow_size(self) noexcept:
        return self.hcount

    cdef int64_t _sum_hi_in(self, int64_t a, int64_t b) noexcept:
        """Highest word index w in [a, b) whose summary bit is set, or -1."""
        cdef int64_t sw, sa, top
        cdef uint64_t m
        if a >= b:
            return -1
        sw = (b - 1) >> 6
        sa = a >> 6
        top = (b - 1) & 63
        m = self.summary[sw]
        if top != 63:
            m &= (ONE << (top + 1)) - 1
        while True:
            if sw == sa:
                m &= ALL << (a & 63)
            if m:
                return (sw << 6) + 63 - clz64(m)
            if sw == sa:
                return -1
            sw -= 1
            m = self.summary[sw]

    cdef int64_t _hi_in(self, int64_t a, int64_t b) noexcept:
        """Highest occupied slot s with a <= s < b, or -1."""
        cdef int64_t wa, wb, top, w
        cdef uint64_t m
        if a >= b:
            return -1
        wb = (b - 1) >> 6
        wa = a >> 6
        top = (b - 1) & 63
        m = self.bits[wb]
        if top != 63:
            m &= (ONE << (top + 1)) - 1
        if wa == wb:
            m &= ALL << (a & 63)
            if m:
                return (wb << 6) + 63 - clz64(m)
            return -1
        if m:
            return (wb << 6) + 63 - clz64(m)
        w = self._sum_hi_in(wa + 1, wb)
        if w >= 0:
            return (w << 6) + 63 - clz64(self.bits[w])
        m = self.bits[wa] & (ALL << (a & 63))
        if m:
            return (wa << 6) + 63 - clz64(m)
        return -1

    cdef int64_t ladder_prev(self, int64_t key) noexcept:
        """Largest key < ``key`` held in the ladder, or EMPTY_KEY."""
        cdef int64_t k1, s_lo, s1, r
        if self.nladder == 0:
            return EMPTY_KEY
        k1 = key - 1
        if k1 >= self.lo + self.cap:
            k1 = self.lo + self.cap - 1
        if k1 < self.lo:
            return EMPTY_KEY
        s_lo = self.lo & self.mask
        s1 = k1 & self.mask
        if s1 >= s_lo:
            r = self._hi_in(s_lo, s1 + 1)
        else:
            r = self._hi_in(0, s1 + 1)
            if r < 0:
                r = self._hi_in(s_lo, self.cap)
        if r < 0:
            return EMPTY_KEY
        return self.lo + ((r - s_lo) & self.mask)

    cdef inline void _ladder_clear(self, int64_t slot) noexcept:
        cdef int64_t w = slot >> 6
        self.qty[slot] = 0.0
        self.bits[w] &= ~(ONE << (slot & 63))
        if self.bits[w] == 0:
            self.summary[w >> 6] &= ~(ONE << (w & 63))
        self.nladder -= 1

    cdef int _evict(self, int64_t a, int64_t b) except -1:
        """Move the ladder levels with a <= key < b to the overflow table."""
        cdef int64_t k = self.ladder_prev(b), slot
        while k != EMPTY_KEY and k >= a:
            slot = k & self.mask
            self.h_put(k, self.qty[slot])
            self._ladder_clear(slot)
            k = self.ladder_prev(k)
        return 0

    cdef int _evict_all(self) except -1:
        cdef int64_t w, slot, s_lo = self.lo & self.mask
        cdef uint64_t word
        for w in range(self.nwords):
            word = self.bits[w]
            while word:
                slot = (w << 6) + 63 - clz64(word)
                word &= ~(ONE << (slot & 63))
                self.h_put(self.lo + ((slot - s_lo) & self.mask), self.qty[slot])
                self.qty[slot] = 0.0
            self.bits[w] = 0
        memset(self.summary, 0, self.nsum * sizeof(uint64_t))
        self.nladder = 0
        return 0

    cdef int recentre(self, int64_t new_lo) except -1:
        """Move the window to [new_lo, new_lo + cap): evict what leaves, pull what enters."""
        cdef int64_t d = new_lo - self.lo, hi, k, slot, w, i, n = 0
        cdef int64_t* moving
        cdef bint above = False
        if d == 0:
            return 0
        self.recentres += 1
        if self.nladder > 0:
            if d >= self.cap or d <= -self.cap:
                self._evict_all()
            elif d > 0:
                self._evict(self.lo, new_lo)
            else:
                self._evict(new_lo + self.cap, self.lo + self.cap)
        self.lo = new_lo
        hi = new_lo + self.cap
        if self.hcount == 0 or (d > 0 and not self.ov_above):
            # moving up with every overflow key below the old window: nothing enters
            self.ov_above = self.ov_above and self.hcount > 0
            return 0
        # one pass over the table: keys entering the window, and whether any lies above it
        moving = <int64_t*>malloc(self.hcount * sizeof(int64_t))
        if moving == NULL:
            raise MemoryError()
        for i in range(self.hcap):
            k = self.hkeys[i]
            if k >= new_lo and self.hvals[i] != 0.0:  # EMPTY_KEY is below any window
                if k < hi:
                    moving[n] = i
                    n += 1
                else:
                    above = True
        for i in range(n):
            k = self.hkeys[moving[i]]
            slot = k & self.mask
            self.qty[slot] = self.hvals[moving[i]]
            self.hvals[moving[i]] = 0.0  # tombstone
            self.hcount -= 1
            w = slot >> 6
            self.bits[w] |= ONE << (slot & 63)
            self.summary[w >> 6] |= ONE << (w & 63)
            self.nladder += 1
        free(moving)
        self.ov_above = above
        return 0

    cdef int finish(self) except -1:
        """After a batch of set(): recompute a deleted best, re-centre the window, bound memory."""
        cdef int64_t b, ob, q16
        if self.dirty:
            self.dirty = False
            b = self.ladder_prev(self.best + 1) if self.best >= self.lo else EMPTY_KEY
            # overflow keys lie below the window unless ov_above says otherwise
            if self.hcount > 0 and (b == EMPTY_KEY or self.ov_above):
                ob = self.h_max()
                if ob > b:
                    b = ob
            self.best = b
        if self.best == EMPTY_KEY:
            return 0
        q16 = self.cap >> 4
        # after a move the best sits at W_TARGET/16 of the window: depth below it, room for
        # improvement above it. Move when it leaves [lo + W_LOW/16 cap, lo + W_HIGH/16 cap).
        if self.best < self.lo + W_LOW * q16 or self.best >= self.lo + W_HIGH * q16:
            self.recentre(self.best - W_TARGET * q16)
        if self.max_levels > 0 and self.nladder + self.hcount > self.max_levels + (self.max_levels >> 4):
            self._trim()
        return 0

    cdef int _trim(self) except -1:
        """Drop the deepest overflow levels until max_levels remain."""
        cdef Py_ssize_t n, i, excess = self.nladder + self.hcount - self.max_levels
        cdef Level* lv = self.h_sorted(&n)
        if lv == NULL:
            raise MemoryError()
        if excess > n:
            excess = n
        for i in range(n - excess, n):
            self.h_del(lv[i].key)
            self.trimmed += 1
        free(lv)
        # give back memory a snapshot larger than the bound made the table take
        cdef int64_t want = H_MIN_CAP
        while self.hcount * 10 > want * H_LOAD:
            want *= 2
        if want < self.hcap:
            self._h_grow(want)
        return 0


@cython.final
cdef class _Cursor:
    """Walks one side best-first: the ladder through the bitmap, merged with the overflow
    levels (sorted once, on first need)."""
    cdef _Side s
    cdef int64_t key
    cdef Level* ov
    cdef Py_ssize_t ovn
    cdef Py_ssize_t ovi
    cdef bint built

    def __cinit__(self, _Side s):
        self.s = s
        self.key = s.ladder_prev(s.lo + s.cap)
        self.ov = NULL
        self.ovn = 0
        self.ovi = 0
        self.built = False

    def __dealloc__(self):
        free(self.ov)

    cdef int _build(self) except -1:
        self.built = True
        if self.s.hcount > 0:
            self.ov = self.s.h_sorted(&self.ovn)
            if self.ov == NULL:
                raise MemoryError()
        return 0

    cdef int next(self, int64_t* key, double* q) except -1:
        """1 and the next level (best first), or 0 when the side is exhausted."""
        cdef int64_t ok = EMPTY_KEY
        if not self.built and (self.key == EMPTY_KEY or self.s.ov_above):
            self._build()
        if self.ovi < self.ovn:
            ok = self.ov[self.ovi].key
        if self.key != EMPTY_KEY and self.key > ok:
            key[0] = self.key
            q[0] = self.s.qty[self.key & self.s.mask]
            self.key = self.s.ladder_prev(self.key)
            return 1
        if ok != EMPTY_KEY:
            key[0] = ok
            q[0] = self.ov[self.ovi].qty
            self.ovi += 1
            return 1
        return 0


cdef inline int _set_level(_Side s, int64_t key, double q) except -1:
    """The hot path of _Side.set: levels inside the window (the common case) without a call."""
    if <uint64_t>(key - s.lo) >= <uint64_t>s.cap:
        return s.set(key, q)
    _ladder_set(s, key, q)
    return 0


cdef inline bint _is_levels(object arr) noexcept:
    cdef cnp.ndarray a
    if not cnp.PyArray_CheckExact(arr):
        return False
    a = <cnp.ndarray>arr
    return (cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE and cnp.PyArray_NDIM(a) == 2
            and cnp.PyArray_DIM(a, 1) == 2 and cnp.PyArray_IS_C_CONTIGUOUS(a))


cdef object _as_levels(object levels):
    """A C-contiguous float64 (n, 2) array of ``levels`` (no copy when it already is one)."""
    if _is_levels(levels):
        return levels
    try:
        arr = np.asarray(levels, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"depth levels must be [price, quantity] pairs: {exc}") from None
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"depth levels must have shape (n, 2), got {arr.shape}")
    return np.ascontiguousarray(arr)


def _parse_tick(tick_size):
    """``tick_size`` -> (m, e) with tick_size == m / 10**e exactly (m, e integers)."""
    if isinstance(tick_size, bool):
        raise TypeError("tick_size must be a number or a decimal string")
    try:
        if isinstance(tick_size, (str, Decimal, int)):
            d = Decimal(tick_size)
        elif isinstance(tick_size, float):
            d = Decimal(repr(tick_size))
        else:
            raise TypeError(f"tick_size must be a number or a decimal string, not {type(tick_size).__name__}")
    except InvalidOperation:
        raise ValueError(f"tick_size {tick_size!r} is not a decimal number") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"tick_size must be a positive finite number, got {tick_size!r}")
    d = d.normalize()
    exp = d.as_tuple().exponent
    if exp >= 0:
        return int(d), 0
    e = -exp
    m = int(d.scaleb(e))
    if e > 15 or m >= 2 ** 31:
        raise ValueError(f"tick_size {tick_size!r} is out of the supported range (>= 1e-15)")
    return m, e


def _infer_decimals(prices):
    """Smallest number of decimal places e (0..15) on which every price lies."""
    p = np.asarray(prices, dtype=np.float64)
    p = p[p > 0]                # (other prices are refused later, with their own message)
    if p.size == 0:
        return None
    for e in range(16):
        x = p * (10.0 ** e)
        r = np.rint(x)
        # on the grid, and at least one tick: a tiny price never rounds to a 0.0 level
        if np.all((np.abs(x - r) <= GRID_ABS_TOL + x * GRID_REL_TOL) & (r >= 1.0)):
            return e
    return None


cdef class OrderBook:
    """A local order book for one symbol: ring-buffer ladders, exact ticks, O(1) best price.

    Parameters
    ----------
    symbol : str, optional
        The symbol, used in error messages and reprs.
    tick_size : float | str | Decimal, optional
        The price grid (``PRICE_FILTER.tickSize`` from exchange info, e.g. ``"0.01"``). When
        omitted it is inferred from the first snapshot: ``10**-e`` where e is the number of
        decimal places its prices use. An inferred grid is refined by itself (the book is
        re-keyed, nothing is lost) if a later price needs more decimals; a given grid is
        enforced, and an off-grid price raises ``ValueError``.
    capacity : int, keyword-only
        Ladder slots per side, a power of two from 64 to 2**20 (default 4096). Levels within
        ``capacity`` ticks of the best price live in the ladder; the rest in the overflow map.
    max_levels : int, keyword-only
        Bound on the levels kept per side (default 10000, 0 = unbounded). Past it the deepest
        levels (farthest from the best price) are dropped and counted in ``trimmed``.

    Examples
    --------
    >>> book = OrderBook("BTCUSDT", tick_size="0.01")
    >>> book.apply_snapshot(100, [["61837.63", "3.788"]], [["61837.64", "1.547"]])
    >>> book.apply(DepthUpdate("BTCUSDT", 101, 101, [[61837.63, 0.0]], [[61837.65, 2.0]]))
    True
    >>> book.best_bid(), book.best_ask()
    (None, (61837.64, 1.547))

    Notes
    -----
    Contract: call :meth:`apply_snapshot` first, then :meth:`apply` for every ``DepthUpdate``
    in order (or let :class:`fastws.sync.BookSync` do both, buffering and checking ids).
    :meth:`apply` checks the update ids itself: spot ``U <= update_id + 1`` and USD-M
    ``pu == update_id`` (after a bridging event with ``U <= lastUpdateId <= u``, or the event
    that directly follows the snapshot, ``pu == lastUpdateId``). A gap raises
    :class:`~fastws.exceptions.SequenceGap` and a crossed result raises
    :class:`~fastws.exceptions.CrossedBook`; both mark the book **stale**: it stays readable,
    ``is_synced`` is False and :meth:`apply` refuses events until the next snapshot.

    Memory: ``2 * (capacity * 8.125 + 8)`` bytes of ladders (66,576 bytes at the default
    capacity) plus 16 bytes per overflow-table slot: about 132 KB after a 1000x1000 snapshot,
    260-330 KB for a BTCUSDT book after 10 minutes, at most about 1.1 MB with the defaults.
    See :attr:`nbytes`.
    """

    def __cinit__(self, symbol=None, tick_size=None, *, capacity=DEFAULT_CAPACITY,
                  max_levels=DEFAULT_MAX_LEVELS):
        cap = int(capacity)
        if cap < 64 or cap > (1 << 20) or (cap & (cap - 1)) != 0:
            raise ValueError(f"capacity must be a power of two from 64 to 2**20, got {capacity!r}")
        ml = int(max_levels)
        if ml < 0:
            raise ValueError(f"max_levels must be >= 0 (0 = unbounded), got {max_levels!r}")
        if symbol is not None and not isinstance(symbol, str):
            raise TypeError(f"symbol must be a str, not {type(symbol).__name__}")
        self.symbol = symbol
        self._bids = _Side(cap, ml)
        self._asks = _Side(cap, ml)
        self.update_id = -1
        self._has_tick = False
        self._tick_inferred = False
        self._tick_m = 1
        self._tick_exp = 0
        self._tick_den = 1.0
        if tick_size is not None:
            m, e = _parse_tick(tick_size)
            self._set_tick(m, e, False)
        self._scratch = NULL
        self._scratch_cap = 0

    def __dealloc__(self):
        free(self._scratch)

    def _set_tick(self, m, e, inferred):
        self._tick_m = m
        self._tick_exp = e
        self._tick_den = float(10 ** e)
        self._has_tick = True
        self._tick_inferred = inferred

    # ------------------------------------------------------------------ C entry points

    cdef int c_price_to_tick(self, double price, int64_t* tick) noexcept:
        """0 and the tick of ``price``; -1 if it is not positive, finite and on the grid."""
        return _to_tick(price, self._tick_den, self._tick_m, tick)

    cdef double c_tick_to_price(self, int64_t tick) noexcept:
        return <double>(tick * self._tick_m) / self._tick_den

    cdef bint c_best_bid(self, double* price, double* qty) noexcept:
        cdef _Side s = self._bids
        if s.best == EMPTY_KEY:
            return False
        price[0] = self.c_tick_to_price(s.best)
        qty[0] = s.get(s.best)
        return True

    cdef bint c_best_ask(self, double* price, double* qty) noexcept:
        cdef _Side s = self._asks
        if s.best == EMPTY_KEY:
            return False
        price[0] = self.c_tick_to_price(-s.best)
        qty[0] = s.get(s.best)
        return True

    cdef int _check_crossed(self) except -1:
        cdef int64_t bb = self._bids.best, ba = self._asks.best
        if bb != EMPTY_KEY and ba != EMPTY_KEY and bb >= -ba:
            self._crossed = True
            raise CrossedBook(self.symbol, self.c_tick_to_price(bb), self.c_tick_to_price(-ba))
        return 0

    cdef int apply_levels(self, const double* bids, Py_ssize_t nb,
                          const double* asks, Py_ssize_t na) except -1:
        """Set absolute quantities (0 deletes) for interleaved [price, qty] rows.

        Validates every row first (finite quantity >= 0, positive on-grid price), so a bad
        row raises ``ValueError`` and leaves the book untouched. No update-id checks.
        """
        cdef Py_ssize_t i, n = nb + na
        cdef int64_t t
        cdef double q
        cdef int64_t* keys
        cdef int64_t m
        cdef double den
        cdef _Side sb = self._bids, sa = self._asks
        if not self._has_tick:
            raise InvalidUsage("the tick size is unknown: pass tick_size or apply a snapshot first")
        if n > self._scratch_cap:
            keys = <int64_t*>realloc(self._scratch, (n + 64) * sizeof(int64_t))
            if keys == NULL:
                raise MemoryError()
            self._scratch = keys
            self._scratch_cap = n + 64
        keys = self._scratch
        den = self._tick_den
        m = self._tick_m
        for i in range(nb):
            q = bids[2 * i + 1]
            if not (q >= 0.0 and q < INFINITY) or _to_tick(bids[2 * i], den, m, &t) != 0:
                self._bad_level("bid", bids[2 * i], q)
                return self.apply_levels(bids, nb, asks, na)   # grid refined: start again
            keys[i] = t
        for i in range(na):
            q = asks[2 * i + 1]
            if not (q >= 0.0 and q < INFINITY) or _to_tick(asks[2 * i], den, m, &t) != 0:
                self._bad_level("ask", asks[2 * i], q)
                return self.apply_levels(bids, nb, asks, na)
            keys[nb + i] = -t
        for i in range(nb):
            _set_level(sb, keys[i], bids[2 * i + 1])
        for i in range(na):
            _set_level(sa, keys[nb + i], asks[2 * i + 1])
        sb.finish()
        sa.finish()
        self._levels_applied += n
        return 0

    def _bad_level(self, side, double price, double qty):
        """Raise the right error for a rejected row, or refine an inferred grid and return."""
        cdef int64_t t
        if not (qty >= 0.0 and qty < INFINITY):
            raise ValueError(f"{self.symbol}: {side} level {price!r} has an invalid quantity {qty!r}")
        if not (price > 0.0 and price < INFINITY):
            raise ValueError(f"{self.symbol}: {side} price {price!r} is not a positive finite number")
        if self._tick_inferred:
            e = _infer_decimals([price])
            if e is not None and e > self._tick_exp:
                self._regrid(e)
                if self.c_price_to_tick(price, &t) == 0:
                    return
        if price * self._tick_den / self._tick_m < 0.5:
            raise ValueError(
                f"{self.symbol}: {side} price {price!r} rounds to zero ticks of "
                f"{self.tick_size!r}{' (inferred)' if self._tick_inferred else ''}: not a level")
        raise ValueError(
            f"{self.symbol}: {side} price {price!r} is not on the tick grid {self.tick_size!r}"
            f"{' (inferred)' if self._tick_inferred else ''}")

    def _regrid(self, int e):
        """Re-key every level on the finer inferred grid 10**-e (nothing is lost)."""
        bids, asks = self.top(None)
        self._set_tick(1, e, True)
        self._load(bids, asks)

    def _load(self, bids, asks):
        """Replace both sides with the rows of ``bids``/``asks`` (validated; zero rows skipped)."""
        cdef cnp.ndarray b = _as_levels(bids), a = _as_levels(asks)
        cdef Py_ssize_t nb = b.shape[0], na = a.shape[0], i
        cdef const double* bp = <const double*>cnp.PyArray_DATA(b)
        cdef const double* ap = <const double*>cnp.PyArray_DATA(a)
        cdef int64_t t
        cdef double q
        # validate first: a bad snapshot leaves the book as it was
        for i in range(nb):
            q = bp[2 * i + 1]
            if not (q >= 0.0 and q < INFINITY) or self.c_price_to_tick(bp[2 * i], &t) != 0:
                self._bad_level("bid", bp[2 * i], q)
                return self._load(b, a)
        for i in range(na):
            q = ap[2 * i + 1]
            if not (q >= 0.0 and q < INFINITY) or self.c_price_to_tick(ap[2 * i], &t) != 0:
                self._bad_level("ask", ap[2 * i], q)
                return self._load(b, a)
        self._load_side(self._bids, bp, nb, 1)
        self._load_side(self._asks, ap, na, -1)

    cdef int _load_side(self, _Side s, const double* rows, Py_ssize_t n, int sign) except -1:
        cdef Py_ssize_t i
        cdef int64_t t, best = EMPTY_KEY
        s.reset()
        for i in range(n):
            if rows[2 * i + 1] != 0.0:
                self.c_price_to_tick(rows[2 * i], &t)
                if sign * t > best:
                    best = sign * t
        if best != EMPTY_KEY:
            s.lo = best - W_TARGET * (s.cap >> 4)
        for i in range(n):
            self.c_price_to_tick(rows[2 * i], &t)
            s.set(sign * t, rows[2 * i + 1])
        s.finish()
        return 0

    cdef int apply_depth(self, DepthUpdate ev) except -1:
        """Apply one diff-depth event after the update-id checks; 1 applied, 0 ignored."""
        cdef int64_t U = ev.first_update_id, u = ev.final_update_id
        cdef int64_t pu = ev.prev_final_update_id, uid = self.update_id
        cdef object bids, asks
        if not self._has_snapshot or self._stale or self._crossed:
            raise InvalidUsage(
                f"{self.symbol}: the book is {'stale' if self._has_snapshot else 'empty'}; "
                "apply a snapshot before updates")
        if pu < 0:  # spot: ignore what the book holds, gap when U skips ahead
            if u <= uid:
                return 0
            if U > uid + 1:
                self._stale = True
                raise SequenceGap(self.symbol, uid + 1, U)
        elif self._need_bridge:  # USD-M, first event after a snapshot: U <= lastUpdateId <= u
            if u < uid:
                return 0
            if U > uid and pu != uid:  # pu == lastUpdateId: the event right after it
                self._stale = True
                raise SequenceGap(self.symbol, uid, U,
                                  f"{self.symbol}: event U={U} u={u} does not bridge snapshot "
                                  f"lastUpdateId={uid}")
        elif pu != uid:  # USD-M: pu must be the previous u
            if u <= uid:
                return 0
            self._stale = True
            raise SequenceGap(self.symbol, uid, pu,
                              f"{self.symbol}: pu={pu} does not continue update id {uid}")
        bids = ev.bids
        asks = ev.asks
        if not _is_levels(bids):
            bids = _as_levels(bids)
        if not _is_levels(asks):
            asks = _as_levels(asks)
        try:
            self.apply_levels(<const double*>cnp.PyArray_DATA(<cnp.ndarray>bids),
                              cnp.PyArray_DIM(<cnp.ndarray>bids, 0),
                              <const double*>cnp.PyArray_DATA(<cnp.ndarray>asks),
                              cnp.PyArray_DIM(<cnp.ndarray>asks, 0))
        except ValueError:
            self._stale = True      # untouched, but it now misses this event
            raise
        self.update_id = u
        self._need_bridge = False
        self._applied += 1
        self._check_crossed()
        return 1

    # ------------------------------------------------------------------ Python API

    cpdef bint apply(self, object event) except -1:
        """Apply one event: a ``DepthUpdate`` (checked against ``update_id``) or a
        ``PartialDepth`` (treated as a snapshot).

        Returns
        -------
        bool
            True if applied, False if ignored because the book already holds it
            (``u <= update_id``, or on USD-M before the bridging event ``u < lastUpdateId``).

        Raises
        ------
        SequenceGap
            Update ids were skipped. The book is left as it was and marked stale.
        CrossedBook
            After the update the best bid is >= the best ask. The update is applied, the
            book is marked stale.
        InvalidUsage
            No snapshot yet, or the book is stale.
        ValueError
            A level with an off-grid/non-positive price, a price that rounds to zero ticks, or
            an invalid quantity. The book's levels are left untouched, but it misses this event,
            so it is marked stale.
        """
        if type(event) is DepthUpdate:
            return self.apply_depth(<DepthUpdate>event)
        if isinstance(event, DepthUpdate):
            return self.apply_depth(<DepthUpdate>event)
        if isinstance(event, PartialDepth):
            self.apply_snapshot((<PartialDepth>event).last_update_id,
                                (<PartialDepth>event).bids, (<PartialDepth>event).asks)
            return True
        raise TypeError(f"OrderBook.apply expects a DepthUpdate or PartialDepth, "
                        f"not {type(event).__name__}")

    def apply_snapshot(self, last_update_id, bids, asks):
        """Replace the book with a snapshot (REST ``depth`` response or equivalent).

        Parameters
        ----------
        last_update_id : int
            The snapshot's ``lastUpdateId``; becomes :attr:`update_id`.
        bids, asks : array-like of [price, quantity]
            Any order; rows with quantity 0 are skipped. Strings are accepted
            (``[["61837.63", "3.788"]]``). Up to ``max_levels`` levels per side are kept.

        After it the book is synced (not stale, not crossed). A crossed snapshot raises
        :class:`~fastws.exceptions.CrossedBook` and leaves the book stale. Bad rows raise
        ``ValueError`` and leave the book as it was.
        """
        cdef int64_t lid = int(last_update_id)
        b = _as_levels(bids)
        a = _as_levels(asks)
        if not self._has_tick or self._tick_inferred:
            e = _infer_decimals(np.concatenate((b[:, 0], a[:, 0])))
            if e is None:
                if not self._has_tick:
                    raise ValueError(f"{self.symbol}: cannot infer the tick size from this "
                                     "snapshot (no levels or no decimal grid); pass tick_size")
            elif not self._has_tick or e > self._tick_exp:
                self._set_tick(1, e, True)
        self._load(b, a)
        self.update_id = lid
        self._has_snapshot = True
        self._stale = False
        self._crossed = False
        self._need_bridge = True
        self._check_crossed()

    cpdef void mark_stale(self) noexcept:
        """Flag the book stale (readable, ``is_synced`` False) until the next snapshot."""
        self._stale = True

    def clear(self):
        """Drop every level and forget the snapshot (the tick grid is kept)."""
        self._bids.reset()
        self._asks.reset()
        self.update_id = -1
        self._has_snapshot = False
        self._stale = False
        self._crossed = False

    cpdef object best_bid(self):
        """(price, quantity) of the best bid, or None if the side is empty. O(1)."""
        cdef _Side s = self._bids
        if s.best == EMPTY_KEY:
            return None
        return (self.c_tick_to_price(s.best), s.get(s.best))

    cpdef object best_ask(self):
        """(price, quantity) of the best ask, or None if the side is empty. O(1)."""
        cdef _Side s = self._asks
        if s.best == EMPTY_KEY:
            return None
        return (self.c_tick_to_price(-s.best), s.get(s.best))

    @property
    def best_bid_price(self):
        """Best bid price (NaN when the side is empty)."""
        if self._bids.best == EMPTY_KEY:
            return NAN
        return self.c_tick_to_price(self._bids.best)

    @property
    def best_ask_price(self):
        """Best ask price (NaN when the side is empty)."""
        if self._asks.best == EMPTY_KEY:
            return NAN
        return self.c_tick_to_price(-self._asks.best)

    @property
    def best_bid_quantity(self):
        """Quantity at the best bid (NaN when the side is empty)."""
        if self._bids.best == EMPTY_KEY:
            return NAN
        return self._bids.get(self._bids.best)

    @property
    def best_ask_quantity(self):
        """Quantity at the best ask (NaN when the side is empty)."""
        if self._asks.best == EMPTY_KEY:
            return NAN
        return self._asks.get(self._asks.best)

    @property
    def mid(self):
        """(best bid + best ask) / 2, NaN if a side is empty."""
        cdef double bp, bq, ap, aq
        if not (self.c_best_bid(&bp, &bq) and self.c_best_ask(&ap, &aq)):
            return NAN
        return (bp + ap) * 0.5

    @property
    def spread(self):
        """best ask - best bid (exact in ticks, returned as a price), NaN if a side is empty."""
        if self._bids.best == EMPTY_KEY or self._asks.best == EMPTY_KEY:
            return NAN
        return self.c_tick_to_price(-self._asks.best - self._bids.best)

    @property
    def spread_ticks(self):
        """best ask - best bid in ticks (-1 if a side is empty)."""
        if self._bids.best == EMPTY_KEY or self._asks.best == EMPTY_KEY:
            return -1
        return -self._asks.best - self._bids.best

    cdef _Side _side(self, side):
        if side == "bid" or side == "bids":
            return self._bids
        if side == "ask" or side == "asks":
            return self._asks
        raise ValueError(f"side must be 'bid' or 'ask', got {side!r}")

    def top(self, n=10):
        """The best ``n`` levels of each side (all levels if ``n`` is None).

        Returns
        -------
        (bids, asks) : tuple of numpy.ndarray
            float64 arrays of shape (k, 2), [price, quantity], best first (bids high to low,
            asks low to high); k <= n. Fresh copies.
        """
        return self._top_side(self._bids, 1, n), self._top_side(self._asks, -1, n)

    cdef object _top_side(self, _Side s, int sign, object n):
        cdef Py_ssize_t total = s.nladder + s.overflow_size(), k, i = 0
        cdef int64_t key
        cdef double q
        cdef _Cursor c
        cdef cnp.ndarray out
        cdef double* o
        if n is None:
            k = total
        else:
            k = n
            if k < 0:
                raise ValueError(f"n must be >= 0, got {n!r}")
            if k > total:
                k = total
        out = np.empty((k, 2), dtype=np.float64)
        o = <double*>cnp.PyArray_DATA(out)
        c = _Cursor(s)
        while i < k and c.next(&key, &q):
            o[2 * i] = self.c_tick_to_price(sign * key)
            o[2 * i + 1] = q
            i += 1
        return out[:i] if i < k else out

    def quantity_at(self, side, double price):
        """Quantity resting at exactly ``price`` on ``side`` ('bid' or 'ask'); 0.0 if none."""
        cdef _Side s = self._side(side)
        cdef int64_t t
        if self.c_price_to_tick(price, &t) != 0:
            return 0.0
        return s.get(t if s is self._bids else -t)

    def cumulative_quantity(self, side, double price):
        """Total quantity on ``side`` at prices at least as good as ``price`` (inclusive)."""
        cdef _Side s = self._side(side)
        cdef int sign = 1 if s is self._bids else -1
        cdef int64_t key, limit, lo_t, hi_t
        cdef double q, total = 0.0, x, r
        cdef _Cursor c = _Cursor(s)
        # bids: levels with tick >= ceil(x); asks: tick <= floor(x), i.e. key >= -floor(x)
        x = price * self._tick_den / self._tick_m
        r = floor(x + 0.5)
        if fabs(x - r) <= GRID_ABS_TOL + fabs(x) * GRID_REL_TOL:
            lo_t = <int64_t>r
            hi_t = lo_t
        else:
            lo_t = <int64_t>floor(x)
            hi_t = lo_t + 1
        limit = hi_t if sign == 1 else -lo_t
        while c.next(&key, &q):
            if key < limit:
                break
            total += q
        return total

    def impact_price(self, side, double quantity):
        """Worst price reached when ``quantity`` is taken from ``side``, best level first.

        ``side='ask'`` is a market buy walking the asks, ``'bid'`` a market sell. Returns NaN
        when the side holds less than ``quantity``.
        """
        cdef _Side s = self._side(side)
        cdef int sign = 1 if s is self._bids else -1
        cdef int64_t key
        cdef double q, total = 0.0
        cdef _Cursor c = _Cursor(s)
        if not quantity > 0.0:
            raise ValueError(f"quantity must be > 0, got {quantity!r}")
        while c.next(&key, &q):
            total += q
            if total >= quantity:
                return self.c_tick_to_price(sign * key)
        return NAN

    def average_price(self, side, double quantity):
        """Volume-weighted average price of taking ``quantity`` from ``side`` (NaN if too thin)."""
        cdef _Side s = self._side(side)
        cdef int sign = 1 if s is self._bids else -1
        cdef int64_t key
        cdef double q, need = quantity, cost = 0.0
        cdef _Cursor c = _Cursor(s)
        if not quantity > 0.0:
            raise ValueError(f"quantity must be > 0, got {quantity!r}")
        while c.next(&key, &q):
            if q >= need:
                cost += need * self.c_tick_to_price(sign * key)
                return cost / quantity
            cost += q * self.c_tick_to_price(sign * key)
            need -= q
        return NAN

    def imbalance(self, Py_ssize_t levels=1):
        """(bid qty - ask qty) / (bid qty + ask qty) over the best ``levels`` of each side.

        In [-1, 1]; NaN when both sides are empty.
        """
        cdef double qb = 0.0, qa = 0.0, q
        cdef int64_t key
        cdef Py_ssize_t i
        cdef _Cursor c
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        c = _Cursor(self._bids)
        i = 0
        while i < levels and c.next(&key, &q):
            qb += q
            i += 1
        c = _Cursor(self._asks)
        i = 0
        while i < levels and c.next(&key, &q):
            qa += q
            i += 1
        if qb + qa == 0.0:
            return NAN
        return (qb - qa) / (qb + qa)

    def price_to_tick(self, double price):
        """The integer tick of ``price``; ValueError if it is off the grid."""
        cdef int64_t t
        if not self._has_tick:
            raise InvalidUsage("the tick size is unknown: pass tick_size or apply a snapshot first")
        if self.c_price_to_tick(price, &t) != 0:
            raise ValueError(f"price {price!r} is not on the tick grid {self.tick_size!r}")
        return t

    def tick_to_price(self, int64_t tick):
        """The price of an integer tick (the correctly rounded double of the decimal)."""
        return self.c_tick_to_price(tick)

    @property
    def tick_size(self):
        """The price grid as a float (None until known)."""
        if not self._has_tick:
            return None
        return self._tick_m / self._tick_den

    @property
    def tick_inferred(self):
        """True when the tick size was inferred from a snapshot rather than given."""
        return bool(self._tick_inferred)

    @property
    def is_synced(self):
        """True after a snapshot while no gap or crossing has been seen since."""
        return bool(self._has_snapshot and not self._stale and not self._crossed)

    @property
    def is_stale(self):
        """True after a gap, a crossing or :meth:`mark_stale`, until the next snapshot."""
        return bool(self._stale or self._crossed)

    @property
    def is_crossed(self):
        """True if the last update left best bid >= best ask (until the next snapshot)."""
        return bool(self._crossed)

    @property
    def bid_count(self):
        """Number of bid levels held."""
        return self._bids.nladder + self._bids.overflow_size()

    @property
    def ask_count(self):
        """Number of ask levels held."""
        return self._asks.nladder + self._asks.overflow_size()

    @property
    def capacity(self):
        """Ladder slots per side."""
        return self._bids.cap

    @property
    def max_levels(self):
        """Bound on levels kept per side (0 = unbounded)."""
        return self._bids.max_levels

    @property
    def nbytes(self):
        """Memory held by the book's level storage, in bytes (ladders + overflow tables)."""
        cdef _Side s
        cdef int64_t total = 0
        for s in (self._bids, self._asks):
            total += s.cap * 8 + s.nwords * 8 + s.nsum * 8
            total += s.hcap * OVERFLOW_SLOT_BYTES
        return total

    @property
    def stats(self):
        """Counters: events applied, levels applied, window moves, levels trimmed, overflow sizes."""
        return {
            "events_applied": self._applied,
            "levels_applied": self._levels_applied,
            "recentres": self._bids.recentres + self._asks.recentres,
            "trimmed": self._bids.trimmed + self._asks.trimmed,
            "bid_overflow": self._bids.overflow_size(),
            "ask_overflow": self._asks.overflow_size(),
        }

    def __repr__(self):
        return (f"OrderBook({self.symbol!r}, update_id={self.update_id}, "
                f"bid={self.best_bid()}, ask={self.best_ask()}, "
                f"levels={self.bid_count}x{self.ask_count}, synced={self.is_synced})")

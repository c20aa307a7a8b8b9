/* fwjson.h: the C core of fastws' JSON frame parser.
 *
 * Small, bounds-checked scanners over a (pointer, end) byte range. Nothing here reads at or
 * past `end` and nothing assumes a NUL terminator (memoryview/bytearray payloads have none).
 *
 *  - fw_ws          skip JSON whitespace
 *  - fw_string_end  validate a JSON string body (escapes, UTF-8, no control chars); 8 bytes
 *                   at a time on the plain-ASCII path
 *  - fw_unescape    decode the escapes of a validated string body into UTF-8
 *  - fw_number_end  validate a JSON number; fw_number also converts integers of <= 18 digits
 *  - fw_skip        validate and skip any JSON value (iterative, depth-limited like orjson)
 *  - fw_dec_fast    the exact fast path of decimal text -> double (stops at the first byte
 *                   that is not part of the number)
 *  - fw_decimal     decimal text -> double, bit-identical to Python's float(text)
 *  - fw_decimal_q   a decimal string body, parsed in the same pass that finds its end quote
 *  - fw_int64       JSON integer text -> int64 with overflow detection
 *  - fw_levels      [["p","q"],...] -> n*2 doubles, in one pass
 *  - fw_sole_ref    whether an object is referenced only once (event recycling)
 *  - fw_refs_are    whether an object is referenced exactly n times (array recycling)
 *
 * Correct rounding: results equal CPython's float() bit for bit. Exact cases use one double
 * operation on exact operands (Clinger's fast path); 19-digit mantissas use one x87 extended
 * operation and are only trusted off a double midpoint; the rest go to PyOS_string_to_double.
 *
 * Errors: functions returning a pointer return NULL and fill fw_err (position + message).
 */
#ifndef FASTWS_FWJSON_H
#define FASTWS_FWJSON_H

#include <Python.h>
#include <float.h>
#include <stdint.h>
#include <string.h>

#define FW_MAX_DEPTH 1024

typedef struct {
    const char *pos;   /* where the problem was seen */
    const char *msg;   /* static message */
    Py_ssize_t index;  /* level index for fw_levels (-1 otherwise) */
    int sub;           /* 0 price / 1 quantity for fw_levels (-1 otherwise) */
} fw_err;

static inline const char *fw_fail(fw_err *e, const char *pos, const char *msg) {
    e->pos = pos;
    e->msg = msg;
    return NULL;
}

static inline int fw_hex(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static inline int fw_hex4(const char *p) {
    int a = fw_hex((unsigned char)p[0]), b = fw_hex((unsigned char)p[1]);
    int c = fw_hex((unsigned char)p[2]), d = fw_hex((unsigned char)p[3]);
    if ((a | b | c | d) < 0) return -1;
    return (a << 12) | (b << 8) | (c << 4) | d;
}

/* p: first byte after the opening quote. Returns a pointer to the closing quote.
 * *has_esc is set to 1 when the body holds a backslash escape. */
#if defined(__GNUC__)
#define FW_NOINLINE __attribute__((noinline))
#define FW_LIKELY(x) __builtin_expect(!!(x), 1)
#define FW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define FW_NOINLINE
#define FW_LIKELY(x) (x)
#define FW_UNLIKELY(x) (x)
#endif

/* A run of whitespace: 32 (SSE2) or 8 spaces at a time (padded or indented JSON, and the
 * firehose's equal-size frames, end in hundreds of them), byte by byte for anything else. */
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
static FW_NOINLINE const char *fw_ws_run(const char *p, const char *end) {
    uint64_t x;
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' ');
#endif
    for (;;) {
#if defined(__SSE2__)
        while (end - p >= 32) {
            __m128i a = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), sp);
            __m128i b = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), sp);
            if (_mm_movemask_epi8(_mm_and_si128(a, b)) != 0xFFFF) break;
            p += 32;
        }
#endif
        while (end - p >= 8) {
            memcpy(&x, p, 8);
            if (x != 0x2020202020202020ULL) break;
            p += 8;
        }
        if (p >= end) return p;
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
            p++;
            continue;
        }
        return p;
    }
}

static inline const char *fw_ws(const char *p, const char *end) {
    /* the common case first: no whitespace at all (anything above ' ' is not whitespace) */
    if (p < end && (unsigned char)*p > ' ') return p;
    if (p + 1 < end && *p == ' ' && (unsigned char)p[1] > ' ') return p + 1;  /* ": " */
    return fw_ws_run(p, end);
}

/* 1 for bytes that may appear as-is in a JSON string and need no further look:
 * printable ASCII except '"' and '\\'. */
static const unsigned char fw_plain[256] = {
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    1,1,0,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,0,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0};

static FW_NOINLINE const char *fw_string_end_slow(const char *p, const char *end, int *has_esc,
                                                  fw_err *e) {
    int esc = 0;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *has_esc = esc;
            return p;
        }
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            p++;
            continue;
        }
        if (c == '\\') {
            esc = 1;
            if (p + 1 >= end) return fw_fail(e, p, "unterminated string");
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;
            case 'u': {
                int cp;
                if (end - p < 6 || (cp = fw_hex4(p + 2)) < 0)
                    return fw_fail(e, p, "invalid \\u escape in string");
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fw_fail(e, p, "lone low surrogate in \\u escape");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int lo;
                    if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
                        (lo = fw_hex4(p + 8)) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return fw_fail(e, p, "high surrogate not followed by a low surrogate");
                    p += 12;
                } else {
                    p += 6;
                }
                continue;
            }
            default:
                return fw_fail(e, p, "invalid escape in string");
            }
        }
        if (c < 0x20) return fw_fail(e, p, "control character in string");
        /* UTF-8 multi-byte sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) */
        if (c >= 0xC2 && c <= 0xDF) {
            if (end - p < 2 || ((unsigned char)p[1] & 0xC0) != 0x80) goto bad_utf8;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            unsigned char c1;
            if (end - p < 3) goto bad_utf8;
            c1 = (unsigned char)p[1];
            if ((c1 & 0xC0) != 0x80 || ((unsigned char)p[2] & 0xC0) != 0x80) goto bad_utf8;
            if (c == 0xE0 && c1 < 0xA0) goto bad_utf8;
            if (c == 0xED && c1 > 0x9F) goto bad_utf8;
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            unsigned char c1;
            if (end - p < 4) goto bad_utf8;
            c1 = (unsigned char)p[1];
            if ((c1 & 0xC0) != 0x80 || ((unsigned char)p[2] & 0xC0) != 0x80 ||
                ((unsigned char)p[3] & 0xC0) != 0x80) goto bad_utf8;
            if (c == 0xF0 && c1 < 0x90) goto bad_utf8;
            if (c == 0xF4 && c1 > 0x8F) goto bad_utf8;
            p += 4;
        } else {
            goto bad_utf8;
        }
    }
    return fw_fail(e, p, "unterminated string");
bad_utf8:
    return fw_fail(e, p, "invalid UTF-8 in string");
}

/* p: first byte after the opening quote. Returns a pointer to the closing quote.
 * *has_esc is set to 1 when the body holds a backslash escape. */
static inline const char *fw_string_end(const char *p, const char *end, int *has_esc,
                                        fw_err *e) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
    /* 8 bytes at a time: stop at the first '"', '\\', control or non-ASCII byte. Borrows
     * can only flag bytes above a real hit, so the lowest flagged byte is a real one. */
    while (end - p >= 8) {
        uint64_t v, q, b, mask;
        memcpy(&v, p, 8);
        q = v ^ 0x2222222222222222ULL;
        b = v ^ 0x5C5C5C5C5C5C5C5CULL;
        mask = (((q - 0x0101010101010101ULL) & ~q) | ((b - 0x0101010101010101ULL) & ~b) |
                ((v - 0x2020202020202020ULL) & ~v) | v) & 0x8080808080808080ULL;
        if (mask) {
            p += __builtin_ctzll(mask) >> 3;
            goto tail;
        }
        p += 8;
    }
tail:
#endif
    while (p < end && fw_plain[(unsigned char)*p]) p++;
    if (FW_LIKELY(p < end && *p == '"')) {
        *has_esc = 0;
        return p;
    }
    return fw_string_end_slow(p, end, has_esc, e);
}

static inline char *fw_put_utf8(char *o, unsigned int cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Decode a string body already validated by fw_string_end into UTF-8 at `out` (which must
 * hold n bytes: escapes only shrink). Returns the output length. */
static Py_ssize_t fw_unescape(const char *s, Py_ssize_t n, char *out) {
    const char *p = s, *end = s + n;
    char *o = out;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        switch (p[1]) {
        case 'b': *o++ = '\b'; p += 2; break;
        case 'f': *o++ = '\f'; p += 2; break;
        case 'n': *o++ = '\n'; p += 2; break;
        case 'r': *o++ = '\r'; p += 2; break;
        case 't': *o++ = '\t'; p += 2; break;
        case 'u': {
            unsigned int cp = (unsigned int)fw_hex4(p + 2);
            p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned int lo = (unsigned int)fw_hex4(p + 2);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            o = fw_put_utf8(o, cp);
            break;
        }
        default: *o++ = p[1]; p += 2; break;  /* " \ / */
        }
    }
    return o - out;
}

/* p at '-' or a digit. Returns the end of a valid JSON number. *is_int: no fraction/exponent */
static inline const char *fw_number_end(const char *p, const char *end, int *is_int,
                                        fw_err *e) {
    int isint = 1;
    if (p < end && *p == '-') p++;
    if (p >= end) return fw_fail(e, p, "truncated number");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && (unsigned)(*p - '0') < 10) p++;
    } else {
        return fw_fail(e, p, "invalid number");
    }
    if (p < end && *p == '.') {
        isint = 0;
        p++;
        if (p >= end || (unsigned)(*p - '0') >= 10) return fw_fail(e, p, "invalid number: digit expected after '.'");
        while (p < end && (unsigned)(*p - '0') < 10) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        isint = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || (unsigned)(*p - '0') >= 10) return fw_fail(e, p, "invalid number: digit expected in exponent");
        while (p < end && (unsigned)(*p - '0') < 10) p++;
    }
    *is_int = isint;
    return p;
}

/* A JSON number at p ('-' or digit), validated; an integer of at most 18 digits is also
 * converted (*ival, *kind = 2). *kind: 2 converted integer, 1 other integer, 0 not an
 * integer (fraction or exponent). */
static inline const char *fw_number(const char *p, const char *end, int *kind, int64_t *ival,
                                    fw_err *e) {
    const char *s = p, *d0;
    uint64_t v = 0;
    int neg = 0, isint;
    if (p < end && *p == '-') { neg = 1; p++; }
    d0 = p;
    if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && (unsigned)(*p - '0') < 10) {
            v = v * 10 + (unsigned)(*p - '0');
            p++;
        }
    } else if (p < end && *p == '0') {
        p++;
    } else {
        return fw_number_end(s, end, &isint, e);  /* reports the problem */
    }
    if (FW_UNLIKELY(p < end && (*p == '.' || *p == 'e' || *p == 'E'))) {
        p = fw_number_end(s, end, &isint, e);
        *kind = 0;
        return p;
    }
    if (p - d0 <= 18) {
        *ival = neg ? -(int64_t)v : (int64_t)v;
        *kind = 2;
    } else {
        *kind = 1;
    }
    return p;
}

static inline const char *fw_literal(const char *p, const char *end, const char *lit, int n,
                                     fw_err *e) {
    if (end - p < n || memcmp(p, lit, (size_t)n) != 0) return fw_fail(e, p, "invalid literal");
    return p + n;
}

/* Validate and skip one JSON value starting at p (whitespace allowed before it).
 * When the value is an array and count != NULL, *count receives its number of elements. */
static const char *fw_skip(const char *p, const char *end, Py_ssize_t *count, fw_err *e) {
    unsigned char stack[FW_MAX_DEPTH];
    int depth = 0, esc, isint;
    Py_ssize_t n = 0;

value:
    p = fw_ws(p, end);
    if (p >= end) return fw_fail(e, p, "unexpected end of data");
    switch (*p) {
    case '{':
        if (depth >= FW_MAX_DEPTH) return fw_fail(e, p, "nesting too deep");
        stack[depth++] = '{';
        p = fw_ws(p + 1, end);
        if (p < end && *p == '}') { p++; depth--; goto after; }
        goto key;
    case '[':
        if (depth >= FW_MAX_DEPTH) return fw_fail(e, p, "nesting too deep");
        stack[depth++] = '[';
        p = fw_ws(p + 1, end);
        if (p < end && *p == ']') { p++; depth--; goto after; }
        if (depth == 1) n = 1;
        goto value;
    case '"':
        p = fw_string_end(p + 1, end, &esc, e);
        if (!p) return NULL;
        p++;
        goto after;
    case 't': p = fw_literal(p, end, "true", 4, e); if (!p) return NULL; goto after;
    case 'f': p = fw_literal(p, end, "false", 5, e); if (!p) return NULL; goto after;
    case 'n': p = fw_literal(p, end, "null", 4, e); if (!p) return NULL; goto after;
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            p = fw_number_end(p, end, &isint, e);
            if (!p) return NULL;
            goto after;
        }
        return fw_fail(e, p, "expected a JSON value");
    }

key:
    p = fw_ws(p, end);
    if (p >= end) return fw_fail(e, p, "unexpected end of data");
    if (*p != '"') return fw_fail(e, p, "expected a key string");
    p = fw_string_end(p + 1, end, &esc, e);
    if (!p) return NULL;
    p = fw_ws(p + 1, end);
    if (p >= end) return fw_fail(e, p, "unexpected end of data");
    if (*p != ':') return fw_fail(e, p, "expected ':'");
    p++;
    goto value;

after:
    if (depth == 0) {
        if (count) *count = n;
        return p;
    }
    p = fw_ws(p, end);
    if (p >= end) return fw_fail(e, p, "unexpected end of data");
    if (stack[depth - 1] == '{') {
        if (*p == ',') { p++; goto key; }
        if (*p == '}') { p++; depth--; goto after; }
        return fw_fail(e, p, "expected ',' or '}'");
    }
    if (*p == ',') { p++; if (depth == 1) n++; goto value; }
    if (*p == ']') { p++; depth--; goto after; }
    return fw_fail(e, p, "expected ',' or ']'");
}

static const double fw_pow10[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
static const uint64_t fw_pow10u[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};

/* The slow path: CPython's own correctly rounded strtod (what float() uses). */
static int fw_decimal_slow(const char *s, Py_ssize_t n, double *out) {
    char small[64];
    char *buf = small, *endp = NULL;
    double v;
    if (n >= (Py_ssize_t)sizeof(small)) {
        buf = (char *)PyMem_Malloc((size_t)n + 1);
        if (!buf) { PyErr_NoMemory(); return -1; }
    }
    memcpy(buf, s, (size_t)n);
    buf[n] = 0;
    v = PyOS_string_to_double(buf, &endp, NULL);
    if (v == -1.0 && PyErr_Occurred()) {
        if (buf != small) PyMem_Free(buf);
        return -1;
    }
    if (endp != buf + n) {
        if (buf != small) PyMem_Free(buf);
        return 1;
    }
    if (buf != small) PyMem_Free(buf);
    *out = v;
    return 0;
}

/* SWAR: are the 8 bytes of v all ASCII digits? (little-endian load) */
static inline int fw_is8digits(uint64_t v) {
    return (((v & 0xF0F0F0F0F0F0F0F0ULL) |
             (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) ==
            0x3333333333333333ULL);
}

/* SWAR: the value of 8 ASCII digits (first byte most significant). */
static inline uint32_t fw_parse8(uint64_t v) {
    const uint64_t mask = 0x000000FF000000FFULL;
    const uint64_t mul1 = 0x000F424000000064ULL;  /* 100 + (1000000ULL << 32) */
    const uint64_t mul2 = 0x0000271000000001ULL;  /* 1 + (10000ULL << 32) */
    v -= 0x3030303030303030ULL;
    v = (v * 10) + (v >> 8);
    v = (((v & mask) * mul1) + (((v >> 16) & mask) * mul2)) >> 32;
    return (uint32_t)v;
}

static inline uint64_t fw_load8(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}


/* 19-digit mantissas above 2^53: one x87 extended-precision op (64-bit mantissa, so m and
 * 10^k <= 10^27 are exact and the result is correctly rounded to 64 bits), then rounded to
 * double. That double rounding is only wrong when the extended result sits exactly on a
 * double midpoint (low 11 bits == 0x400); those few go to the slow path. */
#if (defined(__x86_64__) || defined(__i386__)) && LDBL_MANT_DIG == 64 && defined(__GNUC__)
#define FW_HAVE_LD 1
static const long double fw_pow10l[28] = {
    1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L,
    1e26L, 1e27L};

static inline int fw_dec_ld(uint64_t m, int64_t e10, int neg, double *out) {
    long double r;
    uint64_t mant;
    double d;
    if (e10 < -27 || e10 > 27) return 0;
    r = e10 < 0 ? (long double)m / fw_pow10l[-e10] : (long double)m * fw_pow10l[e10];
    memcpy(&mant, &r, 8);
    if ((mant & 0x7FF) == 0x400) return 0;
    d = (double)r;
    *out = neg ? -d : d;
    return 1;
}
#else
#define FW_HAVE_LD 0
static inline int fw_dec_ld(uint64_t m, int64_t e10, int neg, double *out) {
    (void)m; (void)e10; (void)neg; (void)out;
    return 0;
}
#endif

/* The fast path shared by every decimal conversion: [-] digits [. digits], at most 19
 * digits, value exact in a double op (m <= 2^53, 10^k with k <= 22). Returns 1 with *out set
 * and *stop at the first byte not consumed; 0 when the general path must decide. */
static inline int fw_dec_fast(const char *s, const char *end, double *out, const char **stop) {
    const char *p = s, *frac;
    uint64_t m = 0;
    int neg = 0, nd = 0;
    int64_t e10 = 0;
    if (p < end && *p == '-') { neg = 1; p++; }
    while (p < end && (unsigned)(*p - '0') < 10) {
        if (++nd > 19) return 0;
        m = m * 10 + (unsigned)(*p - '0');
        p++;
    }
    if (p < end && *p == '.') {
        p++;
        frac = p;
        while (end - p >= 8 && nd + 8 <= 19) {
            uint64_t v = fw_load8(p);
            if (!fw_is8digits(v)) break;
            m = m * 100000000ULL + fw_parse8(v);
            nd += 8;
            p += 8;
        }
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (++nd > 19) return 0;
            m = m * 10 + (unsigned)(*p - '0');
            p++;
        }
        e10 = -(int64_t)(p - frac);
    }
    if (nd == 0) return 0;
    *stop = p;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 1;
    }
    if (m <= (1ULL << 53) && e10 >= -22) {
        double v = (double)m;
        v = e10 ? v / fw_pow10[-e10] : v;
        *out = neg ? -v : v;
        return 1;
    }
    return fw_dec_ld(m, e10, neg, out);
}

/* Decimal text (no quotes) -> double, bit-identical to float(text).
 * Grammar: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
 * Returns 0 on success, 1 when the text is not a plain decimal, -1 on a Python error. */
static inline int fw_decimal(const char *s, Py_ssize_t n, double *out) {
    const char *p = s, *end = s + n, *stop;
    if (FW_LIKELY(fw_dec_fast(s, end, out, &stop) && stop == end)) return 0;
    int neg = 0, nd = 0, trunc = 0, ndigits = 0;
    uint64_t m = 0;
    int64_t e10 = 0;
    if (p < end && (*p == '-' || *p == '+')) { neg = (*p == '-'); p++; }
    while (p < end && (unsigned)(*p - '0') < 10) {
        unsigned d = (unsigned)(*p - '0');
        ndigits++;
        if (nd < 19) {
            if (m | d) { m = m * 10 + d; nd++; }
        } else {
            e10++;
            if (d) trunc = 1;
        }
        p++;
    }
    if (p < end && *p == '.') {
        p++;
        while (p < end && (unsigned)(*p - '0') < 10) {
            unsigned d = (unsigned)(*p - '0');
            ndigits++;
            if (nd < 19) {
                if (m | d) { m = m * 10 + d; nd++; }
                e10--;
            } else if (d) {
                trunc = 1;
            }
            p++;
        }
    }
    if (!ndigits) return 1;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        int64_t x = 0;
        p++;
        if (p < end && (*p == '-' || *p == '+')) { eneg = (*p == '-'); p++; }
        if (p >= end) return 1;
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (x < 100000000) x = x * 10 + (*p - '0');
            p++;
        }
        if ((unsigned)(p[-1] - '0') >= 10) return 1;
        e10 += eneg ? -x : x;
    }
    if (p != end) return 1;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (!trunc && m <= (1ULL << 53)) {
        double v = (double)m;
        if (e10 >= 0 && e10 <= 22) {
            v *= fw_pow10[e10];
            *out = neg ? -v : v;
            return 0;
        }
        if (e10 < 0 && e10 >= -22) {
            v /= fw_pow10[-e10];
            *out = neg ? -v : v;
            return 0;
        }
        if (e10 > 22 && e10 <= 22 + 19) {
            /* shift part of the exponent into the mantissa while it stays exact */
            int64_t k = e10 - 22;
            if (m <= ((1ULL << 53) / fw_pow10u[k])) {
                v = (double)(m * fw_pow10u[k]) * 1e22;
                *out = neg ? -v : v;
                return 0;
            }
        }
    }
    if (!trunc && fw_dec_ld(m, e10, neg, out)) return 0;
    return fw_decimal_slow(s, n, out);
}

/* A decimal inside a JSON string body that may hold escapes. */
static int fw_decimal_esc(const char *s, Py_ssize_t n, double *out) {
    char small[128];
    char *buf = small;
    Py_ssize_t m;
    int r;
    if (n > (Py_ssize_t)sizeof(small)) {
        buf = (char *)PyMem_Malloc((size_t)n);
        if (!buf) { PyErr_NoMemory(); return -1; }
    }
    m = fw_unescape(s, n, buf);
    r = fw_decimal(buf, m, out);
    if (buf != small) PyMem_Free(buf);
    return r;
}

/* JSON integer text -> int64. 0 ok, 1 not an integer (fraction/exponent/garbage), 2 overflow */
static inline int fw_int64(const char *s, Py_ssize_t n, int64_t *out) {
    const char *p = s, *end = s + n;
    int neg = 0;
    uint64_t v = 0, lim;
    if (p < end && *p == '-') { neg = 1; p++; }
    if (p >= end) return 1;
    if (*p == '0' && end - p > 1) return 1;
    if (end - p <= 18) {  /* cannot overflow: no per-digit check */
        while (p < end) {
            unsigned d = (unsigned)(*p - '0');
            if (d >= 10) return 1;
            v = v * 10 + d;
            p++;
        }
        *out = neg ? -(int64_t)v : (int64_t)v;
        return 0;
    }
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (p < end) {
        unsigned d = (unsigned)(*p - '0');
        if (d >= 10) return 1;
        if (v > (lim - d) / 10) return 2;
        v = v * 10 + d;
        p++;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* A decimal string body starting at s (just after the opening quote): parse it in the same
 * pass that finds the closing quote. Common Binance text ("61837.63000000": optional '-',
 * digits, '.', digits, at most 19 digits) takes the SWAR fast path; anything else is handed
 * to fw_string_end + fw_decimal. Returns the closing quote, or NULL with e set. */
static inline const char *fw_decimal_q(const char *s, const char *end, double *out, fw_err *e) {
    const char *q, *stop;
    int esc, r;
    if (FW_LIKELY(fw_dec_fast(s, end, out, &stop) && stop < end && *stop == '"')) return stop;
    q = fw_string_end(s, end, &esc, e);
    if (!q) return NULL;
    r = esc ? fw_decimal_esc(s, q - s, out) : fw_decimal(s, q - s, out);
    if (r < 0) return fw_fail(e, s, "python error");
    if (r > 0) return fw_fail(e, s, "invalid decimal string");
    return q;
}

/* Parse levels [["p","q"],...] starting at '[' into out (room for cap levels).
 * Returns the position after ']' and sets *count; when there are more than cap levels it
 * returns NULL with e->msg == NULL and *count = the number seen so far (grow and retry).
 * Any other problem: NULL with e set (e->index / e->sub locate the level). */
static const char *fw_levels(const char *p, const char *end, double *out, Py_ssize_t cap,
                             Py_ssize_t *count, fw_err *e) {
    Py_ssize_t i = 0;
    e->index = -1;
    e->sub = -1;
    e->msg = NULL;
    if (p >= end || *p != '[') return fw_fail(e, p, "expected an array of levels");
    p = fw_ws(p + 1, end);
    if (p < end && *p == ']') {
        *count = 0;
        return p + 1;
    }
    for (;;) {
        e->index = i;
        if (p >= end || *p != '[') return fw_fail(e, p, "a level must be [price, quantity]");
        if (i >= cap) {
            *count = i;
            e->msg = NULL;
            return NULL;
        }
        p = fw_ws(p + 1, end);
        e->sub = 0;
        if (p >= end || *p != '"') return fw_fail(e, p, "expected a decimal string");
        p = fw_decimal_q(p + 1, end, out + 2 * i, e);
        if (!p) return NULL;
        p = fw_ws(p + 1, end);
        if (p >= end || *p != ',') return fw_fail(e, p, "a level must be [price, quantity]");
        p = fw_ws(p + 1, end);
        e->sub = 1;
        if (p >= end || *p != '"') return fw_fail(e, p, "expected a decimal string");
        p = fw_decimal_q(p + 1, end, out + 2 * i + 1, e);
        if (!p) return NULL;
        e->sub = -1;
        p = fw_ws(p + 1, end);
        if (p >= end || *p != ']') return fw_fail(e, p, "a level must be [price, quantity]");
        p = fw_ws(p + 1, end);
        i++;
        if (p < end && *p == ',') {
            p = fw_ws(p + 1, end);
            continue;
        }
        break;
    }
    e->index = -1;
    if (p >= end || *p != ']') return fw_fail(e, p, "expected ',' or ']'");
    *count = i;
    return p + 1;
}

/* Whether the parser's spare event object is referenced by nobody else, so it can be filled
 * again instead of allocating a new one (never on free-threaded builds). */
static inline int fw_sole_ref(PyObject *o) {
#ifdef Py_GIL_DISABLED
    (void)o;
    return 0;
#else
    return Py_REFCNT(o) == 1;
#endif
}

/* whether an object is referenced exactly n times (0 on free-threaded builds: never reuse) */
static inline int fw_refs_are(PyObject *o, Py_ssize_t n) {
#ifdef Py_GIL_DISABLED
    (void)o;
    (void)n;
    return 0;
#else
    return Py_REFCNT(o) == n;
#endif
}

#endif /* FASTWS_FWJSON_H */

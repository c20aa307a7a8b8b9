/* fwjson.h: the C core of fastws' JSON frame parser.
 *
 * Small, bounds-checked scanners over a (pointer, end) byte range. Nothing here reads at or
 * past `end` and nothing assumes a NUL terminator (memoryview/bytearray payloads have none).
 *
 *  - fw_ws          skip JSON whitespace
 *  - fw_string_end  validate a JSON string body (escapes, UTF-8, no control chars)
 *  - fw_unescape    decode the escapes of a validated string body into UTF-8
 *  - fw_number_end  validate a JSON number
 *  - fw_skip        validate and skip any JSON value (iterative, depth-limited like orjson)
 *  - fw_decimal     decimal text -> double, bit-identical to Python's float(text)
 *  - fw_int64       JSON integer text -> int64 with overflow detection
 *  - fw_levels      [["p","q"],...] -> n*2 doubles, in one pass
 *
 * Errors: functions returning a pointer return NULL and fill fw_err (position + message).
 */
#ifndef FASTWS_FWJSON_H
#define FASTWS_FWJSON_H

#include <Python.h>
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

static inline const char *fw_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
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
static inline const char *fw_string_end(const char *p, const char *end, int *has_esc,
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

/* Decimal text (no quotes) -> double, bit-identical to float(text).
 * Grammar: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
 * Returns 0 on success, 1 when the text is not a plain decimal, -1 on a Python error. */
static inline int fw_decimal(const char *s, Py_ssize_t n, double *out) {
    const char *p = s, *end = s + n;
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

/* One "decimal" string inside a level: p at the opening quote. Returns past the closing
 * quote. The common case (plain digits) is parsed in the same pass that finds the quote. */
static inline const char *fw_level_decimal(const char *p, const char *end, double *out,
                                           fw_err *e) {
    const char *s, *q;
    int esc, r;
    if (p >= end || *p != '"') return fw_fail(e, p, "expected a decimal string");
    s = p + 1;
    q = s;
    /* fast scan: decimal characters only */
    while (q < end && (((unsigned)(*q - '0') < 10) || *q == '.')) q++;
    if (q < end && *q == '"') {
        r = fw_decimal(s, q - s, out);
        if (r == 0) return q + 1;
        if (r < 0) return fw_fail(e, s, "python error");
        return fw_fail(e, s, "invalid decimal string");
    }
    q = fw_string_end(s, end, &esc, e);
    if (!q) return NULL;
    r = esc ? fw_decimal_esc(s, q - s, out) : fw_decimal(s, q - s, out);
    if (r < 0) return fw_fail(e, s, "python error");
    if (r > 0) return fw_fail(e, s, "invalid decimal string");
    return q + 1;
}

/* Parse n levels [["p","q"],...] starting at '[' (validated by fw_skip) into out[2n]. */
static const char *fw_levels(const char *p, const char *end, double *out, Py_ssize_t n,
                             fw_err *e) {
    Py_ssize_t i;
    e->index = -1;
    e->sub = -1;
    if (p >= end || *p != '[') return fw_fail(e, p, "expected an array of levels");
    p = fw_ws(p + 1, end);
    for (i = 0; i < n; i++) {
        e->index = i;
        e->sub = -1;
        if (i) {
            if (p >= end || *p != ',') return fw_fail(e, p, "expected ','");
            p = fw_ws(p + 1, end);
        }
        if (p >= end || *p != '[') return fw_fail(e, p, "a level must be [price, quantity]");
        p = fw_ws(p + 1, end);
        e->sub = 0;
        p = fw_level_decimal(p, end, out + 2 * i, e);
        if (!p) return NULL;
        p = fw_ws(p, end);
        if (p >= end || *p != ',') return fw_fail(e, p, "a level must be [price, quantity]");
        p = fw_ws(p + 1, end);
        e->sub = 1;
        p = fw_level_decimal(p, end, out + 2 * i + 1, e);
        if (!p) return NULL;
        e->sub = -1;
        p = fw_ws(p, end);
        if (p >= end || *p != ']') return fw_fail(e, p, "a level must be [price, quantity]");
        p = fw_ws(p + 1, end);
    }
    e->index = -1;
    if (p >= end || *p != ']') return fw_fail(e, p, "expected ']'");
    return p + 1;
}

#endif /* FASTWS_FWJSON_H */

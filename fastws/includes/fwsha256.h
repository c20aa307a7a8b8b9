/* fwsha256.h: SHA-256 and HMAC-SHA256 for signing orders (fastws.hmac_fast).
 *
 * Two block functions with one contract, fw_sha256_blocks(state, data, nblocks):
 *   - fw_sha256_blocks_ni: the x86 SHA extensions (SHA-NI), used when the CPU has them
 *     (fw_sha256_ni_available(); checked once with cpuid);
 *   - fw_sha256_blocks_c: portable C (FIPS 180-4), the reference the tests compare to and
 *     the path on CPUs without SHA-NI.
 * HMAC (RFC 2104) keeps the states after the key's inner and outer pad blocks, so one
 * signature costs the payload's blocks plus one outer block, with no allocation.
 *
 * Nothing here holds on to key material beyond the fw_hmac struct the caller owns (and
 * wipes: fw_hmac_wipe).
 */
#ifndef FWSHA256_H
#define FWSHA256_H

#include <stdint.h>
#include <string.h>

static const uint32_t fw_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t fw_sha256_h0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#define FW_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void fw_sha256_blocks_c(uint32_t state[8], const unsigned char *data, size_t nblocks)
{
    uint32_t w[64];
    while (nblocks--) {
        uint32_t a, b, c, d, e, f, g, h;
        int t;
        for (t = 0; t < 16; t++)
            w[t] = ((uint32_t)data[4 * t] << 24) | ((uint32_t)data[4 * t + 1] << 16) |
                   ((uint32_t)data[4 * t + 2] << 8) | (uint32_t)data[4 * t + 3];
        for (t = 16; t < 64; t++) {
            uint32_t s0 = FW_ROTR(w[t - 15], 7) ^ FW_ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = FW_ROTR(w[t - 2], 17) ^ FW_ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        a = state[0]; b = state[1]; c = state[2]; d = state[3];
        e = state[4]; f = state[5]; g = state[6]; h = state[7];
        for (t = 0; t < 64; t++) {
            uint32_t S1 = FW_ROTR(e, 6) ^ FW_ROTR(e, 11) ^ FW_ROTR(e, 25);
            uint32_t ch = (e & f) ^ (~e & g);
            uint32_t t1 = h + S1 + ch + fw_sha256_k[t] + w[t];
            uint32_t S0 = FW_ROTR(a, 2) ^ FW_ROTR(a, 13) ^ FW_ROTR(a, 22);
            uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            uint32_t t2 = S0 + maj;
            h = g; g = f; f = e; e = d + t1;
            d = c; c = b; b = a; a = t1 + t2;
        }
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
        data += 64;
    }
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FW_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>

/* The SHA-NI block function (the instruction sequence of Intel's SHA extensions guide). */
__attribute__((target("sha,sse4.1,ssse3")))
static void fw_sha256_blocks_ni(uint32_t state[8], const unsigned char *data, size_t nblocks)
{
    __m128i STATE0, STATE1, MSG, TMP, ABEF_SAVE, CDGH_SAVE;
    __m128i W[4];
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    int i;

    TMP = _mm_loadu_si128((const __m128i *)&state[0]);
    STATE1 = _mm_loadu_si128((const __m128i *)&state[4]);
    TMP = _mm_shuffle_epi32(TMP, 0xB1);           /* CDAB */
    STATE1 = _mm_shuffle_epi32(STATE1, 0x1B);     /* EFGH */
    STATE0 = _mm_alignr_epi8(TMP, STATE1, 8);     /* ABEF */
    STATE1 = _mm_blend_epi16(STATE1, TMP, 0xF0);  /* CDGH */

    while (nblocks--) {
        ABEF_SAVE = STATE0;
        CDGH_SAVE = STATE1;
        for (i = 0; i < 16; i++) {
            __m128i Wi;
            if (i < 4) {
                Wi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), MASK);
            } else {
                /* W[t] = W[t-16] + s0(W[t-15]) + W[t-7] + s1(W[t-2]), four at a time */
                __m128i X = _mm_sha256msg1_epu32(W[i & 3], W[(i + 1) & 3]);
                X = _mm_add_epi32(X, _mm_alignr_epi8(W[(i + 3) & 3], W[(i + 2) & 3], 4));
                Wi = _mm_sha256msg2_epu32(X, W[(i + 3) & 3]);
            }
            W[i & 3] = Wi;
            MSG = _mm_add_epi32(Wi, _mm_loadu_si128((const __m128i *)&fw_sha256_k[4 * i]));
            STATE1 = _mm_sha256rnds2_epu32(STATE1, STATE0, MSG);
            MSG = _mm_shuffle_epi32(MSG, 0x0E);
            STATE0 = _mm_sha256rnds2_epu32(STATE0, STATE1, MSG);
        }
        STATE0 = _mm_add_epi32(STATE0, ABEF_SAVE);
        STATE1 = _mm_add_epi32(STATE1, CDGH_SAVE);
        data += 64;
    }

    TMP = _mm_shuffle_epi32(STATE0, 0x1B);        /* FEBA */
    STATE1 = _mm_shuffle_epi32(STATE1, 0xB1);     /* DCHG */
    STATE0 = _mm_blend_epi16(TMP, STATE1, 0xF0);  /* DCBA */
    STATE1 = _mm_alignr_epi8(STATE1, TMP, 8);     /* ABEF */
    _mm_storeu_si128((__m128i *)&state[0], STATE0);
    _mm_storeu_si128((__m128i *)&state[4], STATE1);
}

static int fw_sha256_ni_available(void)
{
    static int known = -1;
    unsigned int a, b, c, d;
    if (known >= 0)
        return known;
    known = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19)) && (c & (1u << 9))   /* SSE4.1, SSSE3 */
            && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)))   /* SHA */
        known = 1;
    return known;
}
#else
#define FW_SHA_NI 0
static void fw_sha256_blocks_ni(uint32_t state[8], const unsigned char *data, size_t nblocks)
{
    fw_sha256_blocks_c(state, data, nblocks);
}
static int fw_sha256_ni_available(void) { return 0; }
#endif

typedef void (*fw_sha256_blocks_fn)(uint32_t state[8], const unsigned char *data, size_t nblocks);

/* The digest of a message whose first `done` bytes (a multiple of 64) are already in
 * `state`, followed by `n` bytes at `p`. */
static void fw_sha256_finish(fw_sha256_blocks_fn blocks, uint32_t state[8], uint64_t done,
                             const unsigned char *p, size_t n, unsigned char out[32])
{
    unsigned char tail[128];
    size_t full = n / 64, rest = n % 64, tail_n;
    uint64_t bits = (done + (uint64_t)n) * 8;
    int i;
    if (full)
        blocks(state, p, full);
    memcpy(tail, p + full * 64, rest);
    tail[rest] = 0x80;
    tail_n = rest + 1 + 8 <= 64 ? 64 : 128;
    memset(tail + rest + 1, 0, tail_n - rest - 1 - 8);
    for (i = 0; i < 8; i++)
        tail[tail_n - 1 - i] = (unsigned char)(bits >> (8 * i));
    blocks(state, tail, tail_n / 64);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(state[i] >> 24);
        out[4 * i + 1] = (unsigned char)(state[i] >> 16);
        out[4 * i + 2] = (unsigned char)(state[i] >> 8);
        out[4 * i + 3] = (unsigned char)state[i];
    }
}

/* HMAC-SHA256 keyed once: the states after the inner and outer pad blocks. */
typedef struct {
    uint32_t inner[8];
    uint32_t outer[8];
    fw_sha256_blocks_fn blocks;
} fw_hmac;

static void fw_hmac_init(fw_hmac *h, const unsigned char *key, size_t key_n, int portable)
{
    unsigned char k[64], pad[64];
    size_t i;
    h->blocks = (!portable && fw_sha256_ni_available()) ? fw_sha256_blocks_ni : fw_sha256_blocks_c;
    memset(k, 0, sizeof k);
    if (key_n > 64) {
        uint32_t st[8];
        memcpy(st, fw_sha256_h0, sizeof st);
        fw_sha256_finish(h->blocks, st, 0, key, key_n, k);
    } else {
        memcpy(k, key, key_n);
    }
    memcpy(h->inner, fw_sha256_h0, sizeof h->inner);
    memcpy(h->outer, fw_sha256_h0, sizeof h->outer);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    h->blocks(h->inner, pad, 1);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    h->blocks(h->outer, pad, 1);
    memset(k, 0, sizeof k);
    memset(pad, 0, sizeof pad);
}

static void fw_hmac_digest(const fw_hmac *h, const unsigned char *msg, size_t n, unsigned char out[32])
{
    uint32_t st[8];
    unsigned char inner[32];
    memcpy(st, h->inner, sizeof st);
    fw_sha256_finish(h->blocks, st, 64, msg, n, inner);
    memcpy(st, h->outer, sizeof st);
    fw_sha256_finish(h->blocks, st, 64, inner, 32, out);
}

/* Lowercase hex of the HMAC: 64 characters into out (no terminator). */
static void fw_hmac_hex(const fw_hmac *h, const unsigned char *msg, size_t n, char out[64])
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char d[32];
    int i;
    fw_hmac_digest(h, msg, n, d);
    for (i = 0; i < 32; i++) {
        out[2 * i] = hexd[d[i] >> 4];
        out[2 * i + 1] = hexd[d[i] & 15];
    }
}

static void fw_hmac_wipe(fw_hmac *h)
{
    volatile unsigned char *p = (volatile unsigned char *)h;
    size_t i;
    for (i = 0; i < sizeof *h; i++)
        p[i] = 0;
}

#endif /* FWSHA256_H */

/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4) in portable C, libc only, so the same file builds
 * into the static node agent and the orchestrator.
 */
#include "af-sha256.h"

#include <string.h>

static const uint32_t af_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define AF_ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
af_sha256_block(struct af_sha256 *c, const unsigned char *p)
{
    uint32_t w[64];
    uint32_t a, b, cc, d, e, f, g, h, t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 =
            AF_ROR(w[i - 15], 7) ^ AF_ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 =
            AF_ROR(w[i - 2], 17) ^ AF_ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0];
    b = c->h[1];
    cc = c->h[2];
    d = c->h[3];
    e = c->h[4];
    f = c->h[5];
    g = c->h[6];
    h = c->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (AF_ROR(e, 6) ^ AF_ROR(e, 11) ^ AF_ROR(e, 25)) +
             ((e & f) ^ (~e & g)) + af_sha256_k[i] + w[i];
        t2 = (AF_ROR(a, 2) ^ AF_ROR(a, 13) ^ AF_ROR(a, 22)) +
             ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

void
af_sha256_init(struct af_sha256 *c)
{
    static const uint32_t iv[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };

    memcpy(c->h, iv, sizeof(iv));
    c->len = 0;
    c->nbuf = 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/*
 * The x86 SHA extensions (SHA-NI: Intel since Goldmont/Ice Lake, AMD since
 * Zen) hash several times faster than the portable rounds; the agent
 * verifies every package it receives, so this is most of its CPU time.
 * Four rounds per step on ABEF/CDGH state halves, after Intel's reference
 * ("Intel SHA Extensions", 2013).
 */
__attribute__((target("sha,sse4.1"))) static void
af_sha256_blocks_ni(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
    const __m128i mask =
        _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i s0, s1, tmp, msg, w[4], abef, cdgh;
    int i;

    tmp = _mm_loadu_si128((const __m128i *)&h[0]);
    s1 = _mm_loadu_si128((const __m128i *)&h[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);  /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);    /* EFGH */
    s0 = _mm_alignr_epi8(tmp, s1, 8);    /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0); /* CDGH */
    for (; nblocks > 0; nblocks--, p += 64) {
        abef = s0;
        cdgh = s1;
        for (i = 0; i < 4; i++)
            w[i] = _mm_shuffle_epi8(
                _mm_loadu_si128((const __m128i *)(p + 16 * i)), mask);
#pragma GCC unroll 16
        for (i = 0; i < 16; i++) {
            __m128i *wi = &w[i & 3];

            msg = _mm_add_epi32(
                *wi, _mm_loadu_si128((const __m128i *)&af_sha256_k[4 * i]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            if (i >= 3 && i <= 14) {
                __m128i *wn = &w[(i + 1) & 3];

                tmp = _mm_alignr_epi8(*wi, w[(i + 3) & 3], 4);
                *wn = _mm_add_epi32(*wn, tmp);
                *wn = _mm_sha256msg2_epu32(*wn, *wi);
            }
            msg = _mm_shuffle_epi32(msg, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
            if (i >= 1 && i <= 12)
                w[(i + 3) & 3] = _mm_sha256msg1_epu32(w[(i + 3) & 3], *wi);
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);    /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0); /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);    /* ABEF */
    _mm_storeu_si128((__m128i *)&h[0], s0);
    _mm_storeu_si128((__m128i *)&h[4], s1);
}

/* 1 if the CPU has SHA-NI and SSE4.1 (CPUID leaf 7 EBX bit 29, 1 ECX 19). */
static int
af_sha256_have_ni(void)
{
    unsigned a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)))
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 29)) != 0;
}
#endif

/* Hash whole blocks, with SHA-NI when the CPU has it. */
static void
af_sha256_blocks(struct af_sha256 *c, const unsigned char *p, size_t nblocks)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* Computed once; a benign race (every thread computes the same). */
    static int ni = -1;

    if (ni < 0)
        ni = af_sha256_have_ni();
    if (ni) {
        af_sha256_blocks_ni(c->h, p, nblocks);
        return;
    }
#endif
    for (; nblocks > 0; nblocks--, p += 64)
        af_sha256_block(c, p);
}

void
af_sha256_update(struct af_sha256 *c, const void *p, size_t n)
{
    const unsigned char *s = p;

    c->len += n;
    if (c->nbuf > 0) {
        size_t take = 64 - c->nbuf;

        if (take > n)
            take = n;
        memcpy(c->buf + c->nbuf, s, take);
        c->nbuf += take;
        s += take;
        n -= take;
        if (c->nbuf < 64)
            return;
        af_sha256_blocks(c, c->buf, 1);
        c->nbuf = 0;
    }
    if (n >= 64) {
        af_sha256_blocks(c, s, n / 64);
        s += n / 64 * 64;
        n %= 64;
    }
    if (n > 0) {
        memcpy(c->buf, s, n);
        c->nbuf = n;
    }
}

void
af_sha256_final_hex(struct af_sha256 *c, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    uint64_t bits = c->len * 8;
    int i;

    c->buf[c->nbuf++] = 0x80;
    if (c->nbuf > 56) {
        memset(c->buf + c->nbuf, 0, 64 - c->nbuf);
        af_sha256_block(c, c->buf);
        c->nbuf = 0;
    }
    memset(c->buf + c->nbuf, 0, 56 - c->nbuf);
    for (i = 0; i < 8; i++)
        c->buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    af_sha256_block(c, c->buf);
    c->nbuf = 0;
    for (i = 0; i < 32; i++) {
        unsigned char byte = (unsigned char)(c->h[i / 4] >> (24 - 8 * (i % 4)));

        hex[2 * i] = digits[byte >> 4];
        hex[2 * i + 1] = digits[byte & 15];
    }
    hex[64] = '\0';
}

void
af_sha256_hex(const void *p, size_t n, char hex[65])
{
    struct af_sha256 c;

    af_sha256_init(&c);
    af_sha256_update(&c, p, n);
    af_sha256_final_hex(&c, hex);
}

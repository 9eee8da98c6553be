/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), libc only: shared by the agent and orchestrator. */
#ifndef AF_SHA256_H
#define AF_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct af_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
};

void af_sha256_init(struct af_sha256 *c);
void af_sha256_update(struct af_sha256 *c, const void *p, size_t n);
/* Finish and write the 64 lower-case hex digits plus NUL into hex[65]. */
void af_sha256_final_hex(struct af_sha256 *c, char hex[65]);
/* One-shot helper. */
void af_sha256_hex(const void *p, size_t n, char hex[65]);

#endif /* AF_SHA256_H */

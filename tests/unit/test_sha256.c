/* SPDX-License-Identifier: MIT */
/*
 * af_sha256 against coreutils' sha256sum on pseudo-random inputs of many
 * lengths (around the 55/56/64-byte padding edges, whole and odd block
 * counts), fed in uneven pieces so both the buffered path and the
 * multi-block path (SHA-NI where the CPU has it) run.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-sha256.h"

/* The reference: sha256sum over the bytes, through a temporary file. */
static void
ref_hex(const unsigned char *p, size_t n, char hex[65])
{
    char path[] = "/tmp/af-sha256-XXXXXX", cmd[64];
    int fd = mkstemp(path);
    FILE *f;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
    snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%64s", hex), 1);
    pclose(f);
    unlink(path);
}

Test(sha256, matches_sha256sum_for_every_length_and_split)
{
    static const size_t lens[] = {0,    1,    55,    56,    63,     64,
                                  65,   119,  120,   127,   128,    1000,
                                  4096, 4159, 65536, 99991, 1 << 20};
    static const size_t steps[] = {1, 7, 64, 777, 65536, (size_t)-1};
    size_t max = 1 << 20, i, k, s;
    unsigned char *buf = malloc(max);
    unsigned x = 12345;

    cr_assert_not_null(buf);
    for (i = 0; i < max; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        char want[65], got[65];

        ref_hex(buf, lens[k], want);
        for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            struct af_sha256 c;
            size_t off = 0;

            if (steps[s] == 1 && lens[k] > 4096)
                continue;
            af_sha256_init(&c);
            while (off < lens[k]) {
                size_t n = lens[k] - off < steps[s] ? lens[k] - off : steps[s];

                af_sha256_update(&c, buf + off, n);
                off += n;
            }
            af_sha256_final_hex(&c, got);
            cr_expect_str_eq(got, want, "length %zu in pieces of %zu", lens[k],
                             steps[s]);
        }
    }
    free(buf);
}

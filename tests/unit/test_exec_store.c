/* SPDX-License-Identifier: MIT */
/*
 * exec keeps one copy per distinct output: 10,000 nodes answering the same
 * 1 KiB hold one 1 KiB blob (well under the 64 MiB budget), and outputs
 * that differ in any byte, NULs included, stay apart.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "exec-store.h"

Test(exec_store, ten_thousand_equal_outputs_keep_one_copy)
{
    struct exec_store s;
    char out[1024];
    const struct exec_blob *first = NULL;
    size_t i;

    memset(&s, 0, sizeof(s));
    memset(out, 'x', sizeof(out));
    out[10] = '\0';
    for (i = 0; i < 10000; i++) {
        char copy[1024];
        const struct exec_blob *b;

        memcpy(copy, out, sizeof(copy)); /* each node's own buffer */
        b = exec_store_intern(&s, copy, sizeof(copy));
        if (first == NULL)
            first = b;
        cr_assert_eq(b, first, "node %zu got its own copy", i);
    }
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.bytes, sizeof(out));
    cr_assert_eq(first->len, sizeof(out));
    cr_assert_eq(memcmp(first->data, out, sizeof(out)), 0);
    exec_store_free(&s);
}

Test(exec_store, outputs_differing_in_one_byte_stay_apart)
{
    struct exec_store s;
    const struct exec_blob *a, *b, *c, *d;
    size_t i;

    memset(&s, 0, sizeof(s));
    a = exec_store_intern(&s, "X\0A", 3);
    b = exec_store_intern(&s, "X\0B", 3);
    c = exec_store_intern(&s, "X", 1);
    d = exec_store_intern(&s, "", 0);
    cr_assert(a != b && a != c && b != c && c != d);
    cr_assert_eq(a->len, 3);
    cr_assert_eq(exec_store_intern(&s, "X\0A", 3), a);
    /* Many distinct outputs: the table grows and finds each again. */
    for (i = 0; i < 5000; i++) {
        char buf[32];

        snprintf(buf, sizeof(buf), "out %zu", i);
        exec_store_intern(&s, buf, strlen(buf));
    }
    for (i = 0; i < 5000; i += 97) {
        char buf[32];
        const struct exec_blob *e;

        snprintf(buf, sizeof(buf), "out %zu", i);
        e = exec_store_intern(&s, buf, strlen(buf));
        cr_assert_str_eq(e->data, buf);
    }
    cr_assert_eq(s.n, 5004);
    exec_store_free(&s);
}

/* SPDX-License-Identifier: MIT */
/*
 * The safe character set for values that reach a node (common/af-safe.c).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "af-safe.h"

static void
expect_bad(const char *s, unsigned flags, const char *why)
{
    char got[256] = "";

    cr_assert_eq(af_safe_check(s, flags, got, sizeof(got)), -1, "'%s'", s);
    cr_assert(strncmp(got, why, strlen(why)) == 0, "'%s': '%s' vs '%s'", s, got,
              why);
}

Test(safe, plain_words_and_paths_pass)
{
    cr_assert_eq(af_safe_check("/usr/local/Ascend", AF_SAFE_PATH, NULL, 0), 0);
    cr_assert_eq(
        af_safe_check("/opt/a-b_c.d/x+y,z:w@v%u=t", AF_SAFE_PATH, NULL, 0), 0);
    cr_assert_eq(af_safe_check("8", 0, NULL, 0), 0);
    cr_assert_eq(af_safe_check("-r", AF_SAFE_DASH, NULL, 0), 0);
    cr_assert_eq(af_safe_check("/a/.hidden/..x", AF_SAFE_PATH, NULL, 0), 0);
}

Test(safe, shell_characters_are_refused)
{
    static const char *const bad[] = {"$", "`",  ";", "'", "\"", "&", "|",
                                      "<", ">",  "*", "?", "[",  "(", ")",
                                      "~", "\\", "!", "#", "{",  "}"};
    char s[16];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[64];

        snprintf(s, sizeof(s), "/opt/a%sb", bad[i]);
        snprintf(want, sizeof(want), "character '%s' is not allowed", bad[i]);
        expect_bad(s, AF_SAFE_PATH, want);
    }
    expect_bad("/opt/a b", 0, "spaces are not allowed");
    expect_bad("/opt/a\tb", 0, "byte 0x09 is not allowed");
    expect_bad("/opt/a\nb", 0, "byte 0x0a is not allowed");
    expect_bad("/opt/caf\xc3\xa9", 0, "byte 0xc3 is not allowed");
}

Test(safe, shape_rules)
{
    char big[5000];

    expect_bad("", 0, "empty value");
    expect_bad("-rf", 0, "must not start with '-'");
    expect_bad("opt/x", AF_SAFE_PATH, "must be an absolute path");
    expect_bad("/opt/../etc", AF_SAFE_PATH, "must not hold '.' or '..'");
    expect_bad("/opt/./x", AF_SAFE_PATH, "must not hold '.' or '..'");
    expect_bad("/opt/x/..", AF_SAFE_PATH, "must not hold '.' or '..'");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_bad(big, 0, "longer than 4096 bytes");
}

/* SPDX-License-Identifier: MIT */
/*
 * The safe character set for values that reach a node (see af-safe.h).
 */
#include "af-safe.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define AF_SAFE_MAX     4096
#define AF_SAFE_ALLOWED "letters, digits and / . _ - + , : @ % ="

static int
safe_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("/._-+,:@%=", c) != NULL;
}

static int why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
why_set(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A path part that is exactly "." or "..". */
static int
has_dot_part(const char *s)
{
    const char *p = s;

    while (*p != '\0') {
        size_t n = strcspn(p, "/");

        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 1;
        p += n;
        while (*p == '/')
            p++;
    }
    return 0;
}

int
af_safe_check(const char *s, unsigned flags, char *why, size_t whylen)
{
    size_t i, n = strlen(s);

    if (n == 0)
        return why_set(why, whylen, "empty value");
    if (n > AF_SAFE_MAX)
        return why_set(why, whylen, "longer than %d bytes", AF_SAFE_MAX);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (safe_char(c))
            continue;
        if (c == ' ')
            return why_set(why, whylen, "spaces are not allowed (allowed: %s)",
                           AF_SAFE_ALLOWED);
        if (c < 0x20 || c > 0x7e)
            return why_set(why, whylen,
                           "byte 0x%02x is not allowed (allowed: %s)", c,
                           AF_SAFE_ALLOWED);
        return why_set(why, whylen,
                       "character '%c' is not allowed (allowed: %s)", c,
                       AF_SAFE_ALLOWED);
    }
    if (s[0] == '-' && !(flags & AF_SAFE_DASH))
        return why_set(why, whylen, "must not start with '-'");
    if ((flags & AF_SAFE_PATH) && s[0] != '/')
        return why_set(why, whylen, "must be an absolute path");
    if ((flags & AF_SAFE_PATH) && has_dot_part(s))
        return why_set(why, whylen, "must not hold '.' or '..' parts");
    return 0;
}

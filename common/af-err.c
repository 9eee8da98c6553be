/* SPDX-License-Identifier: MIT */
/* Error buffer helpers and the single code-to-text table. */
#include "af-err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
af_err_set(struct af_err *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return code;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}

void
af_err_clear(struct af_err *e)
{
    if (e == NULL)
        return;
    e->code = 0;
    e->msg[0] = '\0';
}

const char *
af_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define AF_ERR_CASE(name, num, text) \
    case num:                        \
        return text;
        AF_ERR_MAP(AF_ERR_CASE)
#undef AF_ERR_CASE
    default:
        break;
    }
    /* -errno and libuv codes (libuv's are -errno on Unix too). */
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

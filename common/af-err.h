/* SPDX-License-Identifier: MIT */
/*
 * Error codes and the caller-owned error buffer used across ascend-fleet.
 * Functions return 0 or a negative AF_E* code (system errors pass through as
 * -errno, libuv codes unchanged); the human-readable detail goes into an
 * optional struct af_err that the caller owns.
 */
#ifndef AF_ERR_H
#define AF_ERR_H

#include <stddef.h>

#define AF_ERR_MAP(XX)                                        \
    XX(EINTERNAL, -1000, "internal error")                    \
    XX(EINPUT, -1001, "invalid input")                        \
    XX(EYAML, -1002, "YAML error")                            \
    XX(ESSH, -1003, "SSH error")                              \
    XX(EHOSTKEY, -1004, "host key verification failed")       \
    XX(EAUTH, -1005, "authentication failed")                 \
    XX(ETIMEOUT, -1006, "timed out")                          \
    XX(EUNREACH, -1007, "unreachable")                        \
    XX(EPROTO, -1008, "agent protocol error")                 \
    XX(EDB, -1009, "state database error")                    \
    XX(ELOCKED, -1010, "state file is in use by another run") \
    XX(ENOTFOUND, -1011, "not found")                         \
    XX(ETRUNC, -1012, "output truncated")                     \
    XX(EREMOTE, -1013, "remote command failed")               \
    XX(ECANCELED, -1014, "canceled")

enum af_errno {
#define AF_ERR_ENUM(name, code, text) AF_##name = (code),
    AF_ERR_MAP(AF_ERR_ENUM)
#undef AF_ERR_ENUM
};

#define AF_ERR_MSG_LEN 256

/* Caller-owned error detail; every fallible API takes one (NULL allowed). */
struct af_err {
    int code;
    char msg[AF_ERR_MSG_LEN];
};

/*
 * Fill e (if not NULL) with code and a printf-formatted message and return
 * code, so callers can write "return af_err_set(e, AF_EINPUT, ...);".
 */
int af_err_set(struct af_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reset e to "no error". Accepts NULL. */
void af_err_clear(struct af_err *e);

/*
 * Static text for any code this project returns: AF_E* codes, -errno values
 * and libuv codes. Never returns NULL.
 */
const char *af_strerror(int code);

#endif /* AF_ERR_H */

/* SPDX-License-Identifier: MIT */
/*
 * Shared inside orchestrator/net only: how jump.c hooks its direct-tcpip
 * tunnels into a conn's driver without conn.c knowing about them.
 */
#ifndef AF_NET_INTERNAL_H
#define AF_NET_INTERNAL_H

#include <libssh/libssh.h>

#include "conn.h"

struct jump;
struct tunnel;

/*
 * Extra work a READY conn drives on every turn (a tunnel's channel). step
 * returns 1 if it made progress. fail runs once when the conn fails or is
 * closed (status < 0, msg says why): the hook must release every libssh
 * object of the session right there, and is unlinked after the call. The
 * struct is owned by whoever added it; conn never frees it.
 */
struct conn_hook {
    struct conn_hook *next;
    int (*step)(struct conn_hook *h);
    void (*fail)(struct conn_hook *h, int status, const char *msg);
};

void conn__hook_add(struct conn *c, struct conn_hook *h);
/* Unlink h (no callback runs). Safe from inside h->step. */
void conn__hook_remove(struct conn *c, struct conn_hook *h);
ssh_session conn__session(const struct conn *c);
uv_loop_t *conn__loop(const struct conn *c);
/* Drive c soon (from the loop, never from inside this call). */
void conn__kick(struct conn *c);
/*
 * Fail c with code and msg, as if its own transport had failed; the ready
 * callback runs from the loop. msg does not name c, so every node behind
 * one failed jump host gets the same text and folds into one block.
 */
void conn__abort(struct conn *c, int code, enum conn_fail cls, const char *msg);

/*
 * Open a tunnel through jump j to host:port for inner. On success returns
 * 0 with *fd (the inner session's end of a socketpair; inner owns and
 * closes it) and *t (release it with jump__tunnel_release when inner is
 * torn down). Failures later (the jump host or the channel) reach inner
 * through conn__abort.
 */
int jump__tunnel_open(struct jump *j,
                      struct conn *inner,
                      const char *host,
                      int port,
                      int *fd,
                      struct tunnel **t);
void jump__tunnel_release(struct tunnel *t);

#endif /* AF_NET_INTERNAL_H */

/* SPDX-License-Identifier: MIT */
/*
 * Shared inside orchestrator/net only: how jump.c hooks its direct-tcpip
 * tunnels into a conn's driver without conn.c knowing about them, and the
 * conn and chan structs that conn.c (state machine, drive loop, lifecycle),
 * conn-auth.c (host key, authentication) and conn-chan.c (channels, their
 * write queue and drain) share.
 */
#ifndef AF_NET_INTERNAL_H
#define AF_NET_INTERNAL_H

#include <stdint.h>
#include <sys/socket.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <uv.h>

#include "af-buf.h"
#include "af-err.h"
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

/* ---- shared by conn.c, conn-auth.c and conn-chan.c ---------------------- */

enum conn_state {
    CONN_INIT,
    CONN_RESOLVE,
    CONN_TCP,
    CONN_SSH,
    CONN_HOSTKEY,
    CONN_AUTH,
    CONN_READY,
    CONN_FAILED,
    CONN_CLOSING,
};

enum chan_state {
    CHAN_NEW,
    CHAN_OPEN,
    CHAN_EXEC,
    CHAN_RUNNING,
    CHAN_DONE,
};

struct wq {
    struct wq *next;
    size_t len;
    size_t off;
    const char *ext; /* borrowed bytes (chan_write_ref), else data[] */
    char data[];
};

struct chan {
    struct chan *next;
    struct conn *conn;
    ssh_channel ch;
    struct ssh_channel_callbacks_struct cbs;
    enum chan_state state;
    char *command;
    uint64_t deadline; /* 0 = none */
    struct wq *wq_head, *wq_tail;
    uint32_t win_seen; /* remote window when the last flush stopped */
    size_t queued;     /* bytes in wq not yet given to libssh */
    size_t drain_low;
    chan_drain_cb drain_cb;
    void *drain_data;
    int want_eof, eof_sent;
    int exit_code;
    char *exit_signal;
    int remote_closed;
    struct af_buf out, err;
    chan_data_cb data_cb;
    chan_done_cb done_cb;
    void *data;
    int status;
    char errmsg[AF_ERR_MSG_LEN];
};

struct conn {
    uv_loop_t *loop;
    enum conn_state state;
    int status;
    enum conn_fail fail;
    struct af_err err;
    char *name, *host, *user, *identity, *known_hosts, *kex;
    char *agent, *key_error;
    char *hostkey_fp; /* "SHA256:..." of the key the server presented */
    int auth_step;    /* 0 ssh-agent, 1 key file, 2 nothing left */
    int port;
    ssh_key key;
    enum conn_hostkey_policy policy;
    uint64_t t_connect, t_handshake, t_auth;
    uint64_t deadline;
    const char *phase;

    int fd;
    int fd_lent; /* libssh holds fd (seen after ssh_connect) */
    uv_poll_t poll;
    int poll_inited;
    int poll_events;
    int unref; /* conn_set_ref(c, 0): its handles keep no loop alive */
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int gai_pending;
    struct sockaddr_storage addr;
    socklen_t addrlen;

    ssh_session s;
    struct chan *chans;
    struct conn_hook *hooks; /* tunnels of jump.c when this is a jump */
    struct jump *via;        /* the jump this conn goes through, or NULL */
    struct tunnel *tun;      /* its tunnel there */
    int become, become_ok;   /* run commands through sudo -n; checked */
    conn_ready_cb ready_cb;
    int ready_reported;
    conn_close_cb close_cb;
    void *data;
    int in_drive;
    int redrive; /* a libssh callback fired or work was queued */
    int closing;
    int handles_open;
};

/* Record the failure; channels and the owner hear of it from conn_drive. */
void
conn__fail(struct conn *c, int code, enum conn_fail cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The conn's timer callback: drives it (started at 0 to drive from the loop).
 */
void conn__timer_cb(uv_timer_t *t);

/* conn-auth.c: the server's key against known_hosts; 0 ok, -1 failed. */
int conn__hostkey(struct conn *c);
/*
 * conn-auth.c: one step of public-key authentication (agent, then key
 * file). Returns SSH_AUTH_AGAIN, SSH_AUTH_SUCCESS, or anything else once
 * the conn failed.
 */
int conn__auth(struct conn *c);

/* conn-chan.c: run "sudo -n true"; the conn is ready once it succeeds. */
void conn__become_check(struct conn *c);
/* conn-chan.c: step one channel; returns 1 if it made progress. */
int conn__chan_step(struct chan *ch);
/* conn-chan.c: end a channel: report once, release the libssh channel. */
void conn__chan_finish(struct chan *ch, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void conn__chan_free(struct chan *ch);
/* conn-chan.c: fail every live channel (the session is gone). */
void conn__fail_chans(struct conn *c, int status, const char *why);
/* conn-chan.c: remove finished channels whose callbacks already ran. */
void conn__reap_chans(struct conn *c);

#endif /* AF_NET_INTERNAL_H */

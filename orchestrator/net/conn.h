/* SPDX-License-Identifier: MIT */
/*
 * One non-blocking libssh session per node, driven by the libuv loop.
 *
 * A conn resolves the address with uv_getaddrinfo (numeric addresses skip
 * the thread pool), connects its own non-blocking socket, hands it to libssh
 * (SSH_OPTIONS_FD), and then steps through the SSH handshake, host-key check
 * and public-key authentication, each phase bounded by its own uv_timer_t
 * (libssh applies no timeouts in non-blocking mode). Exactly one uv_poll_t
 * watches the socket for the socket's whole life. Once READY, the owner opens
 * exec channels on it (struct chan). Everything runs on the loop thread.
 *
 * Lifetime: conn_new/conn_start, then exactly one conn_close. The conn and its
 * channels are freed in the last uv_close callback, never synchronously, so
 * closing from inside any callback is safe.
 */
#ifndef AF_CONN_H
#define AF_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>
#include <uv.h>

#include "af-buf.h"
#include "af-err.h"

struct conn;
struct chan;
struct jump;

enum conn_hostkey_policy {
    CONN_HOSTKEY_STRICT = 0, /* unknown or changed key: the node fails */
    CONN_HOSTKEY_ACCEPT_NEW, /* record unknown keys; changed keys still fail */
};

/* Result classes a node can end in, shared by every subcommand. */
enum conn_fail {
    CONN_FAIL_NONE = 0,
    CONN_FAIL_UNREACHABLE, /* DNS, refused, reset, host key, auth */
    CONN_FAIL_TIMEOUT,     /* a connect/handshake/auth/command timer fired */
};

struct conn_opts {
    const char *name; /* node name, used in messages */
    const char *host; /* address to connect to */
    int port;
    const char *user;
    ssh_key key;             /* borrowed private key (see conn_key_load),
                                or NULL when it could not be loaded */
    const char *identity;    /* path of that key, for messages */
    const char *key_error;   /* why key is NULL, for messages, or NULL */
    const char *agent;       /* ssh-agent socket tried first, or NULL */
    const char *known_hosts; /* file checked (and extended by accept-new) */
    enum conn_hostkey_policy hostkey_policy;
    uint64_t connect_timeout_ms;   /* TCP connect */
    uint64_t handshake_timeout_ms; /* banner + key exchange + host key */
    uint64_t auth_timeout_ms;
    const char *kex;  /* NULL = libssh default */
    struct jump *via; /* reach host through this jump (jump.h), or NULL */
    int become;       /* 1: every command runs through `sudo -n`; a node
                         where sudo wants a password fails at READY */
};

/*
 * Called once per conn: status 0 when the session is authenticated and
 * channels may be opened, or a negative AF_E* code when it failed (detail in
 * conn_error()). After a failure the owner must still call conn_close.
 */
typedef void (*conn_ready_cb)(struct conn *c, int status);
typedef void (*conn_close_cb)(struct conn *c);

/*
 * Called with bytes as they arrive on a channel's stdout (stream 0) or
 * stderr (stream 1). The bytes are borrowed for the call.
 */
typedef void (*chan_data_cb)(struct chan *ch,
                             int stream,
                             const char *p,
                             size_t n);
/*
 * Called once when a channel ends: status 0 when the remote command ended
 * (see chan_exit_code), or a negative AF_E* code (AF_ETIMEOUT when the
 * command timer fired, or the session failed). The chan stays valid until
 * the callback returns; the conn frees it later.
 */
typedef void (*chan_done_cb)(struct chan *ch, int status);

/*
 * Load a private key file (no passphrase) for use in conn_opts.key. Returns
 * 0 and *out (free with ssh_key_free); AF_ENOTFOUND when the file does not
 * exist; AF_EAUTH when it is encrypted (e->msg "identity FILE is encrypted:
 * load it into ssh-agent") or cannot be read as a key.
 */
int conn_key_load(const char *path, ssh_key *out, struct af_err *e);

/* Allocate a conn; strings in o are copied. Never fails (aborts on OOM). */
struct conn *conn_new(uv_loop_t *loop,
                      const struct conn_opts *o,
                      conn_ready_cb cb,
                      void *data);

/* Start connecting. ready_cb runs later, never from inside this call. */
void conn_start(struct conn *c);

/*
 * Tear the session down and free it asynchronously; cb (may be NULL) runs
 * when the memory is about to be released. Open channels end first with
 * their done_cb(AF_ECANCELED) if they had not ended. Call exactly once.
 */
void conn_close(struct conn *c, conn_close_cb cb);

void *conn_data(const struct conn *c);
void conn_set_data(struct conn *c, void *data);
const char *conn_name(const struct conn *c);
/* The address connected to (conn_opts.host). Borrowed. */
const char *conn_host(const struct conn *c);
/* Detail of the last failure ("" if none); borrowed. */
const char *conn_error(const struct conn *c);
/*
 * ref 0: the conn's handles no longer keep uv_run alive (a session kept
 * idle for later work, see sched_job_keep); 1 (the default): they do.
 */
void conn_set_ref(struct conn *c, int ref);
/* 1 while the session is authenticated, not failed and not closing. */
int conn_up(const struct conn *c);
/*
 * The SHA-256 fingerprint ("SHA256:<base64>", as ssh-keygen -l prints it)
 * of the host key the server presented, once it passed the known_hosts
 * check; NULL before that. Borrowed; valid until the conn is freed.
 */
const char *conn_hostkey(const struct conn *c);
/* How the conn failed, for the node's result class. */
enum conn_fail conn_fail_class(const struct conn *c);

/*
 * Open an exec channel running command (a shell command line, as ssh does)
 * on a READY conn. timeout_ms 0 means no command timer. With data_cb NULL
 * the output is collected into capped buffers of out_cap bytes each (see
 * chan_stdout). Returns the channel; done_cb always runs exactly once,
 * later (also when opening fails).
 */
struct chan *chan_exec(struct conn *c,
                       const char *command,
                       uint64_t timeout_ms,
                       size_t out_cap,
                       chan_data_cb data_cb,
                       chan_done_cb done_cb,
                       void *data);

/*
 * Queue bytes for the channel's stdin (copied). Writes are flushed as the
 * remote window allows. Returns 0 or AF_EINPUT if stdin was already closed.
 */
int chan_write(struct chan *ch, const void *p, size_t n);
/*
 * Queue n bytes at p without copying them: p must stay valid and unchanged
 * until the channel's done_cb ran (the embedded agent binary).
 */
int chan_write_ref(struct chan *ch, const void *p, size_t n);
/*
 * Called from the driver when a channel's queued stdin dropped below the
 * low-water mark set with chan_set_drain; the callback may queue more
 * (chan_write). Used to stream a file without holding it in memory.
 */
typedef void (*chan_drain_cb)(struct chan *ch, void *data);
/*
 * Call cb (later, from the loop) each time fewer than low bytes wait in the
 * channel's stdin queue, until chan_set_drain(ch, 0, NULL, NULL). The queue
 * then never holds more than low plus what cb queues at once.
 */
void chan_set_drain(struct chan *ch, size_t low, chan_drain_cb cb, void *data);
/* Bytes queued for stdin and not yet handed to libssh. */
size_t chan_queued(const struct chan *ch);
/* Send EOF on stdin once the queued bytes are flushed. */
void chan_send_eof(struct chan *ch);
/* Reset the channel's command timer to timeout_ms from now (0 = none). */
void chan_set_timeout(struct chan *ch, uint64_t timeout_ms);

void *chan_data(const struct chan *ch);
struct conn *chan_conn(const struct chan *ch);
/* Exit code of the remote command, or -1 if none was reported. */
int chan_exit_code(const struct chan *ch);
/* Signal name if the remote command died of a signal, else NULL. */
const char *chan_exit_signal(const struct chan *ch);
/* Collected output (data_cb == NULL), borrowed until the chan is freed. */
const struct af_buf *chan_stdout(const struct chan *ch);
const struct af_buf *chan_stderr(const struct chan *ch);
/* Detail of a failed channel ("" if none). */
const char *chan_error(const struct chan *ch);

#endif /* AF_CONN_H */

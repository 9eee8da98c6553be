/* SPDX-License-Identifier: MIT */
/*
 * Non-blocking libssh sessions on a libuv loop (see conn.h and the libssh
 * notes in the style guide, part B). All state transitions live in
 * conn_drive(); the poll and timer callbacks only call it. This file does
 * not know what runs on the node: it moves bytes and exit codes.
 */
#define _DEFAULT_SOURCE
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <libssh/callbacks.h>

#include "af-mem.h"
#include "internal.h"
#include "khosts.h"

/* How many drive turns one poll event may take before yielding. */
#define CONN_DRIVE_CAP 64

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
    int auth_step; /* 0 ssh-agent, 1 key file, 2 nothing left */
    int port;
    ssh_key key;
    enum conn_hostkey_policy policy;
    uint64_t t_connect, t_handshake, t_auth;
    uint64_t deadline;
    const char *phase;

    int fd;
    uv_poll_t poll;
    int poll_inited;
    int poll_events;
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

static void conn_drive(struct conn *c);
static void conn_teardown(struct conn *c);
static int conn_tcp_check(struct conn *c);

/* libssh asks for a passphrase only for encrypted keys: note it, refuse. */
static int
conn_key_passphrase_cb(
    const char *prompt, char *buf, size_t len, int echo, int verify, void *ud)
{
    (void)prompt;
    (void)buf;
    (void)len;
    (void)echo;
    (void)verify;
    *(int *)ud = 1;
    return -1;
}

int
conn_key_load(const char *path, ssh_key *out, struct af_err *e)
{
    int asked = 0, rc;

    *out = NULL;
    if (access(path, F_OK) != 0)
        return af_err_set(e, AF_ENOTFOUND, "identity %s: %s", path,
                          strerror(errno));
    rc = ssh_pki_import_privkey_file(path, NULL, conn_key_passphrase_cb, &asked,
                                     out);
    if (rc == SSH_OK)
        return 0;
    *out = NULL;
    if (asked)
        return af_err_set(e, AF_EAUTH,
                          "identity %s is encrypted: load it "
                          "into ssh-agent",
                          path);
    return af_err_set(e, AF_EAUTH, "cannot load identity %s", path);
}

struct conn *
conn_new(uv_loop_t *loop,
         const struct conn_opts *o,
         conn_ready_cb cb,
         void *data)
{
    struct conn *c = af_calloc(1, sizeof(*c));

    c->loop = loop;
    c->name = af_strdup(o->name);
    c->host = af_strdup(o->host);
    c->user = af_strdup(o->user ? o->user : "root");
    c->identity = af_strdup(o->identity ? o->identity : "");
    c->known_hosts = af_strdup(o->known_hosts ? o->known_hosts : "");
    c->kex = o->kex ? af_strdup(o->kex) : NULL;
    c->port = o->port ? o->port : 22;
    c->key = o->key;
    c->via = o->via;
    c->become = o->become;
    c->agent = o->agent ? af_strdup(o->agent) : NULL;
    c->key_error = o->key_error ? af_strdup(o->key_error) : NULL;
    c->auth_step = c->agent != NULL ? 0 : 1;
    c->policy = o->hostkey_policy;
    c->t_connect = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    c->t_handshake =
        o->handshake_timeout_ms ? o->handshake_timeout_ms : c->t_connect;
    c->t_auth = o->auth_timeout_ms ? o->auth_timeout_ms : c->t_connect;
    c->fd = -1;
    c->ready_cb = cb;
    c->data = data;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 1;
    return c;
}

void *
conn_data(const struct conn *c)
{
    return c->data;
}

void
conn_set_data(struct conn *c, void *data)
{
    c->data = data;
}

const char *
conn_name(const struct conn *c)
{
    return c->name;
}

const char *
conn_error(const struct conn *c)
{
    return c->err.msg;
}

enum conn_fail
conn_fail_class(const struct conn *c)
{
    return c->fail;
}

static void
conn_fail(struct conn *c, int code, enum conn_fail cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record the failure; channels and the owner hear of it from conn_drive. */
static void
conn_fail(struct conn *c, int code, enum conn_fail cls, const char *fmt, ...)
{
    va_list ap;

    if (c->state == CONN_FAILED || c->state == CONN_CLOSING)
        return;
    c->state = CONN_FAILED;
    c->status = code;
    c->fail = cls;
    c->err.code = code;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof(c->err.msg), fmt, ap);
    va_end(ap);
}

static void
conn_set_phase(struct conn *c,
               enum conn_state st,
               uint64_t timeout,
               const char *phase)
{
    c->state = st;
    c->phase = phase;
    c->deadline = uv_now(c->loop) + timeout;
}

static void
conn_timer_cb(uv_timer_t *t)
{
    conn_drive(t->data);
}

static void
conn_poll_cb(uv_poll_t *p, int status, int events)
{
    struct conn *c = p->data;

    (void)events;
    if (status < 0) {
        /* libuv stopped the handle (it reports POLLERR as UV_EBADF). */
        c->poll_events = 0;
        if (c->state == CONN_TCP && c->fd >= 0 && conn_tcp_check(c) != 0) {
            /* conn_tcp_check recorded the real error (refused, ...) */
        } else if (c->state < CONN_READY) {
            conn_fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
                      "%s: connection to %s port %d failed", c->name, c->host,
                      c->port);
        }
    }
    conn_drive(c);
}

/* Arm the poll handle: always READABLE, WRITABLE only while needed. */
static void
conn_arm_poll(struct conn *c, int want_write)
{
    int ev = UV_READABLE | (want_write ? UV_WRITABLE : 0);

    if (!c->poll_inited || c->closing)
        return;
    if (ev == c->poll_events)
        return;
    c->poll_events = ev;
    uv_poll_start(&c->poll, ev, conn_poll_cb);
}

static void
conn_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *c = req->data;

    c->gai_pending = 0;
    if (c->closing) {
        uv_freeaddrinfo(res);
        conn_teardown(c);
        return;
    }
    if (status < 0 || res == NULL) {
        conn_fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
                  "%s: cannot resolve %s: %s", c->name, c->host,
                  uv_strerror(status));
    } else {
        memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
        c->addrlen = res->ai_addrlen;
        c->state = CONN_TCP;
        c->phase = NULL;
    }
    uv_freeaddrinfo(res);
    conn_drive(c);
}

/*
 * Through a jump host: the socket is our end of a socketpair that jump.c
 * pumps to a direct-tcpip channel, already "connected".
 */
static void
conn_start_via(struct conn *c)
{
    int fd = -1, r;

    r = jump__tunnel_open(c->via, c, c->host, c->port, &fd, &c->tun);
    if (r < 0) {
        conn_fail(c, r, CONN_FAIL_UNREACHABLE, "%s: socketpair: %s", c->name,
                  strerror(-r));
    } else {
        c->fd = fd;
        uv_poll_init(c->loop, &c->poll, fd);
        c->poll.data = c;
        c->poll_inited = 1;
        c->handles_open++;
        c->state = CONN_TCP;
    }
    uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
}

void
conn_start(struct conn *c)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&c->addr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->addr;
    char port[16];
    struct addrinfo hints;
    int r;

    /*
     * The loop's clock is cached: after blocking work (hashing a package)
     * a stale uv_now would put the connect deadline in the past.
     */
    uv_update_time(c->loop);
    conn_set_phase(c, CONN_RESOLVE, c->t_connect, "connect");
    if (c->via != NULL) {
        conn_start_via(c);
        return;
    }
    memset(&c->addr, 0, sizeof(c->addr));
    /* Numeric addresses need no resolver thread. */
    if (inet_pton(AF_INET, c->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)c->port);
        c->addrlen = sizeof(*sin);
        c->state = CONN_TCP;
        uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
        return;
    }
    if (inet_pton(AF_INET6, c->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)c->port);
        c->addrlen = sizeof(*sin6);
        c->state = CONN_TCP;
        uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", c->port);
    c->gai.data = c;
    r = uv_getaddrinfo(c->loop, &c->gai, conn_gai_cb, c->host, port, &hints);
    if (r < 0) {
        conn_fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
                  "%s: cannot resolve %s: %s", c->name, c->host,
                  uv_strerror(r));
        uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
        return;
    }
    c->gai_pending = 1;
    uv_timer_start(&c->timer, conn_timer_cb, c->t_connect, 0);
}

/* Create the socket and start a non-blocking connect. */
static int
conn_tcp_start(struct conn *c)
{
    int one = 1;
    int fd = socket(c->addr.ss_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        conn_fail(c, -errno, CONN_FAIL_UNREACHABLE, "%s: socket: %s", c->name,
                  strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    if (connect(fd, (struct sockaddr *)&c->addr, c->addrlen) < 0 &&
        errno != EINPROGRESS) {
        conn_fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
                  "%s: connect to %s port %d: %s", c->name, c->host, c->port,
                  strerror(errno));
        return -1;
    }
    uv_poll_init(c->loop, &c->poll, fd);
    c->poll.data = c;
    c->poll_inited = 1;
    c->handles_open++;
    c->poll_events = UV_WRITABLE;
    uv_poll_start(&c->poll, UV_WRITABLE, conn_poll_cb);
    return 0;
}

/* 1 when the connect finished, 0 if still pending, -1 on failure. */
static int
conn_tcp_check(struct conn *c)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr != 0) {
        conn_fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
                  "%s: connect to %s port %d: %s", c->name, c->host, c->port,
                  strerror(soerr));
        return -1;
    }
    if (getpeername(c->fd, (struct sockaddr *)&peer, &plen) < 0)
        return errno == ENOTCONN ? 0 : -1;
    return 1;
}

#define CONN_CIPHERS_AES                             \
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com," \
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"

/* 1 if this CPU has AES instructions (AES-NI, ARMv8 crypto). */
static int
conn_cpu_has_aes(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("aes");
#elif defined(__aarch64__)
    return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#else
    return 0;
#endif
}

static int
conn_ssh_setup(struct conn *c)
{
    int no = 0;
    long t = 0;

    c->s = ssh_new();
    if (c->s == NULL) {
        conn_fail(c, AF_ESSH, CONN_FAIL_UNREACHABLE, "%s: ssh_new failed",
                  c->name);
        return -1;
    }
    /* Every option comes from the inventory: no ~/.ssh/config surprises. */
    ssh_options_set(c->s, SSH_OPTIONS_PROCESS_CONFIG, &no);
    ssh_options_set(c->s, SSH_OPTIONS_HOST, c->host);
    ssh_options_set(c->s, SSH_OPTIONS_PORT, &c->port);
    ssh_options_set(c->s, SSH_OPTIONS_USER, c->user);
    ssh_options_set(c->s, SSH_OPTIONS_KNOWNHOSTS, c->known_hosts);
    ssh_options_set(c->s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
    ssh_options_set(c->s, SSH_OPTIONS_TIMEOUT, &t);
    /* -v sets libssh's process-wide level; sessions take it over. */
    if (ssh_get_log_level() > 0) {
        int v = ssh_get_log_level();

        ssh_options_set(c->s, SSH_OPTIONS_LOG_VERBOSITY, &v);
    }
    if (c->kex != NULL &&
        ssh_options_set(c->s, SSH_OPTIONS_KEY_EXCHANGE, c->kex) < 0) {
        conn_fail(c, AF_EINPUT, CONN_FAIL_UNREACHABLE,
                  "%s: unsupported key exchange '%s'", c->name, c->kex);
        return -1;
    }
    if (conn_cpu_has_aes()) {
        /*
         * Packages are gigabytes: with AES instructions AES-GCM costs both
         * ends a fraction of chacha20-poly1305, which libssh and OpenSSH
         * put first for CPUs without them. Same algorithms, other order.
         */
        ssh_options_set(c->s, SSH_OPTIONS_CIPHERS_C_S, CONN_CIPHERS_AES);
        ssh_options_set(c->s, SSH_OPTIONS_CIPHERS_S_C, CONN_CIPHERS_AES);
    }
    if (c->agent != NULL)
        ssh_options_set(c->s, SSH_OPTIONS_IDENTITY_AGENT, c->agent);
    ssh_options_set(c->s, SSH_OPTIONS_FD, &c->fd);
    ssh_set_blocking(c->s, 0);
    return 0;
}

static char *
conn_fingerprint(struct conn *c)
{
    ssh_key srv = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL, *ret;

    if (ssh_get_server_publickey(c->s, &srv) != SSH_OK)
        return af_strdup("(unknown)");
    if (ssh_get_publickey_hash(srv, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) ==
        0)
        fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    ret = af_asprintf("%s %s", ssh_key_type_to_char(ssh_key_type(srv)),
                      fp ? fp : "(unknown)");
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(srv);
    return ret;
}

/* 1 if the server's key is marked @revoked in known_hosts. */
static int
conn_hostkey_revoked(struct conn *c)
{
    ssh_key srv = NULL;
    int r;

    if (ssh_get_server_publickey(c->s, &srv) != SSH_OK)
        return 0;
    r = khosts_revoked(c->known_hosts, srv);
    ssh_key_free(srv);
    return r;
}

/* Check the server's key against known_hosts; 0 ok, -1 failed. */
static int
conn_hostkey(struct conn *c)
{
    enum ssh_known_hosts_e k;
    char *fp;

    /* libssh ignores @revoked: refused here first, in every mode. */
    if (conn_hostkey_revoked(c)) {
        fp = conn_fingerprint(c);
        conn_fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                  "%s: host key for %s (%s) is REVOKED in %s; refusing to "
                  "connect",
                  c->name, c->host, fp, c->known_hosts);
        free(fp);
        return -1;
    }
    k = ssh_session_is_known_server(c->s);
    if (k == SSH_KNOWN_HOSTS_OK)
        return 0;
    fp = conn_fingerprint(c);
    switch (k) {
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
        conn_fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                  "%s: host key for %s has CHANGED (now %s); refusing to "
                  "connect: if this is expected, remove the old key from %s",
                  c->name, c->host, fp, c->known_hosts);
        break;
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        if (c->policy == CONN_HOSTKEY_ACCEPT_NEW) {
            if (ssh_session_update_known_hosts(c->s) == SSH_OK) {
                free(fp);
                return 0;
            }
            conn_fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                      "%s: cannot record host key in %s: %s", c->name,
                      c->known_hosts, ssh_get_error(c->s));
            break;
        }
        conn_fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                  "%s: unknown host key for %s (%s) not in %s; add it, or "
                  "run with --host-keys accept-new",
                  c->name, c->host, fp, c->known_hosts);
        break;
    default:
        conn_fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                  "%s: cannot check host key against %s: %s", c->name,
                  c->known_hosts, ssh_get_error(c->s));
        break;
    }
    free(fp);
    return -1;
}

/* Why no key got in, once every method was tried. */
static void
conn_auth_denied(struct conn *c)
{
    if (c->agent != NULL && c->key == NULL)
        conn_fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE,
                  "%s: no key from ssh-agent accepted for user %s, and %s",
                  c->name, c->user,
                  c->key_error ? c->key_error : "no identity file");
    else if (c->agent != NULL)
        conn_fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE,
                  "%s: no key accepted for user %s (ssh-agent, then %s)",
                  c->name, c->user, c->identity);
    else if (c->key == NULL)
        conn_fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE, "%s: %s", c->name,
                  c->key_error ? c->key_error : "no identity");
    else
        conn_fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE,
                  "%s: public key %s denied for user %s", c->name, c->identity,
                  c->user);
}

/*
 * Public-key authentication as ssh orders it: the agent's keys first, then
 * the identity file. Returns SSH_AUTH_AGAIN, SSH_AUTH_SUCCESS, or anything
 * else once the conn failed. The agent socket itself is blocking local I/O
 * in libssh (style guide B2-12); the exchange with the node is not.
 */
static int
conn_auth(struct conn *c)
{
    int rc;

    if (c->auth_step == 0) {
        rc = ssh_userauth_agent(c->s, NULL);
        if (rc == SSH_AUTH_AGAIN || rc == SSH_AUTH_SUCCESS)
            return rc;
        /* Denied, or the agent is unreachable: go on to the key file. */
        c->auth_step = 1;
    }
    if (c->auth_step == 1 && c->key != NULL) {
        rc = ssh_userauth_publickey(c->s, NULL, c->key);
        if (rc == SSH_AUTH_AGAIN || rc == SSH_AUTH_SUCCESS)
            return rc;
        if (rc == SSH_AUTH_ERROR) {
            conn_fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE,
                      "%s: authentication error: %s", c->name,
                      ssh_get_error(c->s));
            return rc;
        }
    }
    c->auth_step = 2;
    conn_auth_denied(c);
    return SSH_AUTH_DENIED;
}

/* ---- channels ---------------------------------------------------------- */

/*
 * Data reaches us from inside whatever libssh call processed its packet,
 * so no byte can wait in a libssh buffer without a socket event to follow
 * (style guide B2-8). Only queue work here: never call libssh.
 */
static int
chan_data_ssh_cb(
    ssh_session s, ssh_channel ch, void *p, uint32_t n, int is_stderr, void *ud)
{
    struct chan *c = ud;

    (void)s;
    (void)ch;
    c->conn->redrive = 1;
    if (c->state == CHAN_DONE)
        return (int)n;
    if (c->data_cb != NULL)
        c->data_cb(c, is_stderr ? 1 : 0, p, n);
    else
        af_buf_append(is_stderr ? &c->err : &c->out, p, n);
    return (int)n;
}

static void
chan_exit_status_cb(ssh_session s, ssh_channel ch, int code, void *ud)
{
    struct chan *c = ud;

    (void)s;
    (void)ch;
    c->exit_code = code;
    c->conn->redrive = 1;
}

static void
chan_exit_signal_cb(ssh_session s,
                    ssh_channel ch,
                    const char *sig,
                    int core,
                    const char *msg,
                    const char *lang,
                    void *ud)
{
    struct chan *c = ud;

    (void)s;
    (void)ch;
    (void)core;
    (void)msg;
    (void)lang;
    free(c->exit_signal);
    c->exit_signal = af_strdup(sig ? sig : "?");
    c->conn->redrive = 1;
}

static void
chan_close_cb(ssh_session s, ssh_channel ch, void *ud)
{
    struct chan *c = ud;

    (void)s;
    (void)ch;
    c->remote_closed = 1;
    c->conn->redrive = 1;
}

static struct chan *chan_exec_raw(struct conn *c,
                                  const char *command,
                                  uint64_t timeout_ms,
                                  size_t out_cap,
                                  chan_data_cb data_cb,
                                  chan_done_cb done_cb,
                                  void *data);

/* "sudo -n -- sh -c 'command'", the command single-quoted for sh. */
static char *
conn_become_wrap(const char *command)
{
    struct af_buf b;
    const char *p;

    af_buf_init(&b, 0);
    af_buf_puts(&b, "sudo -n -- sh -c '");
    for (p = command; *p; p++) {
        if (*p == '\'')
            af_buf_puts(&b, "'\\''");
        else
            af_buf_append(&b, p, 1);
    }
    af_buf_puts(&b, "'");
    return af_buf_steal(&b);
}

static void
conn_become_done(struct chan *ch, int status)
{
    struct conn *c = chan_data(ch);
    const struct af_buf *err = chan_stderr(ch);
    size_t n = err->len;

    if (status == 0 && chan_exit_code(ch) == 0) {
        c->become_ok = 1;
        if (!c->ready_reported) {
            c->ready_reported = 1;
            c->ready_cb(c, 0);
        }
        return;
    }
    while (n > 0 && (err->data[n - 1] == '\n' || err->data[n - 1] == '\r'))
        n--;
    conn_fail(c, status == AF_ETIMEOUT ? AF_ETIMEOUT : AF_EAUTH,
              status == AF_ETIMEOUT ? CONN_FAIL_TIMEOUT : CONN_FAIL_UNREACHABLE,
              "%s: become sudo failed for user %s: %.*s", c->name, c->user,
              (int)n, n > 0 ? err->data : "sudo -n true did not succeed");
}

/*
 * With become, one `sudo -n true` before the owner hears READY: a node
 * where sudo wants a password fails here, at once, saying so (sudo -n
 * never prompts).
 */
static void
conn_become_check(struct conn *c)
{
    chan_exec_raw(c, "sudo -n true", c->t_auth, 4096, NULL, conn_become_done,
                  c);
}

struct chan *
chan_exec(struct conn *c,
          const char *command,
          uint64_t timeout_ms,
          size_t out_cap,
          chan_data_cb data_cb,
          chan_done_cb done_cb,
          void *data)
{
    char *wrapped;
    struct chan *ch;

    if (!c->become)
        return chan_exec_raw(c, command, timeout_ms, out_cap, data_cb, done_cb,
                             data);
    wrapped = conn_become_wrap(command);
    ch = chan_exec_raw(c, wrapped, timeout_ms, out_cap, data_cb, done_cb, data);
    free(wrapped);
    return ch;
}

static struct chan *
chan_exec_raw(struct conn *c,
              const char *command,
              uint64_t timeout_ms,
              size_t out_cap,
              chan_data_cb data_cb,
              chan_done_cb done_cb,
              void *data)
{
    struct chan *ch = af_calloc(1, sizeof(*ch));
    struct chan **tail = &c->chans;

    ch->conn = c;
    ch->command = af_strdup(command);
    ch->exit_code = -1;
    ch->data_cb = data_cb;
    ch->done_cb = done_cb;
    ch->data = data;
    ch->deadline = timeout_ms ? uv_now(c->loop) + timeout_ms : 0;
    af_buf_init(&ch->out, out_cap);
    af_buf_init(&ch->err, out_cap);
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = ch;
    c->redrive = 1;
    /* Start from the loop, never from inside the caller's stack. */
    if (!c->in_drive)
        uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
    return ch;
}

static int
chan_queue(struct chan *ch, const void *p, size_t n, int borrow)
{
    struct wq *w;

    if (ch->want_eof || ch->state == CHAN_DONE)
        return AF_EINPUT;
    if (n == 0)
        return 0;
    w = af_malloc(sizeof(*w) + (borrow ? 0 : n));
    w->next = NULL;
    w->len = n;
    w->off = 0;
    w->ext = borrow ? p : NULL;
    if (!borrow)
        memcpy(w->data, p, n);
    if (ch->wq_tail)
        ch->wq_tail->next = w;
    else
        ch->wq_head = w;
    ch->wq_tail = w;
    ch->queued += n;
    ch->conn->redrive = 1;
    if (!ch->conn->in_drive)
        uv_timer_start(&ch->conn->timer, conn_timer_cb, 0, 0);
    return 0;
}

int
chan_write(struct chan *ch, const void *p, size_t n)
{
    return chan_queue(ch, p, n, 0);
}

int
chan_write_ref(struct chan *ch, const void *p, size_t n)
{
    return chan_queue(ch, p, n, 1);
}

void
chan_set_drain(struct chan *ch, size_t low, chan_drain_cb cb, void *data)
{
    ch->drain_low = cb != NULL ? low : 0;
    ch->drain_cb = cb;
    ch->drain_data = data;
    ch->conn->redrive = 1;
    if (!ch->conn->in_drive)
        uv_timer_start(&ch->conn->timer, conn_timer_cb, 0, 0);
}

size_t
chan_queued(const struct chan *ch)
{
    return ch->queued;
}

void
chan_send_eof(struct chan *ch)
{
    ch->want_eof = 1;
    ch->conn->redrive = 1;
    if (!ch->conn->in_drive)
        uv_timer_start(&ch->conn->timer, conn_timer_cb, 0, 0);
}

void
chan_set_timeout(struct chan *ch, uint64_t timeout_ms)
{
    ch->deadline = timeout_ms ? uv_now(ch->conn->loop) + timeout_ms : 0;
    if (!ch->conn->in_drive)
        uv_timer_start(&ch->conn->timer, conn_timer_cb, 0, 0);
}

void *
chan_data(const struct chan *ch)
{
    return ch->data;
}

struct conn *
chan_conn(const struct chan *ch)
{
    return ch->conn;
}

int
chan_exit_code(const struct chan *ch)
{
    return ch->exit_code;
}

const char *
chan_exit_signal(const struct chan *ch)
{
    return ch->exit_signal;
}

const struct af_buf *
chan_stdout(const struct chan *ch)
{
    return &ch->out;
}

const struct af_buf *
chan_stderr(const struct chan *ch)
{
    return &ch->err;
}

const char *
chan_error(const struct chan *ch)
{
    return ch->errmsg;
}

static void
wq_free(struct chan *ch)
{
    struct wq *w = ch->wq_head, *next;

    for (; w != NULL; w = next) {
        next = w->next;
        free(w);
    }
    ch->wq_head = ch->wq_tail = NULL;
    ch->queued = 0;
}

/* End a channel: report once, release the libssh channel. */
static void chan_finish(struct chan *ch, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
chan_finish(struct chan *ch, int status, const char *fmt, ...)
{
    va_list ap;

    if (ch->state == CHAN_DONE)
        return;
    ch->state = CHAN_DONE;
    ch->status = status;
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(ch->errmsg, sizeof(ch->errmsg), fmt, ap);
        va_end(ap);
    }
    if (ch->ch != NULL) {
        /* ssh_channel_free sends CHANNEL_CLOSE if needed; non-blocking. */
        ssh_remove_channel_callbacks(ch->ch, &ch->cbs);
        ssh_channel_free(ch->ch);
        ch->ch = NULL;
    }
    wq_free(ch);
    if (ch->done_cb != NULL)
        ch->done_cb(ch, status);
}

static void
chan_free(struct chan *ch)
{
    free(ch->command);
    free(ch->exit_signal);
    af_buf_free(&ch->out);
    af_buf_free(&ch->err);
    wq_free(ch);
    free(ch);
}

/* Flush queued stdin; returns 1 if bytes moved, 0 if none, -1 on error. */
static int
chan_flush(struct chan *ch)
{
    int moved = 0;

    while (ch->wq_head != NULL) {
        struct wq *w = ch->wq_head;
        size_t left = w->len - w->off;
        uint32_t win = ssh_channel_window_size(ch->ch);
        size_t chunk = left;
        int n;

        if (win == 0)
            break;
        if (chunk > win)
            chunk = win;
        if (chunk > 32768)
            chunk = 32768;
        n = ssh_channel_write(ch->ch, (w->ext ? w->ext : w->data) + w->off,
                              (uint32_t)chunk);
        if (n == SSH_ERROR)
            return -1;
        if (n == 0)
            break;
        moved = 1;
        w->off += (size_t)n;
        ch->queued -= (size_t)n;
        if (w->off == w->len) {
            ch->wq_head = w->next;
            if (ch->wq_head == NULL)
                ch->wq_tail = NULL;
            free(w);
        }
    }
    ch->win_seen = ssh_channel_window_size(ch->ch);
    if (ch->wq_head == NULL && ch->want_eof && !ch->eof_sent) {
        if (ssh_channel_send_eof(ch->ch) == SSH_ERROR)
            return -1;
        ch->eof_sent = 1;
        moved = 1;
    }
    return moved;
}

/* Step one channel; returns 1 if it made progress. */
static int
chan_step(struct chan *ch)
{
    struct conn *c = ch->conn;
    int rc, progress = 0, r;

    switch (ch->state) {
    case CHAN_NEW:
        ch->ch = ssh_channel_new(c->s);
        if (ch->ch == NULL) {
            chan_finish(ch, AF_ESSH, "%s: cannot create channel: %s", c->name,
                        ssh_get_error(c->s));
            return 1;
        }
        memset(&ch->cbs, 0, sizeof(ch->cbs));
        ch->cbs.userdata = ch;
        ch->cbs.channel_exit_status_function = chan_exit_status_cb;
        ch->cbs.channel_exit_signal_function = chan_exit_signal_cb;
        ch->cbs.channel_close_function = chan_close_cb;
        ch->cbs.channel_data_function = chan_data_ssh_cb;
        ssh_callbacks_init(&ch->cbs);
        ssh_set_channel_callbacks(ch->ch, &ch->cbs);
        ch->state = CHAN_OPEN;
        /* fall through */
    case CHAN_OPEN:
        rc = ssh_channel_open_session(ch->ch);
        if (rc == SSH_AGAIN)
            return 0;
        if (rc != SSH_OK) {
            chan_finish(ch, AF_ESSH, "%s: cannot open channel: %s", c->name,
                        ssh_get_error(c->s));
            return 1;
        }
        ch->state = CHAN_EXEC;
        /* fall through */
    case CHAN_EXEC:
        rc = ssh_channel_request_exec(ch->ch, ch->command);
        if (rc == SSH_AGAIN)
            return 0;
        if (rc != SSH_OK) {
            chan_finish(ch, AF_ESSH, "%s: exec request refused: %s", c->name,
                        ssh_get_error(c->s));
            return 1;
        }
        ch->state = CHAN_RUNNING;
        progress = 1;
        /* fall through */
    case CHAN_RUNNING:
        r = chan_flush(ch);
        if (r < 0) {
            chan_finish(ch, AF_ESSH, "%s: write failed: %s", c->name,
                        ssh_get_error(c->s));
            return 1;
        }
        progress |= r;
        if (ch->drain_cb != NULL && ch->queued < ch->drain_low &&
            !ch->want_eof) {
            size_t before = ch->queued;

            ch->drain_cb(ch, ch->drain_data);
            if (ch->state == CHAN_DONE)
                return 1;
            if (ch->queued > before)
                progress = 1;
        }
        /*
         * Let libssh process what the socket holds; data arrives through
         * chan_data_ssh_cb. ssh_channel_poll only does so before EOF.
         */
        if (!ssh_channel_is_eof(ch->ch) &&
            ssh_channel_poll(ch->ch, 0) == SSH_ERROR) {
            chan_finish(ch, AF_ESSH, "%s: read failed: %s", c->name,
                        ssh_get_error(c->s));
            return 1;
        }
        if (ch->state == CHAN_DONE)
            return 1;
        /*
         * After the remote's EOF, libssh's read calls stop processing
         * packets, so the exit status and CLOSE would sit unread in the
         * socket. ssh_channel_get_exit_status (non-blocking: one poll
         * round) keeps processing until one of them arrived.
         */
        if (ssh_channel_is_eof(ch->ch) && ch->exit_code < 0 &&
            ch->exit_signal == NULL && !ch->remote_closed)
            ssh_channel_get_exit_status(ch->ch);
        /* Done once the remote sent EOF and either exit status or close. */
        if (ssh_channel_is_eof(ch->ch) &&
            (ch->exit_code >= 0 || ch->exit_signal != NULL ||
             ch->remote_closed || ssh_channel_is_closed(ch->ch))) {
            chan_finish(ch, 0, NULL);
            return 1;
        }
        if (ch->remote_closed || ssh_channel_is_closed(ch->ch)) {
            chan_finish(ch, 0, NULL);
            return 1;
        }
        return progress;
    case CHAN_DONE:
        return 0;
    }
    return 0;
}

/* ---- hooks (jump.c tunnels on a jump session) -------------------------- */

void
conn__hook_add(struct conn *c, struct conn_hook *h)
{
    h->next = c->hooks;
    c->hooks = h;
}

void
conn__hook_remove(struct conn *c, struct conn_hook *h)
{
    struct conn_hook **pp;

    for (pp = &c->hooks; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            return;
        }
    }
}

ssh_session
conn__session(const struct conn *c)
{
    return c->s;
}

uv_loop_t *
conn__loop(const struct conn *c)
{
    return c->loop;
}

void
conn__kick(struct conn *c)
{
    c->redrive = 1;
    if (!c->in_drive && !c->closing)
        uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
}

void
conn__abort(struct conn *c, int code, enum conn_fail cls, const char *msg)
{
    conn_fail(c, code, cls, "%s", msg);
    conn__kick(c);
}

static int
conn_hooks_step(struct conn *c)
{
    struct conn_hook *h, *next;
    int r = 0;

    for (h = c->hooks; h != NULL; h = next) {
        next = h->next;
        r |= h->step(h);
    }
    return r;
}

/* Tell every hook the session is gone, and forget them. */
static void
conn_hooks_fail(struct conn *c, int status, const char *why)
{
    struct conn_hook *h;

    while ((h = c->hooks) != NULL) {
        c->hooks = h->next;
        h->fail(h, status, why);
    }
}

/* Fail every live channel (the session is gone). */
static void
conn_fail_chans(struct conn *c, int status, const char *why)
{
    struct chan *ch;

    for (ch = c->chans; ch != NULL; ch = ch->next)
        if (ch->state != CHAN_DONE)
            chan_finish(ch, status, "%s", why);
}

/* Remove finished channels whose callbacks already ran. */
static void
conn_reap_chans(struct conn *c)
{
    struct chan **pp = &c->chans;

    while (*pp != NULL) {
        struct chan *ch = *pp;

        if (ch->state == CHAN_DONE) {
            *pp = ch->next;
            chan_free(ch);
        } else {
            pp = &ch->next;
        }
    }
}

/*
 * Third libssh trap: a WINDOW_ADJUST opens the remote window in silence.
 * libssh 0.10 handles it in channel_rcv_change_window (channels.c), which
 * only adds to remote_window: no channel callback runs
 * (channel_write_wontblock_function fires only when the socket drains, not
 * when the window opens), and the packet can be consumed by any call that
 * processes input: ssh_channel_poll, ssh_channel_get_exit_status,
 * ssh_blocking_flush, ssh_channel_write itself. When that happens after
 * the pass's flush found the window shut, the adjust is gone from the
 * socket, libssh holds no output (no SSH_WRITE_PENDING, so only READABLE
 * is armed) and the node waits for bytes we never send: the push stalls
 * forever with empty socket queues (seen as 15 of 16 nodes stopping
 * part-way through a 1 GiB push, the window open and bytes queued). So
 * after the pass, any channel with queued stdin whose window grew since
 * its flush stopped counts as progress and the drive goes round again
 * (the flush records the window it stopped at, so a write that libssh
 * refuses for another reason, e.g. during a key re-exchange, cannot spin).
 */
static int
conn_windows_opened(struct conn *c)
{
    struct chan *ch;
    int r = 0;

    for (ch = c->chans; ch != NULL; ch = ch->next)
        if (ch->state == CHAN_RUNNING && ch->wq_head != NULL &&
            ch->ch != NULL && ssh_channel_window_size(ch->ch) > ch->win_seen)
            r = 1;
    return r;
}

/* One pass over the connection state machine; 1 if progress was made. */
static int
conn_step(struct conn *c)
{
    int rc, r;
    struct chan *ch;

    switch (c->state) {
    case CONN_INIT:
    case CONN_RESOLVE:
        return 0;
    case CONN_TCP:
        if (c->fd < 0) {
            if (c->phase == NULL)
                conn_set_phase(c, CONN_TCP, c->t_connect, "connect");
            if (conn_tcp_start(c) < 0)
                return 1;
            c->state = CONN_TCP;
            return 0;
        }
        r = conn_tcp_check(c);
        if (r <= 0)
            return r < 0;
        if (conn_ssh_setup(c) < 0)
            return 1;
        conn_set_phase(c, CONN_SSH, c->t_handshake, "SSH handshake");
        /* fall through */
    case CONN_SSH:
        rc = ssh_connect(c->s);
        if (rc == SSH_AGAIN)
            return 0;
        if (rc != SSH_OK) {
            conn_fail(c, AF_ESSH, CONN_FAIL_UNREACHABLE,
                      "%s: SSH handshake with %s failed: %s", c->name, c->host,
                      ssh_get_error(c->s));
            return 1;
        }
        c->state = CONN_HOSTKEY;
        /* fall through */
    case CONN_HOSTKEY:
        if (conn_hostkey(c) < 0)
            return 1;
        conn_set_phase(c, CONN_AUTH, c->t_auth, "authentication");
        /* fall through */
    case CONN_AUTH:
        rc = conn_auth(c);
        if (rc == SSH_AUTH_AGAIN)
            return 0;
        if (rc != SSH_AUTH_SUCCESS)
            return 1;
        c->state = CONN_READY;
        c->deadline = 0;
        c->phase = NULL;
        if (c->become && !c->become_ok)
            conn_become_check(c); /* ready once sudo said yes */
        else if (!c->ready_reported) {
            c->ready_reported = 1;
            c->ready_cb(c, 0);
        }
        return 1;
    case CONN_READY:
        /*
         * Channels still opening first, running ones last (their step ends
         * by checking libssh's buffers after all other I/O of the pass),
         * then the opening ones again: any call may have processed packets
         * that belong to another channel.
         */
        r = 0;
        for (ch = c->chans; ch != NULL; ch = ch->next)
            if (ch->state != CHAN_DONE && ch->state != CHAN_RUNNING)
                r |= chan_step(ch);
        for (ch = c->chans; ch != NULL; ch = ch->next)
            if (ch->state == CHAN_RUNNING)
                r |= chan_step(ch);
        for (ch = c->chans; ch != NULL; ch = ch->next)
            if (ch->state != CHAN_DONE && ch->state != CHAN_RUNNING)
                r |= chan_step(ch);
        r |= conn_hooks_step(c);
        /*
         * Queued output (a window adjust, a CLOSE) is only written when
         * libssh processes packets; with no channel reading, flush here or
         * WRITABLE would stay armed forever.
         */
        if (ssh_get_poll_flags(c->s) & SSH_WRITE_PENDING)
            ssh_blocking_flush(c->s, 0);
        r |= conn_windows_opened(c);
        if (ssh_get_status(c->s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) {
            conn_fail(c, AF_ESSH, CONN_FAIL_UNREACHABLE,
                      "%s: connection lost: %s", c->name, ssh_get_error(c->s));
            return 1;
        }
        return r;
    case CONN_FAILED:
    case CONN_CLOSING:
        return 0;
    }
    return 0;
}

/* Check phase and command timers against now. */
static void
conn_check_timers(struct conn *c)
{
    uint64_t now = uv_now(c->loop);
    struct chan *ch;

    if (c->state < CONN_READY && c->deadline != 0 && now >= c->deadline) {
        const char *ph = c->phase ? c->phase : "connect";

        conn_fail(c, AF_ETIMEOUT, CONN_FAIL_TIMEOUT,
                  "%s: %s timed out after %.1f s", c->name, ph,
                  (double)(c->state == CONN_AUTH  ? c->t_auth
                           : c->state >= CONN_SSH ? c->t_handshake
                                                  : c->t_connect) /
                      1000.0);
    }
    if (c->state != CONN_READY)
        return;
    for (ch = c->chans; ch != NULL; ch = ch->next) {
        if (ch->state != CHAN_DONE && ch->deadline != 0 && now >= ch->deadline)
            chan_finish(ch, AF_ETIMEOUT, "%s: command timed out", c->name);
    }
}

static void
conn_rearm(struct conn *c)
{
    uint64_t next = 0, now = uv_now(c->loop);
    struct chan *ch;
    int want_write = 0;

    if (c->closing)
        return;
    if (c->state < CONN_READY && c->deadline)
        next = c->deadline;
    if (c->state == CONN_READY)
        for (ch = c->chans; ch != NULL; ch = ch->next)
            if (ch->state != CHAN_DONE && ch->deadline &&
                (next == 0 || ch->deadline < next))
                next = ch->deadline;
    if (next)
        uv_timer_start(&c->timer, conn_timer_cb, next > now ? next - now : 0,
                       0);
    else
        uv_timer_stop(&c->timer);
    if (c->state == CONN_TCP)
        want_write = 1;
    else if (c->s != NULL && c->state >= CONN_SSH && c->state <= CONN_READY)
        want_write = (ssh_get_poll_flags(c->s) & SSH_WRITE_PENDING) != 0;
    if (c->state == CONN_TCP && c->poll_inited) {
        if (c->poll_events != UV_WRITABLE) {
            c->poll_events = UV_WRITABLE;
            uv_poll_start(&c->poll, UV_WRITABLE, conn_poll_cb);
        }
        return;
    }
    conn_arm_poll(c, want_write);
}

static void
conn_drive(struct conn *c)
{
    int turns = 0, progress;

    if (c->in_drive || c->closing)
        return;
    c->in_drive = 1;
    do {
        c->redrive = 0;
        conn_check_timers(c);
        progress = conn_step(c) || c->redrive;
        if (c->state == CONN_FAILED)
            break;
    } while (progress && ++turns < CONN_DRIVE_CAP);
    if (c->state == CONN_FAILED) {
        conn_fail_chans(c, c->status, c->err.msg);
        conn_hooks_fail(c, c->status, c->err.msg);
        if (!c->ready_reported) {
            c->ready_reported = 1;
            c->ready_cb(c, c->status);
        }
    }
    c->in_drive = 0;
    if (c->closing) {
        conn_teardown(c);
        return;
    }
    conn_reap_chans(c);
    conn_rearm(c);
    /*
     * libssh may hold decoded bytes with no socket event to follow
     * (style guide B2-8): if we stopped because of the cap, come back on
     * the next loop turn rather than wait for the kernel.
     */
    if (progress && c->state != CONN_FAILED)
        uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
}

static void
conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    if (--c->handles_open > 0)
        return;
    if (c->close_cb != NULL)
        c->close_cb(c);
    free(c->name);
    free(c->host);
    free(c->user);
    free(c->identity);
    free(c->known_hosts);
    free(c->kex);
    free(c->agent);
    free(c->key_error);
    free(c);
}

/* Release libssh and the fd, then close the handles (order: B2-5). */
static void
conn_teardown(struct conn *c)
{
    struct chan *ch, *next;

    if (c->state == CONN_CLOSING && c->s == NULL && c->fd < 0 &&
        c->handles_open == 0)
        return;
    if (c->in_drive || c->gai_pending) {
        if (c->gai_pending)
            uv_cancel((uv_req_t *)&c->gai);
        return;
    }
    c->state = CONN_CLOSING;
    for (ch = c->chans; ch != NULL; ch = ch->next)
        if (ch->state != CHAN_DONE)
            chan_finish(ch, AF_ECANCELED, "%s: connection closed", c->name);
    for (ch = c->chans; ch != NULL; ch = next) {
        next = ch->next;
        chan_free(ch);
    }
    c->chans = NULL;
    conn_hooks_fail(c, AF_ECANCELED, "connection closed");
    if (c->poll_inited)
        uv_poll_stop(&c->poll);
    uv_timer_stop(&c->timer);
    if (c->s != NULL) {
        if (ssh_is_connected(c->s))
            ssh_disconnect(c->s);
        ssh_free(c->s);
        c->s = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->tun != NULL) {
        jump__tunnel_release(c->tun);
        c->tun = NULL;
    }
    if (c->poll_inited) {
        c->poll_inited = 0;
        uv_close((uv_handle_t *)&c->poll, conn_handle_closed);
    }
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

void
conn_close(struct conn *c, conn_close_cb cb)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->close_cb = cb;
    if (c->in_drive)
        return; /* conn_drive finishes the job on the way out */
    conn_teardown(c);
}

/* SPDX-License-Identifier: MIT */
/*
 * Non-blocking libssh sessions on a libuv loop (see conn.h and the libssh
 * notes in the style guide, part B). All state transitions live in
 * conn_drive(); the poll and timer callbacks only call it. This file does
 * not know what runs on the node: it moves bytes and exit codes. It holds
 * the state machine, the drive loop and the lifecycle; conn-auth.c checks
 * host keys and authenticates, conn-chan.c runs the channels (internal.h
 * has the structs they share).
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

/* How many drive turns one poll event may take before yielding. */
#define CONN_DRIVE_CAP 64

static void conn_drive(struct conn *c);
static void conn_teardown(struct conn *c);
static int conn_tcp_check(struct conn *c);
static void conn_handle_closed(uv_handle_t *h);

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
conn_host(const struct conn *c)
{
    return c->host;
}

const char *
conn_error(const struct conn *c)
{
    return c->err.msg;
}

static void
conn_apply_ref(struct conn *c, uv_handle_t *h)
{
    if (c->unref)
        uv_unref(h);
    else
        uv_ref(h);
}

void
conn_set_ref(struct conn *c, int ref)
{
    c->unref = !ref;
    if (c->closing)
        return;
    conn_apply_ref(c, (uv_handle_t *)&c->timer);
    if (c->poll_inited)
        conn_apply_ref(c, (uv_handle_t *)&c->poll);
}

int
conn_up(const struct conn *c)
{
    return c->state == CONN_READY && !c->closing;
}

enum conn_fail
conn_fail_class(const struct conn *c)
{
    return c->fail;
}

/* Record the failure; channels and the owner hear of it from conn_drive. */
void
conn__fail(struct conn *c, int code, enum conn_fail cls, const char *fmt, ...)
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

void
conn__timer_cb(uv_timer_t *t)
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
            conn__fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
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
        conn__fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
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
        conn__fail(c, r, CONN_FAIL_UNREACHABLE, "%s: socketpair: %s", c->name,
                   strerror(-r));
    } else {
        c->fd = fd;
        uv_poll_init(c->loop, &c->poll, fd);
        c->poll.data = c;
        c->poll_inited = 1;
        c->handles_open++;
        conn_apply_ref(c, (uv_handle_t *)&c->poll);
        c->state = CONN_TCP;
    }
    uv_timer_start(&c->timer, conn__timer_cb, 0, 0);
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
        uv_timer_start(&c->timer, conn__timer_cb, 0, 0);
        return;
    }
    if (inet_pton(AF_INET6, c->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)c->port);
        c->addrlen = sizeof(*sin6);
        c->state = CONN_TCP;
        uv_timer_start(&c->timer, conn__timer_cb, 0, 0);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", c->port);
    c->gai.data = c;
    r = uv_getaddrinfo(c->loop, &c->gai, conn_gai_cb, c->host, port, &hints);
    if (r < 0) {
        conn__fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
                   "%s: cannot resolve %s: %s", c->name, c->host,
                   uv_strerror(r));
        uv_timer_start(&c->timer, conn__timer_cb, 0, 0);
        return;
    }
    c->gai_pending = 1;
    uv_timer_start(&c->timer, conn__timer_cb, c->t_connect, 0);
}

/* Create the socket and start a non-blocking connect. */
static int
conn_tcp_start(struct conn *c)
{
    int one = 1;
    int fd = socket(c->addr.ss_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        conn__fail(c, -errno, CONN_FAIL_UNREACHABLE, "%s: socket: %s", c->name,
                   strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    if (connect(fd, (struct sockaddr *)&c->addr, c->addrlen) < 0 &&
        errno != EINPROGRESS) {
        conn__fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
                   "%s: connect to %s port %d: %s", c->name, c->host, c->port,
                   strerror(errno));
        return -1;
    }
    uv_poll_init(c->loop, &c->poll, fd);
    c->poll.data = c;
    c->poll_inited = 1;
    c->handles_open++;
    conn_apply_ref(c, (uv_handle_t *)&c->poll);
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
        conn__fail(c, AF_EUNREACH, CONN_FAIL_UNREACHABLE,
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
        conn__fail(c, AF_ESSH, CONN_FAIL_UNREACHABLE, "%s: ssh_new failed",
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
        conn__fail(c, AF_EINPUT, CONN_FAIL_UNREACHABLE,
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
        uv_timer_start(&c->timer, conn__timer_cb, 0, 0);
}

void
conn__abort(struct conn *c, int code, enum conn_fail cls, const char *msg)
{
    conn__fail(c, code, cls, "%s", msg);
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

/*
 * Fourth libssh trap: libssh closes the socket it was lent with
 * SSH_OPTIONS_FD on its own error paths (ssh_socket_close from the
 * connection callback when the peer resets during the handshake, and from
 * ssh_socket_nonblocking_flush on a write error; both in 0.10.6), and
 * sets its copy to SSH_INVALID_SOCKET. Our poll handle then watches a
 * closed number: the next socket() of any conn on the loop gets that
 * number, its uv_poll_init fails with UV_EEXIST (B2-6) and a later close
 * of ours would close the other conn's socket. Seen when nodes reboot
 * under open sessions (a crash in uv_poll_start of another node's
 * connect). So after every pass: once libssh held the fd and now holds
 * none, the fd is gone; forget it and close its poll handle at once,
 * before anything else on the loop can reuse the number.
 */
static void
conn_check_fd(struct conn *c)
{
    socket_t cur;

    if (c->s == NULL || c->fd < 0)
        return;
    cur = ssh_get_fd(c->s);
    if (cur == c->fd) {
        c->fd_lent = 1;
        return;
    }
    if (!c->fd_lent || cur != SSH_INVALID_SOCKET)
        return;
    c->fd = -1;
    if (c->poll_inited) {
        uv_poll_stop(&c->poll);
        c->poll_inited = 0;
        c->poll_events = 0;
        uv_close((uv_handle_t *)&c->poll, conn_handle_closed);
    }
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
            conn__fail(c, AF_ESSH, CONN_FAIL_UNREACHABLE,
                       "%s: SSH handshake with %s failed: %s", c->name, c->host,
                       ssh_get_error(c->s));
            return 1;
        }
        c->state = CONN_HOSTKEY;
        /* fall through */
    case CONN_HOSTKEY:
        if (conn__hostkey(c) < 0)
            return 1;
        conn_set_phase(c, CONN_AUTH, c->t_auth, "authentication");
        /* fall through */
    case CONN_AUTH:
        rc = conn__auth(c);
        if (rc == SSH_AUTH_AGAIN)
            return 0;
        if (rc != SSH_AUTH_SUCCESS)
            return 1;
        c->state = CONN_READY;
        c->deadline = 0;
        c->phase = NULL;
        if (c->become && !c->become_ok)
            conn__become_check(c); /* ready once sudo said yes */
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
                r |= conn__chan_step(ch);
        for (ch = c->chans; ch != NULL; ch = ch->next)
            if (ch->state == CHAN_RUNNING)
                r |= conn__chan_step(ch);
        for (ch = c->chans; ch != NULL; ch = ch->next)
            if (ch->state != CHAN_DONE && ch->state != CHAN_RUNNING)
                r |= conn__chan_step(ch);
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
            conn__fail(c, AF_ESSH, CONN_FAIL_UNREACHABLE,
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

        conn__fail(c, AF_ETIMEOUT, CONN_FAIL_TIMEOUT,
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
            conn__chan_finish(ch, AF_ETIMEOUT, "%s: command timed out",
                              c->name);
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
        uv_timer_start(&c->timer, conn__timer_cb, next > now ? next - now : 0,
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
        conn_check_fd(c);
        if (c->state == CONN_FAILED)
            break;
    } while (progress && ++turns < CONN_DRIVE_CAP);
    if (c->state == CONN_FAILED) {
        conn__fail_chans(c, c->status, c->err.msg);
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
    conn__reap_chans(c);
    conn_rearm(c);
    /*
     * libssh may hold decoded bytes with no socket event to follow
     * (style guide B2-8): if we stopped because of the cap, come back on
     * the next loop turn rather than wait for the kernel.
     */
    if (progress && c->state != CONN_FAILED)
        uv_timer_start(&c->timer, conn__timer_cb, 0, 0);
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
    free(c->hostkey_fp);
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
            conn__chan_finish(ch, AF_ECANCELED, "%s: connection closed",
                              c->name);
    for (ch = c->chans; ch != NULL; ch = next) {
        next = ch->next;
        conn__chan_free(ch);
    }
    c->chans = NULL;
    conn_hooks_fail(c, AF_ECANCELED, "connection closed");
    if (c->poll_inited)
        uv_poll_stop(&c->poll);
    uv_timer_stop(&c->timer);
    if (c->s != NULL) {
        if (ssh_is_connected(c->s))
            ssh_disconnect(c->s);
        /* ssh_free closes a socket libssh still holds: not twice. */
        if (c->fd >= 0 && ssh_get_fd(c->s) == c->fd)
            c->fd = -1;
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

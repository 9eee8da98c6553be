/* SPDX-License-Identifier: MIT */
/*
 * A conn's channels: exec (through sudo when asked), the stdin write queue
 * and its drain callback, and the per-channel step conn_drive() runs.
 */
#define _DEFAULT_SOURCE
#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/callbacks.h>

#include "af-mem.h"
#include "internal.h"

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
    conn__fail(c, status == AF_ETIMEOUT ? AF_ETIMEOUT : AF_EAUTH,
               status == AF_ETIMEOUT ? CONN_FAIL_TIMEOUT
                                     : CONN_FAIL_UNREACHABLE,
               "%s: become sudo failed for user %s: %.*s", c->name, c->user,
               (int)n, n > 0 ? err->data : "sudo -n true did not succeed");
}

/*
 * With become, one `sudo -n true` before the owner hears READY: a node
 * where sudo wants a password fails here, at once, saying so (sudo -n
 * never prompts).
 */
void
conn__become_check(struct conn *c)
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
        uv_timer_start(&c->timer, conn__timer_cb, 0, 0);
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
        uv_timer_start(&ch->conn->timer, conn__timer_cb, 0, 0);
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
        uv_timer_start(&ch->conn->timer, conn__timer_cb, 0, 0);
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
        uv_timer_start(&ch->conn->timer, conn__timer_cb, 0, 0);
}

void
chan_set_timeout(struct chan *ch, uint64_t timeout_ms)
{
    ch->deadline = timeout_ms ? uv_now(ch->conn->loop) + timeout_ms : 0;
    if (!ch->conn->in_drive)
        uv_timer_start(&ch->conn->timer, conn__timer_cb, 0, 0);
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
void
conn__chan_finish(struct chan *ch, int status, const char *fmt, ...)
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

void
conn__chan_free(struct chan *ch)
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
int
conn__chan_step(struct chan *ch)
{
    struct conn *c = ch->conn;
    int rc, progress = 0, r;

    switch (ch->state) {
    case CHAN_NEW:
        ch->ch = ssh_channel_new(c->s);
        if (ch->ch == NULL) {
            conn__chan_finish(ch, AF_ESSH, "%s: cannot create channel: %s",
                              c->name, ssh_get_error(c->s));
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
            conn__chan_finish(ch, AF_ESSH, "%s: cannot open channel: %s",
                              c->name, ssh_get_error(c->s));
            return 1;
        }
        ch->state = CHAN_EXEC;
        /* fall through */
    case CHAN_EXEC:
        rc = ssh_channel_request_exec(ch->ch, ch->command);
        if (rc == SSH_AGAIN)
            return 0;
        if (rc != SSH_OK) {
            conn__chan_finish(ch, AF_ESSH, "%s: exec request refused: %s",
                              c->name, ssh_get_error(c->s));
            return 1;
        }
        ch->state = CHAN_RUNNING;
        progress = 1;
        /* fall through */
    case CHAN_RUNNING:
        r = chan_flush(ch);
        if (r < 0) {
            conn__chan_finish(ch, AF_ESSH, "%s: write failed: %s", c->name,
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
            conn__chan_finish(ch, AF_ESSH, "%s: read failed: %s", c->name,
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
            conn__chan_finish(ch, 0, NULL);
            return 1;
        }
        if (ch->remote_closed || ssh_channel_is_closed(ch->ch)) {
            conn__chan_finish(ch, 0, NULL);
            return 1;
        }
        return progress;
    case CHAN_DONE:
        return 0;
    }
    return 0;
}

/* Fail every live channel (the session is gone). */
void
conn__fail_chans(struct conn *c, int status, const char *why)
{
    struct chan *ch;

    for (ch = c->chans; ch != NULL; ch = ch->next)
        if (ch->state != CHAN_DONE)
            conn__chan_finish(ch, status, "%s", why);
}

/* Remove finished channels whose callbacks already ran. */
void
conn__reap_chans(struct conn *c)
{
    struct chan **pp = &c->chans;

    while (*pp != NULL) {
        struct chan *ch = *pp;

        if (ch->state == CHAN_DONE) {
            *pp = ch->next;
            conn__chan_free(ch);
        } else {
            pp = &ch->next;
        }
    }
}

/* SPDX-License-Identifier: MIT */
/*
 * Agent client: probe, push, serve (see agc.h). The parser reads the serve
 * channel's stdout as a stream: one greeting line, then for each request a
 * header line "AFP ok|err LEN" and LEN body bytes. Anything else is a
 * protocol error for that node, never data.
 */
#include "agc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-facts.h"
#include "af-mem.h"
#include "af-sha256.h"
#include "conn.h"

#ifdef AF_HAVE_AGENT
#include "ag-blob.h"
#endif

#define AGC_STR_(x) #x
#define AGC_STR(x)  AGC_STR_(x)
/* Streamed payloads: refill below this many queued bytes, this much a go. */
#define AGC_STREAM_LOW       (512 * 1024)
#define AGC_STREAM_CHUNK     (128 * 1024)
#define AGC_STDERR_CAP       4096
#define AGC_PROBE_TIMEOUT_MS 30000
#define AGC_PUSH_TIMEOUT_MS  120000
/* SHA-256 of stdin in hex, on the node. */
/* Shell function: hs FILE prints the SHA-256 of FILE in hex, on the node. */
#define AGC_SHA_FN "hs() { sha256sum < \"$1\" 2>/dev/null | cut -c1-64; }; "
/* find tests: owned by neither root nor $u, or group/other-writable. */
#define AGC_UNSAFE_ANY \
    "\\( ! -user 0 ! -user \"$u\" \\) -o -perm -020 -o -perm -002"
#define AGC_UNSAFE "\\( " AGC_UNSAFE_ANY " \\) -print"
/* Output of login scripts (banners) tolerated before the greeting. */
#define AGC_NOISE_MAX (64 * 1024)
#define AGC_NOISE_MSG                                                        \
    "%s: agent did not greet (more than %d KiB of other output first, from " \
    "the login scripts?)"

enum agc_state {
    AGC_PROBE,
    AGC_PUSH,
    AGC_SERVE_START,
    AGC_READY,
    AGC_FAILED,
};

struct agc_req {
    struct agc_req *next;
    char *line;
    size_t linelen;
    const void *payload; /* borrowed until the response callback */
    size_t plen;
    agc_fill_cb fill;     /* streamed payload (plen is then 0) */
    uint64_t stream_left; /* streamed bytes still to send */
    agc_sink_cb sink;     /* receives a data frame before the answer */
    uint64_t sink_max;    /* largest frame accepted */
    int framed;           /* its data frame has come */
    int frames;           /* any number of data frames may come */
    uint64_t timeout_ms;
    agc_resp_cb cb;
    void *data;
    char verb[16]; /* first word, for messages and response checks */
};

struct agc_blob {
    const char *arch;
    const unsigned char *data;
    size_t size;
    char sha[65];
};

struct agc {
    struct conn *conn;
    struct chan *ch;
    enum agc_state state;
    agc_ready_cb ready_cb;
    void *data;
    int pushed;
    char arch[32];
    struct af_err err;
    struct agc_blob blobs[2];
    size_t nblobs;
    const struct agc_blob *want;

    /* stream parser */
    struct af_buf in;
    int greeted;
    int need_push;
    size_t noise;    /* bytes of login-script output before the greeting */
    size_t body_len; /* expected body length, while in a body */
    int in_body;
    int body_ok;
    int in_frame;              /* in a data frame of the oldest request */
    uint64_t frame_size;       /* its announced size */
    uint64_t frame_left;       /* its bytes still to come */
    struct agc_req *streaming; /* sent, payload still flowing */
    char *chunk;               /* refill buffer of a stream */
    struct af_buf err_out;

    struct agc_req *q_head, *q_tail;       /* waiting to be sent */
    struct agc_req *sent_head, *sent_tail; /* sent, awaiting answer */
};

static void agc_serve_start(struct agc *a);

void *
agc_data(const struct agc *a)
{
    return a->data;
}

struct conn *
agc_conn(const struct agc *a)
{
    return a->conn;
}

int
agc_pushed(const struct agc *a)
{
    return a->pushed;
}

const char *
agc_arch(const struct agc *a)
{
    return a->arch;
}

int
agc_serving(const struct agc *a)
{
    return a->state == AGC_READY;
}

const char *
agc_error(const struct agc *a)
{
    return a->err.msg;
}

struct agc *
agc_new(struct conn *c, agc_ready_cb cb, void *data)
{
    struct agc *a = af_calloc(1, sizeof(*a));
#ifdef AF_HAVE_AGENT
    static const char *const arches[] = {"x86_64", "aarch64"};
    size_t i;
#endif

    a->conn = c;
    a->ready_cb = cb;
    a->data = data;
    af_buf_init(&a->in, AF_PROTO_MAX_BODY + AF_PROTO_MAX_LINE);
    af_buf_init(&a->err_out, AGC_STDERR_CAP);
#ifdef AF_HAVE_AGENT
    for (i = 0; i < 2; i++) {
        const struct ag_blob *b = ag_blob_find(arches[i]);

        if (b == NULL)
            continue;
        a->blobs[a->nblobs].arch = b->arch;
        a->blobs[a->nblobs].data = b->data;
        a->blobs[a->nblobs].size = b->size;
        af_sha256_hex(b->data, b->size, a->blobs[a->nblobs].sha);
        a->nblobs++;
    }
#endif
    return a;
}

static void
agc_req_free(struct agc_req *r)
{
    free(r->line);
    free(r);
}

/* Complete every request of a list with code and an empty body. */
static void
agc_complete_all(struct agc *a, struct agc_req *list, int code)
{
    struct agc_req *r, *next;
    struct af_kv empty;

    af_kv_init(&empty);
    for (r = list; r; r = next) {
        next = r->next;
        r->cb(a, code, &empty, r->data);
        agc_req_free(r);
    }
}

/* Take both request lists (answered first: they were sent first). */
static struct agc_req *
agc_take_all(struct agc *a)
{
    struct agc_req *all = a->sent_head;

    if (a->sent_tail != NULL)
        a->sent_tail->next = a->q_head;
    else
        all = a->q_head;
    a->sent_head = a->sent_tail = a->q_head = a->q_tail = NULL;
    return all;
}

void
agc_free(struct agc *a)
{
    struct agc_req *pending;

    if (a == NULL)
        return;
    /* Exactly once, even here: what is still pending is cancelled. */
    pending = agc_take_all(a);
    if (pending != NULL && a->err.msg[0] == '\0')
        snprintf(a->err.msg, sizeof(a->err.msg), "%s: agent session closed",
                 conn_name(a->conn));
    agc_complete_all(a, pending, AF_ECANCELED);
    af_buf_free(&a->in);
    af_buf_free(&a->err_out);
    free(a->chunk);
    free(a);
}

/* Fail the node's agent session: every pending request hears of it. */
static void agc_fail(struct agc *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
agc_fail(struct agc *a, int code, const char *fmt, ...)
{
    va_list ap;
    enum agc_state prev = a->state;

    if (a->state == AGC_FAILED)
        return;
    a->state = AGC_FAILED;
    a->err.code = code;
    va_start(ap, fmt);
    vsnprintf(a->err.msg, sizeof(a->err.msg), fmt, ap);
    va_end(ap);
    if (prev != AGC_READY)
        a->ready_cb(a, code);
    /* Requests queued before the agent served hear of it too. */
    if (a->streaming != NULL && a->ch != NULL)
        chan_set_drain(a->ch, 0, NULL, NULL);
    a->streaming = NULL;
    agc_complete_all(a, agc_take_all(a), code);
}

static void agc_pump(struct agc *a);

/* Move more of the streamed payload into the channel. */
static void
agc_stream_drain(struct chan *ch, void *data)
{
    struct agc *a = data;
    struct agc_req *r = a->streaming;
    int wrote = 0;

    while (r != NULL && r->stream_left > 0 &&
           chan_queued(ch) < AGC_STREAM_LOW) {
        size_t cap = r->stream_left < AGC_STREAM_CHUNK ? (size_t)r->stream_left
                                                       : AGC_STREAM_CHUNK;
        long n = r->fill(r->data, a->chunk, cap);

        if (n == 0)
            break; /* paused: agc_stream_resume goes on */
        if (n < 0 || (size_t)n > cap) {
            /* The agent is mid-payload: only the end of stdin stops it. */
            chan_send_eof(ch);
            agc_fail(a, n < 0 ? (int)n : AF_EINTERNAL,
                     "%s: the payload of a request could not be read",
                     conn_name(a->conn));
            return;
        }
        chan_write(ch, a->chunk, (size_t)n);
        r->stream_left -= (uint64_t)n;
        wrote = 1;
    }
    /* A slow (capped) payload is not a dead agent: its timer restarts. */
    if (wrote && a->sent_head == r)
        chan_set_timeout(ch, r->timeout_ms);
    if (r != NULL && r->stream_left == 0) {
        chan_set_drain(ch, 0, NULL, NULL);
        a->streaming = NULL;
        agc_pump(a);
    }
}

/* Send queued requests; the agent answers in order. */
static void
agc_pump(struct agc *a)
{
    while (a->state == AGC_READY && a->q_head != NULL && a->streaming == NULL) {
        struct agc_req *r = a->q_head;

        a->q_head = r->next;
        if (a->q_head == NULL)
            a->q_tail = NULL;
        r->next = NULL;
        chan_write(a->ch, r->line, r->linelen);
        if (r->plen)
            chan_write_ref(a->ch, r->payload, r->plen);
        if (r->fill != NULL && r->stream_left > 0) {
            if (a->chunk == NULL)
                a->chunk = af_malloc(AGC_STREAM_CHUNK);
            a->streaming = r;
            chan_set_drain(a->ch, AGC_STREAM_LOW, agc_stream_drain, a);
        }
        if (a->sent_tail)
            a->sent_tail->next = r;
        else
            a->sent_head = r;
        a->sent_tail = r;
        /* The channel timer covers the oldest outstanding request. */
        if (a->sent_head == r)
            chan_set_timeout(a->ch, r->timeout_ms);
    }
}

static void agc_enqueue(struct agc *a,
                        const char *const *words,
                        size_t nwords,
                        struct agc_req *r);

/* A request with its deadline (0: 600 s) and answer callback set. */
static struct agc_req *
agc_req_new(uint64_t timeout_ms, agc_resp_cb cb, void *data)
{
    struct agc_req *r = af_calloc(1, sizeof(*r));

    r->timeout_ms = timeout_ms ? timeout_ms : 600000;
    r->cb = cb;
    r->data = data;
    return r;
}

void
agc_request(struct agc *a,
            const char *const *words,
            size_t nwords,
            const void *payload,
            size_t plen,
            uint64_t timeout_ms,
            agc_resp_cb cb,
            void *data)
{
    struct agc_req *r = agc_req_new(timeout_ms, cb, data);

    r->payload = payload;
    r->plen = plen;
    agc_enqueue(a, words, nwords, r);
}

void
agc_request_stream(struct agc *a,
                   const char *const *words,
                   size_t nwords,
                   uint64_t plen,
                   agc_fill_cb fill,
                   uint64_t timeout_ms,
                   agc_resp_cb cb,
                   void *data)
{
    struct agc_req *r = agc_req_new(timeout_ms, cb, data);

    r->fill = fill;
    r->stream_left = plen;
    agc_enqueue(a, words, nwords, r);
}

void
agc_stream_resume(struct agc *a)
{
    if (a->state == AGC_READY && a->streaming != NULL && a->ch != NULL)
        chan_set_drain(a->ch, AGC_STREAM_LOW, agc_stream_drain, a);
}

void
agc_request_sink(struct agc *a,
                 const char *const *words,
                 size_t nwords,
                 uint64_t max,
                 agc_sink_cb sink,
                 uint64_t timeout_ms,
                 agc_resp_cb cb,
                 void *data)
{
    struct agc_req *r = agc_req_new(timeout_ms, cb, data);

    r->sink = sink;
    r->sink_max = max;
    agc_enqueue(a, words, nwords, r);
}

void
agc_request_frames(struct agc *a,
                   const char *const *words,
                   size_t nwords,
                   uint64_t max,
                   agc_sink_cb sink,
                   uint64_t timeout_ms,
                   agc_resp_cb cb,
                   void *data)
{
    struct agc_req *r = agc_req_new(timeout_ms, cb, data);

    r->sink = sink;
    r->sink_max = max;
    r->frames = 1;
    agc_enqueue(a, words, nwords, r);
}

/* Encode the request line of r and queue it (or fail it at once). */
static void
agc_enqueue(struct agc *a,
            const char *const *words,
            size_t nwords,
            struct agc_req *r)
{
    struct af_buf line;
    size_t i;

    af_buf_init(&line, 0);
    for (i = 0; i < nwords; i++) {
        char *w = af_proto_encode(words[i], strlen(words[i]));

        if (i)
            af_buf_append(&line, " ", 1);
        af_buf_puts(&line, w);
        free(w);
    }
    af_buf_append(&line, "\n", 1);
    r->linelen = line.len;
    r->line = af_buf_steal(&line);
    af_buf_free(&line);
    snprintf(r->verb, sizeof(r->verb), "%s", nwords ? words[0] : "");
    if (a->state == AGC_FAILED) {
        struct af_kv empty;

        af_kv_init(&empty);
        r->cb(a, a->err.code, &empty, r->data);
        agc_req_free(r);
        return;
    }
    if (a->q_tail)
        a->q_tail->next = r;
    else
        a->q_head = r;
    a->q_tail = r;
    agc_pump(a);
}

static const struct agc_blob *
agc_blob_for(const struct agc *a, const char *arch)
{
    size_t i;

    if (strcmp(arch, "arm64") == 0)
        arch = "aarch64";
    for (i = 0; i < a->nblobs; i++)
        if (strcmp(a->blobs[i].arch, arch) == 0)
            return &a->blobs[i];
    return NULL;
}

/* Handle the greeting line (without newline). */
static void
agc_greeting(struct agc *a, char *line)
{
    char word[16], ver[64], arch[32], sha[80];
    int proto;

    if (strncmp(line, "AFAGENT-TRY ", 12) == 0) {
        /*
         * The probe names the architecture before running the copy, so a
         * copy too damaged to greet can still be replaced.
         */
        snprintf(a->arch, sizeof(a->arch), "%s", line + 12);
        a->want = agc_blob_for(a, a->arch);
        return;
    }
    if (strncmp(line, "AFAGENT-UNSAFE ", 15) == 0) {
        agc_fail(a, AF_EREMOTE,
                 "%s: refusing the node: unsafe %.170s (another owner, "
                 "group/other-writable or a symlink)",
                 conn_name(a->conn), line + 15);
        return;
    }
    if (strcmp(line, "AFAGENT-NOHASH") == 0) {
        agc_fail(a, AF_EREMOTE,
                 "%s: refusing the node: no sha256sum to check the agent "
                 "before running it",
                 conn_name(a->conn));
        return;
    }
    if (strcmp(line, "AFAGENT-BADHASH") == 0) {
        agc_fail(a, AF_EREMOTE,
                 "%s: the agent copy changed after it was pushed and checked",
                 conn_name(a->conn));
        return;
    }
    if (strncmp(line, "AFAGENT-MISSING ", 16) == 0 ||
        strncmp(line, "AFAGENT-ARCH ", 13) == 0) {
        snprintf(a->arch, sizeof(a->arch), "%s", strchr(line, ' ') + 1);
        a->want = agc_blob_for(a, a->arch);
        if (a->want == NULL) {
            agc_fail(a, AF_EPROTO, "%s: no agent for architecture '%s'",
                     conn_name(a->conn), a->arch);
            return;
        }
        a->need_push = 1;
        return;
    }
    if (sscanf(line, "%15s %d %63s %31s %79s", word, &proto, ver, arch, sha) !=
            5 ||
        strcmp(word, AF_PROTO_GREETING) != 0) {
        agc_fail(a, AF_EPROTO, "%s: agent did not greet (got '%.60s')",
                 conn_name(a->conn), line);
        return;
    }
    if (proto != AF_PROTO_VERSION) {
        agc_fail(a, AF_EPROTO,
                 "%s: agent speaks protocol %d, this ascend-fleet speaks %d",
                 conn_name(a->conn), proto, AF_PROTO_VERSION);
        return;
    }
    snprintf(a->arch, sizeof(a->arch), "%s", arch);
    a->want = agc_blob_for(a, arch);
    if (a->want != NULL && strcmp(a->want->sha, sha) != 0) {
        /* A damaged copy: replace it. */
        a->need_push = 1;
        chan_write(a->ch, "quit\n", 5);
        return;
    }
    a->greeted = 1;
    if (a->state != AGC_READY) {
        a->state = AGC_READY;
        a->ready_cb(a, 0);
        agc_pump(a);
    }
}

/* Where "AFAGENT" starts in the n bytes at p (NULs allowed), or NULL. */
static char *
agc_find_greeting(char *p, size_t n)
{
    static const char g[] = AF_PROTO_GREETING;
    size_t gl = sizeof(g) - 1;
    char *q = p;

    while (n >= gl && (q = memchr(p, g[0], n - gl + 1)) != NULL) {
        if (memcmp(q, g, gl) == 0)
            return q;
        n -= (size_t)(q - p) + 1;
        p = q + 1;
    }
    return NULL;
}

/*
 * A line of n bytes before the greeting. Login scripts may print banners
 * (a noisy .bashrc) before the probe runs: such lines, and such text before
 * "AFAGENT" on the greeting's line, are skipped, up to AGC_NOISE_MAX bytes.
 */
static void
agc_pre_greeting(struct agc *a, char *line, size_t n)
{
    char *g = agc_find_greeting(line, n);

    a->noise += g != NULL ? (size_t)(g - line) : n + 1;
    if (a->noise > AGC_NOISE_MAX) {
        agc_fail(a, AF_EPROTO, AGC_NOISE_MSG, conn_name(a->conn),
                 AGC_NOISE_MAX / 1024);
        return;
    }
    if (g != NULL)
        agc_greeting(a, g);
}

/*
 * One complete response: header already checked, body in hand. A body that
 * does not parse fails the node's session, and with it this request (its
 * callback runs from agc_fail like every other pending one).
 */
static void
agc_response(struct agc *a, int ok, const char *body, size_t len)
{
    struct agc_req *r = a->sent_head;
    struct af_kv kv;
    char why[128];
    int prc;

    if (r == NULL) {
        agc_fail(a, AF_EPROTO, "%s: agent answered with no request",
                 conn_name(a->conn));
        return;
    }
    af_kv_init(&kv);
    prc = af_proto_kv_parse(&kv, body, len);
    if (prc < 0) {
        af_kv_free(&kv);
        agc_fail(a, AF_EPROTO,
                 "%s: agent protocol error: malformed answer to '%s' (%s)",
                 conn_name(a->conn), r->verb,
                 prc == -2 ? "more than " AGC_STR(AF_PROTO_MAX_KEYS) " lines"
                 : memchr(body, '\0', len) != NULL ? "NUL byte in the body"
                                                   : "a line is not key=value");
        return;
    }
    if (ok && strcmp(r->verb, "facts") == 0 &&
        af_facts_check(&kv, why, sizeof(why)) != 0) {
        af_kv_free(&kv);
        agc_fail(a, AF_EPROTO, "%s: implausible facts: %s", conn_name(a->conn),
                 why);
        return;
    }
    a->sent_head = r->next;
    if (a->sent_head == NULL)
        a->sent_tail = NULL;
    chan_set_timeout(a->ch, a->sent_head ? a->sent_head->timeout_ms : 0);
    r->cb(a, ok ? 0 : AF_EREMOTE, &kv, r->data);
    af_kv_free(&kv);
    agc_req_free(r);
}

/* Pass up to n bytes at p of the current data frame on; returns how many. */
static size_t
agc_frame_bytes(struct agc *a, const char *p, size_t n)
{
    struct agc_req *r = a->sent_head;

    if ((uint64_t)n > a->frame_left)
        n = (size_t)a->frame_left;
    a->frame_left -= n;
    if (a->frame_left == 0)
        a->in_frame = 0;
    chan_set_timeout(a->ch, r->timeout_ms);
    r->sink(r->data, a->frame_size, p, n);
    return n;
}

/* A data frame header "AFD <size>" (without newline). Returns 0 or -1. */
static int
agc_frame_start(struct agc *a, const char *line)
{
    struct agc_req *r = a->sent_head;
    unsigned long long len;
    char end;

    if (r == NULL || r->sink == NULL || (r->framed && !r->frames) ||
        sscanf(line, "AFD %llu%c", &len, &end) != 1) {
        agc_fail(a, AF_EPROTO, "%s: unexpected agent data frame '%.60s'",
                 conn_name(a->conn), line);
        return -1;
    }
    if (len > r->sink_max) {
        agc_fail(a, AF_EPROTO,
                 "%s: agent sent %llu bytes, more than the %llu asked for",
                 conn_name(a->conn), len, (unsigned long long)r->sink_max);
        return -1;
    }
    r->framed = 1;
    a->frame_size = len;
    a->frame_left = len;
    a->in_frame = len > 0;
    return 0;
}

/* Consume as much of the input buffer as forms whole messages. */
static void
agc_parse(struct agc *a)
{
    size_t off = 0;

    /* An empty body ("AFP ok 0") completes with no byte after its line. */
    while (a->state != AGC_FAILED &&
           (off < a->in.len || (a->in_body && a->body_len == 0))) {
        char *p = a->in.data + off, *nl;
        size_t avail = a->in.len - off;

        if (a->in_frame) {
            off += agc_frame_bytes(a, p, avail);
            continue;
        }
        if (a->in_body) {
            if (avail < a->body_len)
                break;
            off += a->body_len;
            a->in_body = 0;
            agc_response(a, a->body_ok, p, a->body_len);
            continue;
        }
        nl = memchr(p, '\n', avail);
        if (nl == NULL) {
            if (!a->greeted && !a->need_push &&
                a->noise + avail > AGC_NOISE_MAX + 4096)
                agc_fail(a, AF_EPROTO, AGC_NOISE_MSG, conn_name(a->conn),
                         AGC_NOISE_MAX / 1024);
            else if (avail > AF_PROTO_MAX_LINE)
                agc_fail(a, AF_EPROTO, "%s: agent line too long",
                         conn_name(a->conn));
            break;
        }
        *nl = '\0';
        off += (size_t)(nl - p) + 1;
        if (!a->greeted) {
            if (a->need_push)
                continue; /* ignore what a doomed copy says */
            agc_pre_greeting(a, p, (size_t)(nl - p));
            continue;
        }
        if (strncmp(p, "AFD ", 4) == 0) {
            if (agc_frame_start(a, p) != 0)
                break;
            continue;
        }
        {
            char st[8];
            unsigned long long len;

            if (sscanf(p, "AFP %7s %llu", st, &len) != 2 ||
                (strcmp(st, "ok") != 0 && strcmp(st, "err") != 0) ||
                len > AF_PROTO_MAX_BODY) {
                agc_fail(a, AF_EPROTO, "%s: garbled agent response '%.60s'",
                         conn_name(a->conn), p);
                break;
            }
            if (a->sent_head != NULL &&
                strcmp(a->sent_head->verb, "facts") == 0 &&
                len > AF_FACTS_MAX_BODY) {
                agc_fail(a, AF_EPROTO,
                         "%s: implausible facts: an answer of %llu bytes "
                         "(at most %d)",
                         conn_name(a->conn), len, AF_FACTS_MAX_BODY);
                break;
            }
            a->in_body = 1;
            a->body_len = (size_t)len;
            a->body_ok = strcmp(st, "ok") == 0;
        }
    }
    /* Keep the unconsumed tail at the front. */
    if (off > 0) {
        size_t rest = a->in.len > off ? a->in.len - off : 0;

        memmove(a->in.data, a->in.data + off, rest);
        a->in.len = rest;
        a->in.data[rest] = '\0';
    }
}

static void
agc_data_cb(struct chan *ch, int stream, const char *p, size_t n)
{
    struct agc *a = chan_data(ch);

    if (a->ch != ch)
        return;
    if (stream == 1) {
        af_buf_append(&a->err_out, p, n);
        return;
    }
    /* Frame bytes bypass the buffer when nothing waits before them. */
    if (a->in_frame && a->in.len == 0 && a->state != AGC_FAILED) {
        size_t used = agc_frame_bytes(a, p, n);

        p += used;
        n -= used;
        if (n == 0)
            return;
    }
    af_buf_append(&a->in, p, n);
    if (a->in.truncated) {
        agc_fail(a, AF_EPROTO, "%s: agent response too large",
                 conn_name(a->conn));
        return;
    }
    agc_parse(a);
}

static void
agc_push_done(struct chan *ch, int status)
{
    struct agc *a = chan_data(ch);
    const struct af_buf *err = chan_stderr(ch);

    a->ch = NULL;
    if (a->state == AGC_FAILED)
        return;
    if (status < 0 || chan_exit_code(ch) != 0) {
        agc_fail(a, status < 0 ? status : AF_EREMOTE,
                 "%s: pushing the agent failed: %s%s", conn_name(a->conn),
                 status < 0 ? chan_error(ch) : "",
                 err->len ? err->data : "remote command failed");
        return;
    }
    a->pushed = 1;
    agc_serve_start(a);
}

static void
agc_push(struct agc *a)
{
    char *cmd;
    const char *sha = a->want->sha;

    a->state = AGC_PUSH;
    /*
     * Stream into a temp file beside the target, check its hash on the
     * node with sha256sum (never by running the copy), then rename: a
     * partial copy never has the final name, and a damaged one is replaced
     * by mv -f.
     */
    cmd = af_asprintf(
        AGC_SHA_FN
        "umask 077 && d=%s/%s && mkdir -p \"$d\" && t=\"$d/.tmp.$$\" && "
        "cat > \"$t\" && if [ \"$(hs \"$t\")\" = %s ]; then "
        "chmod 700 \"$t\" && mv -f \"$t\" \"$d/%s\"; else rm -f \"$t\"; "
        "echo 'agent copy failed its SHA-256 check' >&2; exit 1; fi",
        AF_AGENT_DIR, sha, sha, AF_AGENT_NAME);
    a->ch = chan_exec(a->conn, cmd, AGC_PUSH_TIMEOUT_MS, AGC_STDERR_CAP, NULL,
                      agc_push_done, a);
    free(cmd);
    chan_write_ref(a->ch, a->want->data, a->want->size);
    chan_send_eof(a->ch);
}

static void
agc_serve_done(struct chan *ch, int status)
{
    struct agc *a = chan_data(ch);

    if (a->ch == ch)
        a->ch = NULL;
    if (a->state == AGC_FAILED)
        return;
    if (a->need_push && a->state != AGC_READY && a->want != NULL &&
        a->state != AGC_PUSH && !a->pushed) {
        a->need_push = 0;
        a->greeted = 0;
        a->noise = 0;
        af_buf_reset(&a->in);
        agc_push(a);
        return;
    }
    if (status == AF_ETIMEOUT) {
        agc_fail(a, AF_ETIMEOUT, "%s: agent did not answer in time",
                 conn_name(a->conn));
        return;
    }
    if (a->state != AGC_READY) {
        /* No greeting: the copy could not even run. Replace it once. */
        if (!a->pushed && a->want != NULL) {
            af_buf_reset(&a->in);
            agc_push(a);
            return;
        }
        agc_fail(a, status < 0 ? status : AF_EPROTO,
                 "%s: agent did not start%s%s", conn_name(a->conn),
                 a->err_out.len ? ": " : "",
                 a->err_out.len ? a->err_out.data : "");
        return;
    }
    agc_fail(a, status < 0 ? status : AF_EPROTO, "%s: agent session ended%s%s",
             conn_name(a->conn), status < 0 ? ": " : "",
             status < 0 ? chan_error(ch) : "");
}

/* The probe: run our agent if the node has it, else say what's missing. */
static char *
agc_probe_cmd(const struct agc *a, int serve_only)
{
    struct af_buf b;
    size_t i;

    af_buf_init(&b, 0);
    if (serve_only) {
        af_buf_printf(&b,
                      AGC_SHA_FN "p=%s/%s/%s; if [ \"$(hs \"$p\")\" = %s ]; "
                                 "then exec \"$p\" serve; fi; "
                                 "echo AFAGENT-BADHASH",
                      AF_AGENT_DIR, a->want->sha, AF_AGENT_NAME, a->want->sha);
        return af_buf_steal(&b);
    }
    /*
     * Like ssh's StrictModes: the directory chain down to the agent and
     * everything below AF_NODE_DIR belongs to the login user or root, is
     * writable by no one else and holds no symlink; else the node is
     * refused, since another user could swap what root runs next.
     */
    af_buf_printf(
        &b,
        AGC_SHA_FN
        "u=$(id -u); R=%s; "
        "command -v sha256sum >/dev/null || { echo AFAGENT-NOHASH; exit 0; }; "
        "bad=$({ find / /var /var/lib -maxdepth 0 " AGC_UNSAFE "; "
        "if [ -e \"$R\" ] || [ -L \"$R\" ]; then find \"$R\" \\( -type l "
        "-o " AGC_UNSAFE_ANY " \\) -print; fi; } 2>&1 | head -n 1); "
        "if [ -n \"$bad\" ]; then echo \"AFAGENT-UNSAFE $bad\"; exit 0; fi; ",
        AF_NODE_DIR);
    af_buf_puts(&b, "a=$(uname -m); case \"$a\" in ");
    for (i = 0; i < a->nblobs; i++)
        af_buf_printf(&b, "%s%s) h=%s ;; ", a->blobs[i].arch,
                      strcmp(a->blobs[i].arch, "aarch64") == 0 ? "|arm64" : "",
                      a->blobs[i].sha);
    /* The hash is checked before the copy runs, by sha256sum. */
    af_buf_printf(&b,
                  "*) echo \"AFAGENT-ARCH $a\"; exit 0 ;; esac; "
                  "p=%s/$h/%s; if [ -f \"$p\" ] && [ \"$(hs \"$p\")\" = "
                  "\"$h\" ]; then echo \"AFAGENT-TRY $a\"; "
                  "exec \"$p\" serve; fi; echo \"AFAGENT-MISSING $a\"",
                  AF_AGENT_DIR, AF_AGENT_NAME);
    return af_buf_steal(&b);
}

static void
agc_serve_start(struct agc *a)
{
    char *cmd = agc_probe_cmd(a, 1);

    a->state = AGC_SERVE_START;
    a->greeted = 0;
    a->need_push = 0;
    a->noise = 0;
    af_buf_reset(&a->in);
    af_buf_reset(&a->err_out);
    a->ch = chan_exec(a->conn, cmd, AGC_PROBE_TIMEOUT_MS, AGC_STDERR_CAP,
                      agc_data_cb, agc_serve_done, a);
    free(cmd);
}

void
agc_start(struct agc *a)
{
    char *cmd;

    if (a->nblobs == 0) {
        agc_fail(a, AF_EINTERNAL, "%s: this build carries no agent binary",
                 conn_name(a->conn));
        return;
    }
    cmd = agc_probe_cmd(a, 0);
    a->state = AGC_PROBE;
    a->ch = chan_exec(a->conn, cmd, AGC_PROBE_TIMEOUT_MS, AGC_STDERR_CAP,
                      agc_data_cb, agc_serve_done, a);
    free(cmd);
}

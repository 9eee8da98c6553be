/* SPDX-License-Identifier: MIT */
/*
 * hccn apply and verify on one node: a small state machine per node that
 * walks the NPUs one by one and issues one hccn_tool call (an agent `run`
 * request) at a time, parses the tool's answers and records the outcome.
 * The steps of one NPU are: read address, detect IP, gateway; decide; set
 * what differs; read back (the read steps again) and decide again; and for
 * verify, link status and pings.
 */
#include "hccn-ops.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "af-proto.h"
#include "hccn.h"
#include "inv.h"
#include "sess.h"
#include "st.h"

#define HOP_DEFAULT_TIMEOUT_S 60
#define HOP_OUTPUT_CAP        "65536"

enum hop_step {
    HOP_GET_IP,
    HOP_GET_DETECT,
    HOP_GET_GW,
    HOP_DECIDE,
    HOP_SET_IP,
    HOP_SET_DETECT,
    HOP_SET_GW,
    HOP_LINK,
    HOP_PING,
};

struct hop_job {
    struct sess *s;
    int verify;
    struct hop_opts o;
    struct hccn_addr *plan;
    size_t npus;
    struct hop_peer *peers;
    size_t npeers;
    hop_done_cb cb;
    void *data;
    struct hop_result *res;
    size_t cur; /* NPU being worked on */
    enum hop_step step;
    int readback; /* the read steps are the read-back after a set */
    int set_ip, set_detect, set_gw;
    char get_err[256]; /* the failed read, while hccn.conf is checked */
    size_t peer_i;     /* verify: the peer being pinged */
    int ping_failed;   /* verify: some peer of this NPU did not answer */
    char what[64];     /* the call in flight, for messages */
    char cmd[256];     /* its command line, for o.tool_cb */
};

static void hop_go(struct hop_job *j);
static void
hop_answer(struct agc *a, int status, const struct af_kv *body, void *data);

const char *
hop_status_str(enum hop_status s)
{
    switch (s) {
    case HOP_PENDING:
        return "pending";
    case HOP_SAME:
        return "same";
    case HOP_SET:
        return "set";
    case HOP_REFUSED:
        return "refused";
    case HOP_FAILED:
        return "failed";
    case HOP_VERIFIED:
        return "verified";
    }
    return "?";
}

void
hop_result_free(struct hop_result *r)
{
    if (r == NULL)
        return;
    free(r->npus);
    r->npus = NULL;
    r->nnpu = 0;
}

/* ---- parsing the tool's answers ---- */

/*
 * The value after prefix on the first line that starts with it (leading
 * blanks of the line and of the value skipped), up to a blank or ','.
 * "" when no line has it.
 */
static void
hop_field(const char *out, const char *prefix, char *buf, size_t sz)
{
    const char *line = out;
    size_t plen = strlen(prefix), n = 0;

    buf[0] = '\0';
    while (line != NULL && *line != '\0') {
        const char *p = line;

        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, prefix, plen) == 0) {
            p += plen;
            while (*p == ' ' || *p == '\t')
                p++;
            while (p[n] != '\0' && p[n] != ',' && !isspace((unsigned char)p[n]))
                n++;
            if (n >= sz)
                n = sz - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            return;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
}

/* First non-empty line of s, trimmed, into buf. */
static void
hop_first_line(const char *s, char *buf, size_t sz)
{
    size_t n;

    buf[0] = '\0';
    if (s == NULL)
        return;
    while (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t')
        s++;
    n = strcspn(s, "\r\n");
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= sz)
        n = sz - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

/* The tool's message for a failed call: stderr, else stdout, else rc. */
static void
hop_tool_message(const struct af_kv *body, char *buf, size_t sz)
{
    hop_first_line(af_kv_get(body, "stderr"), buf, sz);
    if (buf[0] == '\0')
        hop_first_line(af_kv_get(body, "stdout"), buf, sz);
    if (buf[0] == '\0')
        snprintf(buf, sz, "hccn_tool exited %s",
                 af_kv_get(body, "rc") ? af_kv_get(body, "rc") : "?");
}

/* ---- finishing ---- */

static void
hop_finish(struct hop_job *j)
{
    struct hop_result *r = j->res;
    size_t i, bad = 0;
    int first = -1;
    struct af_err e;

    for (i = 0; i < r->nnpu; i++) {
        if (r->npus[i].status == HOP_REFUSED ||
            r->npus[i].status == HOP_FAILED) {
            if (first < 0)
                first = (int)i;
            bad++;
        }
    }
    if (r->status == 0 && first >= 0) {
        r->status = AF_EREMOTE;
        if (bad > 1)
            snprintf(r->error, sizeof(r->error),
                     "NPU %d: %s; %zu more NPUs failed", first,
                     r->npus[first].detail, bad - 1);
        else
            snprintf(r->error, sizeof(r->error), "NPU %d: %s", first,
                     r->npus[first].detail);
    }
    if (j->o.st != NULL && hop_record(j->o.st, r, j->verify, &e) != 0 &&
        r->error[0] == '\0')
        snprintf(r->error, sizeof(r->error), "recording results: %s", e.msg);
    j->cb(j->s, r, j->data);
    free(j->plan);
    free(j->peers);
    free(j);
}

/* Move on to the next NPU. */
static void
hop_next_npu(struct hop_job *j)
{
    j->cur++;
    j->step = HOP_GET_IP;
    j->readback = 0;
    j->set_ip = j->set_detect = j->set_gw = 0;
    j->ping_failed = 0;
}

static void hop_fail_npu(struct hop_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
hop_fail_npu(struct hop_job *j, const char *fmt, ...)
{
    struct hop_npu *n = &j->res->npus[j->cur];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(n->detail, sizeof(n->detail), fmt, ap);
    va_end(ap);
    n->status = HOP_FAILED;
    hop_next_npu(j);
}

/* ---- one hccn_tool call ---- */

static void
hop_answer(struct agc *a, int status, const struct af_kv *body, void *data);

/* Issue `hccn_tool -i <cur> args...`; what names it in messages. */
static void
hop_tool(struct hop_job *j,
         const char *what,
         const char *const *args,
         size_t nargs)
{
    const char *words[16];
    char tmo[16], dev[16];
    int t =
        j->o.tool_timeout_s > 0 ? j->o.tool_timeout_s : HOP_DEFAULT_TIMEOUT_S;
    size_t k, nw = 0;

    snprintf(j->what, sizeof(j->what), "%s", what);
    snprintf(tmo, sizeof(tmo), "%d", t);
    snprintf(dev, sizeof(dev), "%zu", j->cur);
    words[nw++] = "run";
    words[nw++] = tmo;
    words[nw++] = HOP_OUTPUT_CAP;
    words[nw++] = "hccn_tool";
    words[nw++] = "-i";
    words[nw++] = dev;
    for (k = 0; k < nargs && nw < sizeof(words) / sizeof(words[0]); k++)
        words[nw++] = args[k];
    {
        size_t len = 0, w;

        for (w = 3; w < nw && len < sizeof(j->cmd); w++)
            len += (size_t)snprintf(j->cmd + len, sizeof(j->cmd) - len, "%s%s",
                                    w > 3 ? " " : "", words[w]);
    }
    /* May answer at once (and finish the job) when the session failed. */
    agc_request(sess_agc(j->s), words, nw, NULL, 0, ((uint64_t)t + 15) * 1000,
                hop_answer, j);
}

/* Parse the answer of a successful read or link/ping call. */
static void
hop_take(struct hop_job *j, const char *out)
{
    struct hop_npu *n = &j->res->npus[j->cur];

    switch (j->step) {
    case HOP_GET_IP:
        hop_field(out, "ipaddr:", n->address, sizeof(n->address));
        hop_field(out, "netmask:", n->netmask, sizeof(n->netmask));
        j->step = HOP_GET_DETECT;
        break;
    case HOP_GET_DETECT:
        hop_field(out, "netdetect address:", n->detect, sizeof(n->detect));
        j->step = HOP_GET_GW;
        break;
    case HOP_GET_GW:
        hop_field(out, "default gateway:", n->gateway, sizeof(n->gateway));
        j->step = HOP_DECIDE;
        break;
    case HOP_SET_IP:
        j->step = HOP_SET_DETECT;
        break;
    case HOP_SET_DETECT:
        j->step = HOP_SET_GW;
        break;
    case HOP_SET_GW:
        /* Read back what was set. */
        j->readback = 1;
        j->step = HOP_GET_IP;
        break;
    case HOP_LINK: {
        char st[32];

        hop_field(out, "link status:", st, sizeof(st));
        if (strcmp(st, "UP") != 0) {
            hop_fail_npu(j, "link %s", st[0] ? st : "status unknown");
            return;
        }
        j->step = HOP_PING;
        j->peer_i = 0;
        break;
    }
    case HOP_PING:
        /* rc 0: some reply came back. */
        j->peer_i++;
        break;
    case HOP_DECIDE:
        break;
    }
}

/*
 * After `hccn_tool -ip -g` failed on an NPU: one that was never configured
 * (no address_N line in /etc/hccn.conf) is unset, as when the tool prints
 * an empty value or 0.0.0.0, and gets configured; else the read failed.
 */
static void
hop_conf_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct hop_job *j = data;
    struct hop_npu *n = &j->res->npus[j->cur];
    const char *rc = af_kv_get(body, "rc");

    if (status != 0) {
        hop_answer(a, status, body, data);
        return;
    }
    if (rc != NULL && (strcmp(rc, "1") == 0 || strcmp(rc, "2") == 0)) {
        n->address[0] = n->netmask[0] = '\0';
        j->step = HOP_GET_DETECT;
    } else {
        hop_fail_npu(j, "%s failed: %s", j->what, j->get_err);
    }
    hop_go(j);
}

static void
hop_check_conf(struct hop_job *j, const char *msg)
{
    char re[32];
    const char *words[] = {"run", "10", "4096", "grep",
                           "-qE", "--", re,     "/etc/hccn.conf"};

    snprintf(j->get_err, sizeof(j->get_err), "%s", msg);
    snprintf(re, sizeof(re), "^address_%zu=.", j->cur);
    agc_request(sess_agc(j->s), words, sizeof(words) / sizeof(words[0]), NULL,
                0, 25000, hop_conf_answer, j);
}

static void
hop_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct hop_job *j = data;
    const char *rc = af_kv_get(body, "rc");
    const char *to = af_kv_get(body, "timed_out");
    char msg[256];

    if (j->o.tool_cb != NULL)
        j->o.tool_cb(j->o.tool_data, j->cmd, status, body);
    if (status != 0) {
        /* The session is gone: every NPU not done stays pending. */
        j->res->status = status;
        if (status == AF_EREMOTE && af_kv_get(body, "error") != NULL)
            snprintf(j->res->error, sizeof(j->res->error),
                     "%s: agent refused hccn_tool: %s", j->res->node,
                     af_kv_get(body, "error"));
        else
            snprintf(j->res->error, sizeof(j->res->error), "%s",
                     agc_error(a)[0] ? agc_error(a) : af_strerror(status));
        hop_finish(j);
        return;
    }
    if (to != NULL && strcmp(to, "1") == 0) {
        hop_fail_npu(j, "%s: hccn_tool timed out after %d s", j->what,
                     j->o.tool_timeout_s > 0 ? j->o.tool_timeout_s
                                             : HOP_DEFAULT_TIMEOUT_S);
    } else if (rc == NULL || strcmp(rc, "0") != 0) {
        hop_tool_message(body, msg, sizeof(msg));
        if (j->step == HOP_PING) {
            const struct hop_peer *p = &j->peers[j->peer_i];
            struct hop_npu *n = &j->res->npus[j->cur];
            size_t len = strlen(n->detail);
            const char *out = af_kv_get(body, "stdout");

            if (out != NULL && strstr(out, "packet loss") != NULL)
                snprintf(n->detail + len, sizeof(n->detail) - len,
                         "%sno reply from %s (%s NPU %d)", len ? "; " : "",
                         p->address, p->peer_node, p->peer_npu);
            else
                snprintf(n->detail + len, sizeof(n->detail) - len,
                         "%sping %s (%s NPU %d) failed: %s", len ? "; " : "",
                         p->address, p->peer_node, p->peer_npu, msg);
            j->ping_failed = 1;
            j->peer_i++;
        } else if (j->step == HOP_GET_IP && !j->readback) {
            hop_check_conf(j, msg);
            return;
        } else {
            hop_fail_npu(j, "%s failed: %s", j->what, msg);
        }
    } else {
        hop_take(j, af_kv_get(body, "stdout") ? af_kv_get(body, "stdout") : "");
    }
    hop_go(j);
}

/* ---- deciding ---- */

static int
hop_streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Apply: what to set, or refuse. Returns 1 when a set step follows. */
static int
hop_decide_apply(struct hop_job *j)
{
    struct hop_npu *n = &j->res->npus[j->cur];
    const struct hccn_addr *w = &j->plan[j->cur];
    enum hccn_diff d = hccn_plan_diff(w, n->address, n->netmask);
    struct af_buf b;

    if (j->readback) {
        int ok = d == HCCN_SAME &&
                 (!j->set_detect || hop_streq(n->detect, w->detect)) &&
                 (!j->set_gw || hop_streq(n->gateway, w->gateway));

        if (!ok) {
            hop_fail_npu(j,
                         "read back address %s/%s, detect %s, gateway %s "
                         "after setting %s/%s, detect %s, gateway %s",
                         n->address[0] ? n->address : "none",
                         n->netmask[0] ? n->netmask : "none",
                         n->detect[0] ? n->detect : "none",
                         n->gateway[0] ? n->gateway : "none", w->address,
                         w->netmask, w->detect[0] ? w->detect : "none",
                         w->gateway[0] ? w->gateway : "none");
            return 0;
        }
        n->status = HOP_SET;
        j->res->nchanged++;
        hop_next_npu(j);
        return 0;
    }
    if (d == HCCN_CHANGE && !j->o.force) {
        if (hop_streq(n->address, w->address))
            snprintf(n->detail, sizeof(n->detail),
                     "configured %s/%s differs from plan %s/%s; rerun with "
                     "--force to change it",
                     n->address, n->netmask, w->address, w->netmask);
        else
            snprintf(n->detail, sizeof(n->detail),
                     "configured %s differs from plan %s; rerun with "
                     "--force to change it",
                     n->address, w->address);
        n->status = HOP_REFUSED;
        hop_next_npu(j);
        return 0;
    }
    j->set_ip = d != HCCN_SAME;
    j->set_detect = w->detect[0] != '\0' && !hop_streq(n->detect, w->detect);
    j->set_gw = w->gateway[0] != '\0' && !hop_streq(n->gateway, w->gateway);
    if (!j->set_ip && !j->set_detect && !j->set_gw) {
        n->status = HOP_SAME;
        hop_next_npu(j);
        return 0;
    }
    af_buf_init(&b, sizeof(n->detail) - 1);
    if (j->set_ip && d == HCCN_CHANGE)
        af_buf_printf(&b, "changed address %s/%s to %s/%s", n->address,
                      n->netmask, w->address, w->netmask);
    else if (j->set_ip)
        af_buf_printf(&b, "set address %s/%s", w->address, w->netmask);
    if (j->set_detect)
        af_buf_printf(&b, "%sdetect %s", b.len ? ", " : "set ", w->detect);
    if (j->set_gw)
        af_buf_printf(&b, "%sgateway %s", b.len ? ", " : "set ", w->gateway);
    snprintf(n->detail, sizeof(n->detail), "%s", b.data ? b.data : "");
    af_buf_free(&b);
    j->step = HOP_SET_IP;
    return 1;
}

/* Verify: settings as planned? Returns 1 when the link check follows. */
static int
hop_decide_verify(struct hop_job *j)
{
    struct hop_npu *n = &j->res->npus[j->cur];
    const struct hccn_addr *w = &j->plan[j->cur];

    if (hccn_plan_diff(w, n->address, n->netmask) != HCCN_SAME ||
        !n->netmask[0]) {
        if (!n->address[0] || strcmp(n->address, "0.0.0.0") == 0)
            hop_fail_npu(j, "no address, plan %s/%s", w->address, w->netmask);
        else
            hop_fail_npu(j, "address %s/%s, plan %s/%s", n->address,
                         n->netmask[0] ? n->netmask : "none", w->address,
                         w->netmask);
        return 0;
    }
    if (w->detect[0] && !hop_streq(n->detect, w->detect)) {
        hop_fail_npu(j, "detect IP %s, plan %s",
                     n->detect[0] ? n->detect : "none", w->detect);
        return 0;
    }
    if (w->gateway[0] && !hop_streq(n->gateway, w->gateway)) {
        hop_fail_npu(j, "gateway %s, plan %s",
                     n->gateway[0] ? n->gateway : "none", w->gateway);
        return 0;
    }
    j->step = HOP_LINK;
    return 1;
}

/* Issue the next call, skipping the steps this NPU does not need. */
static void
hop_go(struct hop_job *j)
{
    static const char *const get_ip[] = {"-ip", "-g"};
    static const char *const get_detect[] = {"-netdetect", "-g"};
    static const char *const get_gw[] = {"-gateway", "-g"};
    static const char *const get_link[] = {"-link", "-g"};

    for (;;) {
        const struct hccn_addr *w;
        struct hop_npu *n;

        if (j->cur >= j->npus) {
            hop_finish(j);
            return;
        }
        w = &j->plan[j->cur];
        n = &j->res->npus[j->cur];
        switch (j->step) {
        case HOP_GET_IP:
            hop_tool(j,
                     j->readback ? "reading back the address"
                                 : "reading the address",
                     get_ip, 2);
            return;
        case HOP_GET_DETECT:
            if (w->detect[0] && (!j->readback || j->set_detect)) {
                hop_tool(j, "reading the detect IP", get_detect, 2);
                return;
            }
            j->step = HOP_GET_GW;
            continue;
        case HOP_GET_GW:
            if (w->gateway[0] && (!j->readback || j->set_gw)) {
                hop_tool(j, "reading the gateway", get_gw, 2);
                return;
            }
            j->step = HOP_DECIDE;
            continue;
        case HOP_DECIDE:
            if (j->verify)
                hop_decide_verify(j);
            else
                hop_decide_apply(j);
            continue;
        case HOP_SET_IP:
            if (j->set_ip) {
                const char *args[] = {"-ip",      "-s",      "address",
                                      w->address, "netmask", w->netmask};

                hop_tool(j, "setting the address", args, 6);
                return;
            }
            j->step = HOP_SET_DETECT;
            continue;
        case HOP_SET_DETECT:
            if (j->set_detect) {
                const char *args[] = {"-netdetect", "-s", "address", w->detect};

                hop_tool(j, "setting the detect IP", args, 4);
                return;
            }
            j->step = HOP_SET_GW;
            continue;
        case HOP_SET_GW:
            if (j->set_gw) {
                const char *args[] = {"-gateway", "-s", "gateway", w->gateway};

                hop_tool(j, "setting the gateway", args, 4);
                return;
            }
            j->readback = 1;
            j->step = HOP_GET_IP;
            continue;
        case HOP_LINK:
            hop_tool(j, "reading the link status", get_link, 2);
            return;
        case HOP_PING:
            while (j->peer_i < j->npeers &&
                   j->peers[j->peer_i].npu != (int)j->cur)
                j->peer_i++;
            if (j->peer_i < j->npeers) {
                const char *args[] = {"-ping", "-g", "address",
                                      j->peers[j->peer_i].address};

                hop_tool(j, "ping", args, 4);
                return;
            }
            n->status = j->ping_failed ? HOP_FAILED : HOP_VERIFIED;
            hop_next_npu(j);
            continue;
        }
    }
}

/* ---- entry points ---- */

static struct hop_job *
hop_job_new(struct sess *s,
            int verify,
            const struct hccn_addr *plan,
            size_t npus,
            const struct hop_opts *o,
            hop_done_cb cb,
            void *data)
{
    struct hop_job *j = af_calloc(1, sizeof(*j));
    size_t i;

    j->s = s;
    j->verify = verify;
    if (o != NULL)
        j->o = *o;
    j->npus = npus;
    j->plan = af_calloc(npus ? npus : 1, sizeof(*j->plan));
    if (npus)
        memcpy(j->plan, plan, npus * sizeof(*plan));
    j->cb = cb;
    j->data = data;
    j->res = af_calloc(1, sizeof(*j->res));
    j->res->node = sess_name(s);
    j->res->address = sess_address(s);
    if (sess_hostkey(s) != NULL)
        snprintf(j->res->host_key, sizeof(j->res->host_key), "%s",
                 sess_hostkey(s));
    j->res->nnpu = npus;
    j->res->npus = af_calloc(npus ? npus : 1, sizeof(*j->res->npus));
    for (i = 0; i < npus; i++)
        j->res->npus[i].npu = (int)i;
    return j;
}

void
hop_apply(struct sess *s,
          const struct hccn_addr *plan,
          size_t npus,
          const struct hop_opts *o,
          hop_done_cb cb,
          void *data)
{
    hop_go(hop_job_new(s, 0, plan, npus, o, cb, data));
}

void
hop_verify(struct sess *s,
           const struct hccn_addr *plan,
           size_t npus,
           const struct hop_peer *peers,
           size_t npeers,
           const struct hop_opts *o,
           hop_done_cb cb,
           void *data)
{
    struct hop_job *j = hop_job_new(s, 1, plan, npus, o, cb, data);

    if (npeers) {
        j->peers = af_calloc(npeers, sizeof(*peers));
        memcpy(j->peers, peers, npeers * sizeof(*peers));
        j->npeers = npeers;
    }
    hop_go(j);
}

void
hop_pick_peers(const struct hccn_plan *plan,
               const struct inv *inv,
               const size_t *nodes,
               size_t nnodes,
               size_t k,
               size_t per_npu,
               struct hop_peer **out,
               size_t *n)
{
    size_t npus = hccn_plan_npus(plan), i, d, cnt = 0;
    struct hop_peer *p = NULL;

    *out = NULL;
    *n = 0;
    if (nnodes < 2 || k >= nnodes || per_npu == 0)
        return;
    if (per_npu > nnodes - 1)
        per_npu = nnodes - 1;
    p = af_calloc(npus * per_npu, sizeof(*p));
    for (i = 0; i < npus; i++) {
        for (d = 1; d <= per_npu; d++) {
            size_t m = nodes[(k + d) % nnodes];
            const struct hccn_addr *a = hccn_plan_get(plan, m, (int)i);

            if (a == NULL || a->address[0] == '\0' || m >= inv->nnodes)
                continue;
            p[cnt].npu = (int)i;
            snprintf(p[cnt].address, sizeof(p[cnt].address), "%s", a->address);
            p[cnt].peer_node = inv->nodes[m].name;
            p[cnt].peer_npu = (int)i;
            cnt++;
        }
    }
    if (cnt == 0) {
        free(p);
        return;
    }
    *out = p;
    *n = cnt;
}

/* ---- recording ---- */

static const char *
hop_or_null(const char *s)
{
    return s[0] ? s : NULL;
}

/* 1 when rows hold a verified row of npu with n's values, recorded for
 * the same machine as r (a row of another machine is rewritten). */
static int
hop_keeps_verified(const struct st_hccn *rows,
                   size_t nrows,
                   const struct hop_result *r,
                   const struct hop_npu *n)
{
    size_t i;

    for (i = 0; i < nrows; i++) {
        if (rows[i].npu != n->npu)
            continue;
        return rows[i].status == ST_HCCN_VERIFIED &&
               hop_streq(rows[i].node_address, r->address) &&
               hop_streq(rows[i].host_key, r->host_key) &&
               hop_streq(rows[i].address, n->address) &&
               hop_streq(rows[i].netmask, n->netmask) &&
               hop_streq(rows[i].detect, n->detect) &&
               hop_streq(rows[i].gateway, n->gateway);
    }
    return 0;
}

int
hop_record(struct st *st,
           const struct hop_result *r,
           int verify,
           struct af_err *e)
{
    struct st_hccn *rows = NULL;
    size_t nrows = 0, i, nbad = 0;
    int began, rc = 0;

    if (!verify && (rc = st_hccn_get(st, r->node, &rows, &nrows, e)) != 0)
        return rc;
    /* Join the caller's batch when one is open. */
    began = st_begin(st, NULL) == 0;
    for (i = 0; i < r->nnpu; i++) {
        const struct hop_npu *n = &r->npus[i];
        struct st_hccn row;
        int good;

        if (n->status == HOP_PENDING)
            continue;
        good = n->status == HOP_SAME || n->status == HOP_SET ||
               n->status == HOP_VERIFIED;
        nbad += !good;
        if (n->status == HOP_SAME && hop_keeps_verified(rows, nrows, r, n))
            continue;
        memset(&row, 0, sizeof(row));
        row.node = (char *)(uintptr_t)r->node;
        row.npu = n->npu;
        row.address = (char *)(uintptr_t)hop_or_null(n->address);
        row.netmask = (char *)(uintptr_t)hop_or_null(n->netmask);
        row.detect = (char *)(uintptr_t)hop_or_null(n->detect);
        row.gateway = (char *)(uintptr_t)hop_or_null(n->gateway);
        row.status = !good ? ST_HCCN_FAILED
                           : (verify ? ST_HCCN_VERIFIED : ST_HCCN_APPLIED);
        row.detail = (char *)(uintptr_t)hop_or_null(n->detail);
        row.node_address = (char *)(uintptr_t)r->address;
        row.host_key = (char *)(uintptr_t)hop_or_null(r->host_key);
        if ((rc = st_hccn_put(st, &row, e)) != 0)
            goto out;
    }
    if (!verify && (r->nchanged || nbad))
        rc = st_event(st, 0, r->node, "hccn",
                      "apply: %zu NPUs set, %zu failed%s%s", r->nchanged, nbad,
                      nbad ? ": " : "", nbad ? r->error : "");
    else if (verify && nbad)
        rc = st_event(st, 0, r->node, "hccn", "verify: %zu NPUs failed: %s",
                      nbad, r->error);
    if (rc != 0)
        rc = af_err_set(e, AF_EDB,
                        "%s: cannot record the hccn event of %s: "
                        "%s",
                        st_path(st), r->node, st_errmsg(st));
out:
    if (began) {
        if (rc == 0)
            rc = st_commit(st, e);
        else
            st_rollback(st, NULL);
    }
    st_hccn_free(rows, nrows);
    return rc;
}

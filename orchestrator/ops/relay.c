/* SPDX-License-Identifier: MIT */
/* Rack gateways for package pushes (see relay.h). */
#define _GNU_SOURCE
#include "relay.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "af-kv.h"
#include "af-mem.h"
#include "af-sched.h"
#include "agc.h"
#include "fleet.h"
#include "inv.h"
#include "push.h"
#include "sess.h"

#define RELAY_MAX_CONC 16
#define RELAY_IDLE_S   120
#define RELAY_TIMEOUT  3600
#define RELAY_PUSH_MS  (30 * 60 * 1000)

struct relay_pkg {
    const char *name;
    struct push_src *src;
    unsigned arches;
};

struct relay_gw {
    struct relay *rl;
    const struct inv_node *node;
    struct sched_job *sj;
    struct sess *s;
    size_t members;
    char addr[64];  /* numeric address the relay binds and members use */
    unsigned *port; /* per package: 0 = not served */
    char (*token)[33];
    size_t next;
    unsigned arch; /* RELAY_ARCH_* of the gateway */
};

struct relay {
    struct fleet *f;
    struct relay_opts o;
    struct relay_pkg *pkgs;
    size_t npkgs;
    struct relay_gw *gws;
    size_t ngws;
    long *node_gw; /* per selected node: index in gws, or -1 */
    relay_gw_cb cb;
    void *data;
    uint64_t *sent;
};

struct relay *
relay_new(struct fleet *f, const struct relay_opts *o)
{
    struct relay *rl = af_calloc(1, sizeof(*rl));
    size_t i, g;

    rl->f = f;
    rl->o = *o;
    if (rl->o.max_conc <= 0)
        rl->o.max_conc = RELAY_MAX_CONC;
    if (rl->o.idle_s == 0)
        rl->o.idle_s = RELAY_IDLE_S;
    if (rl->o.timeout_s == 0)
        rl->o.timeout_s = RELAY_TIMEOUT;
    rl->node_gw = af_calloc(f->nsel ? f->nsel : 1, sizeof(long));
    for (i = 0; i < f->nsel; i++) {
        const struct inv_node *gw = inv_gateway(f->inv, fleet_node(f, i));

        rl->node_gw[i] = -1;
        if (gw == NULL)
            continue;
        for (g = 0; g < rl->ngws && rl->gws[g].node != gw; g++)
            ;
        if (g == rl->ngws) {
            rl->gws = af_reallocarray(rl->gws, g + 1, sizeof(*rl->gws));
            memset(&rl->gws[g], 0, sizeof(rl->gws[g]));
            rl->gws[g].rl = rl;
            rl->gws[g].node = gw;
            rl->ngws++;
        }
        rl->gws[g].members++;
        rl->node_gw[i] = (long)g;
    }
    if (rl->ngws == 0) {
        relay_free(rl);
        return NULL;
    }
    return rl;
}

void
relay_add(struct relay *rl,
          const char *name,
          struct push_src *src,
          unsigned arches)
{
    struct relay_pkg *p;

    rl->pkgs = af_reallocarray(rl->pkgs, rl->npkgs + 1, sizeof(*rl->pkgs));
    p = &rl->pkgs[rl->npkgs++];
    p->name = name;
    p->src = src;
    p->arches = arches;
}

size_t
relay_gateways(const struct relay *rl)
{
    return rl != NULL ? rl->ngws : 0;
}

int
relay_serves(const struct relay *rl, size_t i, size_t k)
{
    if (rl == NULL || i >= rl->f->nsel || rl->node_gw[i] < 0 || k >= rl->npkgs)
        return 0;
    return rl->gws[rl->node_gw[i]].port != NULL &&
           rl->gws[rl->node_gw[i]].port[k] != 0;
}

/* ---- phase 1: the gateways ------------------------------------------ */

static void relay_gw_next(struct relay_gw *g);

static void
relay_gw_report(struct relay_gw *g,
                int status,
                const struct push_result *r,
                int already,
                const char *error)
{
    struct relay_gw_item it;

    memset(&it, 0, sizeof(it));
    it.node = g->node->name;
    it.package = g->next < g->rl->npkgs && g->s != NULL
                     ? g->rl->pkgs[g->next].name
                     : NULL;
    it.status = status;
    it.already = already;
    if (r != NULL) {
        it.size = r->size;
        it.sent = r->sent;
        it.offset = r->offset;
        it.duration_ms = r->duration_ms;
    } else if (it.package != NULL) {
        it.size = push_src_size(g->rl->pkgs[g->next].src);
    }
    it.error = error != NULL ? error : "";
    if (r != NULL && g->rl->sent != NULL)
        *g->rl->sent += r->sent;
    g->rl->cb(&it, g->rl->data);
}

static void
relay_started(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct relay_gw *g = data;
    const char *port = status == 0 ? af_kv_get(body, "port") : NULL;
    const char *err = status == 0 ? NULL : af_kv_get(body, "error");

    (void)a;
    if (port != NULL && atoi(port) > 0 && atoi(port) < 65536) {
        g->port[g->next] = (unsigned)atoi(port);
    } else {
        char *msg = af_asprintf("cannot start the relay: %s",
                                err           ? err
                                : status == 0 ? "no port in the answer"
                                              : agc_error(a));

        relay_gw_report(g, status ? status : AF_EREMOTE, NULL, 0, msg);
        free(msg);
        if (status != 0 && status != AF_EREMOTE) {
            sched_job_done(g->sj);
            return;
        }
    }
    g->next++;
    relay_gw_next(g);
}

/* The gateway holds package g->next, verified: serve it to the group. */
static void
relay_start(struct relay_gw *g)
{
    struct relay_pkg *p = &g->rl->pkgs[g->next];
    unsigned char rnd[16];
    char size[32], members[32], conc[16], idle[16], tmo[16];
    char *dest = af_asprintf("%s/%s", g->rl->o.dir, p->name);
    const char *w[10];
    size_t i;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        relay_gw_report(g, AF_EINTERNAL, NULL, 0, "no random token");
        free(dest);
        g->next++;
        relay_gw_next(g);
        return;
    }
    for (i = 0; i < sizeof(rnd); i++)
        snprintf(g->token[g->next] + 2 * i, 3, "%02x", rnd[i]);
    snprintf(size, sizeof(size), "%llu",
             (unsigned long long)push_src_size(p->src));
    snprintf(members, sizeof(members), "%zu", g->members);
    snprintf(conc, sizeof(conc), "%d", g->rl->o.max_conc);
    snprintf(idle, sizeof(idle), "%u", g->rl->o.idle_s);
    snprintf(tmo, sizeof(tmo), "%u", g->rl->o.timeout_s);
    w[0] = "relay";
    w[1] = push_src_sha(p->src);
    w[2] = size;
    w[3] = dest;
    w[4] = g->addr;
    w[5] = g->token[g->next];
    w[6] = members;
    w[7] = conc;
    w[8] = idle;
    w[9] = tmo;
    agc_request(sess_agc(g->s), w, 10, NULL, 0, 0, relay_started, g);
    free(dest);
}

static void
relay_gw_pushed(int status, const struct push_result *r, void *data)
{
    struct relay_gw *g = data;

    relay_gw_report(g, status, r, 0, r->error);
    if (status == 0) {
        relay_start(g);
        return;
    }
    if (status != AF_EREMOTE && status != AF_EINPUT) {
        sched_job_done(g->sj); /* the session is gone */
        return;
    }
    g->next++;
    relay_gw_next(g);
}

static void
relay_gw_stat(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct relay_gw *g = data;
    struct relay_pkg *p = &g->rl->pkgs[g->next];
    const char *sha = af_kv_get(body, "sha256");
    char *dest;

    if (status == 0 && sha != NULL && strcmp(sha, push_src_sha(p->src)) == 0) {
        relay_gw_report(g, 0, NULL, 1, NULL);
        relay_start(g);
        return;
    }
    dest = af_asprintf("%s/%s", g->rl->o.dir, p->name);
    push_start(a, p->src, dest, 0600, RELAY_PUSH_MS, relay_gw_pushed, g);
    free(dest);
}

static void
relay_gw_next(struct relay_gw *g)
{
    struct relay *rl = g->rl;
    const char *w[2];
    char *dest;

    while (g->next < rl->npkgs && !(rl->pkgs[g->next].arches & g->arch))
        g->next++;
    if (g->next == rl->npkgs) {
        sched_job_done(g->sj);
        return;
    }
    dest = af_asprintf("%s/%s", rl->o.dir, rl->pkgs[g->next].name);
    w[0] = "stat";
    w[1] = dest;
    agc_request(sess_agc(g->s), w, 2, NULL, 0, 0, relay_gw_stat, g);
    free(dest);
}

static void
relay_gw_ready(struct sched_job *sj, struct sess *s, int status)
{
    struct relay *rl = sched_job_data(sj);
    struct relay_gw *g = &rl->gws[sched_job_index(sj)];
    const char *arch = status == 0 ? agc_arch(sess_agc(s)) : "";

    g->sj = sj;
    g->s = s;
    g->arch = strcmp(arch, "x86_64") == 0 ? RELAY_ARCH_X86_64
              : strcmp(arch, "aarch64") == 0 || strcmp(arch, "arm64") == 0
                  ? RELAY_ARCH_AARCH64
                  : 0;
    if (status != 0 || g->arch == 0) {
        g->s = NULL;
        relay_gw_report(g, status ? status : AF_EINPUT, NULL, 0,
                        status ? sess_error(s) : "unknown architecture");
        sched_job_done(sj);
        return;
    }
    relay_gw_next(g);
}

static void
relay_gw_conn_opts(void *data, size_t i, struct conn_opts *o, const void **n)
{
    struct relay *rl = data;

    fleet_conn_opts(rl->f, rl->gws[i].node, o);
    *n = rl->gws[i].node;
}

/* The address members reach the gateway at, as a numeric string. */
static int
relay_gw_addr(struct relay_gw *g)
{
    struct addrinfo hints, *res = NULL;
    int r;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(g->node->address, NULL, &hints, &res) != 0 || res == NULL)
        return -1;
    r = getnameinfo(res->ai_addr, res->ai_addrlen, g->addr, sizeof(g->addr),
                    NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    return r == 0 ? 0 : -1;
}

int
relay_prepare(struct relay *rl,
              relay_gw_cb cb,
              void *data,
              uint64_t *sent,
              struct af_err *e)
{
    static const struct sched_job_ops ops = {
        .sess_flags = SESS_AGENT,
        .conn_opts = relay_gw_conn_opts,
        .ready = relay_gw_ready,
    };
    size_t g;

    rl->cb = cb;
    rl->data = data;
    rl->sent = sent;
    for (g = 0; g < rl->ngws; g++) {
        rl->gws[g].port = af_calloc(rl->npkgs + 1, sizeof(unsigned));
        rl->gws[g].token = af_calloc(rl->npkgs + 1, sizeof(char[33]));
    }
    /* Resolved here, before the loop runs (a name lookup blocks). */
    for (g = 0; g < rl->ngws; g++)
        if (relay_gw_addr(&rl->gws[g]) != 0)
            snprintf(rl->gws[g].addr, sizeof(rl->gws[g].addr), "%s",
                     rl->gws[g].node->address);
    return sched_jobs(NULL, rl->f->loop, rl->ngws,
                      rl->o.fanout > 0 ? rl->o.fanout : 64, &ops, rl, e);
}

/* ---- phase 2: the members ------------------------------------------- */

struct relay_fetch {
    struct relay *rl;
    struct relay_gw *g;
    size_t k;
    struct agc *a;
    uint64_t timeout_ms, t0;
    relay_done_cb cb;
    void *data;
    char *dest;
    char *relay_error;
};

static void
relay_fetch_free(struct relay_fetch *rf)
{
    free(rf->dest);
    free(rf->relay_error);
    free(rf);
}

static void
relay_direct_done(int status, const struct push_result *r, void *data)
{
    struct relay_fetch *rf = data;
    struct relay_result rr = {NULL, rf->relay_error, 0};

    rf->cb(status, r, &rr, rf->data);
    relay_fetch_free(rf);
}

static void
relay_fetched(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct relay_fetch *rf = data;
    struct relay_pkg *p = &rf->rl->pkgs[rf->k];
    struct push_result r;
    struct relay_result rr = {rf->g->node->name, NULL, 0};
    const char *v;

    memset(&r, 0, sizeof(r));
    r.size = push_src_size(p->src);
    r.duration_ms = sched_now_ms() - rf->t0;
    r.error = "";
    if (status == 0) {
        v = af_kv_get(body, "received");
        rr.received = v ? strtoull(v, NULL, 10) : 0;
        v = af_kv_get(body, "offset");
        r.offset = v ? strtoull(v, NULL, 10) : 0;
        rf->cb(0, &r, &rr, rf->data);
        relay_fetch_free(rf);
        return;
    }
    if (status != AF_EREMOTE) {
        /* The member's session failed: nothing to fall back on. */
        r.error = agc_error(a);
        rf->cb(status, &r, &rr, rf->data);
        relay_fetch_free(rf);
        return;
    }
    v = af_kv_get(body, "error");
    rf->relay_error = af_asprintf("fetch from %s failed: %s", rf->g->node->name,
                                  v ? v : "no reason");
    push_start(a, p->src, rf->dest, 0600, rf->timeout_ms, relay_direct_done,
               rf);
}

void
relay_deliver(struct relay *rl,
              size_t i,
              size_t k,
              struct agc *a,
              uint64_t timeout_ms,
              relay_done_cb cb,
              void *data)
{
    struct relay_fetch *rf = af_calloc(1, sizeof(*rf));
    struct relay_pkg *p = &rl->pkgs[k];
    char port[16], size[32], tmo[16];
    const char *w[9];

    rf->rl = rl;
    rf->g = &rl->gws[rl->node_gw[i]];
    rf->k = k;
    rf->a = a;
    rf->timeout_ms = timeout_ms;
    rf->t0 = sched_now_ms();
    rf->cb = cb;
    rf->data = data;
    rf->dest = af_asprintf("%s/%s", rl->o.dir, p->name);
    snprintf(port, sizeof(port), "%u", rf->g->port[k]);
    snprintf(size, sizeof(size), "%llu",
             (unsigned long long)push_src_size(p->src));
    snprintf(tmo, sizeof(tmo), "%u", rl->o.idle_s);
    w[0] = "fetch";
    w[1] = rf->g->addr;
    w[2] = port;
    w[3] = rf->g->token[k];
    w[4] = push_src_sha(p->src);
    w[5] = size;
    w[6] = "600";
    w[7] = rf->dest;
    w[8] = tmo;
    agc_request(a, w, 9, NULL, 0, timeout_ms, relay_fetched, rf);
}

void
relay_free(struct relay *rl)
{
    size_t g;

    if (rl == NULL)
        return;
    for (g = 0; g < rl->ngws; g++) {
        free(rl->gws[g].port);
        free(rl->gws[g].token);
    }
    free(rl->gws);
    free(rl->pkgs);
    free(rl->node_gw);
    free(rl);
}

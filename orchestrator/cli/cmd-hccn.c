/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet hccn plan|apply|verify: the NPU device-network address plan
 * of the inventory's `hccn:` section. `plan` shows the table node x NPU and,
 * when facts are known, what would change; `apply` sets what differs on
 * every selected node in parallel (through each node's agent, hccn_tool
 * calls one after the other per node); `verify` reads everything back,
 * checks links and pings same-plane NPUs of other nodes. Results go to the
 * state file; reports are folded by node set.
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "af-proto.h"
#include "fleet.h"
#include "fold.h"
#include "hccn-ops.h"
#include "hccn.h"
#include "inv.h"
#include "report.h"
#include "sess.h"
#include "st.h"

#define HCCN_DEFAULT_PEERS 2

enum {
    HCCN_OPT_FORCE = CMD_OPT_FIRST_PRIVATE,
    HCCN_OPT_PEERS,
};

struct hccn_cli {
    struct cmd_opts o;
    int force;
    int peers;
};

static void
hccn_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet hccn plan|apply|verify [options]\n"
            "NPU device IPs from the inventory's hccn: address plan.\n\n"
            "  plan     the table node x NPU (address, netmask, detect IP, "
            "gateway),\n"
            "           validation errors, and what changes per NPU when "
            "facts are known\n"
            "  apply    set what differs on every selected node "
            "(hccn_tool through the agent),\n"
            "           read back; a configured different address is "
            "refused unless --force\n"
            "  verify   read back every NPU, link UP, ping same-plane NPUs "
            "of other nodes\n\n%s"
            "      --state FILE       state file (default %s)\n"
            "      --force            apply: change configured addresses "
            "too\n"
            "      --peers N          verify: peers pinged per NPU "
            "(default %d, 0 = none)\n"
            "Exit: 0 all nodes ok, 1 some node failed, 2 usage or plan "
            "error, 3 state file busy.\n",
            cmd_common_help, AF_DEFAULT_STATE, HCCN_DEFAULT_PEERS);
}

static int
hccn_opt(void *ctx, int opt, const char *arg)
{
    struct hccn_cli *c = ctx;
    char *end;
    long v;

    switch (opt) {
    case HCCN_OPT_FORCE:
        c->force = 1;
        return 0;
    case HCCN_OPT_PEERS:
        v = strtol(arg, &end, 10);
        if (*arg == '\0' || *end != '\0' || v < 0 || v > 64) {
            fprintf(stderr,
                    "ascend-fleet hccn: --peers wants 0..64, not '%s'\n", arg);
            return AF_EXIT_USAGE;
        }
        c->peers = (int)v;
        return 0;
    default:
        hccn_usage(stderr);
        return AF_EXIT_USAGE;
    }
}

/* Parse the options of `hccn SUB`; argv[0] is SUB. */
static int
hccn_parse(int argc, char **argv, struct hccn_cli *c)
{
    static const struct option own[] = {
        {"force", no_argument, NULL, HCCN_OPT_FORCE},
        {"peers", required_argument, NULL, HCCN_OPT_PEERS},
        {NULL, 0, NULL, 0},
    };
    char name[64];
    struct cmd_spec spec = {
        .name = name,
        .own = own,
        .handle = hccn_opt,
        .usage = hccn_usage,
        .max_args = 0,
    };

    memset(c, 0, sizeof(*c));
    cmd_opts_init(&c->o);
    c->peers = HCCN_DEFAULT_PEERS;
    snprintf(name, sizeof(name), "hccn %s", argv[0]);
    return cmd_getopt(argc, argv, &spec, &c->o, c);
}

/*
 * Build the plan of inv; on any problem print it (every validation error)
 * and return the exit code, else 0 with *plan set.
 */
static int
hccn_load_plan(const struct inv *inv,
               const char *cmd,
               int json,
               struct hccn_plan **plan)
{
    struct af_err e;
    const char *const *errs;
    size_t nerr, i;
    int r;

    r = hccn_plan_build(inv, plan, &e);
    if (r == AF_ENOTFOUND) {
        fprintf(stderr,
                "ascend-fleet %s: %s has no hccn: section (see "
                "inventory/HCCN.md)\n",
                cmd, inv->path);
        return AF_EXIT_USAGE;
    }
    if (r == 0)
        return 0;
    if (*plan == NULL) {
        fprintf(stderr, "ascend-fleet %s: %s\n", cmd, e.msg);
        return AF_EXIT_USAGE;
    }
    errs = hccn_plan_errors(*plan, &nerr);
    if (json) {
        /* The only line: a summary that says why nothing else follows. */
        struct report rep;
        struct af_buf b;
        struct af_json j;

        report_init(&rep, cmd, 1, 0);
        report_json_begin(&rep, &j, &b, "summary");
        afj_kbool(&j, "valid", 0);
        afj_key(&j, "errors");
        afj_arr_begin(&j);
        for (i = 0; i < nerr; i++)
            afj_str(&j, errs[i]);
        afj_arr_end(&j);
        afj_kuint(&j, "total", 0);
        report_json_end(&rep, &j, &b);
    }
    for (i = 0; i < nerr; i++)
        fprintf(stderr, "%s\n", errs[i]);
    fprintf(stderr, "ascend-fleet %s: the hccn plan has %zu error%s%s\n", cmd,
            nerr, nerr == 1 ? "" : "s",
            strcmp(cmd, "hccn plan") ? "; no node was touched" : "");
    hccn_plan_free(*plan);
    *plan = NULL;
    return AF_EXIT_USAGE;
}

/* ---- plan ---- */

/* What applying the plan to NPU i of a node with facts kv would do. */
static const char *
hccn_change_word(const struct hccn_addr *a,
                 const struct af_kv *kv,
                 int npu,
                 int force,
                 char *now,
                 size_t nowsz)
{
    char ka[32], km[32];
    const char *cur, *mask;

    now[0] = '\0';
    snprintf(ka, sizeof(ka), "hccn.%d.address", npu);
    snprintf(km, sizeof(km), "hccn.%d.netmask", npu);
    cur = af_kv_get(kv, ka);
    mask = af_kv_get(kv, km);
    if (cur == NULL)
        return "unknown";
    switch (hccn_plan_diff(a, cur, mask)) {
    case HCCN_SAME:
        return "same";
    case HCCN_SET:
        return "set";
    case HCCN_CHANGE:
        break;
    }
    snprintf(now, nowsz, "%s/%s", cur, mask ? mask : "");
    return force ? "change" : "change-refused";
}

/* Order of the per-node summary: the worst NPU decides. */
static int
hccn_word_rank(const char *w)
{
    if (strcmp(w, "same") == 0 || strcmp(w, "no facts") == 0)
        return 0;
    if (strcmp(w, "set") == 0)
        return 1;
    if (strcmp(w, "unknown") == 0)
        return 2;
    return 3; /* change, change-refused */
}

/* Where and how hccn plan writes its rows. */
struct hccn_plan_out {
    struct af_buf *b;
    struct af_json *j;
    int json;
    int width;
    int force;
    size_t npus;
};

/*
 * One node's rows of hccn plan (text, or the members of its JSON line);
 * facts NULL when the state has none. Returns the node's worst change word;
 * refused lists the NPUs whose configured address differs.
 */
static const char *
hccn_plan_node(const struct hccn_plan_out *po,
               const struct hccn_plan *plan,
               size_t node,
               const char *name,
               const char *address,
               const struct af_kv *facts,
               char *refused,
               size_t rsz)
{
    const char *worst = facts ? "same" : "no facts";
    struct af_json *j = po->j;
    struct af_buf *b = po->b;
    int npu;

    if (po->json) {
        afj_kstr(j, "name", name);
        afj_kstr(j, "address", address);
        afj_key(j, "npus");
        afj_arr_begin(j);
    }
    for (npu = 0; npu < (int)po->npus; npu++) {
        const struct hccn_addr *a = hccn_plan_get(plan, node, npu);
        char now[40] = "";
        const char *w =
            facts ? hccn_change_word(a, facts, npu, po->force, now, sizeof(now))
                  : NULL;

        if (w != NULL && strncmp(w, "change", 6) == 0) {
            size_t l = strlen(refused);

            snprintf(refused + l, rsz - l, "%s%d", l ? "," : "", npu);
        }
        if (w != NULL && hccn_word_rank(w) > hccn_word_rank(worst))
            worst = w;
        if (po->json) {
            afj_obj_begin(j);
            afj_kint(j, "npu", npu);
            afj_kstr(j, "address", a->address);
            afj_kstr(j, "netmask", a->netmask);
            afj_kstr(j, "detect", a->detect[0] ? a->detect : NULL);
            afj_kstr(j, "gateway", a->gateway[0] ? a->gateway : NULL);
            afj_kint(j, "plane", a->plane);
            afj_kbool(j, "pinned", a->pinned);
            afj_kstr(j, "change", w);
            afj_kstr(j, "current", now[0] && w ? now : NULL);
            afj_obj_end(j);
            continue;
        }
        af_buf_printf(b, "%-*s %3d  %-15s  %-15s  %-15s  %-15s  %s", po->width,
                      name, npu, a->address, a->netmask,
                      a->detect[0] ? a->detect : "-",
                      a->gateway[0] ? a->gateway : "-", w ? w : "-");
        if (w != NULL && now[0])
            af_buf_printf(b, " (now %s)", now);
        af_buf_puts(b, "\n");
    }
    if (po->json) {
        afj_arr_end(j);
        afj_kstr(j, "change", worst);
    }
    return worst;
}

/* The JSON summary of a valid plan: nodes per verdict, among others. */
static void
hccn_plan_json_summary(struct report *rep,
                       const struct fold *worsts,
                       size_t nsel,
                       size_t npus,
                       int any_facts)
{
    struct af_buf b;
    struct af_json j;
    size_t k;

    report_json_begin(rep, &j, &b, "summary");
    afj_kbool(&j, "valid", 1);
    afj_key(&j, "errors");
    afj_arr_begin(&j);
    afj_arr_end(&j);
    afj_kuint(&j, "total", nsel);
    afj_kuint(&j, "npus", npus);
    afj_kbool(&j, "facts", any_facts);
    /* Nodes per verdict: {"same":2,"change-refused":1} */
    afj_key(&j, "changes");
    afj_obj_begin(&j);
    for (k = 0; k < fold_groups(worsts); k++)
        afj_kuint(&j, fold_key(worsts, k), fold_size(worsts, k));
    afj_obj_end(&j);
    report_json_end(rep, &j, &b);
}

/* The text plan's verdicts, folded, and its last line; then print b. */
static void
hccn_plan_text_tail(struct af_buf *b,
                    const struct fold *verdicts,
                    size_t nsel,
                    size_t npus,
                    int any_facts)
{
    size_t k;

    af_buf_puts(b, "\n");
    for (k = 0; k < fold_groups(verdicts); k++) {
        char *nodes = fold_nodes(verdicts, k);

        af_buf_printf(b, "%s: %s\n", fold_key(verdicts, k), nodes);
        free(nodes);
    }
    if (!any_facts)
        af_buf_puts(b, "(no facts in the state file: run `ascend-fleet "
                       "facts` to compare with the nodes)\n");
    af_buf_printf(b, "%zu nodes x %zu NPUs, plan valid\n", nsel, npus);
    fwrite(b->data, 1, b->len, stdout);
}

static int
hccn_plan_cmd(int argc, char **argv)
{
    struct hccn_cli c;
    struct inv *inv = NULL;
    struct hccn_plan *plan = NULL;
    struct st *st = NULL;
    struct af_err e;
    size_t *sel = NULL, nsel = 0, i, npus, width = 4;
    struct af_kv *facts = NULL;
    int *have = NULL, rc, r, any_facts = 0;
    struct fold *verdicts = NULL, *worsts = NULL;
    struct af_buf b;
    struct af_json j;
    struct hccn_plan_out po;
    struct report rep;

    af_buf_init(&b, 0);
    if ((rc = hccn_parse(argc, argv, &c)) != 0)
        return rc < 0 ? AF_EXIT_OK : rc;
    report_init(&rep, "hccn plan", c.o.json, 0);
    verdicts = fold_new();
    worsts = fold_new();
    if (inv_load_ex(c.o.inventory, c.o.ssh_config, &inv, &e) != 0 ||
        inv_select(inv, c.o.limit, &sel, &nsel, &e) != 0) {
        fprintf(stderr, "ascend-fleet hccn plan: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if ((rc = hccn_load_plan(inv, "hccn plan", c.o.json, &plan)) != 0)
        goto out;
    npus = hccn_plan_npus(plan);
    facts = af_calloc(nsel ? nsel : 1, sizeof(*facts));
    have = af_calloc(nsel ? nsel : 1, sizeof(*have));
    for (i = 0; i < nsel; i++)
        af_kv_init(&facts[i]);
    /* Facts only when a state file exists: plan never creates one. */
    if ((r = st_open_ro(cmd_state_path(&c.o), &st, &e)) != 0 &&
        r != AF_ENOTFOUND) {
        fprintf(stderr, "ascend-fleet hccn plan: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if (st != NULL) {
        for (i = 0; i < nsel; i++) {
            have[i] = st_facts_get(st, inv->nodes[sel[i]].name, &facts[i], NULL,
                                   NULL) == 0;
            any_facts |= have[i];
        }
    }
    for (i = 0; i < nsel; i++)
        if (strlen(inv->nodes[sel[i]].name) > width)
            width = strlen(inv->nodes[sel[i]].name);
    afj_init(&j, &b);
    po.b = &b;
    po.j = &j;
    po.json = c.o.json;
    po.width = (int)width;
    po.force = c.force;
    po.npus = npus;
    if (!c.o.json)
        af_buf_printf(&b, "%-*s %3s  %-15s  %-15s  %-15s  %-15s  %s\n",
                      (int)width, "NODE", "NPU", "ADDRESS", "NETMASK", "DETECT",
                      "GATEWAY", "CHANGE");
    for (i = 0; i < nsel; i++) {
        const struct inv_node *nd = &inv->nodes[sel[i]];
        const char *name = nd->name, *worst;
        char refused[256] = "";

        /* JSON Lines: each node's line is written as soon as it is built. */
        if (c.o.json)
            report_json_begin(&rep, &j, &b, "node");
        worst = hccn_plan_node(&po, plan, sel[i], name, nd->address,
                               have[i] ? &facts[i] : NULL, refused,
                               sizeof(refused));
        if (c.o.json)
            report_json_end(&rep, &j, &b);
        fold_add(worsts, worst, name);
        if (strncmp(worst, "change", 6) == 0) {
            char key[300];

            snprintf(key, sizeof(key), "%s (NPU %s)", worst, refused);
            fold_add(verdicts, key, name);
        } else {
            fold_add(verdicts, worst, name);
        }
    }
    if (c.o.json)
        hccn_plan_json_summary(&rep, worsts, nsel, npus, any_facts);
    else
        hccn_plan_text_tail(&b, verdicts, nsel, npus, any_facts);
    rc = AF_EXIT_OK;
out:
    for (i = 0; facts != NULL && i < nsel; i++)
        af_kv_free(&facts[i]);
    free(facts);
    free(have);
    fold_free(verdicts);
    fold_free(worsts);
    af_buf_free(&b);
    st_close(st);
    hccn_plan_free(plan);
    free(sel);
    inv_free(inv);
    return rc;
}

/* ---- apply and verify ---- */

struct hccn_node {
    const char *name;
    const char *address;
    int64_t duration_ms;
    uint64_t t0;
    int sess_failed;
    int reached; /* the SSH session was up when the agent session failed */
    int timed_out;
    char error[512];
    struct hop_result *res;
};

struct hccn_run {
    struct fleet *fleet;
    const struct hccn_plan *plan;
    struct hop_opts hop;
    int verify;
    size_t peers;
    struct hccn_node *nodes;
};

static void
hccn_conn_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct hccn_run *run = data;
    const struct inv_node *n = fleet_node(run->fleet, i);

    fleet_conn_opts(run->fleet, n, o);
    *node = n;
    run->nodes[i].t0 = sched_now_ms();
}

static void
hccn_done(struct sess *s, struct hop_result *r, void *data)
{
    struct sched_job *j = data;
    struct hccn_run *run = sched_job_data(j);
    struct hccn_node *hn = &run->nodes[sched_job_index(j)];

    (void)s;
    hn->res = r;
    hn->duration_ms = (int64_t)(sched_now_ms() - hn->t0);
    sched_job_done(j);
}

static void
hccn_ready(struct sched_job *j, struct sess *s, int status)
{
    struct hccn_run *run = sched_job_data(j);
    size_t i = sched_job_index(j);
    struct hccn_node *hn = &run->nodes[i];
    size_t node = run->fleet->sel[i], npus = hccn_plan_npus(run->plan), k;
    struct hccn_addr *want;

    if (status < 0) {
        hn->sess_failed = 1;
        hn->timed_out = sess_timed_out(s);
        /* The agent client exists once the SSH session was up. */
        hn->reached = sess_agc(s) != NULL;
        hn->duration_ms = (int64_t)(sched_now_ms() - hn->t0);
        snprintf(hn->error, sizeof(hn->error), "%s", sess_error(s));
        sched_job_done(j);
        return;
    }
    want = af_calloc(npus, sizeof(*want));
    for (k = 0; k < npus; k++)
        want[k] = *hccn_plan_get(run->plan, node, (int)k);
    if (run->verify) {
        struct hop_peer *peers = NULL;
        size_t np = 0;

        hop_pick_peers(run->plan, run->fleet->inv, run->fleet->sel,
                       run->fleet->nsel, i, run->peers, &peers, &np);
        hop_verify(s, want, npus, peers, np, &run->hop, hccn_done, j);
        free(peers);
    } else {
        hop_apply(s, want, npus, &run->hop, hccn_done, j);
    }
    free(want);
}

static const struct sched_job_ops hccn_job_ops = {
    .sess_flags = SESS_AGENT,
    .conn_opts = hccn_conn_opts,
    .ready = hccn_ready,
};

/* The node's outcome word for reports. */
static const char *
hccn_node_word(const struct hccn_node *n, int verify)
{
    if (n->sess_failed || n->res == NULL)
        return n->timed_out ? "timeout" : n->reached ? "failed" : "unreachable";
    if (n->res->status == AF_EREMOTE)
        return "failed";
    if (n->res->status != 0)
        return n->res->status == AF_ETIMEOUT ? "timeout" : "unreachable";
    if (verify)
        return "verified";
    return n->res->nchanged ? "applied" : "unchanged";
}

/* JSON Lines: one "node" per node in inventory order, then "summary". */
static void
hccn_print_json(struct report *rep, const struct hccn_run *run, size_t n)
{
    static const char *const words[] = {"applied", "unchanged", "verified",
                                        "failed",  "timeout",   "unreachable"};
    size_t i, k, counts[6] = {0};
    struct af_buf b;
    struct af_json j;

    for (i = 0; i < n; i++) {
        const struct hccn_node *hn = &run->nodes[i];
        const struct hop_result *r = hn->res;
        const char *w = hccn_node_word(hn, run->verify);

        for (k = 0; k < 6; k++)
            counts[k] += strcmp(w, words[k]) == 0;
        report_json_begin(rep, &j, &b, "node");
        afj_kstr(&j, "name", hn->name);
        afj_kstr(&j, "address", hn->address);
        afj_kstr(&j, "status", w);
        afj_kstr(&j, "error",
                 hn->sess_failed ? hn->error
                                 : (r && r->error[0] ? r->error : NULL));
        afj_kuint(&j, "changed", r ? r->nchanged : 0);
        afj_kint(&j, "duration_ms", hn->duration_ms);
        afj_key(&j, "npus");
        afj_arr_begin(&j);
        for (k = 0; r != NULL && k < r->nnpu; k++) {
            const struct hop_npu *p = &r->npus[k];

            afj_obj_begin(&j);
            afj_kint(&j, "npu", p->npu);
            afj_kstr(&j, "status", hop_status_str(p->status));
            afj_kstr(&j, "address", p->address);
            afj_kstr(&j, "netmask", p->netmask);
            afj_kstr(&j, "detect", p->detect);
            afj_kstr(&j, "gateway", p->gateway);
            afj_kstr(&j, "detail", p->detail[0] ? p->detail : NULL);
            afj_obj_end(&j);
        }
        afj_arr_end(&j);
        report_json_end(rep, &j, &b);
    }
    report_json_begin(rep, &j, &b, "summary");
    for (k = run->verify ? 2 : 0; k < 6; k++)
        if (k != 2 || run->verify)
            afj_kuint(&j, words[k], counts[k]);
    afj_kuint(&j, "total", n);
    report_json_end(rep, &j, &b);
}

/* Folded report; returns the number of nodes that were not ok. */
static size_t
hccn_print_report(const struct hccn_run *run, size_t n)
{
    static const char *const order[] = {"applied", "unchanged", "verified",
                                        "failed",  "timeout",   "unreachable"};
    struct fold *ok = fold_new(), *bad = fold_new();
    size_t i, k, nbad = 0, counts[6] = {0};

    for (i = 0; i < n; i++) {
        const struct hccn_node *hn = &run->nodes[i];
        const char *w = hccn_node_word(hn, run->verify);
        char key[640];

        for (k = 0; k < 6; k++)
            if (strcmp(w, order[k]) == 0)
                counts[k]++;
        if (strcmp(w, "applied") == 0 || strcmp(w, "unchanged") == 0 ||
            strcmp(w, "verified") == 0) {
            fold_add(ok, w, hn->name);
            continue;
        }
        nbad++;
        if (strcmp(w, "failed") != 0 || hn->sess_failed) {
            /* Session messages fold although each names its node. */
            char *msg =
                report_err_key(hn->sess_failed ? hn->error : hn->res->error,
                               hn->name, hn->address);

            snprintf(key, sizeof(key), "%s: %s", w, msg);
            fold_add_item(bad, key, hn->name, hn);
            free(msg);
            continue;
        }
        /* One line per failing NPU, folded over nodes. */
        for (k = 0; k < hn->res->nnpu; k++) {
            const struct hop_npu *p = &hn->res->npus[k];

            if (p->status != HOP_FAILED && p->status != HOP_REFUSED)
                continue;
            snprintf(key, sizeof(key), "%s: NPU %d: %s",
                     p->status == HOP_REFUSED ? "refused" : "failed", p->npu,
                     p->detail);
            fold_add(bad, key, hn->name);
        }
    }
    for (k = 0; k < 3; k++) {
        for (i = 0; i < fold_groups(ok); i++) {
            char *nodes;

            if (strcmp(fold_key(ok, i), order[k]) != 0)
                continue;
            nodes = fold_nodes(ok, i);
            printf("%s: %s\n", order[k], nodes);
            free(nodes);
        }
    }
    for (i = 0; i < fold_groups(bad); i++) {
        const struct hccn_node *one = fold_item(bad, i);
        char *nodes = fold_nodes(bad, i);
        const char *key = fold_key(bad, i), *colon = strchr(key, ':'),
                   *text = colon + 1;
        char *safe, own[520];

        /* A node alone keeps its own message, address and all. */
        if (one != NULL && fold_size(bad, i) == 1) {
            snprintf(own, sizeof(own), " %s",
                     report_strip_node(one->sess_failed ? one->error
                                                        : one->res->error,
                                       one->name));
            text = own;
        }
        safe = report_safe(text);

        /* "failed: npu[005,007]: NPU 3: ..." (node text escaped) */
        printf("%.*s: %s:%s\n", (int)(colon - key), key, nodes, safe);
        free(safe);
        free(nodes);
    }
    if (run->verify)
        printf("%zu nodes: %zu verified, %zu failed, %zu unreachable\n", n,
               counts[2], counts[3], counts[4] + counts[5]);
    else
        printf("%zu nodes: %zu applied, %zu unchanged, %zu failed, %zu "
               "unreachable\n",
               n, counts[0], counts[1], counts[3], counts[4] + counts[5]);
    fold_free(ok);
    fold_free(bad);
    return nbad;
}

static int
hccn_run_cmd(int argc, char **argv, int verify)
{
    const char *cmd = verify ? "hccn verify" : "hccn apply";
    struct hccn_cli c;
    struct fleet fleet;
    struct hccn_plan *plan = NULL;
    struct hccn_run run;
    struct st *st = NULL;
    struct af_err e;
    struct report rep;
    uv_loop_t loop;
    size_t i, nbad = 0;
    int r, rc;

    if ((rc = hccn_parse(argc, argv, &c)) != 0)
        return rc < 0 ? AF_EXIT_OK : rc;
    report_init(&rep, cmd, c.o.json, 0);
    memset(&run, 0, sizeof(run));
    if ((r = uv_loop_init(&loop)) != 0) {
        fprintf(stderr, "ascend-fleet %s: cannot start the event loop: %s\n",
                cmd, uv_strerror(r));
        return AF_EXIT_INTERNAL;
    }
    if (fleet_init(&fleet, &loop, c.o.inventory, c.o.limit, c.o.ssh_config,
                   &e) != 0) {
        fprintf(stderr, "ascend-fleet %s: %s\n", cmd, e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    fleet.hostkeys = c.o.hostkeys;
    fleet.kex = c.o.kex;
    /* The whole plan is checked before any node is touched. */
    if ((rc = hccn_load_plan(fleet.inv, cmd, c.o.json, &plan)) != 0)
        goto out;
    if ((rc = cmd_state_open(&c.o, cmd, 1, &st)) != 0)
        goto out;
    /*
     * apply changes the nodes: it locks them. verify only reads them and
     * records what it saw (one transaction per node), so it runs beside a
     * rollout or an apply.
     */
    if (!verify) {
        const char **names = af_calloc(fleet.nsel + 1, sizeof(*names));

        for (i = 0; i < fleet.nsel; i++)
            names[i] = fleet_node(&fleet, i)->name;
        rc = cmd_lock_nodes(st, cmd, names, fleet.nsel);
        free(names);
        if (rc != 0)
            goto out;
    }
    run.fleet = &fleet;
    run.plan = plan;
    run.verify = verify;
    run.peers = (size_t)c.peers;
    run.hop.force = c.force;
    run.hop.tool_timeout_s = c.o.timeout_s;
    run.hop.st = st;
    run.nodes = af_calloc(fleet.nsel ? fleet.nsel : 1, sizeof(*run.nodes));
    for (i = 0; i < fleet.nsel; i++) {
        run.nodes[i].name = fleet_node(&fleet, i)->name;
        run.nodes[i].address = fleet_node(&fleet, i)->address;
    }
    if (sched_jobs(NULL, &loop, fleet.nsel,
                   cmd_fanout_clamp(&rep, c.o.fanout, fleet.nsel),
                   &hccn_job_ops, &run, &e) != 0) {
        fprintf(stderr, "ascend-fleet hccn: %s\n", e.msg);
        rc = AF_EXIT_INTERNAL;
        goto out;
    }
    if (c.o.json) {
        hccn_print_json(&rep, &run, fleet.nsel);
        for (i = 0; i < fleet.nsel; i++)
            if (strcmp(hccn_node_word(&run.nodes[i], verify), "applied") &&
                strcmp(hccn_node_word(&run.nodes[i], verify), "unchanged") &&
                strcmp(hccn_node_word(&run.nodes[i], verify), "verified"))
                nbad++;
    } else {
        nbad = hccn_print_report(&run, fleet.nsel);
    }
    rc = nbad ? AF_EXIT_FAILED : AF_EXIT_OK;
out:
    for (i = 0; run.nodes != NULL && i < fleet.nsel; i++) {
        hop_result_free(run.nodes[i].res);
        free(run.nodes[i].res);
    }
    free(run.nodes);
    st_close(st);
    hccn_plan_free(plan);
    fleet_free(&fleet);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}

int
cmd_hccn_main(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;

    if (sub == NULL) {
        hccn_usage(stderr);
        return AF_EXIT_USAGE;
    }
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
        strcmp(sub, "help") == 0) {
        hccn_usage(stdout);
        return AF_EXIT_OK;
    }
    if (strcmp(sub, "plan") == 0)
        return hccn_plan_cmd(argc - 1, argv + 1);
    if (strcmp(sub, "apply") == 0)
        return hccn_run_cmd(argc - 1, argv + 1, 0);
    if (strcmp(sub, "verify") == 0)
        return hccn_run_cmd(argc - 1, argv + 1, 1);
    fprintf(stderr, "ascend-fleet hccn: unknown subcommand '%s'\n", sub);
    hccn_usage(stderr);
    return AF_EXIT_USAGE;
}

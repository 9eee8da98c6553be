/* SPDX-License-Identifier: MIT */
/* @failed:RUN / @ok:RUN in node selections, resolved from the state. */
#include "limit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "cmd.h"
#include "hostlist.h"
#include "st.h"

static int
has_result_term(const char *v)
{
    return strstr(v, "@failed:") != NULL || strstr(v, "@ok:") != NULL;
}

static int
resolve_run(struct st *st, const char *spec, int64_t *run, struct af_err *e)
{
    struct st_run *runs = NULL;
    size_t n = 0;
    char *end;
    int r;

    if (strcmp(spec, "last") != 0) {
        *run = strtoll(spec, &end, 10);
        if (*spec == '\0' || *end != '\0' || *run < 1)
            return af_err_set(e, AF_EINPUT,
                              "--limit: bad run '%s' (an id "
                              "or 'last')",
                              spec);
        return 0;
    }
    if ((r = st_run_list(st, &runs, &n, e)) != 0)
        return r;
    if (n == 0)
        return af_err_set(e, AF_ENOTFOUND, "--limit: %s holds no run",
                          st_path(st));
    *run = runs[n - 1].id;
    st_runs_free(runs, n);
    return 0;
}

/* The nodes of term ("@failed:RUN" or "@ok:RUN") as a hostlist. */
static int
expand_term(struct st *st, const char *term, struct af_buf *b, struct af_err *e)
{
    int ok = strncmp(term, "@ok:", 4) == 0;
    struct st_node *nodes = NULL;
    const char **names = NULL;
    size_t n = 0, i, k = 0;
    int64_t run;
    char *fold;
    int r;

    if ((r = resolve_run(st, strchr(term, ':') + 1, &run, e)) != 0)
        return r;
    if ((r = st_node_list(st, run, &nodes, &n, e)) != 0)
        return r;
    names = af_calloc(n + 1, sizeof(*names));
    for (i = 0; i < n; i++) {
        enum st_node_status s = nodes[i].status;
        int good = s == ST_NODE_DONE || s == ST_NODE_SKIPPED;
        int bad = s == ST_NODE_FAILED || s == ST_NODE_UNREACHABLE ||
                  s == ST_NODE_BLOCKED;

        if (ok ? good : bad)
            names[k++] = nodes[i].node;
    }
    if (k == 0) {
        r = af_err_set(e, AF_EINPUT, "--limit: %s: run %lld has no %s node",
                       term, (long long)run, ok ? "ok" : "failed");
    } else {
        fold = hl_fold(names, k);
        af_buf_puts(b, fold);
        free(fold);
    }
    free(names);
    st_nodes_free(nodes, n);
    return r;
}

/* value with every result term replaced (caller frees). */
static int
rewrite(struct st *st, const char *value, char **out, struct af_err *e)
{
    struct af_buf b;
    size_t i, start = 0;
    int depth = 0, r = 0;

    af_buf_init(&b, 0);
    for (i = 0; r == 0; i++) {
        char c = value[i];
        const char *t = value + start;
        size_t n = i - start;

        if (c == '[')
            depth++;
        else if (c == ']')
            depth--;
        if (c != '\0' && (c != ',' || depth > 0))
            continue;
        if (start > 0)
            af_buf_puts(&b, ",");
        if (*t == '!') {
            af_buf_puts(&b, "!");
            t++;
            n--;
        }
        if (strncmp(t, "@failed:", 8) == 0 || strncmp(t, "@ok:", 4) == 0) {
            char *term = af_strndup(t, n);

            r = expand_term(st, term, &b, e);
            free(term);
        } else {
            af_buf_append(&b, t, n);
        }
        if (c == '\0')
            break;
        start = i + 1;
    }
    if (r != 0) {
        af_buf_free(&b);
        return r;
    }
    *out = af_buf_steal(&b);
    return 0;
}

int
cmd_limit_resolve(struct cmd_opts *o, const char *cmd)
{
    struct st *st = NULL;
    struct af_err e = {0};
    char *nval = NULL;
    int r;

    if (o->cfg_err[0] != '\0') {
        fprintf(stderr, "ascend-fleet: %s\n", o->cfg_err);
        return AF_EXIT_USAGE;
    }
    if (o->limit == NULL || !has_result_term(o->limit))
        return 0;
    if ((r = cmd_state_open(o, cmd, 0, &st)) != 0)
        return r;
    r = rewrite(st, o->limit, &nval, &e);
    st_close(st);
    if (r != 0) {
        fprintf(stderr, "ascend-fleet %s: %s\n", cmd, e.msg);
        return AF_EXIT_USAGE;
    }
    if (strlen(nval) >= sizeof(o->limit_buf)) {
        fprintf(stderr, "ascend-fleet %s: node selection too long\n", cmd);
        free(nval);
        return AF_EXIT_USAGE;
    }
    memcpy(o->limit_buf, nval, strlen(nval) + 1);
    o->limit = o->limit_buf;
    free(nval);
    return 0;
}

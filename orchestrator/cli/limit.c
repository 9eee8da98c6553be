/* SPDX-License-Identifier: MIT */
/* @failed:RUN / @ok:RUN in node selections, resolved from the state. */
#include "limit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Where a selection value starts in arg (or NULL), given the previous. */
static const char *
selection_value(const char *prev, const char *arg)
{
    if (prev != NULL && (strcmp(prev, "--limit") == 0 ||
                         strcmp(prev, "-w") == 0 || strcmp(prev, "-x") == 0))
        return arg;
    if (strncmp(arg, "--limit=", 8) == 0)
        return arg + 8;
    if ((strncmp(arg, "-w", 2) == 0 || strncmp(arg, "-x", 2) == 0) &&
        arg[2] != '\0')
        return arg + 2;
    return NULL;
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
cmd_limit_results(int argc, char **argv, char ***out, struct af_err *e)
{
    const char *state = AF_DEFAULT_STATE, *v;
    struct st *st = NULL;
    char **nv = NULL;
    int i, need = 0, r = 0;

    *out = NULL;
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
            state = argv[i + 1];
        else if (strncmp(argv[i], "--state=", 8) == 0)
            state = argv[i] + 8;
        v = selection_value(argv[i - 1], argv[i]);
        need |= v != NULL && has_result_term(v);
    }
    if (!need)
        return 0;
    if (access(state, F_OK) != 0)
        return af_err_set(e, AF_ENOTFOUND,
                          "--limit: no state file %s to "
                          "read results from",
                          state);
    if ((r = st_open(state, &st, e)) != 0)
        return r;
    nv = af_calloc((size_t)argc + 1, sizeof(*nv));
    for (i = 0; i < argc; i++)
        nv[i] = af_strdup(argv[i]);
    for (i = 1; i < argc && r == 0 && strcmp(argv[i], "--") != 0; i++) {
        char *nval = NULL;

        v = selection_value(argv[i - 1], argv[i]);
        if (v == NULL || !has_result_term(v))
            continue;
        if ((r = rewrite(st, v, &nval, e)) != 0)
            break;
        free(nv[i]);
        nv[i] = af_asprintf("%.*s%s", (int)(v - argv[i]), argv[i], nval);
        free(nval);
    }
    st_close(st);
    if (r != 0) {
        cmd_limit_results_free(argc, nv);
        return r;
    }
    *out = nv;
    return 0;
}

void
cmd_limit_results_free(int argc, char **argv)
{
    int i;

    if (argv == NULL)
        return;
    for (i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

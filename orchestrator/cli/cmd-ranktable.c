/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet ranktable: the HCCL rank table (format "1.0") of the
 * selected nodes, ranks numbered node by node in inventory order, from the
 * hccn address plan. It is written only when every selected NPU has a
 * `verified` row in the state file at its planned address (so the table
 * describes what the nodes really use), unless the operator forces it.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "limit.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "hccn.h"
#include "inv.h"
#include "khosts.h"
#include "st.h"

enum {
    RT_OPT_FORCE = CMD_OPT_FIRST_PRIVATE,
};

static void
rt_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet ranktable [-o FILE] [--limit P] [--force] "
            "[options]\n"
            "Write the HCCL rank table (hccl.json, format 1.0) of the "
            "selected nodes:\nranks node by node in inventory order, device "
            "IPs from the hccn plan.\nRefused while a selected NPU is not "
            "verified at its planned address\n(`ascend-fleet hccn verify`) "
            "unless --force.\n\n"
            "  -i, --inventory FILE   inventory (default ./inventory.yaml)\n"
            "      --limit PATTERN    only these nodes\n"
            "  -w NODES, -x NODES     as --limit NODES, --limit '!NODES'\n"
            "      --state FILE       state file (default %s)\n"
            "  -o, --output FILE      write here (default stdout)\n"
            "      --force            write even with unverified NPUs\n"
            "  -h, --help             this help\n"
            "Results recorded on other machines (another address, or a "
            "host key the\nnode's known_hosts does not trust) are "
            "refused too, unless --force.\n"
            "Exit: 0 written, 1 refused (unverified NPUs, or results of "
            "other machines),\n2 usage or plan error.\n",
            AF_DEFAULT_STATE);
}

/* The verified row of node/npu in rows, or NULL. */
static const struct st_hccn *
rt_row(const struct st_hccn *rows, size_t n, const char *node, int npu)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (rows[i].npu == npu && strcmp(rows[i].node, node) == 0)
            return &rows[i];
    return NULL;
}

/* Append "0-3,5" for the NPUs flagged in bad[0..n). */
static void
rt_ranges(struct af_buf *b, const int *bad, int n)
{
    int i = 0, first = 1;

    while (i < n) {
        int j;

        if (!bad[i]) {
            i++;
            continue;
        }
        for (j = i; j + 1 < n && bad[j + 1]; j++)
            ;
        af_buf_printf(b, "%s%d", first ? "" : ",", i);
        if (j > i)
            af_buf_printf(b, "-%d", j);
        first = 0;
        i = j + 1;
    }
}

/*
 * Write json to path through a fresh temporary file beside it (mkstemp:
 * a new name, never an existing file or a symbolic link) and rename it into
 * place, so a reader sees the old table or the new one, never a part.
 */
static int
rt_write(const char *path, const char *json, struct af_err *e)
{
    char *tmp = NULL;
    size_t len = strlen(json), off = 0;
    ssize_t w;
    int fd = -1, r = 0, err;

    if (path == NULL || strcmp(path, "-") == 0) {
        fwrite(json, 1, len, stdout);
        return 0;
    }
    tmp = af_asprintf("%s.XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0) {
        err = errno;
        r = af_err_set(e, -err, "cannot write %s: %s", path, strerror(err));
        free(tmp);
        return r;
    }
    if (fchmod(fd, 0644) != 0)
        goto fail;
    while (off < len) {
        w = write(fd, json + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    return 0;
fail:
    err = errno ? errno : EIO;
    r = af_err_set(e, -err, "cannot write %s: %s", path, strerror(err));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return r;
}

/* Build the address plan of inv; on failure print why (every plan error)
 * and return -1. */
static int
rt_plan(const struct inv *inv, struct hccn_plan **plan)
{
    struct af_err e;
    size_t nerr = 0, i;
    const char *const *errs;
    int r;

    r = hccn_plan_build(inv, plan, &e);
    if (r == 0)
        return 0;
    errs = *plan ? hccn_plan_errors(*plan, &nerr) : NULL;
    if (r == AF_ENOTFOUND)
        fprintf(stderr,
                "ascend-fleet ranktable: %s has no hccn: "
                "section\n",
                inv->path);
    else if (nerr == 0)
        fprintf(stderr, "ascend-fleet ranktable: %s\n", e.msg);
    for (i = 0; i < nerr; i++)
        fprintf(stderr, "%s\n", errs[i]);
    return -1;
}

/* The hccn rows of the state file, read only (none: no state file, nothing
 * is verified); on failure print why and return -1. */
static int
rt_rows(struct cmd_opts *o,
        struct st **st,
        struct st_hccn **rows,
        size_t *nrows)
{
    struct af_err e;
    int r;

    /* Never create a state file: none means nothing is verified. */
    if ((r = st_open_ro(cmd_state_path(o), st, &e)) != 0 && r != AF_ENOTFOUND) {
        fprintf(stderr, "ascend-fleet ranktable: %s\n", e.msg);
        return -1;
    }
    if (*st != NULL) {
        if (st_hccn_get(*st, NULL, rows, nrows, &e) != 0) {
            fprintf(stderr, "ascend-fleet ranktable: %s\n", e.msg);
            return -1;
        }
    }
    return 0;
}

/*
 * What differs between the machine n's hccn rows were recorded on and the
 * machine the inventory names now, into out ("" when the same, or when
 * the rows carry no identity): the address, or a host key that the node's
 * known_hosts file does not trust for that address.
 */
static void
rt_ident(const struct inv_node *n,
         const struct st_hccn *rows,
         size_t nrows,
         char *out,
         size_t len)
{
    size_t i;

    out[0] = '\0';
    for (i = 0; i < nrows; i++) {
        struct st_ident rec = {rows[i].node_address, NULL};
        struct st_ident now = {n->address, NULL};

        if (strcmp(rows[i].node, n->name) != 0)
            continue;
        if (st_ident_diff(&rec, &now, out, len))
            return;
        if (rows[i].host_key != NULL &&
            khosts_has_fingerprint(n->known_hosts, n->address, n->port,
                                   rows[i].host_key) == 0) {
            snprintf(out, len,
                     "host key %s is not the one %s trusts for %s "
                     "now",
                     rows[i].host_key, n->known_hosts, n->address);
            return;
        }
    }
}

/* The selected nodes whose rows were recorded on other machines, listed
 * in out ("npu017 (address A -> B); ..."); returns how many. */
static size_t
rt_foreign(const struct inv *inv,
           const size_t *sel,
           size_t nsel,
           const struct st_hccn *rows,
           size_t nrows,
           struct af_buf *out)
{
    size_t i, n = 0;
    char what[512];

    for (i = 0; i < nsel; i++) {
        const struct inv_node *node = &inv->nodes[sel[i]];

        rt_ident(node, rows, nrows, what, sizeof(what));
        if (what[0] == '\0')
            continue;
        af_buf_printf(out, "%s  %s: %s", n ? "\n" : "", node->name, what);
        n++;
    }
    return n;
}

/* Count the selected nodes' NPUs not verified at their planned address
 * and list them in missing ("node NPU 0-3, ..."). */
static size_t
rt_unverified(const struct inv *inv,
              const size_t *sel,
              size_t nsel,
              const struct hccn_plan *plan,
              const struct st_hccn *rows,
              size_t nrows,
              struct af_buf *missing)
{
    size_t npus = hccn_plan_npus(plan), n = 0, i;

    for (i = 0; i < nsel; i++) {
        const char *name = inv->nodes[sel[i]].name;
        int bad[HCCN_MAX_NPUS] = {0}, any = 0, npu;

        for (npu = 0; npu < (int)npus && npu < HCCN_MAX_NPUS; npu++) {
            const struct hccn_addr *a = hccn_plan_get(plan, sel[i], npu);
            const struct st_hccn *row = rt_row(rows, nrows, name, npu);

            if (row == NULL || row->status != ST_HCCN_VERIFIED ||
                row->address == NULL || strcmp(row->address, a->address)) {
                bad[npu] = 1;
                any = 1;
                n++;
            }
        }
        if (any) {
            af_buf_printf(missing, "%s%s NPU ", missing->len ? ", " : "", name);
            rt_ranges(missing, bad, (int)npus);
        }
    }
    return n;
}

int
cmd_ranktable_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"inventory", required_argument, NULL, 'i'},
        {"limit", required_argument, NULL, CMD_OPT_LIMIT},
        {"state", required_argument, NULL, CMD_OPT_STATE},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, RT_OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cmd_opts o;
    const char *output = NULL;
    int force = 0, opt, rc, r;
    struct inv *inv = NULL;
    struct hccn_plan *plan = NULL;
    struct st *st = NULL;
    struct st_hccn *rows = NULL;
    size_t nrows = 0, *sel = NULL, nsel = 0, npus, nmissing = 0, nforeign;
    struct af_buf missing, foreign;
    struct af_err e;
    char *json = NULL;

    af_buf_init(&missing, 0);
    af_buf_init(&foreign, 0);
    cmd_opts_init(&o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:o:w:x:vh", longopts, NULL)) !=
           -1) {
        r = cmd_opts_handle(&o, "ranktable", opt, optarg);
        if (r < 0)
            return AF_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case 'o':
            output = optarg;
            break;
        case RT_OPT_FORCE:
            force = 1;
            break;
        case 'h':
            rt_usage(stdout);
            return AF_EXIT_OK;
        default:
            rt_usage(stderr);
            return AF_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ascend-fleet ranktable: unexpected argument '%s'\n",
                argv[optind]);
        return AF_EXIT_USAGE;
    }
    if ((r = cmd_limit_resolve(&o, "ranktable")) != 0)
        return r;
    if (inv_load_ex(o.inventory, o.ssh_config, &inv, &e) != 0 ||
        inv_select(inv, o.limit, &sel, &nsel, &e) != 0) {
        fprintf(stderr, "ascend-fleet ranktable: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if (rt_plan(inv, &plan) != 0) {
        rc = AF_EXIT_USAGE;
        goto out;
    }
    npus = hccn_plan_npus(plan);
    if (rt_rows(&o, &st, &rows, &nrows) != 0) {
        rc = AF_EXIT_USAGE;
        goto out;
    }
    nforeign = rt_foreign(inv, sel, nsel, rows, nrows, &foreign);
    if (nforeign) {
        fprintf(stderr,
                "ascend-fleet ranktable: %s: hccn results of %zu node%s "
                "were recorded on other machines than %s names:\n%s\n%s\n",
                force ? "warning (--force)" : "refused", nforeign,
                nforeign == 1 ? "" : "s", inv->path, foreign.data,
                force ? ""
                      : "(run `ascend-fleet hccn verify` on these nodes, "
                        "or --force)");
        if (!force) {
            rc = AF_EXIT_FAILED;
            goto out;
        }
    }
    nmissing = rt_unverified(inv, sel, nsel, plan, rows, nrows, &missing);
    if (nmissing && !force) {
        fprintf(stderr,
                "ascend-fleet ranktable: %zu NPU%s not verified at the "
                "planned address: %s\n(run `ascend-fleet hccn apply` and "
                "`ascend-fleet hccn verify`, or --force)\n",
                nmissing, nmissing == 1 ? " is" : "s are", missing.data);
        rc = AF_EXIT_FAILED;
        goto out;
    }
    if (nmissing)
        fprintf(stderr,
                "ascend-fleet ranktable: warning: %zu NPU%s not verified "
                "(--force): %s\n",
                nmissing, nmissing == 1 ? " is" : "s are", missing.data);
    if ((r = hccn_ranktable_json(plan, inv, sel, nsel, NULL, &json, &e)) != 0) {
        fprintf(stderr, "ascend-fleet ranktable: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if (rt_write(output, json, &e) != 0) {
        fprintf(stderr, "ascend-fleet ranktable: %s\n", e.msg);
        rc = AF_EXIT_FAILED;
        goto out;
    }
    if (output != NULL && strcmp(output, "-") != 0)
        fprintf(stderr,
                "ascend-fleet ranktable: %zu servers, %zu ranks "
                "written to %s\n",
                nsel, nsel * npus, output);
    rc = AF_EXIT_OK;
out:
    free(json);
    af_buf_free(&missing);
    af_buf_free(&foreign);
    st_hccn_free(rows, nrows);
    st_close(st);
    hccn_plan_free(plan);
    free(sel);
    inv_free(inv);
    return rc;
}

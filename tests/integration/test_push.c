/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of package pushes through the net layer (sessions,
 * agent client, libssh channels on libuv) against the shared simulated
 * rack: a package larger than 1 GiB pushed to 16 nodes at once must arrive
 * whole on every one of them with the orchestrator's memory flat; a push
 * whose orchestrator is killed with SIGKILL resumes from the node's
 * verified checkpoint; a package changed during a push is a clear error. The
 * package is generated at test time as a sparse file with a vendor-style header
 * and random blocks spread through it, so only a few MiB use the disk.
 *
 * Only nodes npu049..npu064 of the shared rack are used; files are removed
 * through the nodes afterwards.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "af-err.h"
#include "af-mem.h"
#include "agc.h"
#include "fleet.h"
#include "harness.h"
#include "inv.h"
#include "push.h"
#include "sess.h"

#define PT_NODES  "npu[049-064]"
#define PT_NNODES 16
#define PT_BIG    ((off_t)1024 * 1024 * 1024 + 12345)
#define PT_DEST \
    "/var/cache/ascend-fleet/test/Ascend-cann-toolkit_9.9.9_linux-x86_64.run"

/* ---- the package -------------------------------------------------------- */

/*
 * Write a sparse file of size bytes at path: a shell header, then 1 MiB of
 * random bytes every 128 MiB and at the end; the rest are holes.
 */
static void
pt_make_package(const char *path, off_t size)
{
    static const char head[] = "#!/bin/sh\n# ascend-fleet push test "
                               "package\nexit 0\n__PAYLOAD__\n";
    char *blk = af_malloc(1 << 20);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    off_t off;

    cr_assert(fd >= 0 && rnd >= 0, "cannot create %s", path);
    cr_assert_eq(ftruncate(fd, size), 0);
    cr_assert_eq(pwrite(fd, head, sizeof(head) - 1, 0),
                 (ssize_t)sizeof(head) - 1);
    for (off = 4096; off < size; off += (off_t)128 << 20) {
        size_t n = (size_t)(size - off < (1 << 20) ? size - off : (1 << 20));

        cr_assert_eq(read(rnd, blk, n), (ssize_t)n);
        cr_assert_eq(pwrite(fd, blk, n, off), (ssize_t)n);
    }
    cr_assert_eq(read(rnd, blk, 4096), 4096);
    cr_assert_eq(pwrite(fd, blk, 4096, size - 4096), 4096);
    close(rnd);
    close(fd);
    free(blk);
}

/* SHA-256 of a file through sha256sum (hex, 64 chars + NUL). */
static void
pt_sha256(const char *path, char hex[65])
{
    struct th_result r;
    const char *argv[] = {"sha256sum", "--", path, NULL};

    cr_assert_eq(th_run(&r, 300, argv), 0);
    cr_assert_eq(r.status, 0, "sha256sum failed: %s", r.err);
    cr_assert(strlen(r.out) >= 64);
    memcpy(hex, r.out, 64);
    hex[64] = '\0';
    th_result_free(&r);
}

/* ---- driving the rack --------------------------------------------------- */

struct pt_node {
    struct pt_run *run;
    struct sess *s;
    char name[32];
    int status; /* 1 = pending, 0 = pushed, else AF_E* */
    struct push_result res;
    char err[512];
};

struct pt_run {
    struct fleet f;
    uv_loop_t loop;
    struct push_src *src;
    const char *dest;
    struct pt_node nodes[PT_NNODES];
    size_t n;
    /* Optional: called once after hook_ms while the pushes run. */
    void (*hook)(struct pt_run *run);
    uint64_t hook_ms;
    uv_timer_t hook_timer;
    const char *path;
};

static void
pt_closed(struct sess *s, void *data)
{
    (void)s;
    (void)data;
}

static void
pt_done(int status, const struct push_result *r, void *data)
{
    struct pt_node *pn = data;

    pn->status = status;
    pn->res = *r;
    snprintf(pn->err, sizeof(pn->err), "%s", r->error);
    pn->res.error = NULL;
    sess_close(pn->s, pt_closed);
}

static void
pt_ready(struct sess *s, int status)
{
    struct pt_node *pn = sess_data(s);
    struct pt_run *run = pn->run;

    if (status != 0) {
        pn->status = status;
        snprintf(pn->err, sizeof(pn->err), "%s", sess_error(s));
        sess_close(s, pt_closed);
        return;
    }
    push_start(sess_agc(s), run->src, run->dest, 0644, 30 * 60 * 1000, pt_done,
               pn);
}

static void
pt_hook_cb(uv_timer_t *t)
{
    struct pt_run *run = t->data;

    run->hook(run);
}

/*
 * Push the file at path to the nodes of limit at once, through the net
 * layer's push API, on a private loop that must end empty.
 */
static void
pt_push_all(struct pt_run *run, const char *limit, const char *path)
{
    struct af_err e = {0, ""};
    size_t i;

    cr_assert_eq(uv_loop_init(&run->loop), 0);
    cr_assert_eq(fleet_init(&run->f, &run->loop, AF_RACK_DIR "/inventory.yaml",
                            limit, NULL, &e),
                 0, "inventory: %s", e.msg);
    cr_assert_eq(push_src_open(path, &run->src, &e), 0, "%s", e.msg);
    run->dest = PT_DEST;
    run->path = path;
    run->n = run->f.nsel;
    cr_assert(run->n <= PT_NNODES);
    for (i = 0; i < run->n; i++) {
        run->nodes[i].run = run;
        run->nodes[i].status = 1;
        snprintf(run->nodes[i].name, sizeof(run->nodes[i].name), "%s",
                 fleet_node(&run->f, i)->name);
        struct conn_opts o;

        fleet_conn_opts(&run->f, fleet_node(&run->f, i), &o);
        run->nodes[i].s =
            sess_open(&run->loop, &o, SESS_AGENT, fleet_node(&run->f, i),
                      pt_ready, &run->nodes[i]);
    }
    if (run->hook != NULL) {
        uv_timer_init(&run->loop, &run->hook_timer);
        run->hook_timer.data = run;
        uv_timer_start(&run->hook_timer, pt_hook_cb, run->hook_ms, 0);
        uv_unref((uv_handle_t *)&run->hook_timer);
    }
    uv_run(&run->loop, UV_RUN_DEFAULT);
    if (run->hook != NULL) {
        uv_close((uv_handle_t *)&run->hook_timer, NULL);
        uv_run(&run->loop, UV_RUN_DEFAULT);
    }
    push_src_free(run->src);
    run->src = NULL;
    fleet_free(&run->f);
    cr_assert_eq(uv_loop_close(&run->loop), 0, "handles left on the loop");
}

/* Size of the file at path on node (its overlay), -1 if missing. */
static long long
pt_node_size(const char *node, const char *path)
{
    char *p = af_asprintf("%s/nodes/%s/upper%s", AF_RACK_DIR, node, path);
    struct stat sb;
    long long r = stat(p, &sb) == 0 ? (long long)sb.st_size : -1;

    free(p);
    return r;
}

/* The checkpointed offset in the partial's meta on node, -1 if none. */
static long long
pt_node_checkpoint(const char *node)
{
    char *p = af_asprintf("%s/nodes/%s/upper%s.partial.meta", AF_RACK_DIR, node,
                          PT_DEST);
    char *text = th_slurp(p, NULL);
    char sha[65];
    unsigned long long size, off;
    long long r = -1;

    if (text != NULL && sscanf(text, "%64s %llu %llu", sha, &size, &off) == 3)
        r = (long long)off;
    free(text);
    free(p);
    return r;
}

/* Remove dest and its partial on node through the node (never behind the
 * overlay's back). */
static void
pt_rm_node_file(const char *node, const char *dest)
{
    th_rack("exec %s -- rm -f %s %s.partial %s.partial.meta", node, dest, dest,
            dest);
}

static char pt_dir[64];

static void
pt_fini(void)
{
    char node[16];
    int i;

    for (i = 49; i <= 64; i++) {
        snprintf(node, sizeof(node), "npu%03d", i);
        pt_rm_node_file(node, PT_DEST);
    }
    if (pt_dir[0] != '\0') {
        char *p = af_asprintf("%s/pkg.run", pt_dir);

        unlink(p);
        free(p);
        rmdir(pt_dir);
    }
}

static char *
pt_package(void)
{
    char *pkg;

    snprintf(pt_dir, sizeof(pt_dir), "/tmp/af-push-XXXXXX");
    cr_assert_not_null(mkdtemp(pt_dir));
    pkg = af_asprintf("%s/pkg.run", pt_dir);
    pt_make_package(pkg, PT_BIG);
    return pkg;
}

static long
pt_maxrss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

Test(push,
     gib_package_reaches_sixteen_nodes_at_once,
     .fini = pt_fini,
     .timeout = 850)
{
    static struct pt_run run;
    char sha[65], *pkg = pt_package();
    long rss0;
    size_t i;

    pt_sha256(pkg, sha);
    rss0 = pt_maxrss_kib();
    pt_push_all(&run, PT_NODES, pkg);
    cr_assert_eq(run.n, PT_NNODES);
    for (i = 0; i < run.n; i++) {
        cr_expect_eq(run.nodes[i].status, 0, "%s: push ended with %d: %s",
                     run.nodes[i].name, run.nodes[i].status, run.nodes[i].err);
        cr_expect_eq(pt_node_size(run.nodes[i].name, PT_DEST),
                     (long long)PT_BIG, "%s: the package is missing or short",
                     run.nodes[i].name);
    }
    /*
     * Streamed: 16 GiB went out and the orchestrator grew by far less than
     * one package (the file mapped or buffered whole would be 1 GiB). The
     * bound leaves room for AddressSanitizer's quarantine of freed chunks
     * (256 MiB by default); without it the growth is a few MiB per node.
     */
    cr_expect_lt(pt_maxrss_kib() - rss0, 512L * 1024,
                 "peak RSS grew by %ld KiB", pt_maxrss_kib() - rss0);
    free(pkg);
}

/* In a child: push pkg to npu049 until killed. */
static void
pt_child_push(const char *pkg)
{
    static struct pt_run run;

    pt_push_all(&run, "npu049", pkg);
    _exit(0);
}

Test(push,
     resumes_from_the_verified_offset_after_kill_9,
     .fini = pt_fini,
     .timeout = 600)
{
    static struct pt_run run;
    char *pkg = pt_package();
    long long cp = -1;
    pid_t pid;
    int i, st;

    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        pt_child_push(pkg);
    /* Wait for a checkpoint past 128 MiB, then kill -9 the orchestrator. */
    for (i = 0; i < 3000 && cp < (128LL << 20); i++) {
        usleep(20000);
        cp = pt_node_checkpoint("npu049");
        if (waitpid(pid, &st, WNOHANG) == pid)
            cr_assert_fail("the first push ended before it was killed");
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    cr_assert_geq(cp, 128LL << 20, "no checkpoint past 128 MiB (got %lld)", cp);
    cr_assert_lt(pt_node_size("npu049", PT_DEST), 0,
                 "the package has its final name before it is complete");

    pt_push_all(&run, "npu049", pkg);
    cr_assert_eq(run.nodes[0].status, 0, "second push: %s", run.nodes[0].err);
    cr_expect_geq(run.nodes[0].res.offset, (uint64_t)cp,
                  "resumed at %llu, checkpoint was %lld",
                  (unsigned long long)run.nodes[0].res.offset, cp);
    cr_expect_lt(run.nodes[0].res.sent, (uint64_t)PT_BIG,
                 "the second push sent the whole package again");
    cr_expect_eq(run.nodes[0].res.sent + run.nodes[0].res.offset,
                 (uint64_t)PT_BIG);
    cr_expect_eq(pt_node_size("npu049", PT_DEST), (long long)PT_BIG);
    free(pkg);
}

/* Hooks: change the package while it is being pushed. */
static void
pt_truncate_pkg(struct pt_run *run)
{
    cr_assert_eq(truncate(run->path, PT_BIG / 2), 0);
}

static void
pt_rewrite_pkg(struct pt_run *run)
{
    int fd = open(run->path, O_WRONLY | O_CLOEXEC);

    cr_assert(fd >= 0);
    cr_assert_eq(pwrite(fd, "changed!", 8, PT_BIG - 100), 8);
    close(fd);
}

static void
pt_expect_changed(struct pt_run *run)
{
    cr_assert_eq(run->nodes[0].status, AF_EINPUT, "push ended with %d: %s",
                 run->nodes[0].status, run->nodes[0].err);
    cr_expect(strstr(run->nodes[0].err, "changed during the run") != NULL,
              "unclear error: %s", run->nodes[0].err);
    cr_expect(strstr(run->nodes[0].err, "pkg.run") != NULL,
              "the error does not name the file: %s", run->nodes[0].err);
    cr_expect_lt(pt_node_size(run->nodes[0].name, PT_DEST), 0,
                 "a changed package was installed");
}

Test(push,
     package_truncated_mid_push_is_a_clear_error,
     .fini = pt_fini,
     .timeout = 300)
{
    static struct pt_run run;
    char *pkg = pt_package();

    run.hook = pt_truncate_pkg;
    run.hook_ms = 300;
    pt_push_all(&run, "npu050", pkg);
    pt_expect_changed(&run);
    free(pkg);
}

Test(push,
     package_rewritten_mid_push_is_a_clear_error,
     .fini = pt_fini,
     .timeout = 300)
{
    static struct pt_run run;
    char *pkg = pt_package();

    run.hook = pt_rewrite_pkg;
    run.hook_ms = 300;
    pt_push_all(&run, "npu051", pkg);
    pt_expect_changed(&run);
    free(pkg);
}

/* ---- ascend-fleet stage ------------------------------------------------- */

static char pt_stage_dir[64];

static void
pt_stage_fini(void)
{
    char *p;

    th_rack("exec npu052 -- rm -rf /var/lib/ascend-fleet/packages");
    th_rack("exec npu053 -- rm -rf /var/lib/ascend-fleet/packages");
    if (pt_stage_dir[0] != '\0') {
        p = af_asprintf("%s/Ascend-cann-toolkit_8.0.RC2_linux-x86_64.run",
                        pt_stage_dir);
        unlink(p);
        free(p);
        rmdir(pt_stage_dir);
    }
}

Test(push,
     stage_copies_once_and_reports_staged_after,
     .fini = pt_stage_fini,
     .timeout = 300)
{
    struct th_result r;
    char *pkg;

    snprintf(pt_stage_dir, sizeof(pt_stage_dir), "/tmp/af-stage-XXXXXX");
    cr_assert_not_null(mkdtemp(pt_stage_dir));
    pkg = af_asprintf("%s/Ascend-cann-toolkit_8.0.RC2_linux-x86_64.run",
                      pt_stage_dir);
    pt_make_package(pkg, (off_t)96 << 20);
    cr_assert_eq(th_fleet(&r, 240,
                          "stage --limit npu[052-053] --packages %s "
                          "--stage cann",
                          pt_stage_dir),
                 0);
    cr_assert_eq(r.status, 0, "stage failed: %s%s", r.out, r.err);
    cr_expect(strstr(r.out, "npu052") && strstr(r.out, "npu053"),
              "one line per node expected: %s", r.out);
    cr_expect(strstr(r.out, "96.0 MiB in") != NULL, "no size/duration: %s",
              r.out);
    cr_expect(strstr(r.out, "2 nodes, 2 staged, 0 failed") != NULL, "%s",
              r.out);
    th_result_free(&r);
    cr_expect_eq(pt_node_size("npu052", "/var/lib/ascend-fleet/packages/"
                                        "Ascend-cann-toolkit_8.0.RC2_linux-"
                                        "x86_64.run"),
                 (long long)96 << 20);

    /* Again: nothing to send, each node says it holds the package. */
    cr_assert_eq(th_fleet(&r, 240,
                          "stage --limit npu[052-053] --packages %s "
                          "--stage cann",
                          pt_stage_dir),
                 0);
    cr_assert_eq(r.status, 0, "second stage failed: %s%s", r.out, r.err);
    cr_expect(strstr(r.out, "(staged)") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "0.0 MiB sent") != NULL, "%s", r.out);
    th_result_free(&r);
    free(pkg);
}

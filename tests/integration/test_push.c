/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of package pushes through the net layer (sessions,
 * agent client, libssh channels on libuv) against the shared simulated
 * rack: a package larger than 1 GiB pushed to 16 nodes at once must arrive
 * whole on every one of them. The package is generated at test time as a
 * sparse file with a vendor-style header and random blocks spread through
 * it, so only a few MiB use the disk.
 *
 * Only nodes npu049..npu064 of the shared rack are used.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "af-err.h"
#include "af-mem.h"
#include "agc.h"
#include "fleet.h"
#include "harness.h"
#include "inv.h"
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
    char err[512];
};

struct pt_run {
    struct fleet f;
    const void *data;
    size_t size;
    const char *sha;
    const char *dest;
    struct pt_node nodes[PT_NNODES];
    size_t n;
};

static void
pt_closed(struct sess *s, void *data)
{
    (void)s;
    (void)data;
}

static void
pt_put_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct pt_node *pn = data;
    const char *why = af_kv_get(body, "error");

    (void)a;
    pn->status = status;
    if (status != 0)
        snprintf(pn->err, sizeof(pn->err), "%s",
                 why ? why : agc_error(sess_agc(pn->s)));
    sess_close(pn->s, pt_closed);
}

static void
pt_ready(struct sess *s, int status)
{
    struct pt_node *pn = sess_data(s);
    struct pt_run *run = pn->run;
    char size[32];
    const char *words[5];

    if (status != 0) {
        pn->status = status;
        snprintf(pn->err, sizeof(pn->err), "%s", sess_error(s));
        sess_close(s, pt_closed);
        return;
    }
    snprintf(size, sizeof(size), "%zu", run->size);
    words[0] = "put";
    words[1] = run->sha;
    words[2] = size;
    words[3] = "644";
    words[4] = run->dest;
    agc_request(sess_agc(s), words, 5, run->data, run->size, 30 * 60 * 1000,
                pt_put_answer, pn);
}

/* Push the file at path to every node of PT_NODES at once. */
static void
pt_push_all(struct pt_run *run, const char *path, const char *sha)
{
    struct af_err e = {0, ""};
    uv_loop_t loop;
    struct stat sb;
    void *m;
    int fd;
    size_t i;

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(
        fleet_init(&run->f, &loop, AF_RACK_DIR "/inventory.yaml", PT_NODES, &e),
        0, "inventory: %s", e.msg);
    cr_assert_eq(run->f.nsel, PT_NNODES);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0 && fstat(fd, &sb) == 0);
    m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    cr_assert(m != MAP_FAILED);
    close(fd);
    run->data = m;
    run->size = (size_t)sb.st_size;
    run->sha = sha;
    run->dest = PT_DEST;
    run->n = run->f.nsel;
    for (i = 0; i < run->n; i++) {
        run->nodes[i].run = run;
        run->nodes[i].status = 1;
        snprintf(run->nodes[i].name, sizeof(run->nodes[i].name), "%s",
                 fleet_node(&run->f, i)->name);
        struct conn_opts o;

        fleet_conn_opts(&run->f, fleet_node(&run->f, i), &o);
        run->nodes[i].s = sess_open(&loop, &o, SESS_AGENT,
                                    fleet_node(&run->f, i), pt_ready,
                                    &run->nodes[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    munmap(m, run->size);
    fleet_free(&run->f);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
}

/* Size of the file at dest on node, -1 if missing. */
static long long
pt_node_size(const char *node, const char *dest)
{
    char *p = af_asprintf("%s/nodes/%s/upper%s", AF_RACK_DIR, node, dest);
    struct stat sb;
    long long r = stat(p, &sb) == 0 ? (long long)sb.st_size : -1;

    free(p);
    return r;
}

/* Remove dest on node through the node (never behind the overlay). */
static void
pt_rm_node_file(const char *node, const char *dest)
{
    th_rack("exec %s -- rm -f %s", node, dest);
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

Test(push,
     gib_package_reaches_sixteen_nodes_at_once,
     .fini = pt_fini,
     .timeout = 850)
{
    static struct pt_run run;
    char sha[65], *pkg;
    size_t i;

    snprintf(pt_dir, sizeof(pt_dir), "/tmp/af-push-XXXXXX");
    cr_assert_not_null(mkdtemp(pt_dir));
    pkg = af_asprintf("%s/pkg.run", pt_dir);
    pt_make_package(pkg, PT_BIG);
    pt_sha256(pkg, sha);
    pt_push_all(&run, pkg, sha);
    cr_assert_eq(run.n, PT_NNODES);
    for (i = 0; i < run.n; i++)
        cr_expect_eq(run.nodes[i].status, 0, "%s: push ended with %d: %s",
                     run.nodes[i].name, run.nodes[i].status, run.nodes[i].err);
    for (i = 0; i < PT_NNODES; i++) {
        char node[16];

        snprintf(node, sizeof(node), "npu%03zu", 49 + i);
        cr_expect_eq(pt_node_size(node, PT_DEST), (long long)PT_BIG,
                     "%s: the package is missing or short", node);
    }
    free(pkg);
}

/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of `ascend-fleet copy` and `gather` (pdcp/rpdcp through
 * the agent) and of the shared node selection options -w/-x and
 * --limit @failed:RUN/@ok:RUN, against the shared simulated rack: a 50 MiB
 * file copied to 16 nodes arrives whole, and a second copy sends nothing
 * (the node files are not even rewritten); a 0750 file keeps its mode; the
 * same file gathered back from 16 nodes lands as NAME.NODE with its content,
 * with the orchestrator's memory far below the data fetched; a node without
 * the file fails clearly and leaves no file or temp file; -w/-x select what
 * --limit selects; @failed:RUN and @ok:RUN pick the nodes of a recorded
 * rollout with one failed node.
 *
 * Uses npu001..npu016. Files go under /var/tmp/af-copy-test on the nodes
 * and are removed by each test's fini; the rollout test resets its two
 * nodes to fresh before and after.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-mem.h"
#include "harness.h"

#define CT_NODES   "npu[001-016]"
#define CT_NNODES  16
#define CT_DIR     "/var/tmp/af-copy-test"
#define CT_BIG     (50 * 1024 * 1024 + 4321)
#define CT_TIMEOUT 300

static char ct_tmp[64]; /* this test's local directory */

static void
ct_rm_rf(const char *path)
{
    struct th_result r;
    const char *argv[] = {"rm", "-rf", "--", path, NULL};

    if (th_run(&r, 60, argv) == 0)
        th_result_free(&r);
}

static void
ct_init(void)
{
    snprintf(ct_tmp, sizeof(ct_tmp), "/tmp/af-copy-XXXXXX");
    cr_assert_not_null(mkdtemp(ct_tmp));
}

/* Remove what a test left on the nodes and here (also after a failure). */
static void
ct_fini(void)
{
    struct th_result r;

    if (th_fleet(&r, 120, "exec --limit " CT_NODES " -- rm -rf " CT_DIR) == 0)
        th_result_free(&r);
    if (ct_tmp[0] != '\0')
        ct_rm_rf(ct_tmp);
}

/* A local file of size random bytes with mode; returns its path (free). */
static char *
ct_make_file(const char *name, size_t size, mode_t mode)
{
    char *path = af_asprintf("%s/%s", ct_tmp, name);
    char *buf = af_malloc(1 << 20);
    int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    cr_assert(rnd >= 0 && fd >= 0, "%s: %s", path, strerror(errno));
    while (size > 0) {
        size_t n = size < (1 << 20) ? size : (1 << 20);

        cr_assert_eq(read(rnd, buf, n), (ssize_t)n);
        cr_assert_eq(write(fd, buf, n), (ssize_t)n);
        size -= n;
    }
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
    close(rnd);
    free(buf);
    return path;
}

/* Where the node keeps a file it wrote at path (its overlay's upper dir). */
static char *
ct_node_path(const char *node, const char *path)
{
    return af_asprintf("%s/nodes/%s/upper%s", AF_RACK_DIR, node, path);
}

/* 1 if the files at a and b hold the same bytes. */
static int
ct_same(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    char *da = th_slurp(a, &la), *db = th_slurp(b, &lb);
    int same = da != NULL && db != NULL && la == lb && memcmp(da, db, la) == 0;

    free(da);
    free(db);
    return same;
}

static void
ct_copy_big(const char *src)
{
    struct th_result r;

    cr_assert_eq(th_fleet(&r, CT_TIMEOUT,
                          "copy --limit " CT_NODES " %s " CT_DIR "/big.bin",
                          src),
                 0);
    cr_assert_eq(r.status, 0, "copy failed:\n%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "16 ok, 0 failed, 0 unreachable") != NULL, "%s",
              r.out);
    th_result_free(&r);
}

Test(copy,
     big_file_to_16_nodes_then_again_sends_nothing,
     .init = ct_init,
     .fini = ct_fini,
     .timeout = 600)
{
    char *src = ct_make_file("big.bin", CT_BIG, 0644);
    ino_t ino[CT_NNODES + 1];
    struct th_result r;
    struct stat sb;
    const char *p;
    int i, lines = 0;

    ct_copy_big(src);
    for (i = 1; i <= CT_NNODES; i++) {
        char node[16], *np;

        snprintf(node, sizeof(node), "npu%03d", i);
        np = ct_node_path(node, CT_DIR "/big.bin");
        cr_expect(ct_same(src, np), "%s holds another content", np);
        cr_assert_eq(stat(np, &sb), 0, "%s", np);
        cr_expect_eq(sb.st_mode & 07777, 0644, "%s: mode %o", np,
                     sb.st_mode & 07777);
        ino[i] = sb.st_ino;
        free(np);
    }
    /* Again: every node already holds it; nothing is sent or rewritten. */
    cr_assert_eq(
        th_fleet(&r, CT_TIMEOUT,
                 "copy --json --limit " CT_NODES " %s " CT_DIR "/big.bin", src),
        0);
    cr_expect_eq(r.status, 0, "%s\n%s", r.out, r.err);
    for (p = strstr(r.out, "\"type\":\"node\""); p != NULL;
         p = strstr(p + 1, "\"type\":\"node\"")) {
        const char *eol = strchr(p, '\n');
        char *line = af_strndup(p, eol ? (size_t)(eol - p) : strlen(p));

        cr_expect(
            strstr(line, "\"status\":\"ok\"") && strstr(line, "\"sent\":0") &&
                strstr(line, "\"unchanged\":1") && strstr(line, "\"bytes\":0,"),
            "a node got bytes again: %s", line);
        free(line);
        lines++;
    }
    cr_expect_eq(lines, CT_NNODES, "%s", r.out);
    cr_expect(strstr(r.out, "\"type\":\"summary\",\"ok\":16,\"failed\":0") !=
                  NULL,
              "%s", r.out);
    th_result_free(&r);
    for (i = 1; i <= CT_NNODES; i++) {
        char node[16], *np;

        snprintf(node, sizeof(node), "npu%03d", i);
        np = ct_node_path(node, CT_DIR "/big.bin");
        cr_assert_eq(stat(np, &sb), 0, "%s", np);
        cr_expect_eq(sb.st_ino, ino[i], "%s was rewritten", np);
        free(np);
    }
    free(src);
}

Test(copy, mode_0750_is_kept, .init = ct_init, .fini = ct_fini, .timeout = 300)
{
    char *src = ct_make_file("tool.sh", 4096, 0750);
    char *src2 = ct_make_file("data.txt", 100, 0600);
    struct th_result r;
    struct stat sb;
    char *np;

    /* Two sources: DEST is a directory, the names are kept. */
    cr_assert_eq(th_fleet(&r, CT_TIMEOUT,
                          "copy -w npu003,npu004 %s %s " CT_DIR "/bin", src,
                          src2),
                 0);
    cr_expect_eq(r.status, 0, "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "2 files sent (4196 bytes), 0 already there") !=
                  NULL,
              "%s", r.out);
    th_result_free(&r);
    np = ct_node_path("npu004", CT_DIR "/bin/tool.sh");
    cr_assert_eq(stat(np, &sb), 0, "%s: %s", np, strerror(errno));
    cr_expect_eq(sb.st_mode & 07777, 0750, "mode %o", sb.st_mode & 07777);
    cr_expect_eq(sb.st_uid, 0, "owner %d", (int)sb.st_uid);
    cr_expect(ct_same(src, np));
    free(np);
    np = ct_node_path("npu003", CT_DIR "/bin/data.txt");
    cr_assert_eq(stat(np, &sb), 0, "%s: %s", np, strerror(errno));
    cr_expect_eq(sb.st_mode & 07777, 0600, "mode %o", sb.st_mode & 07777);
    free(np);
    /* One source into an existing directory: the name is kept too. */
    cr_assert_eq(chmod(src, 0755), 0);
    cr_assert_eq(
        th_fleet(&r, CT_TIMEOUT, "copy -w npu003 %s " CT_DIR "/bin", src), 0);
    cr_expect_eq(r.status, 0, "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "1 file sent") != NULL,
              "a changed mode is sent again: %s", r.out);
    th_result_free(&r);
    np = ct_node_path("npu003", CT_DIR "/bin/tool.sh");
    cr_assert_eq(stat(np, &sb), 0);
    cr_expect_eq(sb.st_mode & 07777, 0755, "mode %o", sb.st_mode & 07777);
    free(np);
    free(src);
    free(src2);
}

/*
 * AddressSanitizer keeps up to 256 MiB of freed chunks in quarantine, which
 * would hide whether a child streams or buffers: keep it small for this
 * test's children (nothing changes in a build without sanitizers).
 */
static void
ct_quiet_quarantine(void)
{
    const char *old = getenv("ASAN_OPTIONS");
    char *opts = af_asprintf("%s%squarantine_size_mb=4", old ? old : "",
                             old && *old ? ":" : "");

    cr_assert_eq(setenv("ASAN_OPTIONS", opts, 1), 0);
    free(opts);
}

Test(copy,
     gather_big_file_from_16_nodes,
     .init = ct_init,
     .fini = ct_fini,
     .timeout = 600)
{
    char *src = ct_make_file("big.bin", CT_BIG, 0640);
    char *dir = af_asprintf("%s/got", ct_tmp);
    struct th_result r;
    struct rusage ru;
    struct stat sb;
    int i;

    ct_quiet_quarantine();
    ct_copy_big(src);
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_eq(th_fleet(&r, CT_TIMEOUT,
                          "gather --limit " CT_NODES " " CT_DIR "/big.bin %s",
                          dir),
                 0);
    cr_expect_eq(r.status, 0, "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "16 ok, 0 failed, 0 unreachable") != NULL, "%s",
              r.out);
    th_result_free(&r);
    for (i = 1; i <= CT_NNODES; i++) {
        char *got = af_asprintf("%s/big.bin.npu%03d", dir, i);

        cr_expect(ct_same(src, got), "%s is not the node's file", got);
        cr_expect(stat(got, &sb) == 0 && (sb.st_mode & 0777) == 0640,
                  "%s: mode", got);
        free(got);
    }
    /*
     * 800 MiB were fetched at once; streamed, the largest child of this
     * test (copy or gather) stays far below even one node's share of it
     * per node (buffered whole, the gather would hold 800 MiB).
     */
    cr_assert_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
    cr_expect_lt(ru.ru_maxrss, 200 * 1024, "max RSS %ld KiB", ru.ru_maxrss);
    /* Each node's own file lands under its own name. */
    cr_assert_eq(th_fleet(&r, CT_TIMEOUT,
                          "gather -w npu007,npu009 /etc/hostname %s", dir),
                 0);
    cr_expect_eq(r.status, 0, "%s\n%s", r.out, r.err);
    th_result_free(&r);
    for (i = 7; i <= 9; i += 2) {
        char *got = af_asprintf("%s/hostname.npu%03d", dir, i);
        char *text = th_slurp(got, NULL), want[16];

        snprintf(want, sizeof(want), "npu%03d", i);
        cr_expect(text != NULL && strstr(text, want) == text, "%s: %s", got,
                  text ? text : "(missing)");
        free(text);
        free(got);
    }
    free(dir);
    free(src);
}

Test(copy,
     gather_missing_file_fails_that_node,
     .init = ct_init,
     .fini = ct_fini,
     .timeout = 300)
{
    char *src = ct_make_file("small.bin", 70000, 0644);
    char *dir = af_asprintf("%s/got", ct_tmp);
    struct th_result r;
    char *p;
    int n = 0;

    cr_assert_eq(
        th_fleet(&r, CT_TIMEOUT, "copy -w npu[010-012] %s " CT_DIR "/", src),
        0);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "exec -w npu011 -- rm " CT_DIR "/small.bin"),
                 0);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_eq(th_fleet(&r, CT_TIMEOUT,
                          "gather -w npu[010-012] " CT_DIR "/small.bin %s",
                          dir),
                 0);
    cr_expect_eq(r.status, 1, "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "npu011 (failed)") != NULL &&
                  strstr(r.out, CT_DIR "/small.bin: No such file or "
                                       "directory") != NULL,
              "%s", r.out);
    cr_expect(strstr(r.out, "2 ok, 1 failed: npu011, 0 unreachable") != NULL,
              "%s", r.out);
    th_result_free(&r);
    p = af_asprintf("%s/small.bin.npu010", dir);
    cr_expect(ct_same(src, p));
    free(p);
    p = af_asprintf("%s/small.bin.npu011", dir);
    cr_expect_neq(access(p, F_OK), 0, "%s exists", p);
    free(p);
    /* Only the two good copies, no temp file left behind. */
    {
        struct th_result ls;
        const char *argv[] = {"ls", "-A", dir, NULL};

        cr_assert_eq(th_run(&ls, 30, argv), 0);
        for (p = ls.out; (p = strchr(p, '\n')) != NULL; p++)
            n++;
        cr_expect_eq(n, 2, "%s", ls.out);
        th_result_free(&ls);
    }
    /* Too large for --max-size: refused, nothing written. */
    cr_assert_eq(th_fleet(&r, CT_TIMEOUT,
                          "gather -w npu010 --max-size 64K " CT_DIR
                          "/small.bin %s/nope",
                          ct_tmp),
                 0);
    cr_expect_eq(r.status, 2, "LOCALDIR missing: %s\n%s", r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, CT_TIMEOUT,
                          "gather -w npu010 --max-size 64K " CT_DIR
                          "/small.bin %s",
                          ct_tmp),
                 0);
    cr_expect_eq(r.status, 1, "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "70000 bytes, more than the limit of 65536") !=
                  NULL,
              "%s", r.out);
    th_result_free(&r);
    p = af_asprintf("%s/small.bin.npu010", ct_tmp);
    cr_expect_neq(access(p, F_OK), 0, "%s exists", p);
    free(p);
    free(dir);
    free(src);
}

/* The node names of an exec's folded "npuNNN (exit 0)" heads, in order. */
static char *
ct_exec_nodes(const char *args)
{
    struct th_result r;
    char *out;

    cr_assert_eq(th_fleet(&r, 120, "exec %s -- hostname", args), 0);
    cr_expect_eq(r.status, 0, "%s: %s\n%s", args, r.out, r.err);
    out = af_strdup(r.out);
    th_result_free(&r);
    return out;
}

Test(copy, w_and_x_select_as_limit_does, .timeout = 300)
{
    char *a = ct_exec_nodes("-w npu[001-004] -x npu002");
    char *b = ct_exec_nodes("--limit npu[001-004],!npu002");
    char *c = ct_exec_nodes("-w npu001 -w npu003,npu004");
    char *d = ct_exec_nodes("--limit npu[001-005] -x npu[002,005]");
    struct th_result r;

    cr_expect(strstr(a, "3 ok, 0 failed, 0 unreachable") != NULL, "%s", a);
    cr_expect(strstr(a, "npu002") == NULL, "%s", a);
    cr_expect_str_eq(a, b);
    cr_expect_str_eq(a, c);
    cr_expect_str_eq(a, d);
    /* -x alone leaves everything else: the rack has more than 60 nodes. */
    cr_assert_eq(th_fleet(&r, 300, "exec -x npu[005-064] -- true"), 0);
    cr_expect(strstr(r.out, "4 ok, 0 failed, 0 unreachable") != NULL, "%s",
              r.out);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 30, "exec -w nosuchnode -- true"), 0);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "nosuchnode") != NULL, "%s", r.err);
    th_result_free(&r);
    free(a);
    free(b);
    free(c);
    free(d);
}

/* ---- @failed:RUN / @ok:RUN after a rollout with one failed node ---------- */

static void
ct_reset_fini(void)
{
    th_rack("reset npu015 npu016 --state fresh");
    if (ct_tmp[0] != '\0')
        ct_rm_rf(ct_tmp);
}

/* An inventory of npu015 and npu016 with the rack's key; returns its path. */
static char *
ct_rollout_inventory(void)
{
    char *inv = af_asprintf("%s/inventory.yaml", ct_tmp);
    FILE *f = fopen(inv, "w");
    int i;

    cr_assert_not_null(f);
    fprintf(f,
            "defaults:\n"
            "  user: root\n"
            "  identity: %s/id_ed25519\n"
            "  known_hosts: %s/known_hosts\n"
            "  connect_timeout: 5\n"
            "  reboot_command: /usr/local/sbin/fleet-sim-reboot\n"
            "  reboot_timeout: 60\n"
            "groups:\n"
            "  rollout:\n"
            "    hosts:\n",
            AF_RACK_DIR, AF_RACK_DIR);
    for (i = 15; i <= 16; i++) {
        char *path = af_asprintf("%s/nodes/npu%03d/addr", AF_RACK_DIR, i);
        char *addr = th_slurp(path, NULL);

        cr_assert_not_null(addr, "no %s", path);
        addr[strcspn(addr, "\n")] = '\0';
        fprintf(f, "      - {name: \"npu%03d\", address: \"%s\"}\n", i, addr);
        free(addr);
        free(path);
    }
    cr_assert_eq(fclose(f), 0);
    return inv;
}

/* The hostname heads exec prints for a selection from the run's state. */
static void
ct_exec_sel(struct th_result *r,
            const char *inv,
            const char *state,
            const char *sel)
{
    const char *argv[] = {AF_BIN,    "exec", "-i", inv,        "--state", state,
                          "--limit", sel,    "--", "hostname", NULL};

    cr_assert_eq(th_run(r, 120, argv), 0);
}

Test(copy,
     limit_failed_and_ok_of_a_recorded_run,
     .init = ct_init,
     .fini = ct_reset_fini,
     .timeout = 600)
{
    char *inv, *state = af_asprintf("%s/state.db", ct_tmp);
    char *pkgs = af_asprintf("%s/pkgs", ct_tmp);
    const char *mk[] = {"/bin/sh",
                        AF_SOURCE_DIR "/tests/rack/fake/mkpackages.sh", "--out",
                        pkgs, NULL};
    struct th_result r;
    int i;

    cr_assert_eq(th_rack("reset npu015 npu016 --state fresh"), 0);
    for (i = 15; i <= 16; i++) {
        cr_assert_eq(th_rack("fault npu%03d set install-seconds 0.3", i), 0);
        cr_assert_eq(th_rack("fault npu%03d set reboot-seconds 1", i), 0);
    }
    cr_assert_eq(th_rack("fault npu015 set fault-install-fail"), 0);
    cr_assert_eq(th_run(&r, 120, mk), 0);
    cr_assert_eq(r.status, 0, "mkpackages.sh: %s", r.err);
    th_result_free(&r);
    inv = ct_rollout_inventory();
    {
        const char *argv[] = {AF_BIN,    "rollout",    "-i",         inv,
                              "--state", state,        "--packages", pkgs,
                              "--stage", "prereq,npu", "--yes",      "--batch",
                              "2",       "--max-fail", "1",          "--settle",
                              "1",       NULL};

        cr_assert_eq(th_run(&r, CT_TIMEOUT, argv), 0);
        cr_assert_eq(r.status, 1, "rollout: exit %d\n%s\n%s", r.status, r.out,
                     r.err);
        th_result_free(&r);
    }
    ct_exec_sel(&r, inv, state, "@failed:1");
    cr_expect_eq(r.status, 0, "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "npu015 (exit 0)") != NULL &&
                  strstr(r.out, "npu016") == NULL &&
                  strstr(r.out, "1 ok, 0 failed, 0 unreachable") != NULL,
              "@failed:1 should be npu015 only:\n%s", r.out);
    th_result_free(&r);
    ct_exec_sel(&r, inv, state, "@ok:1");
    cr_expect(strstr(r.out, "npu016 (exit 0)") != NULL &&
                  strstr(r.out, "npu015") == NULL,
              "@ok:1 should be npu016 only:\n%s", r.out);
    th_result_free(&r);
    ct_exec_sel(&r, inv, state, "!@failed:1");
    cr_expect(strstr(r.out, "npu016 (exit 0)") != NULL &&
                  strstr(r.out, "npu015") == NULL,
              "!@failed:1 should leave npu015 out:\n%s", r.out);
    th_result_free(&r);
    ct_exec_sel(&r, inv, state, "@failed:7");
    cr_expect_eq(r.status, 2, "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.err, "@failed:7") != NULL, "%s", r.err);
    th_result_free(&r);
    /* The state file is only read: the rollout's run is still the last. */
    {
        const char *argv[] = {AF_BIN,    "runs", "-i", inv,
                              "--state", state,  NULL};

        cr_assert_eq(th_run(&r, 60, argv), 0);
        cr_expect_eq(r.status, 0, "%s", r.err);
        th_result_free(&r);
    }
    free(inv);
    free(state);
    free(pkgs);
}

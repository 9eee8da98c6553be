/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of pre-staging (`ascend-fleet stage`) on the shared
 * simulated rack, with the rollout fixture: the aggregate --rate cap holds
 * over four nodes and the bytes arrive intact; a bad --rate is refused
 * before anything starts; a stage killed with SIGKILL mid-push left a state
 * record that never claims more than the node holds, status shows the
 * partial, and the next stage continues from the node's verified offset and
 * says so; status folds staged nodes per package; the rollout plan shows
 * staged installs as "(staged)" and the rollout then sends nothing for
 * them (the node's copy is never rewritten); rollout --rate caps its
 * push phase.
 *
 * Only nodes npu057..npu063 are used; each test resets its nodes to fresh
 * before and after (ro_setup, ro_fini) and has its own temporary
 * directory, inventory and state file.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-mem.h"
#include "ro-fixture.h"

#define ST_TEST(name) Test(stage, name, .fini = st_fini, .timeout = 800)
#define ST_CANN       "Ascend-cann-toolkit_8.0.RC2_linux-x86_64.run"
#define ST_NODE_PKGS  "/var/lib/ascend-fleet/packages"
#define MIB           (1024LL * 1024)

static char st_pkgdir[PATH_MAX];

static void
st_fini(void)
{
    if (st_pkgdir[0] != '\0') {
        rm_rf(st_pkgdir);
        st_pkgdir[0] = '\0';
    }
    ro_fini();
}

/*
 * A packages directory (in the test's directory) holding one CANN toolkit
 * of size bytes: a shell header, then 1 MiB of random bytes every 16 MiB
 * and at the end, holes between (so the disk holds little of it).
 */
static const char *
st_packages(long long size)
{
    static const char head[] = "#!/bin/sh\nexit 0\n__PAYLOAD__\n";
    char *blk = af_malloc(1 << 20), *path;
    int fd, rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    long long off;

    snprintf(st_pkgdir, sizeof(st_pkgdir), "%s/pkgs", ctx.dir);
    cr_assert_eq(mkdir(st_pkgdir, 0755), 0);
    path = af_asprintf("%s/%s", st_pkgdir, ST_CANN);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(fd >= 0 && rnd >= 0);
    cr_assert_eq(ftruncate(fd, size), 0);
    cr_assert_eq(pwrite(fd, head, sizeof(head) - 1, 0),
                 (ssize_t)sizeof(head) - 1);
    for (off = 4096; off < size; off += 16 * MIB) {
        size_t n = (size_t)(size - off < MIB ? size - off : MIB);

        cr_assert_eq(read(rnd, blk, n), (ssize_t)n);
        cr_assert_eq(pwrite(fd, blk, n, off), (ssize_t)n);
    }
    close(rnd);
    close(fd);
    free(blk);
    free(path);
    return st_pkgdir;
}

/* SHA-256 (hex) of a file here, through sha256sum; the caller frees it. */
static char *
st_sha(const char *path)
{
    const char *argv[] = {"sha256sum", "--", path, NULL};
    struct th_result r;
    char *hex;

    cr_assert_eq(th_run(&r, 300, argv), 0);
    if (r.status != 0 || strlen(r.out) < 64) {
        th_result_free(&r);
        return af_strdup("");
    }
    hex = af_asprintf("%.64s", r.out);
    th_result_free(&r);
    return hex;
}

/* Path of a file a node wrote, in its overlay (caller frees). */
static char *
st_node_path(const char *node, const char *path)
{
    return af_asprintf("%s/nodes/%s/upper%s", AF_RACK_DIR, node, path);
}

/* The offset in the node's partial meta of ST_CANN, -1 if none. */
static long long
st_node_checkpoint(const char *node)
{
    char *p = st_node_path(node, ST_NODE_PKGS "/" ST_CANN ".partial.meta");
    char *text = th_slurp(p, NULL);
    unsigned long long size, off;
    char sha[65];
    long long r = -1;

    if (text != NULL && sscanf(text, "%64s %llu %llu", sha, &size, &off) == 3)
        r = (long long)off;
    free(text);
    free(p);
    return r;
}

/* The number after "key": in a JSON text, -1 when absent. */
static long long
st_json_num(const char *text, const char *key)
{
    char *k = af_asprintf("\"%s\":", key);
    const char *p = strstr(text, k);
    long long v = p ? atoll(p + strlen(k)) : -1;

    free(k);
    return v;
}

ST_TEST(rate_caps_all_pushes_together_and_bytes_arrive_intact)
{
    struct th_result r;
    char *local, *sha;
    long long t0, ms;
    int i;

    ro_setup(57, 60, "fresh");
    st_packages(8 * MIB);
    local = af_asprintf("%s/%s", st_pkgdir, ST_CANN);
    sha = st_sha(local);
    /*
     * 4 x 8 MiB at 4 MiB/s: 8 s, less a tenth of a second of burst. The cap
     * sits far below what the rack moves uncapped even on a busy machine,
     * so the lower bound shows the cap.
     */
    t0 = now_ms();
    fleet(&r, RO_RUN_TIMEOUT,
          "stage -i %s --state %s --packages %s --stage cann --rate 4M",
          ctx.inv, ctx.state, st_pkgdir);
    ms = now_ms() - t0;
    cr_assert_eq(r.status, 0, "stage failed:\n%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "4 nodes, 4 staged, 0 failed") != NULL, "%s",
              r.out);
    cr_expect_geq(ms, 7000, "32 MiB went out in %lld ms with a 4M cap", ms);
    th_result_free(&r);
    for (i = 57; i <= 60; i++) {
        char node[16], *p, *got;

        node_name(node, sizeof(node), i);
        p = st_node_path(node, ST_NODE_PKGS "/" ST_CANN);
        got = st_sha(p);
        cr_expect_str_eq(got, sha, "%s holds other bytes", node);
        free(got);
        free(p);
    }
    cr_expect_eq(sql_int(ctx.state,
                         "SELECT count(*) FROM staged WHERE "
                         "state = 'staged' AND verified = size "
                         "AND size = %lld AND sha256 = '%s'",
                         8 * MIB, sha),
                 4, "the state file does not record the 4 staged copies");
    free(sha);
    free(local);
}

ST_TEST(bad_rate_is_refused_before_anything_starts)
{
    static const char *const bad[] = {"12X", "0", "-5M", "1.5G", "M", ""};
    struct th_result r;
    size_t i;

    ro_setup(57, 57, "fresh");
    st_packages(1 * MIB);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fleet(&r, RO_SHORT_TIMEOUT,
              "stage -i %s --state %s --packages %s --stage cann --rate %s",
              ctx.inv, ctx.state, st_pkgdir, bad[i]);
        cr_expect_eq(r.status, 2, "--rate '%s': exit %d\n%s", bad[i], r.status,
                     r.err);
        cr_expect(strstr(r.err, "--rate") != NULL, "--rate '%s': %s", bad[i],
                  r.err);
        th_result_free(&r);
    }
    fleet(&r, RO_SHORT_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage cann --plan "
          "--rate 7parsecs",
          ctx.inv, ctx.state, st_pkgdir);
    cr_expect_eq(r.status, 2, "rollout --rate: exit %d\n%s", r.status, r.err);
    th_result_free(&r);
    cr_expect_eq(access(ctx.state, F_OK), -1, "a state file was created");
    cr_expect_eq(st_node_checkpoint("npu057"), -1, "bytes were sent");
}

ST_TEST(stage_killed_mid_push_resumes_from_the_verified_offset)
{
    struct th_result r;
    long long rec, cp, size = 256 * MIB;

    ro_setup(61, 61, "fresh");
    st_packages(size);
    spawn_fleet("stage -i %s --state %s --packages %s --stage cann --rate 16M",
                ctx.inv, ctx.state, st_pkgdir);
    cr_assert(wait_sql_geq(64 * MIB, 120,
                           "SELECT max(verified) FROM staged WHERE "
                           "state = 'partial'"),
              "no partial of 64 MiB recorded:\n%s", bg_output());
    kill9_bg();
    rec = sql_int(ctx.state, "SELECT verified FROM staged WHERE node = "
                             "'npu061'");
    cp = st_node_checkpoint("npu061");
    cr_assert_geq(rec, 64 * MIB);
    cr_expect_lt(rec, size);
    /* The record never claims more than the node holds verified. */
    cr_expect_geq(cp, rec, "the state file says %lld, the node %lld", rec, cp);

    fleet(&r, RO_SHORT_TIMEOUT, "status --state %s", ctx.state);
    cr_expect_eq(r.status, 0, "status: %s", r.err);
    cr_expect(strstr(r.out, "partial cann 8.0.RC2: npu061 (") != NULL,
              "status does not show the partial:\n%s", r.out);
    th_result_free(&r);

    fleet(&r, RO_RUN_TIMEOUT,
          "stage -i %s --state %s --packages %s --stage cann --json", ctx.inv,
          ctx.state, st_pkgdir);
    cr_assert_eq(r.status, 0, "second stage:\n%s\n%s", r.out, r.err);
    cr_expect_geq(st_json_num(r.out, "resumed_at"), rec,
                  "did not resume from the node's offset:\n%s", r.out);
    cr_expect_eq(st_json_num(r.out, "resumed_at") + st_json_num(r.out, "bytes"),
                 size, "%s", r.out);
    cr_expect_eq(st_json_num(r.out, "recorded_bytes"), rec,
                 "the run does not report what the state file had:\n%s", r.out);
    th_result_free(&r);
    cr_expect_eq(sql_int(ctx.state, "SELECT verified FROM staged WHERE "
                                    "node = 'npu061' AND state = 'staged'"),
                 size);

    /* In text, the resumption is said too (a fresh partial of 64 MiB+). */
    th_rack("exec npu061 -- rm -f " ST_NODE_PKGS "/" ST_CANN);
    spawn_fleet("stage -i %s --state %s --packages %s --stage cann --rate 16M",
                ctx.inv, ctx.state, st_pkgdir);
    cr_assert(wait_sql_geq(64 * MIB, 120,
                           "SELECT max(verified) FROM staged WHERE "
                           "state = 'partial'"),
              "no partial recorded:\n%s", bg_output());
    kill9_bg();
    fleet(&r, RO_RUN_TIMEOUT,
          "stage -i %s --state %s --packages %s --stage cann", ctx.inv,
          ctx.state, st_pkgdir);
    cr_assert_eq(r.status, 0, "third stage:\n%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "resumed at ") != NULL, "%s", r.out);
    th_result_free(&r);
}

ST_TEST(status_folds_staged_nodes_and_rollout_sends_nothing_for_them)
{
    struct th_result r;
    struct stat before, after;
    char *drv = NULL, *plan;
    const char *pk = packages("");

    ro_setup(62, 63, "fresh");
    /* Before staging, nothing is planned as staged. */
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --plan",
          ctx.inv, ctx.state, pk);
    cr_assert_eq(r.status, 0, "plan:\n%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "(staged)") == NULL, "%s", r.out);
    th_result_free(&r);

    fleet(&r, RO_RUN_TIMEOUT,
          "stage -i %s --state %s --packages %s --stage npu", ctx.inv,
          ctx.state, pk);
    cr_assert_eq(r.status, 0, "stage:\n%s\n%s", r.out, r.err);
    th_result_free(&r);

    fleet(&r, RO_SHORT_TIMEOUT, "status --state %s", ctx.state);
    cr_expect(strstr(r.out, "staged npu 24.1.0: npu[062-063]") != NULL,
              "status does not fold the staged driver:\n%s", r.out);
    th_result_free(&r);
    fleet(&r, RO_SHORT_TIMEOUT, "status --state %s --json", ctx.state);
    cr_expect(strstr(r.out, "\"type\":\"staged\"") != NULL &&
                  strstr(r.out, "\"state\":\"staged\"") != NULL,
              "status --json has no staging:\n%s", r.out);
    th_result_free(&r);

    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --plan",
          ctx.inv, ctx.state, pk);
    cr_assert_eq(r.status, 0, "plan:\n%s\n%s", r.out, r.err);
    plan = plan_lines(r.out);
    cr_expect(strstr(plan, "install 24.1.0 (staged)") != NULL,
              "the plan does not show the staged driver:\n%s", r.out);
    th_result_free(&r);
    free(plan);

    {
        const char *argv[] = {"/bin/sh", "-c",
                              "ls " AF_RACK_DIR
                              "/nodes/npu062/upper" ST_NODE_PKGS
                              " | grep npu-driver_ | grep -v verified",
                              NULL};

        cr_assert_eq(th_run(&r, 30, argv), 0);
        r.out[strcspn(r.out, "\n")] = '\0';
        drv = af_asprintf("%s/nodes/npu062/upper" ST_NODE_PKGS "/%s",
                          AF_RACK_DIR, r.out);
        th_result_free(&r);
    }
    cr_assert_eq(stat(drv, &before), 0, "%s", drv);
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--settle 1",
          ctx.inv, ctx.state, pk);
    cr_expect_eq(r.status, 0, "rollout:\n%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "pushed Ascend") == NULL,
              "a staged package was pushed again:\n%s", r.out);
    th_result_free(&r);
    cr_assert_eq(stat(drv, &after), 0);
    cr_expect(before.st_ino == after.st_ino &&
                  before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
                  before.st_mtim.tv_nsec == after.st_mtim.tv_nsec,
              "the node's staged driver was written again");
    free(drv);
}

/* Seconds of the first "<step>: pushed ... in S s" line, -1 when none. */
static double
st_push_secs(const char *out, const char *step)
{
    char *key = af_asprintf("%s: pushed ", step);
    const char *p = strstr(out, key), *in;
    double s = -1;

    /* "(26.9 KiB in 0.74 s)": the unit of the size varies. */
    if (p != NULL && (in = strstr(p, "B in ")) != NULL)
        s = atof(in + 5);
    free(key);
    return s;
}

ST_TEST(rollout_rate_caps_its_push_phase)
{
    struct th_result r;
    double s;

    ro_setup(62, 62, "fresh");
    /*
     * The driver package is about 27 KiB: at 16 KiB/s its push takes at
     * least 0.7 s (one 16 KiB burst, then the rest waits for tokens);
     * uncapped it takes a few milliseconds.
     */
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--settle 1 --rate 16K",
          ctx.inv, ctx.state, packages(""));
    cr_expect_eq(r.status, 0, "rollout:\n%s\n%s", r.out, r.err);
    s = st_push_secs(r.out, "driver");
    cr_expect_geq(s, 0.6, "the driver push took %.1f s with a 16K cap:\n%s", s,
                  r.out);
    th_result_free(&r);
}

/* SPDX-License-Identifier: MIT */
/*
 * The state file as the operator meets it through the binary: private
 * modes, the lock every writer takes, safe output files, and clear errors
 * for a corrupt file or a full disk (nothing lost). Nodes npu057..npu064
 * of the rack are used for facts; the rest needs no node.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "af-proto.h"
#include "harness.h"
#include "st.h"

static char dir[] = "/tmp/af-test-state-cli-XXXXXX";
static char mnt[128];

static void
setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
}

static void
teardown(void)
{
    char *cmd;

    umount2(mnt, MNT_DETACH);
    cmd = af_asprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* best effort */
    }
    free(cmd);
}

TestSuite(state_cli, .init = setup, .fini = teardown, .timeout = 600);

static char *
path_in(const char *name)
{
    return af_asprintf("%s/%s", dir, name);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* Overwrite every page after the first (the schema) with garbage. */
static void
corrupt_pages(const char *path)
{
    static char junk[4096];
    struct stat sb;
    int fd = open(path, O_WRONLY);
    off_t off;

    cr_assert_geq(fd, 0);
    cr_assert_eq(fstat(fd, &sb), 0);
    memset(junk, 0x5a, sizeof(junk));
    for (off = 4096; off < sb.st_size; off += 4096)
        cr_assert_eq(pwrite(fd, junk, sizeof(junk), off), (ssize_t)4096);
    close(fd);
}

Test(state_cli, resume_on_a_corrupt_state_file_gives_the_sqlite_error)
{
    struct th_result r;
    struct af_err e = {0};
    struct st *st = NULL;
    char *db = path_in("state.db");
    int64_t run = 0;
    int i;

    cr_assert_eq(st_open(db, &st, &e), 0, "%s", e.msg);
    for (i = 0; i < 20; i++)
        cr_assert_eq(st_run_create(st, "rollout", "driver", NULL, &run, &e), 0);
    st_close(st);
    /* Move everything from the WAL into the file, then spoil its pages. */
    cr_assert_eq(st_open(db, &st, &e), 0);
    cr_assert_eq(st_check(st, &e), 0);
    st_close(st);
    corrupt_pages(db);
    cr_assert_eq(th_fleet(&r, 60, "resume --yes --state %s", db), 0);
    cr_expect_neq(r.status, 0, "resume on a corrupt file exited 0");
    cr_expect_not_null(strstr(r.err, "malformed"), "stderr: %s", r.err);
    cr_expect_null(strstr(r.err, "no unfinished run"), "stderr: %s", r.err);
    th_result_free(&r);
    free(db);
}

Test(state_cli, facts_takes_the_state_lock_and_makes_a_private_file)
{
    struct th_result r;
    struct af_err e = {0};
    struct st *st = NULL;
    struct stat sb;
    char *db = path_in("state.db"), want[64];

    cr_assert_eq(st_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock(st, &e), 0, "%s", e.msg);
    cr_assert_eq(th_fleet(&r, 120, "facts --state %s --limit npu057", db), 0);
    cr_expect_eq(r.status, 3, "facts beside a lock holder exited %d: %s",
                 r.status, r.err);
    snprintf(want, sizeof(want), "in use by pid %ld", (long)getpid());
    cr_expect_not_null(strstr(r.err, want), "stderr: %s", r.err);
    th_result_free(&r);
    st_close(st);

    cr_assert_eq(th_fleet(&r, 120, "facts --state %s --limit npu057", db), 0);
    cr_expect_eq(r.status, 0, "facts exited %d: %s", r.status, r.err);
    th_result_free(&r);
    cr_assert_eq(stat(db, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0600, "state file mode %o",
                 sb.st_mode & 0777);
    free(db);
}

Test(state_cli, facts_on_a_full_disk_says_so_and_loses_nothing)
{
    struct th_result r;
    struct af_err e = {0};
    struct st *st = NULL;
    struct af_kv kv;
    char *db, *filler, block[4096];
    int fd;

    cr_assert_eq(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700") != 0)
        cr_skip_test("cannot mount a tmpfs here: %s", strerror(errno));
    db = af_asprintf("%s/state.db", mnt);
    filler = af_asprintf("%s/filler", mnt);
    cr_assert_eq(th_fleet(&r, 120, "facts --state %s --limit npu058", db), 0);
    cr_assert_eq(r.status, 0, "facts exited %d: %s", r.status, r.err);
    th_result_free(&r);

    fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    memset(block, 'x', sizeof(block));
    while (write(fd, block, sizeof(block)) > 0)
        ;
    close(fd);
    cr_assert_eq(th_fleet(&r, 120, "facts --state %s --limit npu[057-064]", db),
                 0);
    cr_expect_neq(r.status, 0, "facts on a full disk exited 0");
    cr_expect(strstr(r.err, "full") || strstr(r.err, "No space left"),
              "says the disk is full: %s", r.err);
    cr_expect_not_null(strstr(r.err, db), "names the file: %s", r.err);
    th_result_free(&r);

    cr_assert_eq(unlink(filler), 0);
    cr_assert_eq(st_open(db, &st, &e), 0, "%s", e.msg);
    cr_expect_eq(st_check(st, &e), 0, "%s", e.msg);
    af_kv_init(&kv);
    cr_expect_eq(st_facts_get(st, "npu058", &kv, NULL, &e), 0,
                 "the first facts are kept: %s", e.msg);
    af_kv_free(&kv);
    st_close(st);
    cr_assert_eq(umount2(mnt, 0), 0, "umount: %s", strerror(errno));
    free(db);
    free(filler);
}

/* Last pid handed out by the kernel, to guess the next ones. */
static long
last_pid(void)
{
    char *s = th_slurp("/proc/sys/kernel/ns_last_pid", NULL);
    long v = s ? atol(s) : 0;

    free(s);
    return v;
}

Test(state_cli, ranktable_output_is_written_through_a_fresh_temporary_file)
{
    struct th_result r;
    char *inv = path_in("inventory.yaml"), *db = path_in("state.db");
    char *out = path_in("ranktable.json"), *victim = path_in("victim");
    char *v, *link;
    const char *argv[12];
    struct stat sb;
    long p, first;
    DIR *d;
    struct dirent *de;
    int left = 0;

    write_file(inv, "groups:\n"
                    "  g:\n"
                    "    hosts:\n"
                    "      - {name: \"n[1-2]\", address: "
                    "\"127.0.23.[1-2]\"}\n"
                    "hccn:\n"
                    "  netmask: 255.255.255.0\n"
                    "  planes:\n"
                    "    - 192.168.100.0/24\n"
                    "    - 192.168.101.0/24\n");
    write_file(victim, "precious\n");
    /* The old temporary name was "<out>.tmp.<pid>": plant links there. */
    first = last_pid();
    for (p = first + 1; p < first + 3000; p++) {
        link = af_asprintf("%s.tmp.%ld", out, p);
        cr_assert_eq(symlink(victim, link), 0);
        free(link);
    }
    argv[0] = AF_BIN;
    argv[1] = "ranktable";
    argv[2] = "-i";
    argv[3] = inv;
    argv[4] = "--state";
    argv[5] = db;
    argv[6] = "--force";
    argv[7] = "-o";
    argv[8] = out;
    argv[9] = NULL;
    cr_assert_eq(th_run(&r, 60, argv), 0);
    cr_expect_eq(r.status, 0, "ranktable exited %d: %s", r.status, r.err);
    th_result_free(&r);
    v = th_slurp(victim, NULL);
    cr_expect_str_eq(v, "precious\n", "a planted link was written through");
    free(v);
    cr_assert_eq(lstat(out, &sb), 0);
    cr_expect(S_ISREG(sb.st_mode), "the table is a regular file");
    v = th_slurp(out, NULL);
    cr_expect_not_null(v && strstr(v, "server_list"), "table: %s", v);
    free(v);
    /* No temporary file is left behind. */
    d = opendir(dir);
    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "ranktable.json.", 15) == 0 &&
            strncmp(de->d_name, "ranktable.json.tmp.", 19) != 0)
            left++;
    closedir(d);
    cr_expect_eq(left, 0, "%d temporary files left", left);
    cr_expect_neq(access(db, F_OK), 0, "ranktable created a state file");
    free(inv);
    free(db);
    free(out);
    free(victim);
}

Test(state_cli, read_only_commands_never_create_a_state_file)
{
    struct th_result r;
    char *db = path_in("typo.db");

    cr_assert_eq(th_fleet(&r, 60, "status --state %s", db), 0);
    cr_expect_eq(r.status, 2, "status exited %d", r.status);
    cr_expect_not_null(strstr(r.err, "no state file at"), "%s", r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "runs --state %s", db), 0);
    cr_expect_eq(r.status, 2, "runs exited %d", r.status);
    cr_expect_not_null(strstr(r.err, "no state file at"), "%s", r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "runs abort 1 --state %s", db), 0);
    cr_expect_eq(r.status, 2, "runs abort exited %d", r.status);
    th_result_free(&r);
    /* resume with a run id, and logs, read the file before anything. */
    cr_assert_eq(th_fleet(&r, 60, "resume 99 --yes --state %s", db), 0);
    cr_expect_eq(r.status, 2, "resume 99 exited %d", r.status);
    cr_expect_not_null(strstr(r.err, "no state file at"), "%s", r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "logs 1 npu001 --state %s", db), 0);
    cr_expect_eq(r.status, 2, "logs exited %d", r.status);
    th_result_free(&r);
    cr_expect_neq(access(db, F_OK), 0, "a state file was created");
    free(db);
}

Test(state_cli, default_state_file_lives_beside_the_inventory)
{
    struct th_result r;
    struct stat sb;
    char *dotdir = af_asprintf("%s/.ascend-fleet", AF_RACK_DIR);
    char *db = af_asprintf("%s/inventory.db", dotdir);
    char *cmd;

    cr_assert_eq(th_fleet(&r, 120, "facts --limit npu059"), 0);
    cr_expect_eq(r.status, 0, "facts exited %d: %s", r.status, r.err);
    th_result_free(&r);
    cr_assert_eq(stat(dotdir, &sb), 0, "no %s", dotdir);
    cr_expect_eq(sb.st_mode & 0777, 0700, "dir mode %o", sb.st_mode & 0777);
    cr_assert_eq(stat(db, &sb), 0, "no %s", db);
    cr_expect_eq(sb.st_mode & 0777, 0600, "file mode %o", sb.st_mode & 0777);
    /* status finds it without --state. */
    cr_assert_eq(th_fleet(&r, 60, "runs"), 0);
    cr_expect_eq(r.status, 0, "runs exited %d: %s", r.status, r.err);
    th_result_free(&r);
    cmd = af_asprintf("rm -rf '%s'", dotdir);
    cr_expect_eq(system(cmd), 0);
    free(cmd);
    free(db);
    free(dotdir);
}

/* A state file with runs: 1 interrupted, 2 running (nodes n1, n2). */
static void
make_runs(const char *db)
{
    struct af_err e = {0};
    struct st *st = NULL;
    int64_t r1 = 0, r2 = 0;

    cr_assert_eq(st_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_create(st, "rollout a", "driver", NULL, &r1, &e), 0);
    cr_assert_eq(st_run_set_status(st, r1, ST_RUN_INTERRUPTED,
                                   "interrupted by SIGINT", &e),
                 0, "%s", e.msg);
    cr_assert_eq(st_run_create(st, "rollout b", "driver", NULL, &r2, &e), 0);
    cr_assert_eq(st_run_set_status(st, r2, ST_RUN_RUNNING, NULL, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, r2, "n1", NULL, 0, ST_NODE_RUNNING, NULL, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, r2, "n2", NULL, 0, ST_NODE_PENDING, NULL, &e), 0);
    st_close(st);
}

Test(state_cli, runs_abort_records_the_run_and_resume_passes_it_by)
{
    struct th_result r;
    struct af_err e = {0};
    struct st *holder = NULL;
    const char *busy[] = {"n2"};
    char *db = path_in("state.db"), want[64];

    make_runs(db);
    cr_assert_eq(th_fleet(&r, 60, "runs --state %s", db), 0);
    cr_expect_eq(r.status, 0);
    cr_expect_not_null(strstr(r.out, "interrupted"), "runs:\n%s", r.out);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "status --state %s 1", db), 0);
    cr_expect_not_null(strstr(r.out, "interrupted"), "status:\n%s", r.out);
    th_result_free(&r);

    /* A process still on the run's nodes keeps it from being aborted. */
    cr_assert_eq(st_open(db, &holder, &e), 0);
    cr_assert_eq(st_lock_nodes(holder, busy, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(th_fleet(&r, 60, "runs abort 2 --state %s", db), 0);
    cr_expect_eq(r.status, 3, "abort of a held run exited %d: %s", r.status,
                 r.err);
    snprintf(want, sizeof(want), "node n2 is in use by pid %ld",
             (long)getpid());
    cr_expect_not_null(strstr(r.err, want), "%s", r.err);
    th_result_free(&r);
    /* Reading works beside the holder. */
    cr_assert_eq(th_fleet(&r, 60, "runs --state %s", db), 0);
    cr_expect_eq(r.status, 0, "runs beside a holder: %s", r.err);
    th_result_free(&r);
    st_close(holder);

    cr_assert_eq(th_fleet(&r, 60, "runs abort 2 --state %s", db), 0);
    cr_expect_eq(r.status, 0, "abort exited %d: %s", r.status, r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "runs abort 1 --state %s", db), 0);
    cr_expect_eq(r.status, 0, "abort exited %d: %s", r.status, r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "runs abort 1 --state %s", db), 0);
    cr_expect_eq(r.status, 2, "a second abort exited %d", r.status);
    cr_expect_not_null(strstr(r.err, "already aborted"), "%s", r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "status --state %s 2", db), 0);
    cr_expect_not_null(strstr(r.out, "aborted"), "status:\n%s", r.out);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "resume --yes --state %s", db), 0);
    cr_expect_eq(r.status, 2, "resume exited %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.err, "no unfinished run"), "%s", r.err);
    th_result_free(&r);
    free(db);
}

Test(state_cli, facts_on_other_nodes_runs_beside_a_lock_holder)
{
    struct th_result r;
    struct af_err e = {0};
    struct st *holder = NULL;
    const char *mine[] = {"npu060", "npu061"};
    char *db = path_in("state.db"), want[64];

    cr_assert_eq(st_open(db, &holder, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock_nodes(holder, mine, 2, &e), 0, "%s", e.msg);
    cr_assert_eq(th_fleet(&r, 120, "facts --state %s --limit npu062", db), 0);
    cr_expect_eq(r.status, 0, "facts on other nodes exited %d: %s", r.status,
                 r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 120, "facts --state %s --limit npu[061-062]", db),
                 0);
    cr_expect_eq(r.status, 3, "facts on a held node exited %d: %s", r.status,
                 r.err);
    snprintf(want, sizeof(want), "node npu061 is in use by pid %ld",
             (long)getpid());
    cr_expect_not_null(strstr(r.err, want), "%s", r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "runs --state %s", db), 0);
    cr_expect_eq(r.status, 0, "runs beside a holder: %s", r.err);
    th_result_free(&r);
    st_close(holder);
    free(db);
}

/* An inventory of npu063 and npu064 with an hccn plan; returns its path. */
static char *
hccn_inventory(void)
{
    char *inv = path_in("hccn.yaml");
    FILE *f = fopen(inv, "w");
    const char *nodes[] = {"npu063", "npu064"};

    cr_assert_not_null(f);
    fprintf(f,
            "defaults:\n"
            "  user: root\n"
            "  identity: %s/id_ed25519\n"
            "  known_hosts: %s/known_hosts\n"
            "  connect_timeout: 10\n"
            "hosts:\n",
            AF_RACK_DIR, AF_RACK_DIR);
    for (int i = 0; i < 2; i++) {
        char *p = af_asprintf("%s/nodes/%s/addr", AF_RACK_DIR, nodes[i]);
        char *addr = th_slurp(p, NULL);

        cr_assert_not_null(addr, "no %s", p);
        addr[strcspn(addr, "\n")] = '\0';
        fprintf(f, "  - {name: %s, address: %s}\n", nodes[i], addr);
        free(addr);
        free(p);
    }
    fprintf(f, "hccn:\n"
               "  netmask: 255.255.255.0\n"
               "  planes:\n"
               "    - {subnet: 192.168.100.0/24, gateway: 192.168.100.1, "
               "detect: 192.168.100.1}\n"
               "    - 192.168.101.0/24\n"
               "    - 192.168.102.0/24\n"
               "    - 192.168.103.0/24\n");
    cr_assert_eq(fclose(f), 0);
    return inv;
}

Test(state_cli, hccn_verify_reads_beside_a_holder_and_apply_waits_for_it)
{
    struct th_result r;
    struct af_err e = {0};
    struct st *holder = NULL;
    const char *held[] = {"npu063"};
    char *inv = hccn_inventory(), *db = path_in("state.db"), want[64];
    const char *argv[] = {AF_BIN,    "hccn", "apply",   "-i",     inv,
                          "--state", db,     "--limit", "npu063", NULL};

    cr_assert_eq(st_open(db, &holder, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock_nodes(holder, held, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(th_run(&r, 300, argv), 0);
    cr_expect_eq(r.status, 3, "hccn apply on a held node exited %d: %s",
                 r.status, r.err);
    snprintf(want, sizeof(want), "node npu063 is in use by pid %ld",
             (long)getpid());
    cr_expect_not_null(strstr(r.err, want), "%s", r.err);
    th_result_free(&r);
    argv[2] = "verify";
    cr_assert_eq(th_run(&r, 300, argv), 0);
    cr_expect_neq(r.status, 3, "hccn verify waited for the holder: %s", r.err);
    cr_expect_null(strstr(r.err, "in use by"), "%s", r.err);
    cr_expect(strstr(r.out, "npu063") != NULL || strstr(r.err, "npu063"),
              "verify reported on the node:\n%s\n%s", r.out, r.err);
    th_result_free(&r);
    st_close(holder);
    free(inv);
    free(db);
}

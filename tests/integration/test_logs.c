/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of `ascend-fleet logs` on the shared simulated rack:
 * the full output of every rollout step is kept per run, node and attempt
 * and printed byte for byte (a simulated installer that prints 1.8 MiB
 * with a NUL byte and bytes that are not UTF-8, built by
 * tests/rack/fake/mknoisy.sh), with headers when no step is named and as
 * JSON Lines; the output of a failed attempt stays beside the one resume
 * added; a timed-out step keeps what it printed; `logs` reads while a
 * rollout holds the lock; the hccn stage keeps the transcript of its
 * hccn_tool calls; unknown runs, nodes, steps and attempts exit 2.
 *
 * Only nodes npu051..npu054 of the shared rack are used; each test resets
 * them to fresh before and after (ro-fixture.c).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-mem.h"
#include "ro-fixture.h"
#include "tjson.h"

#define LOGS_TEST(name) Test(logs, name, .fini = ro_fini, .timeout = 600)
#define PKG_NAME        "Ascend-noisy-test_1.0.run"

/* What the noisy package prints, run here with no flag set. */
static char *want;
static size_t want_len;
static char pkgdir[160], playbook[160];

/* Run sh -c script; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
    struct th_result r;
    char *script = NULL;
    const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    va_list ap;
    int st;

    va_start(ap, fmt);
    cr_assert_geq(vasprintf(&script, fmt, ap), 0);
    va_end(ap);
    argv[2] = script;
    cr_assert_eq(th_run(&r, 120, argv), 0);
    cr_assert_eq(r.timed_out, 0, "'%s' timed out", script);
    st = r.status;
    th_result_free(&r);
    free(script);
    return st;
}

/*
 * The noisy package in ctx.dir/pkgs, its expected output, and a playbook
 * with stage "noisy": the package (timeout_s), then a small second step.
 */
static void
noisy_setup(int timeout_s)
{
    char *exp;
    FILE *f;

    snprintf(pkgdir, sizeof(pkgdir), "%s/pkgs", ctx.dir);
    snprintf(playbook, sizeof(playbook), "%s/noisy.yaml", ctx.dir);
    cr_assert_eq(sh("%s/tests/rack/fake/mknoisy.sh --out %s >/dev/null",
                    AF_SOURCE_DIR, pkgdir),
                 0);
    exp = af_asprintf("%s/expected.out", ctx.dir);
    cr_assert_eq(sh("FLEET_SIM_CTL=%s/no-ctl /bin/sh %s/%s >%s", ctx.dir,
                    pkgdir, PKG_NAME, exp),
                 0);
    want = th_slurp(exp, &want_len);
    cr_assert_not_null(want);
    cr_assert_gt(want_len, 1024 * 1024, "only %zu bytes", want_len);
    cr_assert_not_null(memmem(want, want_len, "follows:\0:and", 13));
    free(exp);
    f = fopen(playbook, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "version: 1\n"
            "steps:\n"
            "  noisy:\n"
            "    description: simulated installer with a lot of output\n"
            "    package: \"Ascend-noisy-test_*.run\"\n"
            "    command: [\"/bin/sh\", \"{package}\"]\n"
            "    timeout: %d\n"
            "  after:\n"
            "    description: a second step\n"
            "    command: [\"/bin/echo\", \"after the noisy step\"]\n"
            "    timeout: 30\n"
            "stages:\n"
            "  noisy: [noisy, after]\n",
            timeout_s);
    cr_assert_eq(fclose(f), 0);
}

static void
rollout_noisy(struct th_result *r)
{
    fleet(r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --playbook %s --stage noisy "
          "--yes --batch 2 --max-fail 2",
          ctx.inv, ctx.state, pkgdir, playbook);
}

/*
 * Run `ascend-fleet logs ARGS` with stdout to a file: its exit status,
 * stdout in *out (length *len; caller frees) and stderr in *err (caller
 * frees) when not NULL.
 */
static int logs(char **out, size_t *len, char **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
logs(char **out, size_t *len, char **err, const char *fmt, ...)
{
    char *args = NULL, *o = af_asprintf("%s/logs.out", ctx.dir);
    char *e = af_asprintf("%s/logs.err", ctx.dir);
    va_list ap;
    int st;

    va_start(ap, fmt);
    cr_assert_geq(vasprintf(&args, fmt, ap), 0);
    va_end(ap);
    st = sh("%s logs --state %s %s >%s 2>%s", AF_BIN, ctx.state, args, o, e);
    *out = th_slurp(o, len);
    cr_assert_not_null(*out);
    if (err != NULL) {
        *err = th_slurp(e, NULL);
        cr_assert_not_null(*err);
    }
    free(args);
    free(o);
    free(e);
    return st;
}

static long long
last_run(void)
{
    return sql_int(ctx.state, "SELECT max(id) FROM runs");
}

LOGS_TEST(every_step_output_is_kept_whole_and_printed_byte_exact)
{
    struct th_result r;
    char *out = NULL, *err = NULL, *hdr, *p;
    size_t len = 0;
    long long run;

    ro_setup(51, 52, "fresh");
    noisy_setup(60);
    rollout_noisy(&r);
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    run = last_run();

    /* One step: exactly the bytes the installer printed, NUL included. */
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051 noisy", run), 0);
    cr_assert_eq(len, want_len, "logs printed %zu bytes, not %zu", len,
                 want_len);
    cr_assert(memcmp(out, want, len) == 0, "the output differs");
    free(out);
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu052 noisy/noisy", run), 0);
    cr_assert(len == want_len && memcmp(out, want, len) == 0);
    free(out);

    /* No step: every step that ran, in order, each after a header. */
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051", run), 0);
    hdr = af_asprintf("==> npu051 noisy/noisy attempt 1: exit 0, %zu bytes "
                      "<==\n",
                      want_len);
    cr_assert(len > strlen(hdr) && memcmp(out, hdr, strlen(hdr)) == 0,
              "first header: %.120s", out);
    cr_assert(memcmp(out + strlen(hdr), want, want_len) == 0);
    p = out + strlen(hdr) + want_len;
    cr_assert_str_eq(p, "\n==> npu051 noisy/after attempt 1: exit 0, 21 "
                        "bytes <==\nafter the noisy step\n");
    free(hdr);
    free(out);

    /* JSON Lines: one object per attempt. */
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051 --json", run), 0);
    {
        char *nl = strchr(out, '\n');
        struct jv *a, *b;
        const struct jv *o;

        cr_assert_not_null(nl);
        *nl = '\0';
        a = json_parse(out);
        b = json_parse(nl + 1);
        cr_assert(a != NULL && b != NULL, "not JSON Lines");
        cr_assert_eq(jnum(a, "v"), 1);
        cr_assert_str_eq(jstr(a, "type"), "log");
        cr_assert_str_eq(jstr(a, "step"), "noisy");
        cr_assert_eq(jnum(a, "bytes"), (double)want_len);
        cr_assert_eq(jnum(a, "exit_code"), 0);
        o = jget(a, "output");
        cr_assert(o->slen > 1024 * 1024 &&
                  memmem(o->s, o->slen, "follows:\0:and", 13) != NULL);
        cr_assert(strncmp(o->s, "NOISY-FIRST-LINE", 16) == 0);
        cr_assert_not_null(memmem(
            o->s, o->slen, "NOISY-LAST-LINE: simulated installer done\n", 42));
        cr_assert_str_eq(jstr(b, "step"), "after");
        cr_assert_str_eq(jstr(b, "output"), "after the noisy step\n");
        jv_free(a);
        jv_free(b);
    }
    free(out);

    /* Unknown run, node, step, attempt: exit 2 with a clear message. */
    cr_assert_eq(logs(&out, &len, &err, "99 npu051"), 2);
    cr_assert(len == 0 && strstr(err, "no run 99") != NULL, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(logs(&out, &len, &err, "%lld npu099", run), 2);
    cr_assert(strstr(err, "npu099 is not in run") != NULL, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(logs(&out, &len, &err, "%lld npu051 nope", run), 2);
    cr_assert(strstr(err, "no step 'nope'") != NULL &&
                  strstr(err, "noisy/noisy") != NULL,
              "%s", err);
    free(out);
    free(err);
    cr_assert_eq(logs(&out, &len, &err, "%lld npu051 noisy --attempt 2", run),
                 2);
    cr_assert(strstr(err, "has no attempt 2") != NULL, "%s", err);
    free(out);
    free(err);
    /* No state file: exit 2, and none is created. */
    cr_assert_eq(
        sh("%s logs --state %s/typo.db 1 npu051 2>/dev/null", AF_BIN, ctx.dir),
        2);
    cr_assert_neq(access(ctx.dir, F_OK), -1);
    {
        char *typo = af_asprintf("%s/typo.db", ctx.dir);

        cr_assert_eq(access(typo, F_OK), -1, "logs created %s", typo);
        free(typo);
    }
    free(want);
}

LOGS_TEST(failed_attempt_output_stays_beside_the_one_resume_adds)
{
    struct th_result r;
    char *out = NULL, *err = NULL, *a1, *a2;
    size_t len = 0;
    long long run;

    ro_setup(51, 52, "fresh");
    noisy_setup(60);
    ctl_set(51, "noisy-fail", NULL);
    rollout_noisy(&r);
    cr_assert_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    run = last_run();

    /* The failed step's whole output: stdout, then its stderr line. */
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051 noisy", run), 0);
    cr_assert(len > 1024 * 1024 && strncmp(out, "NOISY-FIRST-LINE", 16) == 0);
    cr_assert_not_null(memmem(out, len, "follows:\0:and", 13));
    cr_assert_not_null(memmem(out, len, "NOISY-ERROR: failing as asked\n", 30));
    cr_assert_null(memmem(out, len, "NOISY-LAST-LINE", 15));
    free(out);

    /* Fixed: resume runs it again as attempt 2; attempt 1 is kept. */
    cr_assert_eq(th_rack("fault npu051 clear noisy-fail"), 0);
    fleet(&r, RO_RUN_TIMEOUT, "resume --state %s --yes", ctx.state);
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(last_run(), run);
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051 noisy", run), 0);
    cr_assert(len == want_len && memcmp(out, want, len) == 0,
              "attempt 2 is not the whole output (%zu bytes)", len);
    free(out);
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051 noisy --attempt 1", run),
                 0);
    cr_assert_not_null(memmem(out, len, "NOISY-ERROR: failing as asked\n", 30));
    free(out);
    cr_assert_eq(logs(&out, &len, &err, "%lld npu051", run), 0);
    a1 = memmem(out, len, "==> npu051 noisy/noisy attempt 1: exit 3,", 41);
    a2 = memmem(out, len, "==> npu051 noisy/noisy attempt 2: exit 0,", 41);
    cr_assert(a1 != NULL && a2 != NULL && a1 < a2, "headers of %zu bytes", len);
    free(out);
    free(err);
    free(want);
}

LOGS_TEST(logs_reads_beside_a_rollout_and_a_timed_out_step_keeps_its_output)
{
    static const char last[] = "NOISY-LAST-LINE: simulated installer done\n";
    static const char hang[] = "NOISY-HANG: waiting forever\n";
    struct th_result r;
    char *out = NULL, *err = NULL, *sql, *hung;
    size_t len = 0, hung_len;
    long long run;
    int rc;

    ro_setup(51, 51, "fresh");
    noisy_setup(8);
    /* What it prints before it hangs: all but the last line, then hang. */
    hung_len = want_len - strlen(last) + strlen(hang);
    hung = af_calloc(hung_len + 1, 1);
    memcpy(hung, want, want_len - strlen(last));
    memcpy(hung + want_len - strlen(last), hang, strlen(hang));
    ctl_set(51, "noisy-hang", NULL);
    spawn_fleet("rollout -i %s --state %s --packages %s --playbook %s --stage "
                "noisy --yes --batch 1 --max-fail 1",
                ctx.inv, ctx.state, pkgdir, playbook);
    /* Every byte, the last line too, is stored while the step still runs
     * (a quiet step's buffered output is written within 2 s). */
    sql = af_asprintf("SELECT bytes FROM step_logs WHERE node = 'npu051' AND "
                      "complete = 0");
    cr_assert(wait_sql_geq((long long)hung_len, 60, sql),
              "the step's output did not arrive while it ran:\n%s",
              bg_output());
    free(sql);
    run = last_run();
    /* The rollout holds the run's nodes: a writer is refused... */
    fleet(&r, RO_SHORT_TIMEOUT, "runs abort %lld --state %s", run, ctx.state);
    cr_assert_eq(r.status, 3, "exit %d\n%s", r.status, r.err);
    th_result_free(&r);
    /* ...and logs reads what arrived so far, byte for byte. */
    rc = logs(&out, &len, &err, "%lld npu051 noisy", run);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert(len == hung_len && memcmp(out, hung, len) == 0,
              "%zu bytes while running, not %zu", len, hung_len);
    free(out);
    free(err);
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051", run), 0);
    cr_assert_not_null(memmem(out, len, "attempt 1: running", 18), "%.200s",
                       out);
    free(out);
    cr_assert(ctx.bg > 0, "the rollout ended too soon");

    /* Timed out: the output stays, the header says why it ended. */
    cr_assert_eq(wait_bg(RO_RUN_TIMEOUT), 1, "%s", bg_output());
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051 noisy", run), 0);
    cr_assert(len == hung_len && memcmp(out, hung, len) == 0,
              "%zu bytes kept, not %zu", len, hung_len);
    free(out);
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu051", run), 0);
    cr_assert_not_null(memmem(out, len, "attempt 1: timed out after 8 s,", 31),
                       "%.200s", out);
    free(out);
    free(hung);
    free(want);
}

LOGS_TEST(hccn_apply_and_verify_keep_their_tool_transcripts)
{
    struct th_result r;
    char *out = NULL;
    size_t len = 0;
    long long run;
    FILE *f;

    ro_setup(53, 54, "driver");
    f = fopen(ctx.inv, "a");
    cr_assert_not_null(f);
    fprintf(f, "hccn:\n"
               "  netmask: 255.255.255.0\n"
               "  planes:\n"
               "    - {subnet: 192.168.100.0/24, gateway: 192.168.100.1, "
               "detect: 192.168.100.1}\n"
               "    - 192.168.101.0/24\n"
               "    - 192.168.102.0/24\n"
               "    - 192.168.103.0/24\n");
    cr_assert_eq(fclose(f), 0);
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --stage hccn --yes --batch 2", ctx.inv,
          ctx.state);
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    run = last_run();

    /* Every hccn_tool call of the apply, with what it printed. */
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu053 hccn/apply", run), 0);
    cr_assert(strncmp(out, "$ hccn_tool -i 0 -ip -g\n", 24) == 0, "%.300s",
              out);
    cr_assert_not_null(strstr(out, "$ hccn_tool -i 7 -ip -s address "), "%s",
                       out);
    free(out);
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu054 verify", run), 0);
    cr_assert_not_null(strstr(out, "$ hccn_tool -i 0 "), "%s", out);
    free(out);
    cr_assert_eq(logs(&out, &len, NULL, "%lld npu053", run), 0);
    cr_assert_not_null(
        strstr(out, "==> npu053 hccn/apply attempt 1: applied, "), "%.300s",
        out);
    cr_assert_not_null(
        strstr(out, "==> npu053 hccn/verify attempt 1: verified, "), "%.300s",
        out);
    free(out);
}

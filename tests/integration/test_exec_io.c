/* SPDX-License-Identifier: MIT */
/*
 * exec's input and output contract on the simulated rack: binary-safe
 * output (NUL bytes in JSON and text), terminal-safe text, --max-output
 * range, the remote stdin (EOF at once, or --stdin to every node), stderr
 * kept apart, -L streaming, errors folded like outputs, and a low open-files
 * limit with a large fanout.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"
#include "harness.h"
#include "tjson.h"

#define RACK_INV AF_RACK_DIR "/inventory.yaml"

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
count_of(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);

    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

/* Run `sh -c script` (AF_BIN and RACK_INV exported as $AF and $INV). */
static void
sh(struct th_result *r, int timeout_s, const char *script)
{
    const char *argv[] = {"sh", "-c", script, NULL};

    setenv("AF", AF_BIN, 1);
    setenv("INV", RACK_INV, 1);
    cr_assert_eq(th_run(r, timeout_s, argv), 0);
    cr_assert(!r->timed_out, "did not end within %d s: %s", timeout_s, script);
}

#define NUL_CMD "printf 'X\\000'; head -c 3000 /dev/zero | tr '\\000' B"

Test(exec_io, nul_bytes_are_binary_safe_in_json, .timeout = 60)
{
    struct th_result r;
    char *want = af_malloc(3100);

    sh(&r, 45, "$AF exec -i $INV --json --limit npu001 -- \"" NUL_CMD "\"");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    strcpy(want, "\"stdout\":\"X\\u0000");
    memset(want + strlen(want), 'B', 3000);
    strcpy(want + strlen("\"stdout\":\"X\\u0000") + 3000, "\"");
    cr_expect_not_null(strstr(r.out, want), "stdout not exact:\n%.200s", r.out);
    cr_expect_not_null(strstr(r.out, "\"bytes\":3002"), "%.300s", r.out);
    free(want);
    th_result_free(&r);
}

Test(exec_io, nul_bytes_show_escaped_in_text, .timeout = 60)
{
    struct th_result r;

    sh(&r, 45, "$AF exec -i $INV --limit npu001 -- \"" NUL_CMD "\"");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "\nX\\x00BBBBBBBB"), "%.300s", r.out);
    cr_expect_eq(count_of(r.out, "B"), 3000, "output bytes lost or added");
    th_result_free(&r);
}

Test(exec_io, terminal_controls_from_nodes_are_escaped, .timeout = 60)
{
    struct th_result r;

    sh(&r, 45,
       "$AF exec -i $INV --limit npu[001-002] -- "
       "\"printf '\\033]0;pwned\\007\\033[31mred\\r\\n'; "
       "echo 'oops' >&2; printf '\\302\\233' >&2\"");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_null(strchr(r.out, '\033'), "raw ESC reached the terminal");
    cr_expect_null(strchr(r.out, '\007'), "raw BEL reached the terminal");
    cr_expect_null(strstr(r.out, "\302\233"), "raw C1 CSI reached it");
    cr_expect_not_null(strstr(r.out, "\\x1b]0;pwned\\x07\\x1b[31mred\\x0d"),
                       "%s", r.out);
    th_result_free(&r);
}

Test(exec_io, max_output_accepts_1_byte_to_64_mib_only, .timeout = 60)
{
    struct th_result r;

    sh(&r, 30, "$AF exec -i $INV --max-output 0 -- true");
    cr_expect_eq(r.status, 2, "0 B: exit %d", r.status);
    cr_expect_not_null(strstr(r.err, "--max-output"), "%s", r.err);
    th_result_free(&r);
    sh(&r, 30, "$AF exec -i $INV --max-output 67108865 -- true");
    cr_expect_eq(r.status, 2, "64 MiB + 1: exit %d", r.status);
    th_result_free(&r);
    sh(&r, 30, "$AF exec -i $INV --max-output 99999999999999999999 -- true");
    cr_expect_eq(r.status, 2, "overflow: exit %d", r.status);
    th_result_free(&r);
    sh(&r, 30, "$AF exec -i $INV --max-output 64M --limit npu001 -- true");
    cr_expect_eq(r.status, 0, "64M: exit %d: %s", r.status, r.err);
    th_result_free(&r);
    sh(&r, 30, "$AF exec -i $INV --max-output 1 --limit npu001 -- echo abc");
    cr_expect_eq(r.status, 0, "1 B: exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "\na\n[output truncated at 1 bytes]"),
                       "%s", r.out);
    th_result_free(&r);
}

Test(exec_io, remote_stdin_gets_eof_at_once, .timeout = 60)
{
    struct th_result r;
    double t0 = now_s();

    sh(&r, 40, "$AF exec -i $INV --limit npu[001-004] -- cat");
    cr_expect_lt(now_s() - t0, 15.0, "cat waited for stdin");
    cr_expect_eq(r.status, 0, "exit %d: %s %s", r.status, r.out, r.err);
    th_result_free(&r);
}

Test(exec_io, stdin_option_sends_local_stdin_to_every_node, .timeout = 60)
{
    struct th_result r;

    sh(&r, 45,
       "printf 'hello\\nworld' | $AF exec -i $INV --limit npu[001-003] "
       "--stdin -- 'cat; echo'");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "npu[001-003] (exit 0)\n---------------"
                                     "\nhello\nworld\n"),
                       "%s", r.out);
    th_result_free(&r);
}

Test(exec_io, stderr_is_kept_apart_in_folded_output, .timeout = 60)
{
    struct th_result r;

    sh(&r, 45,
       "$AF exec -i $INV --limit npu[001-002] -- "
       "'echo err >&2; sleep 0.2; echo out'");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "\nout\n[stderr]\nerr\n"), "%s", r.out);
    th_result_free(&r);
}

Test(exec_io, lines_stream_node_prefixed_lines_as_they_arrive, .timeout = 60)
{
    struct th_result r;
    const char *last_a, *first_b;
    int i;

    sh(&r, 45,
       "$AF exec -i $INV -L --limit npu[001-003] -- "
       "'echo a; sleep 2; echo b; echo e >&2'");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    for (i = 1; i <= 3; i++) {
        char a[32], b[32], e[40];

        snprintf(a, sizeof(a), "npu%03d: a\n", i);
        snprintf(b, sizeof(b), "npu%03d: b\n", i);
        snprintf(e, sizeof(e), "npu%03d: [stderr] e\n", i);
        cr_expect_not_null(strstr(r.out, a), "%s", r.out);
        cr_expect_not_null(strstr(r.out, b), "%s", r.out);
        cr_expect_not_null(strstr(r.out, e), "%s", r.out);
    }
    /* Every node's first line came before any node's second. */
    last_a = strstr(r.out, "npu003: a");
    first_b = strstr(r.out, ": b\n");
    for (i = 1; i <= 2; i++) {
        char a[32];
        const char *p;

        snprintf(a, sizeof(a), "npu%03d: a", i);
        p = strstr(r.out, a);
        if (p > last_a)
            last_a = p;
    }
    cr_expect_lt(last_a, first_b, "not streamed:\n%s", r.out);
    cr_expect_eq(count_of(r.out, "---------------"), 0, "%s", r.out);
    cr_expect_not_null(strstr(r.out, "3 ok, 0 failed"), "%s", r.out);
    th_result_free(&r);
}

Test(exec_io, equal_errors_fold_into_one_block, .timeout = 120)
{
    struct th_result r;
    char dir[] = "/tmp/af-exec-io-XXXXXX", *script;

    cr_assert_not_null(mkdtemp(dir));
    script = af_asprintf(
        "set -e; cd %s; ssh-keygen -q -t ed25519 -N '' -f stranger; "
        "sed -e 's#^  identity: .*#  identity: %s/stranger#' "
        "-e 's#^  known_hosts: .*#  known_hosts: %s/known_hosts#' "
        "$INV > inv.yaml; "
        "$AF exec -i inv.yaml --limit npu[001-020] -- true",
        dir, dir, AF_RACK_DIR);
    sh(&r, 100, script);
    free(script);
    cr_expect_eq(r.status, 1, "exit %d: %s %s", r.status, r.out, r.err);
    cr_expect_eq(count_of(r.out, "---------------\n"), 2, "not one block:\n%s",
                 r.out);
    cr_expect_not_null(strstr(r.out, "npu[001-020] (unreachable)\n"), "%s",
                       r.out);
    cr_expect_not_null(strstr(r.out, "denied for user root"), "%s", r.out);
    script = af_asprintf("rm -rf %s", dir);
    cr_expect_eq(system(script), 0);
    free(script);
    th_result_free(&r);
}

Test(exec_io, low_open_files_limit_clamps_the_window, .timeout = 200)
{
    struct th_result r;

    /* Hard limit 64: the window is lowered, with one notice, and every
     * node still answers. */
    sh(&r, 180, "ulimit -n 64 && $AF exec -i $INV -f 512 -- true");
    cr_expect_eq(r.status, 0, "exit %d:\n%s\n%s", r.status, r.out, r.err);
    cr_expect_eq(count_of(r.err, "lowered"), 1, "stderr: %s", r.err);
    cr_expect_null(strstr(r.out, "Too many open files"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, " ok, 0 failed, 0 unreachable"), "%s",
                       r.out);
    th_result_free(&r);
    /* Soft limit only: raised to the hard one, no notice. */
    sh(&r, 180, "ulimit -S -n 64 && $AF exec -i $INV -f 512 -- true");
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_eq(count_of(r.err, "lowered"), 0, "stderr: %s", r.err);
    th_result_free(&r);
}

Test(exec_io, options_may_follow_positionals, .timeout = 60)
{
    struct th_result r;

    sh(&r, 45, "$AF exec echo hi -i $INV --limit npu001");
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "npu001 (exit 0)\n---------------\nhi\n"),
                       "%s", r.out);
    th_result_free(&r);
    /* After "--" everything is the command. */
    sh(&r, 45, "$AF exec -i $INV --limit npu001 -- echo --json");
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "\n--json\n"), "%s", r.out);
    th_result_free(&r);
}

Test(exec_io, json_lines_stream_output_records, .timeout = 60)
{
    struct th_result r;

    sh(&r, 45,
       "$AF exec -i $INV --json -L --limit npu[001-002] -- "
       "'echo one; echo two >&2'");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "{\"v\":1,\"type\":\"output\",\"node\":"
                                     "\"npu001\",\"stream\":\"stdout\","
                                     "\"data\":\"one\"}\n"),
                       "%s", r.out);
    cr_expect_not_null(strstr(r.out, "\"node\":\"npu002\",\"stream\":"
                                     "\"stderr\",\"data\":\"two\"}\n"),
                       "%s", r.out);
    cr_expect_eq(count_of(r.out, "\"type\":\"node\""), 2, "%s", r.out);
    cr_expect_eq(count_of(r.out, "\"type\":\"summary\""), 1, "%s", r.out);
    cr_expect_eq(count_of(r.out, "\n"), 2 * 2 + 2 + 1, "%s", r.out);
    th_result_free(&r);
}

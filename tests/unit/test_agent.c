/* SPDX-License-Identifier: MIT */
/*
 * Tests of the static node agent: the built x86_64 binary runs in
 * "serve --root" mode on fixture trees under tests/unit/data/agent/
 * (fresh node, driver installed but not loaded, full stack with fake
 * npu-smi/hccn_tool) and on temporary roots; the aarch64 binary runs under
 * qemu-aarch64-static.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"
#include "af-proto.h"
#include "af-sha256.h"
#include "ag-blob.h"

#define AGENT_X86 AF_BINARY_DIR "/agent/ascend-fleet-agent-x86_64"
#define AGENT_A64 AF_BINARY_DIR "/agent/ascend-fleet-agent-aarch64"
#define FIXTURES  AF_SOURCE_DIR "/tests/unit/data/agent"
#define QEMU_A64  "/usr/bin/qemu-aarch64-static"

struct agent {
    pid_t pid;
    FILE *to;   /* agent stdin */
    FILE *from; /* agent stdout */
    char greeting[512];
};

struct resp {
    int ok;
    struct af_kv kv;
    char *body;
    size_t len;
};

/* Start argv (agent binary first) with pipes on stdin/stdout. */
static void
agent_spawn(struct agent *a, const char *const argv[])
{
    int in[2], out[2];

    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    a->pid = fork();
    cr_assert_geq(a->pid, 0);
    if (a->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        {
            char *v[8];
            int i;

            for (i = 0; i < 7 && argv[i] != NULL; i++)
                v[i] = af_strdup(argv[i]);
            v[i] = NULL;
            execv(v[0], v);
        }
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    a->to = fdopen(in[1], "w");
    a->from = fdopen(out[0], "r");
    cr_assert_not_null(a->to);
    cr_assert_not_null(a->from);
    cr_assert_not_null(fgets(a->greeting, sizeof(a->greeting), a->from),
                       "no greeting from %s", argv[0]);
}

static void
agent_start(struct agent *a, const char *root)
{
    const char *const argv[] = {AGENT_X86, "serve", "--root", root, NULL};

    agent_spawn(a, argv);
}

/* Close stdin and reap the agent; returns its wait status. */
static int
agent_stop(struct agent *a)
{
    int status = -1, i;

    fclose(a->to);
    for (i = 0; i < 500; i++) {
        if (waitpid(a->pid, &status, WNOHANG) == a->pid)
            break;
        usleep(10000);
    }
    if (i == 500) {
        kill(a->pid, SIGKILL);
        waitpid(a->pid, &status, 0);
    }
    fclose(a->from);
    return status;
}

static void
resp_free(struct resp *r)
{
    af_kv_free(&r->kv);
    free(r->body);
}

/* Read one "AFP ok|err <len>\n<body>" response. */
static void
agent_read(struct agent *a, struct resp *r)
{
    char head[128], status[8];
    size_t len;

    cr_assert_not_null(fgets(head, sizeof(head), a->from), "no response");
    cr_assert_eq(sscanf(head, "AFP %7s %zu", status, &len), 2, "bad header: %s",
                 head);
    r->ok = strcmp(status, "ok") == 0;
    cr_assert(r->ok || strcmp(status, "err") == 0, "bad status %s", status);
    r->body = af_malloc(len + 1);
    cr_assert_eq(fread(r->body, 1, len, a->from), len, "short body");
    r->body[len] = '\0';
    r->len = len;
    af_kv_init(&r->kv);
    cr_assert_eq(af_proto_kv_parse(&r->kv, r->body, len), 0, "bad body: %s",
                 r->body);
}

/* Send words (encoded here) as one request, plus an optional payload. */
static void
agent_req(struct agent *a,
          struct resp *r,
          const char *const *words,
          const void *payload,
          size_t plen)
{
    size_t i;

    for (i = 0; words[i] != NULL; i++) {
        char *enc = af_proto_encode(words[i], strlen(words[i]));

        fprintf(a->to, "%s%s", i ? " " : "", enc);
        free(enc);
    }
    fputc('\n', a->to);
    if (plen > 0)
        fwrite(payload, 1, plen, a->to);
    fflush(a->to);
    agent_read(a, r);
}

/* Send a raw request line as is. */
static void
agent_raw(struct agent *a, struct resp *r, const char *line)
{
    fputs(line, a->to);
    fflush(a->to);
    agent_read(a, r);
}

static const char *
kv(const struct resp *r, const char *key)
{
    const char *v = af_kv_get(&r->kv, key);

    cr_assert_not_null(v, "key %s missing in:\n%s", key, r->body);
    return v;
}

static void
file_sha(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    struct af_sha256 c;
    char buf[8192];
    size_t n;

    cr_assert_not_null(f, "cannot open %s", path);
    af_sha256_init(&c);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        af_sha256_update(&c, buf, n);
    fclose(f);
    af_sha256_final_hex(&c, hex);
}

static void
rm_rf(const char *path)
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", "--", path, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);
}

/*
 * Each Criterion test runs in its own process: the temporary root of the
 * running test is kept here so that its .fini removes it even when an
 * assertion ended the test early.
 */
static char tmp_root[64];

static char *
make_tmp_root(void)
{
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/test-agent-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_root));
    return af_strdup(tmp_root);
}

static void
cleanup_tmp_root(void)
{
    if (tmp_root[0] != '\0')
        rm_rf(tmp_root);
}

static void
facts(const char *root, struct resp *r)
{
    static const char *const w[] = {"facts", "/usr/local/Ascend", NULL};
    struct agent a;

    agent_start(&a, root);
    agent_req(&a, r, w, NULL, 0);
    cr_assert(r->ok, "facts failed: %s", r->body);
    cr_assert_eq(agent_stop(&a), 0);
}

/* Every documented key is present (values may be empty). */
static void
assert_all_keys(const struct resp *r)
{
    static const char *const keys[] = {"hostname",
                                       "arch",
                                       "os_id",
                                       "os_version",
                                       "kernel",
                                       "boot_id",
                                       "uptime_s",
                                       "disk_free_mb",
                                       "dkms",
                                       "kernel_headers",
                                       "hwhiaiuser_user",
                                       "hwhiaiuser_group",
                                       "driver_version",
                                       "driver_complete",
                                       "firmware_version",
                                       "cann_version",
                                       "cann_layout",
                                       "cann_path",
                                       "python",
                                       "torch_version",
                                       "torch_npu_version",
                                       "apex_version",
                                       "npu_smi",
                                       "npu_smi_error",
                                       "npu_count",
                                       "npu_chip",
                                       "npu_loaded_version",
                                       "npu_health_ok",
                                       "firmware_running",
                                       NULL};
    size_t i;

    for (i = 0; keys[i] != NULL; i++)
        kv(r, keys[i]);
}

Test(agent, greeting_and_hello_name_protocol_arch_and_hash, .timeout = 30)
{
    static const char *const w[] = {"hello", NULL};
    char want[65], head[600];
    struct agent a;
    struct resp r;

    file_sha(AGENT_X86, want);
    agent_start(&a, "/");
    snprintf(head, sizeof(head), "AFAGENT %d ", AF_PROTO_VERSION);
    cr_assert(strncmp(a.greeting, head, strlen(head)) == 0, "greeting: %s",
              a.greeting);
    snprintf(head, sizeof(head), " x86_64 %s\n", want);
    cr_assert(strstr(a.greeting, head) != NULL, "greeting: %s", a.greeting);
    agent_req(&a, &r, w, NULL, 0);
    cr_assert(r.ok);
    cr_assert_eq(atoi(kv(&r, "proto")), AF_PROTO_VERSION);
    cr_assert_str_eq(kv(&r, "arch"), "x86_64");
    cr_assert_str_eq(kv(&r, "sha256"), want);
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0, "agent must exit 0 at EOF");
}

Test(agent, selfhash_and_version_modes, .timeout = 30)
{
    char want[65], line[256];
    FILE *p;

    file_sha(AGENT_X86, want);
    p = popen(AGENT_X86 " selfhash", "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(line, sizeof(line), p));
    cr_assert_eq(pclose(p), 0);
    line[strcspn(line, "\n")] = '\0';
    cr_assert_str_eq(line, want);
    p = popen(AGENT_X86 " --version", "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(line, sizeof(line), p));
    cr_assert_eq(pclose(p), 0);
    cr_assert(strstr(line, "ascend-fleet-agent ") == line, "%s", line);
    cr_assert(strstr(line, " x86_64 proto 1") != NULL, "%s", line);
}

Test(agent, facts_of_a_fresh_node, .timeout = 30)
{
    struct resp r;

    facts(FIXTURES "/fresh", &r);
    assert_all_keys(&r);
    cr_assert_str_eq(kv(&r, "os_id"), "ubuntu");
    cr_assert_str_eq(kv(&r, "os_version"), "22.04");
    cr_assert_str_eq(kv(&r, "boot_id"), "0b6c1e2a-1111-4a5b-9c7d-000000000001");
    cr_assert_str_eq(kv(&r, "uptime_s"), "12345");
    cr_assert_gt(atol(kv(&r, "disk_free_mb")), 0,
                 "nearest existing parent of the install path is measured");
    cr_assert_str_eq(kv(&r, "dkms"), "no");
    cr_assert_str_eq(kv(&r, "kernel_headers"), "no");
    cr_assert_str_eq(kv(&r, "hwhiaiuser_user"), "no");
    cr_assert_str_eq(kv(&r, "hwhiaiuser_group"), "no");
    cr_assert_str_eq(kv(&r, "driver_version"), "");
    cr_assert_str_eq(kv(&r, "driver_complete"), "no");
    cr_assert_str_eq(kv(&r, "firmware_version"), "");
    cr_assert_str_eq(kv(&r, "cann_version"), "");
    cr_assert_str_eq(kv(&r, "cann_layout"), "");
    cr_assert_str_eq(kv(&r, "python"), "");
    cr_assert_str_eq(kv(&r, "torch_version"), "");
    cr_assert_str_eq(kv(&r, "npu_smi"), "no");
    cr_assert_str_eq(kv(&r, "npu_count"), "0");
    cr_assert_null(af_kv_get(&r.kv, "npu.0.health"));
    cr_assert_null(af_kv_get(&r.kv, "hccn.0.address"));
    resp_free(&r);
}

Test(agent, facts_of_a_driver_installed_but_not_loaded, .timeout = 60)
{
    struct resp r;

    facts(FIXTURES "/driver-not-loaded", &r);
    assert_all_keys(&r);
    cr_assert_str_eq(kv(&r, "os_id"), "openEuler");
    cr_assert_str_eq(kv(&r, "hwhiaiuser_user"), "yes");
    cr_assert_str_eq(kv(&r, "hwhiaiuser_group"), "yes");
    cr_assert_str_eq(kv(&r, "driver_version"), "25.0.rc1.1",
                     "package_version wins over Version");
    cr_assert_str_eq(kv(&r, "driver_complete"), "yes");
    cr_assert_str_eq(kv(&r, "firmware_version"), "7.7.0.1.231");
    cr_assert_str_eq(kv(&r, "cann_layout"), "toolkit");
    cr_assert_str_eq(kv(&r, "cann_version"), "8.2.RC1");
    cr_assert_str_eq(kv(&r, "cann_path"),
                     "/usr/local/Ascend/ascend-toolkit/latest");
    cr_assert_str_eq(kv(&r, "npu_smi"), "yes");
    cr_assert_str_eq(kv(&r, "npu_smi_error"),
                     "dcmi module initialize failed. ret is -8005");
    cr_assert_str_eq(kv(&r, "npu_count"), "0");
    cr_assert_str_eq(kv(&r, "npu_loaded_version"), "");
    cr_assert_str_eq(kv(&r, "firmware_running"), "");
    cr_assert_null(af_kv_get(&r.kv, "hccn.0.address"));
    resp_free(&r);
}

Test(agent, facts_of_a_full_stack_with_one_warning_npu, .timeout = 60)
{
    static const char *const bus[8] = {
        "0000:C1:00.0", "0000:81:00.0", "0000:41:00.0", "0000:01:00.0",
        "0000:C2:00.0", "0000:82:00.0", "0000:42:00.0", "0000:02:00.0",
    };
    char key[64], want[64];
    struct resp r;
    int i;

    facts(FIXTURES "/full", &r);
    assert_all_keys(&r);
    cr_assert_str_eq(kv(&r, "os_id"), "debian");
    cr_assert_str_eq(kv(&r, "os_version"), "12");
    cr_assert_str_eq(kv(&r, "dkms"), "yes");
    cr_assert_str_eq(kv(&r, "driver_version"), "24.1.0", "Version= fallback");
    cr_assert_str_eq(kv(&r, "firmware_version"), "7.5.0.1.129");
    cr_assert_str_eq(kv(&r, "cann_layout"), "cann");
    cr_assert_str_eq(kv(&r, "cann_version"), "8.5.0");
    cr_assert_str_eq(kv(&r, "cann_path"), "/usr/local/Ascend/cann");
    cr_assert_str_eq(kv(&r, "python"), "/usr/bin/python3");
    cr_assert_str_eq(kv(&r, "torch_version"), "2.1.0+cpu");
    cr_assert_str_eq(kv(&r, "torch_npu_version"), "2.1.0.post8");
    cr_assert_str_eq(kv(&r, "apex_version"), "0.1+ascend");
    cr_assert_str_eq(kv(&r, "npu_smi"), "yes");
    cr_assert_str_eq(kv(&r, "npu_smi_error"), "");
    cr_assert_str_eq(kv(&r, "npu_count"), "8");
    cr_assert_str_eq(kv(&r, "npu_chip"), "910B");
    cr_assert_str_eq(kv(&r, "npu_loaded_version"), "24.1.0");
    cr_assert_str_eq(kv(&r, "npu_health_ok"), "7");
    cr_assert_str_eq(kv(&r, "firmware_running"), "7.1.0.7.220");
    for (i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "npu.%d.health", i);
        cr_assert_str_eq(kv(&r, key), i == 3 ? "Warning" : "OK");
        snprintf(key, sizeof(key), "npu.%d.chip", i);
        cr_assert_str_eq(kv(&r, key), "910B");
        snprintf(key, sizeof(key), "npu.%d.bus", i);
        cr_assert_str_eq(kv(&r, key), bus[i]);
        snprintf(key, sizeof(key), "hccn.%d.address", i);
        snprintf(want, sizeof(want), "192.168.%d.%d", 100 + i % 4, 101 - i / 4);
        cr_assert_str_eq(kv(&r, key), want);
        snprintf(key, sizeof(key), "hccn.%d.netmask", i);
        cr_assert_str_eq(kv(&r, key), "255.255.255.0");
    }
    cr_assert_null(af_kv_get(&r.kv, "npu.8.health"),
                   "the process table is not an NPU row");
    cr_assert_null(af_kv_get(&r.kv, "hccn.8.address"));
    resp_free(&r);
}

Test(agent,
     facts_see_kernel_headers_of_the_running_kernel,
     .timeout = 30,
     .fini = cleanup_tmp_root)
{
    char *root = make_tmp_root();
    struct utsname u;
    char *dir;
    struct resp r;

    cr_assert_eq(uname(&u), 0);
    dir = af_asprintf("mkdir -p '%s/lib/modules/%s/build'", root, u.release);
    cr_assert_eq(system(dir), 0);
    facts(root, &r);
    cr_assert_str_eq(kv(&r, "kernel_headers"), "yes");
    cr_assert_str_eq(kv(&r, "kernel"), u.release);
    cr_assert_str_eq(kv(&r, "arch"), u.machine);
    resp_free(&r);
    free(dir);
    rm_rf(root);
    free(root);
}

Test(agent, run_passes_the_exact_argv_without_a_shell, .timeout = 30)
{
    static const char *const w[] = {
        "run",  "10", "4096",       "printf",    "<%s>\\n", "a b", "c'd",
        "e\"f", "",   "$HOME;|`x`", "tab\there", "100%",    NULL};
    struct agent a;
    struct resp r;

    agent_start(&a, FIXTURES "/fresh");
    agent_req(&a, &r, w, NULL, 0);
    cr_assert(r.ok, "%s", r.body);
    cr_assert_str_eq(kv(&r, "rc"), "0");
    cr_assert_str_eq(kv(&r, "stdout"),
                     "<a b>\n<c'd>\n<e\"f>\n<>\n<$HOME;|`x`>\n<tab\there>\n"
                     "<100%>\n");
    cr_assert_str_eq(kv(&r, "stdout_truncated"), "0");
    cr_assert_str_eq(kv(&r, "timed_out"), "0");
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0);
}

Test(agent, run_reports_rc_and_both_streams, .timeout = 30)
{
    static const char *const w[] = {
        "run",  "10",
        "4096", "/bin/sh",
        "-c",   "echo out; echo err >&2; read x; echo \"stdin=[$x]\"; exit 3",
        NULL};
    static const char *const missing[] = {"run", "10", "4096",
                                          "no-such-tool-here", NULL};
    struct agent a;
    struct resp r;

    agent_start(&a, FIXTURES "/fresh");
    agent_req(&a, &r, w, NULL, 0);
    cr_assert(r.ok, "%s", r.body);
    cr_assert_str_eq(kv(&r, "rc"), "3");
    cr_assert_str_eq(kv(&r, "signal"), "0");
    cr_assert_str_eq(kv(&r, "stdout"), "out\nstdin=[]\n",
                     "stdin must be /dev/null");
    cr_assert_str_eq(kv(&r, "stderr"), "err\n");
    resp_free(&r);
    agent_req(&a, &r, missing, NULL, 0);
    cr_assert(r.ok, "%s", r.body);
    cr_assert_str_eq(kv(&r, "rc"), "127");
    cr_assert(strstr(kv(&r, "stderr"), "cannot execute") != NULL, "%s",
              kv(&r, "stderr"));
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0);
}

Test(agent, run_timeout_terminates_then_kills_the_group, .timeout = 60)
{
    static const char *const term[] = {
        "run", "1", "4096", "/bin/sh", "-c", "sleep 30 & wait", NULL};
    static const char *const stubborn[] = {
        "run",     "1",  "4096",
        "/bin/sh", "-c", "trap '' TERM; sleep 30; echo survived",
        NULL};
    struct agent a;
    struct resp r;
    long ms;

    agent_start(&a, FIXTURES "/fresh");
    agent_req(&a, &r, term, NULL, 0);
    cr_assert(r.ok, "%s", r.body);
    cr_assert_str_eq(kv(&r, "timed_out"), "1");
    cr_assert_str_eq(kv(&r, "signal"), "15");
    ms = atol(kv(&r, "duration_ms"));
    cr_assert(ms >= 900 && ms < 4000, "duration %ld ms", ms);
    resp_free(&r);

    agent_req(&a, &r, stubborn, NULL, 0);
    cr_assert(r.ok, "%s", r.body);
    cr_assert_str_eq(kv(&r, "timed_out"), "1");
    cr_assert_str_eq(kv(&r, "signal"), "9", "SIGKILL after the grace time");
    cr_assert_str_eq(kv(&r, "stdout"), "");
    ms = atol(kv(&r, "duration_ms"));
    cr_assert(ms >= 2900 && ms < 8000, "duration %ld ms", ms);
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0);
}

Test(agent, run_output_cap_keeps_the_head_and_counts_the_rest, .timeout = 30)
{
    static const char *const w[] = {
        "run",
        "20",
        "100",
        "/bin/sh",
        "-c",
        "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; "
        "echo small >&2",
        NULL};
    char want[101];
    const char *out;
    struct agent a;
    struct resp r;
    size_t total = 0;
    int i;

    for (i = 0; i < 2000; i++)
        total += (size_t)snprintf(want, sizeof(want), "line-%d\n", i);
    agent_start(&a, FIXTURES "/fresh");
    agent_req(&a, &r, w, NULL, 0);
    cr_assert(r.ok, "%s", r.body);
    cr_assert_str_eq(kv(&r, "rc"), "0");
    out = kv(&r, "stdout");
    cr_assert_eq(strlen(out), 100);
    cr_assert(strncmp(out, "line-0\nline-1\nline-2\n", 21) == 0, "%s", out);
    cr_assert_str_eq(kv(&r, "stdout_truncated"), "1");
    cr_assert_eq((size_t)atol(kv(&r, "stdout_bytes")), total);
    cr_assert_str_eq(kv(&r, "stderr"), "small\n");
    cr_assert_str_eq(kv(&r, "stderr_truncated"), "0");
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0);
}

static size_t
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    cr_assert_not_null(d, "cannot open %s", dir);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

Test(agent,
     put_then_stat_and_corrupted_put_leaves_nothing,
     .timeout = 30,
     .fini = cleanup_tmp_root)
{
    char *root = make_tmp_root();
    unsigned char data[3000];
    char hex[65], size[32], bad[65], *path, *dir;
    struct agent a;
    struct resp r;
    struct stat st;
    size_t i;

    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7 % 256);
    af_sha256_hex(data, sizeof(data), hex);
    snprintf(size, sizeof(size), "%zu", sizeof(data));
    agent_start(&a, root);
    {
        const char *const w[] = {
            "put", hex, size, "640", "/var/lib/af test/agent.bin", NULL};

        agent_req(&a, &r, w, data, sizeof(data));
        cr_assert(r.ok, "%s", r.body);
        cr_assert_str_eq(kv(&r, "sha256"), hex);
        cr_assert_str_eq(kv(&r, "size"), size);
        resp_free(&r);
    }
    path = af_asprintf("%s/var/lib/af test/agent.bin", root);
    dir = af_asprintf("%s/var/lib/af test", root);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0640);
    cr_assert_eq((size_t)st.st_size, sizeof(data));
    file_sha(path, bad);
    cr_assert_str_eq(bad, hex);
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0700, "new parents are 0700");
    cr_assert_eq(count_entries(dir), 1, "no temp file left");
    {
        const char *const w[] = {"stat", "/var/lib/af test/agent.bin", NULL};

        agent_req(&a, &r, w, NULL, 0);
        cr_assert(r.ok);
        cr_assert_str_eq(kv(&r, "exists"), "1");
        cr_assert_str_eq(kv(&r, "size"), size);
        cr_assert_str_eq(kv(&r, "sha256"), hex);
        resp_free(&r);
    }
    {
        const char *const w[] = {"stat", "/var/lib/af test/none", NULL};

        agent_req(&a, &r, w, NULL, 0);
        cr_assert(r.ok);
        cr_assert_str_eq(kv(&r, "exists"), "0");
        resp_free(&r);
    }
    /* Same payload with one flipped byte against the good hash. */
    data[100] ^= 0xff;
    af_sha256_hex(data, sizeof(data), bad);
    {
        const char *const w[] = {
            "put", hex, size, "755", "/var/lib/af test/other.bin", NULL};
        char *want = af_asprintf("sha256 mismatch: got %s want %s", bad, hex);

        agent_req(&a, &r, w, data, sizeof(data));
        cr_assert(!r.ok);
        cr_assert_str_eq(kv(&r, "error"), want);
        free(want);
        resp_free(&r);
    }
    cr_assert_eq(count_entries(dir), 1, "corrupted put left a file");
    {
        /* The stream stays in step: the next request works. */
        const char *const w[] = {"stat", "/var/lib/af test/other.bin", NULL};

        agent_req(&a, &r, w, NULL, 0);
        cr_assert(r.ok);
        cr_assert_str_eq(kv(&r, "exists"), "0");
        resp_free(&r);
    }
    cr_assert_eq(agent_stop(&a), 0);
    free(path);
    free(dir);
    rm_rf(root);
    free(root);
}

Test(agent, malformed_requests_get_err_and_serving_goes_on, .timeout = 30)
{
    static const char *const hello[] = {"hello", NULL};
    const char *lines[] = {
        "\n",          "bogus\n",
        "run%zz\n",    "run x 10 true\n",
        "run 10 10\n", "stat relative/path\n",
        "facts\n",     "put 00 notanumber 644 /x\n",
        " hello\n",
    };
    struct agent a;
    struct resp r;
    size_t i, big = AF_PROTO_MAX_LINE + 100;
    char *huge;

    agent_start(&a, FIXTURES "/fresh");
    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        agent_raw(&a, &r, lines[i]);
        cr_assert(!r.ok, "accepted: %s", lines[i]);
        cr_assert_neq(kv(&r, "error")[0], '\0');
        resp_free(&r);
    }
    huge = af_malloc(big + 2);
    memset(huge, 'x', big);
    huge[big] = '\n';
    huge[big + 1] = '\0';
    agent_raw(&a, &r, huge);
    cr_assert(!r.ok);
    cr_assert_str_eq(kv(&r, "error"), "request line too long");
    resp_free(&r);
    free(huge);
    agent_req(&a, &r, hello, NULL, 0);
    cr_assert(r.ok);
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0);
}

Test(agent, quit_answers_and_exits, .timeout = 30)
{
    static const char *const w[] = {"quit", NULL};
    struct agent a;
    struct resp r;

    agent_start(&a, "/");
    agent_req(&a, &r, w, NULL, 0);
    cr_assert(r.ok);
    cr_assert_eq(r.len, 0);
    resp_free(&r);
    cr_assert_eq(fgetc(a.from), EOF, "agent must close its output");
    cr_assert_eq(agent_stop(&a), 0);
}

Test(agent,
     reboot_answers_at_once_and_runs_detached_later,
     .timeout = 30,
     .fini = cleanup_tmp_root)
{
    char *root = make_tmp_root();
    char *flag = af_asprintf("%s/rebooted", root);
    char *cmd = af_asprintf("echo down > '%s'", flag);
    const char *const w[] = {"reboot", "1", "/bin/sh", "-c", cmd, NULL};
    struct agent a;
    struct resp r;
    struct timespec t0, t1;
    int i;

    agent_start(&a, root);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    agent_req(&a, &r, w, NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(r.ok, "%s", r.body);
    cr_assert_lt((t1.tv_sec - t0.tv_sec) * 1000 +
                     (t1.tv_nsec - t0.tv_nsec) / 1000000,
                 900, "reply must not wait the delay");
    cr_assert_neq(access(flag, F_OK), 0, "ran before its delay");
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0);
    for (i = 0; i < 100 && access(flag, F_OK) != 0; i++)
        usleep(50000);
    cr_assert_eq(access(flag, F_OK), 0, "delayed command never ran");
    free(cmd);
    free(flag);
    rm_rf(root);
    free(root);
}

Test(agent, aarch64_binary_runs_under_qemu, .timeout = 60)
{
    static const char *const w[] = {"hello", NULL};
    const char *const argv[] = {QEMU_A64, AGENT_A64, "serve", NULL};
    char want[65], line[256];
    struct agent a;
    struct resp r;
    FILE *p;

    if (access(QEMU_A64, X_OK) != 0)
        cr_skip_test("qemu-aarch64-static is not installed");
    file_sha(AGENT_A64, want);
    p = popen(QEMU_A64 " " AGENT_A64 " --version", "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(line, sizeof(line), p));
    cr_assert_eq(pclose(p), 0);
    cr_assert(strstr(line, " aarch64 proto 1") != NULL, "%s", line);
    agent_spawn(&a, argv);
    cr_assert(strncmp(a.greeting, "AFAGENT 1 ", 10) == 0, "%s", a.greeting);
    cr_assert(strstr(a.greeting, want) != NULL, "greeting %s, file %s",
              a.greeting, want);
    agent_req(&a, &r, w, NULL, 0);
    cr_assert(r.ok);
    cr_assert_str_eq(kv(&r, "arch"), "aarch64");
    cr_assert_str_eq(kv(&r, "sha256"), want);
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0);
}

Test(agent, npu_smi_table_of_another_width_and_release, .timeout = 30)
{
    struct resp r;

    facts(FIXTURES "/npusmi-old", &r);
    cr_assert_str_eq(kv(&r, "npu_smi"), "yes", "npu-smi found on PATH");
    cr_assert_str_eq(kv(&r, "npu_count"), "2");
    cr_assert_str_eq(kv(&r, "npu_chip"), "910A");
    cr_assert_str_eq(kv(&r, "npu_loaded_version"), "23.0.rc1");
    cr_assert_str_eq(kv(&r, "npu_health_ok"), "1");
    cr_assert_str_eq(kv(&r, "npu.0.health"), "Alarm");
    cr_assert_str_eq(kv(&r, "npu.1.bus"), "0000:81:00.0");
    cr_assert_str_eq(kv(&r, "firmware_running"), "",
                     "a failing board query is no error");
    cr_assert_str_eq(kv(&r, "driver_version"), "");
    cr_assert_null(af_kv_get(&r.kv, "hccn.0.address"), "no hccn_tool");
    resp_free(&r);
}

Test(agent, embedded_blobs_are_the_built_binaries, .timeout = 30)
{
    static const char *const arches[] = {"x86_64", "aarch64"};
    static const char *const files[] = {AGENT_X86, AGENT_A64};
    char want[65], got[65];
    size_t i;

    for (i = 0; i < 2; i++) {
        const struct ag_blob *b = ag_blob_find(arches[i]);

        cr_assert_not_null(b, "%s", arches[i]);
        cr_assert_str_eq(b->arch, arches[i]);
        cr_assert_gt(b->size, 1000);
        cr_assert_eq(memcmp(b->data, "\177ELF", 4), 0);
        file_sha(files[i], want);
        af_sha256_hex(b->data, b->size, got);
        cr_assert_str_eq(got, want, "%s blob differs from the built file",
                         arches[i]);
    }
    cr_assert_eq(ag_blob_find("arm64"), ag_blob_find("aarch64"));
    cr_assert_null(ag_blob_find("mips"));
    cr_assert_null(ag_blob_find(NULL));
}

/* The running count the agent reports for arg. */
static long
running(struct agent *a, const char *arg, char *pids, size_t pidsz)
{
    const char *w[] = {"running", arg, NULL};
    struct resp r;
    long n;

    agent_req(a, &r, w, NULL, 0);
    cr_assert(r.ok, "%s", r.body);
    n = atol(kv(&r, "running"));
    if (pids != NULL)
        snprintf(pids, pidsz, "%s", kv(&r, "pids"));
    resp_free(&r);
    return n;
}

Test(agent, running_matches_processes_by_exact_argument, .timeout = 30)
{
    static const char pkg[] =
        "/tmp/af-running-test/torch-2.1.0+cpu-cp311-cp311-linux_x86_64.whl";
    struct agent a;
    char pids[256], want[32];
    pid_t pid;
    int i, st;

    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "sleep 30; :", "sh", pkg, (char *)NULL);
        _exit(127);
    }
    agent_start(&a, FIXTURES "/fresh");
    for (i = 0; i < 50 && running(&a, pkg, NULL, 0) == 0; i++)
        usleep(100000);
    cr_assert_eq(running(&a, pkg, pids, sizeof(pids)), 1);
    snprintf(want, sizeof(want), "%d", (int)pid);
    cr_assert_str_eq(pids, want);
    /* No pattern matching: a prefix, or '.' for '+', is another path. */
    cr_assert_eq(running(&a, "/tmp/af-running-test/torch-2.1.0+cpu", NULL, 0),
                 0);
    cr_assert_eq(running(&a,
                         "/tmp/af-running-test/"
                         "torch-2.1.0.cpu-cp311-cp311-linux_x86_64.whl",
                         NULL, 0),
                 0);
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert_eq(running(&a, pkg, NULL, 0), 0);
    cr_assert_eq(agent_stop(&a), 0);
}

/*
 * get: a data frame "AFD <size>" with the file's exact bytes (NULs and
 * newlines included), then ok with size, mode and sha256; a file over the
 * limit, a missing file and a directory are err without any frame, and
 * serving goes on after each.
 */
Test(agent,
     get_streams_a_file_as_a_data_frame,
     .fini = cleanup_tmp_root,
     .timeout = 30)
{
    char *root = make_tmp_root(), *path = af_asprintf("%s/f.bin", root);
    char data[70000], *got = af_malloc(sizeof(data)), head[64], hex[65];
    const char *const w[] = {"get", "/f.bin", "1000000", NULL};
    const char *const small[] = {"get", "/f.bin", "69999", NULL};
    const char *const none[] = {"get", "/nope", "10", NULL};
    const char *const dir[] = {"get", "/", "10", NULL};
    struct agent a;
    struct resp r;
    size_t i;
    FILE *f;

    for (i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7 + (i >> 9));
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, sizeof(data), f), sizeof(data));
    fclose(f);
    cr_assert_eq(chmod(path, 0640), 0);
    af_sha256_hex(data, sizeof(data), hex);
    agent_start(&a, root);
    for (i = 0; w[i] != NULL; i++)
        fprintf(a.to, "%s%s", i ? " " : "", w[i]);
    fputc('\n', a.to);
    fflush(a.to);
    cr_assert_not_null(fgets(head, sizeof(head), a.from));
    cr_assert_str_eq(head, "AFD 70000\n");
    cr_assert_eq(fread(got, 1, sizeof(data), a.from), sizeof(data));
    cr_expect_eq(memcmp(got, data, sizeof(data)), 0, "frame bytes differ");
    agent_read(&a, &r);
    cr_expect(r.ok, "%s", r.body);
    cr_expect_str_eq(kv(&r, "size"), "70000");
    cr_expect_str_eq(kv(&r, "mode"), "640");
    cr_expect_str_eq(kv(&r, "sha256"), hex);
    resp_free(&r);
    agent_req(&a, &r, small, NULL, 0);
    cr_expect(!r.ok);
    cr_expect(strstr(kv(&r, "error"), "more than the limit of 69999") != NULL,
              "%s", r.body);
    resp_free(&r);
    agent_req(&a, &r, none, NULL, 0);
    cr_expect(!r.ok);
    cr_expect_str_eq(kv(&r, "error"), "/nope: No such file or directory");
    resp_free(&r);
    agent_req(&a, &r, dir, NULL, 0);
    cr_expect(!r.ok);
    cr_expect_str_eq(kv(&r, "error"), "/: not a regular file");
    resp_free(&r);
    cr_assert_eq(agent_stop(&a), 0);
    free(got);
    free(path);
    free(root);
}

/* Put data (n bytes) to path through a; asserts it was accepted. */
static void
put_ok(struct agent *a, const char *path, const void *data, size_t n)
{
    char hex[65], size[32];
    struct resp r;
    const char *w[7] = {"put", hex, size, "600", path, NULL, NULL};

    af_sha256_hex(data, n, hex);
    snprintf(size, sizeof(size), "%zu", n);
    agent_req(a, &r, w, data, n);
    cr_assert(r.ok, "put %s: %s", path, r.body);
    resp_free(&r);
}

Test(agent,
     staged_lists_marked_packages_until_the_file_changes,
     .timeout = 30,
     .fini = cleanup_tmp_root)
{
    static const char pkg[] = AF_PKG_DIR "/cann.run";
    char *root = make_tmp_root(), hex[65], *host, *mark;
    unsigned char data[5000];
    struct agent a;
    struct resp r;
    size_t i;
    int fd;

    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 13 % 251);
    af_sha256_hex(data, sizeof(data), hex);
    agent_start(&a, root);
    put_ok(&a, pkg, data, sizeof(data));
    put_ok(&a, "/var/lib/elsewhere/cann.run", data, sizeof(data));
    mark = af_asprintf("%s/var/lib/elsewhere/cann.run.verified", root);
    cr_expect_neq(access(mark, F_OK), 0, "a put outside %s left a mark",
                  AF_PKG_DIR);
    free(mark);
    {
        const char *const w[] = {"staged", AF_PKG_DIR, NULL};

        agent_req(&a, &r, w, NULL, 0);
        cr_assert(r.ok, "%s", r.body);
        cr_assert_str_eq(kv(&r, "n"), "1");
        cr_assert_str_eq(kv(&r, "name.0"), "cann.run");
        cr_assert_str_eq(kv(&r, "sha256.0"), hex);
        cr_assert_str_eq(kv(&r, "size.0"), "5000");
        resp_free(&r);
    }
    /*
     * Same size and bytes but written again: the ctime moved, so the mark
     * no longer counts; stat hashes the file (and sees the new bytes).
     */
    host = af_asprintf("%s%s", root, pkg);
    usleep(20000); /* a coarse ctime clock still moves */
    fd = open(host, O_WRONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "X", 1, 10), 1);
    close(fd);
    {
        const char *const w[] = {"staged", AF_PKG_DIR, NULL};

        agent_req(&a, &r, w, NULL, 0);
        cr_assert(r.ok);
        cr_assert_str_eq(kv(&r, "n"), "0", "a changed file is still staged");
        resp_free(&r);
    }
    {
        const char *const w[] = {"stat", pkg, NULL};

        agent_req(&a, &r, w, NULL, 0);
        cr_assert(r.ok);
        cr_assert_str_neq(kv(&r, "sha256"), hex,
                          "stat answered from a stale mark");
        resp_free(&r);
    }
    cr_assert_eq(agent_stop(&a), 0);
    free(host);
    rm_rf(root);
    free(root);
}

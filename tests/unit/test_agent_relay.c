/* SPDX-License-Identifier: MIT */
/*
 * The agent's rack relay (agent/ag-relay.h): the built x86_64 agent serves
 * a package with "relay" from one temporary root (the gateway) and another
 * agent "fetch"es it into a second root (a member), over TCP on 127.0.0.1.
 * Wrong bytes, a wrong token and a relay past its member count are refused;
 * a verified partial resumes.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "af-kv.h"
#include "af-mem.h"
#include "af-proto.h"
#include "af-sha256.h"

#define AGENT_X86 AF_BINARY_DIR "/agent/ascend-fleet-agent-x86_64"
#define PKG       "/var/lib/ascend-fleet/packages/Ascend-pkg.run"
#define PKG_SIZE  (3 * 1024 * 1024 + 4321)
#define TOKEN     "0123456789abcdef0123456789abcdef"
#define FAULT_ENV "AF_AGENT_TEST_RELAY_FAULT"

struct agent {
    pid_t pid;
    FILE *to, *from;
};

struct resp {
    int ok;
    struct af_kv kv;
    char *body;
};

static char roots[2][64];

static void
agent_start(struct agent *a, const char *root)
{
    int in[2], out[2];
    char greet[512];

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
        execl(AGENT_X86, AGENT_X86, "serve", "--root", root, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    a->to = fdopen(in[1], "w");
    a->from = fdopen(out[0], "r");
    cr_assert_not_null(fgets(greet, sizeof(greet), a->from), "no greeting");
}

static void
agent_stop(struct agent *a)
{
    int st;

    fclose(a->to);
    fclose(a->from);
    waitpid(a->pid, &st, 0);
}

static void
agent_req(struct agent *a, struct resp *r, const char *const *words)
{
    char head[128], status[8];
    size_t i, len;

    for (i = 0; words[i] != NULL; i++) {
        char *enc = af_proto_encode(words[i], strlen(words[i]));

        fprintf(a->to, "%s%s", i ? " " : "", enc);
        free(enc);
    }
    fputc('\n', a->to);
    fflush(a->to);
    cr_assert_not_null(fgets(head, sizeof(head), a->from), "no response");
    cr_assert_eq(sscanf(head, "AFP %7s %zu", status, &len), 2, "bad: %s", head);
    r->ok = strcmp(status, "ok") == 0;
    r->body = af_malloc(len + 1);
    cr_assert_eq(fread(r->body, 1, len, a->from), len);
    r->body[len] = '\0';
    af_kv_init(&r->kv);
    cr_assert_eq(af_proto_kv_parse(&r->kv, r->body, len), 0);
}

static void
resp_free(struct resp *r)
{
    af_kv_free(&r->kv);
    free(r->body);
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

static void
cleanup(void)
{
    int i;

    for (i = 0; i < 2; i++)
        if (roots[i][0] != '\0')
            rm_rf(roots[i]);
}

static char *
under(int root, const char *path)
{
    return af_asprintf("%s%s", roots[root], path);
}

/* Two roots; the gateway (0) holds PKG, n bytes of a pattern. */
static void
setup_roots(char hex[65])
{
    char *dir, *path;
    unsigned char *buf = af_malloc(PKG_SIZE);
    size_t i;
    FILE *f;

    for (i = 0; i < 2; i++) {
        snprintf(roots[i], sizeof(roots[i]), "/tmp/test-relay-XXXXXX");
        cr_assert_not_null(mkdtemp(roots[i]));
    }
    dir = af_asprintf("mkdir -p %s/var/lib/ascend-fleet/packages", roots[0]);
    cr_assert_eq(system(dir), 0);
    for (i = 0; i < PKG_SIZE; i++)
        buf[i] = (unsigned char)((i * 2654435761u) >> 13);
    path = under(0, PKG);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, PKG_SIZE, f), PKG_SIZE);
    fclose(f);
    af_sha256_hex(buf, PKG_SIZE, hex);
    free(buf);
    free(path);
    free(dir);
}

/* Start a relay of PKG on the gateway root; returns the port. */
static char *
relay(const char *sha, const char *members, int corrupt)
{
    char size[32];
    const char *w[] = {"relay", sha, size, PKG,  "127.0.0.1", TOKEN,
                       members, "4", "30", "60", NULL};
    struct agent a;
    struct resp r;
    char *port;

    snprintf(size, sizeof(size), "%d", PKG_SIZE);
    if (corrupt)
        setenv(FAULT_ENV, "corrupt", 1);
    agent_start(&a, roots[0]);
    unsetenv(FAULT_ENV);
    agent_req(&a, &r, w);
    cr_assert(r.ok, "relay failed: %s", r.body);
    port = af_strdup(af_kv_get(&r.kv, "port"));
    cr_assert(atoi(port) > 0, "port %s", port);
    resp_free(&r);
    agent_stop(&a);
    return port;
}

static void
fetch(struct resp *r, const char *port, const char *token, const char *sha)
{
    char size[32];
    const char *w[] = {"fetch", "127.0.0.1", port, token, sha,
                       size,    "600",       PKG,  "20",  NULL};
    struct agent a;

    snprintf(size, sizeof(size), "%d", PKG_SIZE);
    agent_start(&a, roots[1]);
    agent_req(&a, r, w);
    agent_stop(&a);
}

static int
exists(int root, const char *path)
{
    char *p = under(root, path);
    struct stat st;
    int r = stat(p, &st) == 0;

    free(p);
    return r;
}

static void
assert_same(void)
{
    char *a = under(0, PKG), *b = under(1, PKG);
    char *cmd = af_asprintf("cmp -s %s %s", a, b);

    cr_assert_eq(system(cmd), 0, "the member's copy differs");
    free(cmd);
    free(a);
    free(b);
}

TestSuite(agent_relay, .fini = cleanup, .timeout = 60);

Test(agent_relay, fetch_installs_the_verified_package)
{
    char hex[65], *port;
    struct resp r;

    setup_roots(hex);
    port = relay(hex, "1", 0);
    fetch(&r, port, TOKEN, hex);
    cr_assert(r.ok, "fetch failed: %s", r.body);
    cr_assert_str_eq(af_kv_get(&r.kv, "sha256"), hex);
    cr_assert_eq(atoll(af_kv_get(&r.kv, "received")), PKG_SIZE);
    cr_assert_str_eq(af_kv_get(&r.kv, "offset"), "0");
    assert_same();
    resp_free(&r);
    free(port);
}

Test(agent_relay, wrong_token_is_refused)
{
    char hex[65], *port;
    struct resp r;

    setup_roots(hex);
    port = relay(hex, "1", 0);
    fetch(&r, port, "fedcba9876543210fedcba9876543210", hex);
    cr_assert_not(r.ok, "a wrong token was served");
    cr_assert(strstr(af_kv_get(&r.kv, "error"), "wrong token") != NULL, "%s",
              r.body);
    cr_assert_not(exists(1, PKG));
    resp_free(&r);
    /* The refused client did not count: the right token still works. */
    fetch(&r, port, TOKEN, hex);
    cr_assert(r.ok, "fetch failed: %s", r.body);
    resp_free(&r);
    free(port);
}

Test(agent_relay, corrupted_relay_bytes_are_refused)
{
    char hex[65], *port;
    struct resp r;

    setup_roots(hex);
    port = relay(hex, "1", 1);
    fetch(&r, port, TOKEN, hex);
    cr_assert_not(r.ok, "corrupted bytes were accepted");
    cr_assert(strstr(af_kv_get(&r.kv, "error"), "sha256 mismatch") != NULL,
              "%s", r.body);
    cr_assert_not(exists(1, PKG), "the bad copy was installed");
    cr_assert_not(exists(1, PKG ".partial"), "the bad partial was kept");
    resp_free(&r);
    free(port);
}

Test(agent_relay, a_relay_of_other_content_is_refused)
{
    char hex[65], *port;
    const char *other =
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    struct resp r;

    setup_roots(hex);
    /* The gateway claims a hash its file does not have. */
    port = relay(other, "1", 0);
    fetch(&r, port, TOKEN, other);
    cr_assert_not(r.ok);
    cr_assert(strstr(af_kv_get(&r.kv, "error"), "sha256 mismatch") != NULL,
              "%s", r.body);
    cr_assert_not(exists(1, PKG));
    resp_free(&r);
    free(port);
}

Test(agent_relay, fetch_resumes_from_the_verified_offset)
{
    char hex[65], *port, *src = NULL, *part, *meta, line[160];
    unsigned char *buf = af_malloc(PKG_SIZE);
    struct resp r;
    FILE *f;

    setup_roots(hex);
    src = under(0, PKG);
    f = fopen(src, "rb");
    cr_assert_eq(fread(buf, 1, PKG_SIZE, f), PKG_SIZE);
    fclose(f);
    part = af_asprintf("mkdir -p %s/var/lib/ascend-fleet/packages", roots[1]);
    cr_assert_eq(system(part), 0);
    free(part);
    part = under(1, PKG ".partial");
    meta = under(1, PKG ".partial.meta");
    f = fopen(part, "wb");
    cr_assert_eq(fwrite(buf, 1, 1048576, f), 1048576);
    fclose(f);
    snprintf(line, sizeof(line), "%s %d %d\n", hex, PKG_SIZE, 1048576);
    f = fopen(meta, "w");
    fputs(line, f);
    fclose(f);
    port = relay(hex, "1", 0);
    fetch(&r, port, TOKEN, hex);
    cr_assert(r.ok, "fetch failed: %s", r.body);
    cr_assert_str_eq(af_kv_get(&r.kv, "offset"), "1048576");
    cr_assert_eq(atoll(af_kv_get(&r.kv, "received")), PKG_SIZE - 1048576);
    assert_same();
    resp_free(&r);
    free(port);
    free(part);
    free(meta);
    free(src);
    free(buf);
}

Test(agent_relay, the_relay_ends_after_its_members)
{
    char hex[65], *port;
    struct resp r;

    setup_roots(hex);
    port = relay(hex, "1", 0);
    fetch(&r, port, TOKEN, hex);
    cr_assert(r.ok, "fetch failed: %s", r.body);
    resp_free(&r);
    rm_rf(roots[1]);
    cr_assert_eq(mkdir(roots[1], 0700), 0);
    usleep(500 * 1000); /* the server polls every 100 ms */
    fetch(&r, port, TOKEN, hex);
    cr_assert_not(r.ok, "a relay served more members than it was given");
    cr_assert(strstr(af_kv_get(&r.kv, "error"), "cannot connect") != NULL, "%s",
              r.body);
    resp_free(&r);
    free(port);
}

Test(agent_relay, relay_refuses_a_missing_package_and_bad_words)
{
    char hex[65];
    const char *w[] = {"relay", hex, "5",  PKG,  "127.0.0.1", TOKEN,
                       "1",     "4", "30", "60", NULL};
    const char *bad[] = {"fetch", "localhost", "1", TOKEN, NULL};
    const char *outside[] = {"relay",     hex,   "5", "/etc/shadow",
                             "127.0.0.1", TOKEN, "1", "4",
                             "30",        "60",  NULL};
    struct agent a;
    struct resp r;

    setup_roots(hex);
    agent_start(&a, roots[0]);
    agent_req(&a, &r, w);
    cr_assert_not(r.ok);
    cr_assert(strstr(af_kv_get(&r.kv, "error"), "not here with that size") !=
                  NULL,
              "%s", r.body);
    resp_free(&r);
    agent_req(&a, &r, outside);
    cr_assert_not(r.ok);
    cr_assert(strstr(af_kv_get(&r.kv, "error"), "only files under") != NULL,
              "%s", r.body);
    resp_free(&r);
    agent_req(&a, &r, bad);
    cr_assert_not(r.ok);
    cr_assert(strstr(af_kv_get(&r.kv, "error"), "usage: fetch") != NULL, "%s",
              r.body);
    resp_free(&r);
    agent_stop(&a);
}

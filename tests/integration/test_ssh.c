/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the SSH client behaviour against the shared rack:
 * nodes reached by ssh_config aliases (HostName, Port, User, IdentityFile,
 * UserKnownHostsFile from ~/.ssh/config), inventory show naming where each
 * setting came from, --ssh-config none, the handshake timeout apart
 * from the TCP connect timeout, and ssh-agent keys tried before identity
 * files (a real ssh-agent started and killed by the test). Each test runs with
 * HOME set to its own temp dir, so the real ~/.ssh/config is never read. Uses
 * npu058..npu061 (npu061 muted for a while).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "harness.h"
#include "st.h"

static char home[64];

static void
setup(void)
{
    char *ssh;

    snprintf(home, sizeof(home), "/tmp/af-test-ssh-XXXXXX");
    cr_assert_not_null(mkdtemp(home));
    setenv("HOME", home, 1);
    /* Only the agent a test starts itself is ever offered. */
    unsetenv("SSH_AUTH_SOCK");
    ssh = af_asprintf("%s/.ssh", home);
    cr_assert_eq(mkdir(ssh, 0700), 0);
    free(ssh);
}

static void
teardown(void)
{
    char *cmd = af_asprintf("rm -rf '%s'", home);

    cr_expect_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(ssh, .init = setup, .fini = teardown);

/* Write text (printf format) to HOME/name; returns the path. */
static char *put(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *
put(const char *name, const char *fmt, ...)
{
    char *p = af_asprintf("%s/%s", home, name);
    FILE *f = fopen(p, "w");
    va_list ap;

    cr_assert_not_null(f, "%s", p);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return p;
}

/* The loopback address of a rack node (caller frees). */
static char *
node_addr(const char *node)
{
    char *p = af_asprintf("%s/nodes/%s/addr", AF_RACK_DIR, node);
    char *a = th_slurp(p, NULL);

    cr_assert_not_null(a, "%s", p);
    a[strcspn(a, " \n")] = '\0';
    free(p);
    return a;
}

static int
run(struct th_result *r, const char *const *argv)
{
    int rc = th_run(r, 60, argv);

    cr_assert_eq(rc, 0, "cannot run %s", argv[0]);
    return r->status;
}

Test(ssh, ssh_config_alias_port_user_and_identity, .timeout = 120)
{
    char *a58 = node_addr("npu058"), *a59 = node_addr("npu059");
    char *cfg = put(".ssh/config",
                    "# operator's config\n"
                    "Host alias-* !alias-none\n"
                    "  User root\n"
                    "  IdentityFile %s/id_ed25519\n"
                    "  UserKnownHostsFile %s/known_hosts\n"
                    "  ConnectTimeout 5\n"
                    "Host alias-good\n"
                    "  HostName %s\n"
                    "  Port 22\n"
                    "Host alias-badport\n"
                    "  HostName %s\n"
                    "  Port 2\n",
                    AF_RACK_DIR, AF_RACK_DIR, a58, a59);
    char *inv = put("inv.yaml", "hosts: [alias-good, alias-badport]\n");
    const char *exec1[] = {AF_BIN, "exec",  "-i", inv,
                           "--",   "uname", "-n", NULL};
    const char *show[] = {AF_BIN, "inventory", "show", "-i",
                          inv,    "--detail",  NULL};
    const char *none[] = {AF_BIN, "exec", "-i",   inv, "--ssh-config",
                          "none", "--",   "true", NULL};
    const char *json[] = {AF_BIN, "inventory", "show", "-i",
                          inv,    "--json",    NULL};
    struct th_result r;
    char *want;

    cr_expect_eq(run(&r, exec1), 1, "stderr: %s\nout: %s", r.err, r.out);
    cr_expect_not_null(strstr(r.out, "npu058"),
                       "alias-good ran on npu058 "
                       "through HostName:\n%s",
                       r.out);
    want = af_asprintf("%s port 2:", a59);
    cr_expect_not_null(strstr(r.out, "alias-badport"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, want), "Port 2 was used:\n%s", r.out);
    free(want);
    th_result_free(&r);

    cr_expect_eq(run(&r, show), 0, "%s", r.err);
    want = af_asprintf("%s:%d", cfg, 8);
    cr_expect_not_null(strstr(r.out, want), "HostName from %s:\n%s", want,
                       r.out);
    free(want);
    want = af_asprintf("%s/id_ed25519", AF_RACK_DIR);
    cr_expect_not_null(strstr(r.out, want), "%s", r.out);
    free(want);
    want = af_asprintf("handshake_timeout  30 s");
    cr_expect_not_null(strstr(r.out, want), "%s", r.out);
    free(want);
    cr_expect_not_null(strstr(r.out, "default"), "%s", r.out);
    th_result_free(&r);

    cr_expect_eq(run(&r, json), 0, "%s", r.err);
    want = af_asprintf("\"port\":\"%s:12\"", cfg);
    cr_expect_not_null(strstr(r.out, want), "%s\n%s", want, r.out);
    free(want);
    th_result_free(&r);

    /* Without ssh_config the aliases are just names that do not resolve
     * (the default identity must load for the run to start). */
    want =
        af_asprintf("cp %s/id_ed25519 %s/.ssh/id_ed25519", AF_RACK_DIR, home);
    cr_assert_eq(system(want), 0);
    free(want);
    cr_expect_eq(run(&r, none), 1, "%s", r.err);
    /* Both fail alike, each at its own name: one folded block. */
    cr_expect_not_null(strstr(r.out, "alias-badport,alias-good (unreachable)\n"
                                     "---------------\ncannot resolve "
                                     "<address>: "),
                       "%s", r.out);
    th_result_free(&r);
    free(a58);
    free(a59);
    free(cfg);
    free(inv);
}

Test(ssh, inventory_values_win_over_ssh_config, .timeout = 120)
{
    char *a60 = node_addr("npu060");
    char *cfg = put("my.conf", "Host npu060\n"
                               "  HostName 127.0.0.0\n"
                               "  User nobody-here\n"
                               "  Port 2\n");
    char *inv = put("inv.yaml",
                    "ssh_config: my.conf\n"
                    "defaults:\n"
                    "  user: root\n"
                    "  port: 22\n"
                    "  identity: %s/id_ed25519\n"
                    "  known_hosts: %s/known_hosts\n"
                    "  connect_timeout: 5\n"
                    "hosts:\n"
                    "  - {name: npu060, address: %s}\n",
                    AF_RACK_DIR, AF_RACK_DIR, a60);
    char *unused = put(".ssh/config", "Host *\n  Port 3\n");
    const char *exec1[] = {AF_BIN, "exec",  "-i", inv,
                           "--",   "uname", "-n", NULL};
    struct th_result r;

    cr_expect_eq(run(&r, exec1), 0, "stderr: %s\nout: %s", r.err, r.out);
    cr_expect_not_null(strstr(r.out, "npu060"), "%s", r.out);
    th_result_free(&r);
    free(a60);
    free(cfg);
    free(inv);
    free(unused);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
undo_mute_npu061(void)
{
    th_rack("fault npu061 up");
}

/*
 * A node that accepts TCP but never speaks: connect_timeout (1 s, TCP
 * only, as OpenSSH's ConnectTimeout) does not end it; handshake_timeout
 * (4 s) does, and says so.
 */
Test(ssh,
     handshake_timeout_is_apart_from_connect_timeout,
     .timeout = 120,
     .fini = undo_mute_npu061)
{
    char *a61 = node_addr("npu061"), *a60 = node_addr("npu060");
    char *inv = put("inv.yaml",
                    "ssh_config: none\n"
                    "defaults:\n"
                    "  identity: %s/id_ed25519\n"
                    "  known_hosts: %s/known_hosts\n"
                    "  connect_timeout: 1\n"
                    "  handshake_timeout: 4\n"
                    "hosts:\n"
                    "  - {name: npu060, address: %s}\n"
                    "  - {name: npu061, address: %s}\n",
                    AF_RACK_DIR, AF_RACK_DIR, a60, a61);
    const char *exec1[] = {AF_BIN, "exec", "-i", inv, "--", "true", NULL};
    struct th_result r;
    double t0, dt;

    cr_assert_eq(th_rack("fault npu061 mute"), 0);
    t0 = now_s();
    cr_expect_eq(run(&r, exec1), 1, "stderr: %s\nout: %s", r.err, r.out);
    dt = now_s() - t0;
    cr_expect_geq(dt, 3.8,
                  "ended after %.1f s: the connect timeout "
                  "ended the handshake",
                  dt);
    cr_expect_lt(dt, 9.0, "took %.1f s", dt);
    cr_expect_not_null(strstr(r.out, "SSH handshake timed out after 4.0 s"),
                       "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu061 (timeout)"), "%s", r.out);
    th_result_free(&r);
    free(a60);
    free(a61);
    free(inv);
}

static pid_t agent_pid;

static void
kill_agent(void)
{
    if (agent_pid > 0)
        kill(agent_pid, SIGTERM);
    agent_pid = 0;
}

/* Start ssh-agent on HOME/agent.sock and load key into it. */
static char *
start_agent(const char *key)
{
    char *sock = af_asprintf("%s/agent.sock", home);
    char *out = af_asprintf("%s/agent.out", home);
    char *cmd = af_asprintf("ssh-agent -a '%s' > '%s'", sock, out);
    char *text, *p;

    cr_assert_eq(system(cmd), 0, "%s", cmd);
    text = th_slurp(out, NULL);
    cr_assert_not_null(text);
    p = strstr(text, "SSH_AGENT_PID=");
    cr_assert_not_null(p, "%s", text);
    agent_pid = (pid_t)atoi(p + strlen("SSH_AGENT_PID="));
    cr_assert_gt(agent_pid, 0);
    free(cmd);
    cmd = af_asprintf("SSH_AUTH_SOCK='%s' ssh-add -q '%s' 2>/dev/null", sock,
                      key);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    free(cmd);
    free(text);
    free(out);
    return sock;
}

Test(ssh,
     agent_key_is_used_when_the_identity_file_is_absent,
     .timeout = 120,
     .fini = kill_agent)
{
    char *a59 = node_addr("npu059");
    char *absent = af_asprintf("%s/.ssh/absent_key", home);
    char *inv = put("inv.yaml",
                    "ssh_config: none\n"
                    "defaults:\n"
                    "  identity: %s\n"
                    "  known_hosts: %s/known_hosts\n"
                    "  connect_timeout: 5\n"
                    "hosts:\n"
                    "  - {name: npu059, address: %s}\n",
                    absent, AF_RACK_DIR, a59);
    const char *exec1[] = {AF_BIN, "exec",  "-i", inv,
                           "--",   "uname", "-n", NULL};
    const char *check[] = {AF_BIN, "inventory", "check", "-i", inv, NULL};
    struct th_result r;
    char *sock, *want;

    /* inventory check warns; without an agent the run cannot start. */
    cr_expect_eq(run(&r, check), 0, "%s", r.err);
    want = af_asprintf("warning: identity %s does not exist (npu059)", absent);
    cr_expect_not_null(strstr(r.err, want), "%s", r.err);
    free(want);
    th_result_free(&r);
    cr_expect_eq(run(&r, exec1), 2, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "cannot load identity"), "%s", r.err);
    th_result_free(&r);

    /* With the key only in the agent, the node is reached. */
    sock = start_agent(AF_RACK_DIR "/id_ed25519");
    setenv("SSH_AUTH_SOCK", sock, 1);
    cr_expect_eq(run(&r, exec1), 0, "stderr: %s\nout: %s", r.err, r.out);
    cr_expect_not_null(strstr(r.out, "npu059"), "%s", r.out);
    th_result_free(&r);

    /* The agent gone: the node fails at authentication, saying why. */
    kill_agent();
    usleep(200 * 1000);
    cr_expect_eq(run(&r, exec1), 1, "%s", r.err);
    cr_expect_not_null(strstr(r.out, "no key from ssh-agent accepted for "
                                     "user root"),
                       "%s", r.out);
    th_result_free(&r);
    unsetenv("SSH_AUTH_SOCK");
    free(sock);
    free(inv);
    free(absent);
    free(a59);
}

Test(ssh,
     encrypted_identity_without_agent_says_load_it_into_the_agent,
     .timeout = 120,
     .fini = kill_agent)
{
    char *a59 = node_addr("npu059");
    char *enc = af_asprintf("%s/enc_key", home);
    char *cmd = af_asprintf("ssh-keygen -q -t ed25519 -N secret-words -f "
                            "'%s'",
                            enc);
    char *inv = put("inv.yaml",
                    "ssh_config: none\n"
                    "defaults:\n"
                    "  identity: %s\n"
                    "  known_hosts: %s/known_hosts\n"
                    "hosts:\n"
                    "  - {name: npu059, address: %s}\n",
                    enc, AF_RACK_DIR, a59);
    const char *exec1[] = {AF_BIN, "exec", "-i", inv, "--", "true", NULL};
    struct th_result r;
    char *want, *sock;

    cr_assert_eq(system(cmd), 0, "%s", cmd);
    cr_expect_eq(run(&r, exec1), 2, "%s", r.err);
    want = af_asprintf("identity %s is encrypted: load it into ssh-agent", enc);
    cr_expect_not_null(strstr(r.err, want), "%s", r.err);
    free(want);
    th_result_free(&r);

    /* The agent holds the rack's key: it is offered first and gets in. */
    sock = start_agent(AF_RACK_DIR "/id_ed25519");
    setenv("SSH_AUTH_SOCK", sock, 1);
    cr_expect_eq(run(&r, exec1), 0, "stderr: %s\nout: %s", r.err, r.out);
    th_result_free(&r);
    unsetenv("SSH_AUTH_SOCK");
    free(sock);
    free(inv);
    free(cmd);
    free(enc);
    free(a59);
}

/* ---- jump hosts ---------------------------------------------------- */

/* "Accepted publickey" lines in node's sshd log: its SSH logins so far. */
static int
logins(const char *node)
{
    char *p = af_asprintf("%s/nodes/%s/sshd.log", AF_RACK_DIR, node);
    char *log = th_slurp(p, NULL), *q;
    int n = 0;

    for (q = log; q != NULL && (q = strstr(q, "Accepted publickey")) != NULL;
         q++)
        n++;
    free(log);
    free(p);
    return n;
}

/* An inventory (HOME/inv.yaml) listing npu<first>..npu<last> with their
 * addresses, extra (printf-free text) added to the defaults. */
static char *
jump_inventory(int first, int last, const char *extra)
{
    char *path = af_asprintf("%s/inv.yaml", home);
    FILE *f = fopen(path, "w");
    int i;

    cr_assert_not_null(f);
    fprintf(f,
            "defaults:\n"
            "  identity: %s/id_ed25519\n"
            "  known_hosts: %s/known_hosts\n"
            "  connect_timeout: 5\n"
            "%s"
            "hosts:\n",
            AF_RACK_DIR, AF_RACK_DIR, extra);
    for (i = first; i <= last; i++) {
        char name[16];
        char *a;

        snprintf(name, sizeof(name), "npu%03d", i);
        a = node_addr(name);
        fprintf(f, "  - {name: %s, address: %s}\n", name, a);
        free(a);
    }
    fclose(f);
    return path;
}

Test(ssh, proxyjump_shares_one_session_to_the_jump_host, .timeout = 120)
{
    char *cfg = put(".ssh/config", "Host npu05?\n  ProxyJump npu049\n");
    char *inv = jump_inventory(49, 57, "");
    const char *exec1[] = {AF_BIN,         "exec", "-i",    inv,  "--limit",
                           "npu[050-057]", "--",   "uname", "-n", NULL};
    const char *show[] = {AF_BIN,     "inventory", "show",   "-i", inv,
                          "--detail", "--limit",   "npu050", NULL};
    struct th_result r;
    int before = logins("npu049"), t0 = logins("npu050"), i;
    char *want;

    cr_expect_eq(run(&r, exec1), 0, "stderr: %s\nout: %s", r.err, r.out);
    for (i = 50; i <= 57; i++) {
        char name[16];

        snprintf(name, sizeof(name), "\nnpu%03d\n", i);
        cr_expect_not_null(strstr(r.out, name) != NULL ? r.out : NULL,
                           "no npu%03d in:\n%s", i, r.out);
    }
    cr_expect_not_null(strstr(r.out, "8 ok"), "%s", r.out);
    th_result_free(&r);
    usleep(300 * 1000); /* the log line may trail the session */
    cr_expect_eq(logins("npu049") - before, 1,
                 "8 nodes behind npu049 cost %d logins to it",
                 logins("npu049") - before);
    cr_expect_eq(logins("npu050") - t0, 1);

    cr_expect_eq(run(&r, show), 0, "%s", r.err);
    want = af_asprintf("npu049 %*s%s:2", 26, "", cfg);
    cr_expect_not_null(strstr(r.out, "jump               npu049"), "%s", r.out);
    free(want);
    th_result_free(&r);
    free(cfg);
    free(inv);
}

Test(ssh, two_hop_chain_and_jump_failures_fold_per_node_set, .timeout = 120)
{
    char *cfg = put(".ssh/config",
                    "Host badjump\n"
                    "  HostName 127.0.0.1\n"
                    "  Port 1\n"
                    "  IdentityFile %s/id_ed25519\n",
                    AF_RACK_DIR);
    char *inv = jump_inventory(49, 54, "");
    char *text = th_slurp(inv, NULL), *p;
    FILE *f;
    struct th_result r;
    const char *chain[] = {AF_BIN,         "exec", "-i",    inv,  "--limit",
                           "npu[051-052]", "--",   "uname", "-n", NULL};
    const char *bad[] = {AF_BIN,         "exec", "-i",   inv, "--limit",
                         "npu[053-054]", "--",   "true", NULL};
    int j1 = logins("npu049"), j2 = logins("npu050");

    /* npu051-052 through npu049 then npu050; npu053-054 behind badjump. */
    f = fopen(inv, "w");
    cr_assert_not_null(f);
    for (p = strtok(text, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        if (strstr(p, "name: npu051") || strstr(p, "name: npu052"))
            fprintf(f, "%.*s, jump: \"npu049,npu050\"}\n", (int)strlen(p) - 1,
                    p);
        else if (strstr(p, "name: npu053") || strstr(p, "name: npu054"))
            fprintf(f, "%.*s, jump: badjump}\n", (int)strlen(p) - 1, p);
        else
            fprintf(f, "%s\n", p);
    }
    fclose(f);

    cr_expect_eq(run(&r, chain), 0, "stderr: %s\nout: %s", r.err, r.out);
    cr_expect_not_null(strstr(r.out, "npu051\n"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu052\n"), "%s", r.out);
    th_result_free(&r);
    usleep(300 * 1000);
    cr_expect_eq(logins("npu049") - j1, 1, "first hop");
    cr_expect_eq(logins("npu050") - j2, 1, "second hop");

    cr_expect_eq(run(&r, bad), 1, "%s", r.err);
    cr_expect_not_null(strstr(r.out, "npu[053-054] (unreachable)\n"
                                     "---------------\nvia jump "
                                     "host badjump: connect to 127.0.0.1 "
                                     "port 1: Connection refused"),
                       "one block for the node set:\n%s", r.out);
    th_result_free(&r);
    free(text);
    free(cfg);
    free(inv);
}

/* ---- become ------------------------------------------------------------ */

Test(ssh,
     become_sudo_runs_as_root_and_a_password_prompt_fails_fast,
     .timeout = 120)
{
    char *inv = jump_inventory(60, 62, "  user: fleet\n");
    char *text = th_slurp(inv, NULL), *p;
    FILE *f;
    struct th_result r;
    const char *plain[] = {AF_BIN,   "exec", "-i", inv,   "--limit",
                           "npu060", "--",   "id", "-un", NULL};
    const char *become[] = {
        AF_BIN,    "exec",         "-i", inv,
        "--limit", "npu[060-061]", "--", "id -un; echo \"it's\" $0",
        NULL};
    const char *pw[] = {AF_BIN,   "exec", "-i",   inv, "--limit",
                        "npu062", "--",   "true", NULL};
    double t0, dt;

    /* npu060 and npu061 log in as fleet (NOPASSWD sudo) with become:
     * sudo; npu062 as fleetpw, whose sudo wants a password. */
    f = fopen(inv, "w");
    cr_assert_not_null(f);
    for (p = strtok(text, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        if (strstr(p, "name: npu062"))
            fprintf(f, "%.*s, user: fleetpw, become: sudo}\n",
                    (int)strlen(p) - 1, p);
        else if (strstr(p, "name: npu06"))
            fprintf(f, "%.*s, become: sudo}\n", (int)strlen(p) - 1, p);
        else
            fprintf(f, "%s\n", p);
    }
    fclose(f);
    free(text);

    {
        const char *show[] = {AF_BIN, "inventory", "show", "-i",
                              inv,    "--json",    NULL};

        cr_expect_eq(run(&r, show), 0, "%s", r.err);
        cr_expect_not_null(strstr(r.out, "\"become\":\"sudo\""), "%s", r.out);
        th_result_free(&r);
    }
    cr_expect_eq(run(&r, become), 0, "stderr: %s\nout: %s", r.err, r.out);
    cr_expect_not_null(strstr(r.out, "npu[060-061] (exit 0)\n---------------"
                                     "\nroot\nit's sh\n"),
                       "as root through sudo, quotes intact:\n%s", r.out);
    th_result_free(&r);

    t0 = now_s();
    cr_expect_eq(run(&r, pw), 1, "%s", r.err);
    dt = now_s() - t0;
    cr_expect_not_null(strstr(r.out, "npu062 (unreachable)"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "become sudo failed for user "
                                     "fleetpw: sudo: a password is required"),
                       "%s", r.out);
    cr_expect_lt(dt, 5.0, "took %.1f s", dt);
    th_result_free(&r);

    /* The same inventory without become: the login user itself. */
    text = th_slurp(inv, NULL);
    f = fopen(inv, "w");
    for (p = text; (p = strstr(p, ", become: sudo")) != NULL;)
        memmove(p, p + strlen(", become: sudo"),
                strlen(p + strlen(", become: sudo")) + 1);
    fputs(text, f);
    fclose(f);
    free(text);
    cr_expect_eq(run(&r, plain), 0, "%s %s", r.err, r.out);
    cr_expect_not_null(strstr(r.out, "\nfleet\n"), "%s", r.out);
    th_result_free(&r);
    free(inv);
}

/* ---- pdsh / Ansible habits ---------------------------------------------- */

Test(ssh, w_and_x_select_like_limit_and_v_logs_libssh, .timeout = 120)
{
    struct th_result r;

    cr_assert_eq(th_fleet(&r, 60,
                          "exec -w npu[001-004] -x npu002,npu004 "
                          "-- uname -n"),
                 0);
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    cr_expect_not_null(strstr(r.out, "2 ok"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu001\n"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu003\n"), "%s", r.out);
    cr_expect_null(strstr(r.out, "npu002\n"), "%s", r.out);
    th_result_free(&r);

    /* -w adds to --limit; -x to what both selected. */
    cr_assert_eq(th_fleet(&r, 60,
                          "exec --limit npu001 -w npu005 -x npu001 "
                          "-- true"),
                 0);
    cr_expect_not_null(strstr(r.out, "1 ok"), "%s %s", r.out, r.err);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 60, "exec -v -w npu001 -- true"), 0);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "ssh_connect"), "no libssh log:\n%s",
                       r.err);
    th_result_free(&r);
    cr_assert_eq(th_fleet(&r, 60, "exec -w npu001 -- true"), 0);
    cr_expect_eq(r.err[0], '\0', "quiet without -v:\n%s", r.err);
    th_result_free(&r);
}

Test(ssh, limit_failed_and_ok_of_a_recorded_run, .timeout = 120)
{
    char *db = af_asprintf("%s/state.db", home);
    struct af_err e = {0};
    struct st *st = NULL;
    struct th_result r;
    int64_t run = 0;

    /* A recorded run: npu001 and npu004 done, npu002 failed, npu003 down. */
    cr_assert_eq(st_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_create(st, "rollout", "npu", NULL, &run, &e), 0, "%s",
                 e.msg);
    cr_assert_eq(
        st_node_upsert(st, run, "npu001", NULL, 0, ST_NODE_DONE, NULL, &e), 0);
    cr_assert_eq(st_node_upsert(st, run, "npu002", NULL, 0, ST_NODE_FAILED,
                                "driver failed", &e),
                 0);
    cr_assert_eq(st_node_upsert(st, run, "npu003", NULL, 0, ST_NODE_UNREACHABLE,
                                NULL, &e),
                 0);
    cr_assert_eq(
        st_node_upsert(st, run, "npu004", NULL, 0, ST_NODE_DONE, NULL, &e), 0);
    st_close(st);

    cr_assert_eq(th_fleet(&r, 60,
                          "exec --state %s --limit @failed:last -- "
                          "uname -n",
                          db),
                 0);
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    cr_expect_not_null(strstr(r.out, "2 ok"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu002\n"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu003\n"), "%s", r.out);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 60, "exec --state %s -w @ok:%lld -- uname -n", db,
                          (long long)run),
                 0);
    cr_expect_not_null(strstr(r.out, "2 ok"), "%s %s", r.out, r.err);
    cr_expect_not_null(strstr(r.out, "npu001\n"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu004\n"), "%s", r.out);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 60,
                          "exec --state %s -w npu[001-003] -x "
                          "@failed:%lld -- uname -n",
                          db, (long long)run),
                 0);
    cr_expect_not_null(strstr(r.out, "1 ok"), "%s %s", r.out, r.err);
    cr_expect_not_null(strstr(r.out, "npu001\n"), "%s", r.out);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 60,
                          "exec --state %s --limit @failed:99 -- "
                          "true",
                          db),
                 0);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "@failed:99: run 99 has no failed "
                                     "node"),
                       "%s", r.err);
    th_result_free(&r);
    free(db);
}

/* Without --state, @failed/@ok read the default state beside the inventory
 * (-i), for exec and for inventory show alike; no state file is an error. */
Test(ssh,
     limit_results_read_the_default_state_beside_the_inventory,
     .timeout = 120)
{
    char *inv = jump_inventory(1, 4, "");
    char *db = st_default_path(inv);
    const char *exec1[] = {AF_BIN,         "exec", "-i",    inv,  "--limit",
                           "@failed:last", "--",   "uname", "-n", NULL};
    const char *show[] = {AF_BIN, "inventory", "show",     "-i",
                          inv,    "-x",        "@ok:last", NULL};
    struct af_err e = {0};
    struct st *st = NULL;
    struct th_result r;
    int64_t rid = 0;

    cr_assert_eq(run(&r, exec1), 2, "%s", r.out);
    cr_expect_not_null(strstr(r.err, "no state file"), "%s", r.err);
    th_result_free(&r);

    cr_assert_eq(st_make_dir(db, &e), 0, "%s", e.msg);
    cr_assert_eq(st_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_create(st, "rollout", "npu", NULL, &rid, &e), 0, "%s",
                 e.msg);
    cr_assert_eq(
        st_node_upsert(st, rid, "npu001", NULL, 0, ST_NODE_DONE, NULL, &e), 0);
    cr_assert_eq(st_node_upsert(st, rid, "npu002", NULL, 0, ST_NODE_FAILED,
                                "driver failed", &e),
                 0);
    cr_assert_eq(
        st_node_upsert(st, rid, "npu004", NULL, 0, ST_NODE_DONE, NULL, &e), 0);
    st_close(st);

    cr_expect_eq(run(&r, exec1), 0, "%s %s", r.out, r.err);
    cr_expect_not_null(strstr(r.out, "1 ok"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu002\n"), "%s", r.out);
    th_result_free(&r);

    cr_expect_eq(run(&r, show), 0, "%s", r.err);
    cr_expect_not_null(strstr(r.out, "npu002"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu003"), "%s", r.out);
    cr_expect_null(strstr(r.out, "npu001"), "%s", r.out);
    cr_expect_null(strstr(r.out, "npu004"), "%s", r.out);
    th_result_free(&r);
    free(db);
    free(inv);
}

static void
undo_down_npu049(void)
{
    th_rack("fault npu049 up");
}

/*
 * The jump host dies while its nodes run: they fail with its reason, and
 * the next node (fanout 1) does not wait on the dead session but tries a
 * new one, failing at once too.
 */
Test(ssh,
     jump_host_dying_mid_run_fails_its_nodes_fast,
     .timeout = 120,
     .fini = undo_down_npu049)
{
    char *inv = jump_inventory(49, 52, "  jump: npu049\n");
    char *text = th_slurp(inv, NULL), *p;
    const char *exec1[] = {AF_BIN, "exec",         "-i", inv,     "-f", "1",
                           "-w",   "npu[050-052]", "--", "sleep", "3",  NULL};
    struct th_result r;
    pid_t kid;
    double t0, dt;
    FILE *f;

    /* npu049 itself is reached directly. */
    f = fopen(inv, "w");
    cr_assert_not_null(f);
    p = strstr(text, "  jump: npu049\n");
    cr_assert_not_null(p);
    fwrite(text, 1, (size_t)(p - text), f);
    fputs(p + strlen("  jump: npu049\n"), f);
    fclose(f);
    free(text);
    text = th_slurp(inv, NULL);
    f = fopen(inv, "w");
    for (p = strtok(text, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        if (strstr(p, "name: npu05"))
            fprintf(f, "%.*s, jump: npu049}\n", (int)strlen(p) - 1, p);
        else
            fprintf(f, "%s\n", p);
    }
    fclose(f);
    free(text);

    kid = fork();
    cr_assert_geq(kid, 0);
    if (kid == 0) {
        usleep(1500 * 1000);
        _exit(th_rack("fault npu049 down") == 0 ? 0 : 1);
    }
    t0 = now_s();
    cr_expect_eq(run(&r, exec1), 1, "%s %s", r.out, r.err);
    dt = now_s() - t0;
    waitpid(kid, NULL, 0);
    cr_expect_not_null(strstr(r.out, "3 unreachable: npu[050-052]"), "%s",
                       r.out);
    cr_expect_not_null(strstr(r.out, "via jump host npu049"), "%s", r.out);
    cr_expect_lt(dt, 15.0, "took %.1f s:\n%s", dt, r.out);
    th_result_free(&r);
    free(inv);
}

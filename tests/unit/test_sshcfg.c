/* SPDX-License-Identifier: MIT */
/*
 * ssh_config reading (sshcfg) and its place in the inventory: Host patterns
 * with wildcards and negation, first value wins, Include, token expansion,
 * errors with FILE:LINE, and inventory > ssh_config > built-in defaults
 * with the source of each value. Every test writes its own files in a temp
 * dir and points HOME there: the real ~/.ssh/config is never read.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "inv.h"
#include "sshcfg.h"

static char tmpdir[64];

static void
setup(void)
{
    char *ssh;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/af-sshcfg-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    setenv("HOME", tmpdir, 1);
    ssh = af_asprintf("%s/.ssh", tmpdir);
    mkdir(ssh, 0700);
    free(ssh);
}

static void
teardown(void)
{
    char *cmd = af_asprintf("rm -rf '%s'", tmpdir);

    cr_expect_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(sshcfg, .init = setup, .fini = teardown);

/* Write text to tmpdir/name; returns the path (caller frees). */
static char *
put(const char *name, const char *text)
{
    char *p = af_asprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");

    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
    return p;
}

Test(sshcfg, host_patterns_wildcards_and_negation)
{
    cr_expect(sshcfg_match_host("npu*", "npu001"));
    cr_expect(sshcfg_match_host("npu00?", "npu001"));
    cr_expect(!sshcfg_match_host("npu00?", "npu0011"));
    cr_expect(sshcfg_match_host("login01 npu*", "login01"));
    cr_expect(sshcfg_match_host("NPU*", "npu001"), "case-insensitive");
    cr_expect(!sshcfg_match_host("npu* !npu003", "npu003"));
    cr_expect(sshcfg_match_host("npu* !npu003", "npu004"));
    cr_expect(!sshcfg_match_host("!npu003", "npu004"),
              "a negation alone matches nothing");
    cr_expect(sshcfg_match_host("*", "anything"));
    cr_expect(!sshcfg_match_host("a*b", "ac"));
}

Test(sshcfg, first_value_wins_across_blocks_and_files)
{
    char *a = put("a", "# comment\n"
                       "Host npu001\n"
                       "  HostName 10.0.0.1\n"
                       "  User first\n"
                       "Host npu*\n"
                       "  User second\n"
                       "  Port=2222\n"
                       "  HostName 10.9.9.9\n");
    char *b = put("b", "Host *\n  User third\n  ConnectTimeout 7\n"
                       "  ProxyJump login01\n");
    const char *files[2] = {a, b};
    struct sshcfg *cfg = NULL;
    struct sshcfg_vals v;
    struct af_err e = {0};
    char where[600];

    cr_assert_eq(sshcfg_load(files, NULL, NULL, 2, tmpdir, &cfg, &e), 0, "%s",
                 e.msg);
    sshcfg_lookup(cfg, "npu001", &v);
    cr_expect_str_eq(v.v[SSHCFG_HOSTNAME].value, "10.0.0.1");
    cr_expect_str_eq(v.v[SSHCFG_USER].value, "first");
    cr_expect_str_eq(v.v[SSHCFG_PORT].value, "2222");
    cr_expect_str_eq(v.v[SSHCFG_CONNECTTIMEOUT].value, "7");
    cr_expect_str_eq(v.v[SSHCFG_PROXYJUMP].value, "login01");
    snprintf(where, sizeof(where), "%s:4", a);
    cr_expect_str_eq(v.v[SSHCFG_USER].where, where);
    sshcfg_lookup(cfg, "npu002", &v);
    cr_expect_str_eq(v.v[SSHCFG_HOSTNAME].value, "10.9.9.9");
    cr_expect_str_eq(v.v[SSHCFG_USER].value, "second");
    sshcfg_lookup(cfg, "other", &v);
    cr_expect_null(v.v[SSHCFG_HOSTNAME].value);
    cr_expect_str_eq(v.v[SSHCFG_USER].value, "third");
    cr_expect_null(v.v[SSHCFG_IDENTITYFILE].value);
    sshcfg_free(cfg);
    free(a);
    free(b);
}

Test(sshcfg, include_match_and_unknown_keywords)
{
    char *inc, *main_cfg;
    struct sshcfg *cfg;
    struct sshcfg_vals v;

    inc = put(".ssh/extra.conf", "Host npu*\n  IdentityFile ~/k/%h_key\n");
    main_cfg = put(".ssh/config", "Include extra.conf\n"
                                  "ForwardAgent yes\n"
                                  "ProxyCommand nc %h %p\n"
                                  "Match host npu001\n  User never\n"
                                  "Match all\n  User everyone\n");
    {
        const char *files[1] = {main_cfg};
        char *incdir = af_asprintf("%s/.ssh", tmpdir);
        const char *dirs[1] = {incdir};
        struct af_err e = {0};

        cr_assert_eq(sshcfg_load(files, NULL, dirs, 1, tmpdir, &cfg, &e), 0,
                     "%s", e.msg);
        free(incdir);
    }
    sshcfg_lookup(cfg, "npu001", &v);
    cr_expect_str_eq(v.v[SSHCFG_IDENTITYFILE].value, "~/k/%h_key");
    cr_expect_str_eq(v.v[SSHCFG_USER].value, "everyone");
    sshcfg_free(cfg);
    free(inc);
    free(main_cfg);
}

Test(sshcfg, tokens_expand)
{
    struct sshcfg_tokens t = {"10.0.0.1", "npu001",   "ops",
                              "me",       "/home/me", "22"};
    char *s = sshcfg_expand("~/.ssh/%n-%h-%r-%u-%p-%%-%x", &t);

    cr_expect_str_eq(s, "/home/me/.ssh/npu001-10.0.0.1-ops-me-22-%-%x");
    free(s);
}

Test(sshcfg, bad_values_name_file_and_line)
{
    char *p = put("bad", "Host a\n  Port 0\n");
    struct sshcfg *cfg = (struct sshcfg *)1;
    const char *files[1] = {p};
    struct af_err e = {0};
    char want[600];

    cr_expect_eq(sshcfg_load(files, NULL, NULL, 1, tmpdir, &cfg, &e),
                 AF_EINPUT);
    cr_expect_null(cfg);
    snprintf(want, sizeof(want), "%s:2: bad Port '0'", p);
    cr_expect_str_eq(e.msg, want);
    free(p);
    p = put("bad2", "StrictHostKeyChecking maybe\n");
    files[0] = p;
    cr_expect_eq(sshcfg_load(files, NULL, NULL, 1, tmpdir, &cfg, &e),
                 AF_EINPUT);
    cr_expect(strstr(e.msg, ":1: bad StrictHostKeyChecking 'maybe'") != NULL,
              "%s", e.msg);
    free(p);
}

Test(sshcfg, missing_file_is_an_error_unless_optional)
{
    const char *files[1] = {"/nonexistent/ssh_config"};
    int opt[1] = {1};
    struct sshcfg *cfg = NULL;
    struct af_err e = {0};

    cr_expect_lt(sshcfg_load(files, NULL, NULL, 1, tmpdir, &cfg, &e), 0);
    cr_expect(strstr(e.msg, "/nonexistent/ssh_config") != NULL, "%s", e.msg);
    cr_expect_eq(sshcfg_load(files, opt, NULL, 1, tmpdir, &cfg, &e), 0);
    sshcfg_free(cfg);
}

/* ---- in the inventory ------------------------------------------------ */

static const char *
src(const struct inv_node *nd, enum inv_src k)
{
    return nd->src[k];
}

Test(sshcfg, inventory_wins_over_ssh_config_over_defaults)
{
    char *cfgp = put(".ssh/config", "Host npu* !npu003\n"
                                    "  HostName %h.rack.example\n"
                                    "  User ops\n"
                                    "  Port 2201\n"
                                    "  IdentityFile ~/keys/%r_at_%h\n"
                                    "  UserKnownHostsFile ~/kh\n"
                                    "  StrictHostKeyChecking accept-new\n"
                                    "  ConnectTimeout 4\n"
                                    "  ProxyJump login01\n");
    char *invp = put("inv.yaml", "hosts:\n"
                                 "  - name: npu001\n"
                                 "  - name: npu002\n"
                                 "    address: 10.0.0.2\n"
                                 "    user: admin\n"
                                 "    jump: none\n"
                                 "    handshake_timeout: 9\n"
                                 "  - name: npu003\n");
    struct inv *inv = NULL;
    struct af_err e = {0};
    const struct inv_node *n1, *n2, *n3;
    char *s;

    cr_assert_eq(inv_load(invp, &inv, &e), 0, "%s", e.msg);
    n1 = inv_find(inv, "npu001");
    n2 = inv_find(inv, "npu002");
    n3 = inv_find(inv, "npu003");
    cr_expect_str_eq(n1->address, "npu001.rack.example");
    cr_expect_str_eq(n1->user, "ops");
    cr_expect_eq(n1->port, 2201);
    s = af_asprintf("%s/keys/ops_at_npu001.rack.example", tmpdir);
    cr_expect_str_eq(n1->identity, s);
    free(s);
    s = af_asprintf("%s/kh", tmpdir);
    cr_expect_str_eq(n1->known_hosts, s);
    free(s);
    cr_expect_eq(n1->hostkeys, INV_HOSTKEYS_ACCEPT_NEW);
    cr_expect_eq(n1->connect_timeout, 4);
    cr_expect_eq(n1->handshake_timeout, INV_DEFAULT_HANDSHAKE_TIMEOUT);
    cr_expect_str_eq(n1->jump, "login01");
    s = af_asprintf("%s:3", cfgp);
    cr_expect_str_eq(src(n1, INV_SRC_USER), s);
    free(s);
    cr_expect_str_eq(src(n1, INV_SRC_HANDSHAKE_TIMEOUT), "default");

    cr_expect_str_eq(n2->address, "10.0.0.2");
    cr_expect_str_eq(src(n2, INV_SRC_ADDRESS), "inventory");
    cr_expect_str_eq(n2->user, "admin");
    cr_expect_str_eq(src(n2, INV_SRC_USER), "inventory");
    cr_expect_eq(n2->port, 2201, "ssh_config still gives the port");
    cr_expect_null(n2->jump, "jump: none overrides ProxyJump");
    cr_expect_eq(n2->handshake_timeout, 9);

    cr_expect_str_eq(n3->address, "npu003", "negated: no ssh_config");
    cr_expect_str_eq(n3->user, INV_DEFAULT_USER);
    cr_expect_eq(n3->port, INV_DEFAULT_PORT);
    cr_expect_str_eq(src(n3, INV_SRC_PORT), "default");
    cr_expect_eq(n3->connect_timeout, INV_DEFAULT_CONNECT_TIMEOUT);
    cr_expect_null(n3->jump);
    inv_free(inv);

    /* --ssh-config none, and ssh_config: none in the inventory. */
    cr_assert_eq(inv_load_ex(invp, "none", &inv, &e), 0, "%s", e.msg);
    n1 = inv_find(inv, "npu001");
    cr_expect_str_eq(n1->address, "npu001");
    cr_expect_str_eq(n1->user, INV_DEFAULT_USER);
    cr_expect_str_eq(inv->ssh_config, "none");
    inv_free(inv);
    free(invp);
    invp = put("inv2.yaml", "ssh_config: none\nhosts: [npu001]\n");
    cr_assert_eq(inv_load(invp, &inv, &e), 0, "%s", e.msg);
    cr_expect_str_eq(inv_find(inv, "npu001")->user, INV_DEFAULT_USER);
    inv_free(inv);
    free(invp);
    free(cfgp);
}

Test(sshcfg, inventory_ssh_config_key_and_override_name_one_file)
{
    char *other = put("other.conf", "Host *\n  User fromother\n");
    char *user = put(".ssh/config", "Host *\n  User fromhome\n");
    char *invp = put("inv.yaml", "ssh_config: other.conf\nhosts: [n1]\n");
    char *bad = put("bad.conf", "Host *\n  ConnectTimeout soon\n");
    struct inv *inv = NULL;
    struct af_err e = {0};

    cr_assert_eq(inv_load(invp, &inv, &e), 0, "%s", e.msg);
    cr_expect_str_eq(inv_find(inv, "n1")->user, "fromother",
                     "relative to the inventory, home config not read");
    inv_free(inv);
    cr_assert_eq(inv_load_ex(invp, user, &inv, &e), 0, "%s", e.msg);
    cr_expect_str_eq(inv_find(inv, "n1")->user, "fromhome");
    inv_free(inv);
    cr_expect_eq(inv_load_ex(invp, bad, &inv, &e), AF_EINPUT);
    cr_expect(strstr(e.msg, "bad.conf:2: bad ConnectTimeout 'soon'") != NULL,
              "%s", e.msg);
    cr_expect_lt(inv_load_ex(invp, "/nonexistent", &inv, &e), 0);
    free(other);
    free(user);
    free(invp);
    free(bad);
}

Test(sshcfg, jump_chains_resolve_nodes_ssh_config_hosts_and_loops)
{
    char *cfgp = put(".ssh/config", "Host bastion\n"
                                    "  HostName 192.0.2.1\n"
                                    "  User jumper\n"
                                    "  Port 2022\n"
                                    "Host n*\n"
                                    "  ProxyJump login\n");
    char *invp = put("inv.yaml", "hosts:\n"
                                 "  - {name: login, jump: bastion}\n"
                                 "  - name: n1\n"
                                 "  - {name: n2, jump: \"login,ops@n1:2200\"}\n"
                                 "  - {name: m1, jump: none}\n");
    char *loop = put("loop.yaml", "hosts:\n"
                                  "  - {name: a, jump: b}\n"
                                  "  - {name: b, jump: a}\n");
    char *self = put("self.yaml", "hosts:\n  - {name: a, jump: a}\n");
    struct inv *inv = NULL;
    struct af_err e = {0};
    const struct inv_node *n1, *n2, *login;

    cr_assert_eq(inv_load(invp, &inv, &e), 0, "%s", e.msg);
    login = inv_find(inv, "login");
    n1 = inv_find(inv, "n1");
    n2 = inv_find(inv, "n2");
    cr_assert_eq(login->njumps, 1);
    cr_expect_str_eq(login->jumps[0]->name, "bastion");
    cr_expect_str_eq(login->jumps[0]->address, "192.0.2.1");
    cr_expect_str_eq(login->jumps[0]->user, "jumper");
    cr_expect_eq(login->jumps[0]->port, 2022);
    /* n1: ProxyJump login from ssh_config; login's own chain first. */
    cr_assert_eq(n1->njumps, 2);
    cr_expect_str_eq(n1->jumps[0]->name, "bastion");
    cr_expect_eq(n1->jumps[1], login);
    /* n2: inventory chain; a hop with user@ and :port is its own host. */
    cr_assert_eq(n2->njumps, 3);
    cr_expect_str_eq(n2->jumps[2]->name, "ops@n1:2200");
    cr_expect_str_eq(n2->jumps[2]->user, "ops");
    cr_expect_eq(n2->jumps[2]->port, 2200);
    cr_expect_eq(inv_find(inv, "m1")->njumps, 0);
    inv_free(inv);

    cr_expect_eq(inv_load(loop, &inv, &e), AF_EINPUT);
    cr_expect(strstr(e.msg, "loop") != NULL, "%s", e.msg);
    cr_expect_eq(inv_load(self, &inv, &e), AF_EINPUT);
    cr_expect(strstr(e.msg, "own jump host") != NULL, "%s", e.msg);
    free(cfgp);
    free(invp);
    free(loop);
    free(self);
}

/* SPDX-License-Identifier: MIT */
/*
 * The defaults file (orchestrator/cli/config.c): every key, the order of
 * the two files (system, then the operator's; XDG_CONFIG_HOME or HOME),
 * the command line over both (cmd_opts_init + cmd_getopt), and every error
 * with its exact FILE:LINE:COL. Each test points AF_SYSCONFDIR, HOME and
 * XDG_CONFIG_HOME at its own temporary directory: the real /etc and ~ are
 * never read.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "cmd.h"
#include "config.h"

static char dir[] = "/tmp/af-test-config-XXXXXX";

static char *
at(const char *rel)
{
    return af_asprintf("%s/%s", dir, rel);
}

static void
mkdirs(const char *rel)
{
    char *p = at(rel), *s;

    for (s = p + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "%s", p);
        *s = '/';
    }
    cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "%s", p);
    free(p);
}

/* Write text to dir/rel (its directory made first); returns the path. */
static char *
put(const char *rel, const char *text)
{
    char *p = at(rel), *d = af_strdup(rel), *slash = strrchr(d, '/');
    FILE *f;

    if (slash != NULL) {
        *slash = '\0';
        mkdirs(d);
    }
    free(d);
    f = fopen(p, "w");
    cr_assert_not_null(f, "%s: %s", p, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    return p;
}

static void
setup(void)
{
    char *p;

    cr_assert_not_null(mkdtemp(dir));
    mkdirs("etc");
    mkdirs("home");
    p = at("etc");
    setenv("AF_SYSCONFDIR", p, 1);
    free(p);
    p = at("home");
    setenv("HOME", p, 1);
    free(p);
    p = at("xdg");
    setenv("XDG_CONFIG_HOME", p, 1);
    free(p);
}

static void
teardown(void)
{
    char *cmd = af_asprintf("rm -rf '%s'", dir);

    if (system(cmd) != 0) {
        /* best effort */
    }
    free(cmd);
}

TestSuite(config, .init = setup, .fini = teardown);

static void
expect_error(const char *text, const char *msg)
{
    struct af_err e = {0};
    struct cfg c;
    int r;

    cfg_init(&c);
    r = cfg_load_string(&c, "c.yaml", text, strlen(text), &e);
    cr_assert_neq(r, 0, "'%s' was accepted", text);
    cr_assert_str_eq(e.msg, msg);
    /* A bad file changes nothing. */
    cr_expect_eq(c.fanout, 0);
    cr_expect_eq(c.host_keys, -1);
    cr_expect_str_empty(c.state);
    cr_expect_str_empty(c.inventory);
    cr_expect_str_empty(c.ssh_config);
}

Test(config, every_key_is_read)
{
    static const char t[] = "fanout: 12\nstate: /var/lib/af/fleet.db\n"
                            "host_keys: accept-new\nssh_config: none\n"
                            "inventory: racks/a.yaml\n";
    struct af_err e = {0};
    struct cfg c;

    cfg_init(&c);
    cr_expect_eq(c.fanout, 0);
    cr_expect_eq(c.host_keys, -1);
    cr_assert_eq(cfg_load_string(&c, "c.yaml", t, strlen(t), &e), 0, "%s",
                 e.msg);
    cr_expect_eq(c.fanout, 12);
    cr_expect_eq(c.host_keys, CONN_HOSTKEY_ACCEPT_NEW);
    cr_expect_str_eq(c.state, "/var/lib/af/fleet.db");
    cr_expect_str_eq(c.ssh_config, "none");
    cr_expect_str_eq(c.inventory, "racks/a.yaml");
}

Test(config, tilde_is_home_and_an_empty_file_sets_nothing)
{
    static const char t[] = "state: ~/fleet.db\nssh_config: ~/.ssh/rack\n";
    struct af_err e = {0};
    struct cfg c;
    char *want = at("home/fleet.db");

    cfg_init(&c);
    cr_assert_eq(cfg_load_string(&c, "c.yaml", "", 0, &e), 0, "%s", e.msg);
    cr_assert_eq(cfg_load_string(&c, "c.yaml", "# only\n", 7, &e), 0);
    cr_expect_eq(c.fanout, 0);
    cr_assert_eq(cfg_load_string(&c, "c.yaml", t, strlen(t), &e), 0, "%s",
                 e.msg);
    cr_expect_str_eq(c.state, want);
    free(want);
    want = at("home/.ssh/rack");
    cr_expect_str_eq(c.ssh_config, want);
    free(want);
}

Test(config, paths_follow_the_environment)
{
    char sys[CFG_PATH_MAX], user[CFG_PATH_MAX], *want;
    struct af_err e = {0};

    cr_assert_eq(cfg_paths(sys, user, sizeof(sys), &e), 0);
    want = at("etc/config.yaml");
    cr_expect_str_eq(sys, want);
    free(want);
    want = at("xdg/ascend-fleet/config.yaml");
    cr_expect_str_eq(user, want);
    free(want);
    /* No XDG_CONFIG_HOME, or a relative one: ~/.config. */
    setenv("XDG_CONFIG_HOME", "rel", 1);
    cr_assert_eq(cfg_paths(sys, user, sizeof(sys), &e), 0);
    want = at("home/.config/ascend-fleet/config.yaml");
    cr_expect_str_eq(user, want);
    unsetenv("XDG_CONFIG_HOME");
    cr_assert_eq(cfg_paths(sys, user, sizeof(sys), &e), 0);
    cr_expect_str_eq(user, want);
    free(want);
    /* Nothing set: the system place, and no operator file. */
    unsetenv("AF_SYSCONFDIR");
    unsetenv("HOME");
    cr_assert_eq(cfg_paths(sys, user, sizeof(sys), &e), 0);
    cr_expect_str_eq(sys, "/etc/ascend-fleet/config.yaml");
    cr_expect_str_empty(user);
}

Test(config, the_operators_file_overrides_the_system_file)
{
    struct af_err e = {0};
    struct cfg c;

    free(put("etc/config.yaml", "fanout: 8\nstate: /sys.db\n"
                                "host_keys: accept-new\ninventory: s.yaml\n"));
    free(
        put("xdg/ascend-fleet/config.yaml", "fanout: 16\ninventory: u.yaml\n"));
    cr_assert_eq(cfg_load(&c, &e), 0, "%s", e.msg);
    cr_expect_eq(c.fanout, 16);
    cr_expect_str_eq(c.inventory, "u.yaml");
    cr_expect_str_eq(c.state, "/sys.db");
    cr_expect_eq(c.host_keys, CONN_HOSTKEY_ACCEPT_NEW);
    /* Without XDG_CONFIG_HOME the file under ~/.config is the one. */
    unsetenv("XDG_CONFIG_HOME");
    free(put("home/.config/ascend-fleet/config.yaml", "fanout: 3\n"));
    cr_assert_eq(cfg_load(&c, &e), 0, "%s", e.msg);
    cr_expect_eq(c.fanout, 3);
    cr_expect_str_eq(c.inventory, "s.yaml");
}

Test(config, no_files_is_no_error)
{
    struct af_err e = {0};
    struct cfg c;

    cr_assert_eq(cfg_load(&c, &e), 0, "%s", e.msg);
    cr_expect_eq(c.fanout, 0);
    cr_expect_eq(c.host_keys, -1);
    cr_expect_str_empty(c.state);
}

Test(config, a_bad_file_is_named_with_line_and_column)
{
    struct af_err e = {0};
    struct cfg c;
    char *p = put("xdg/ascend-fleet/config.yaml", "fanout: 4\n\n  fanout: 5\n");
    char *want = af_asprintf("%s:3:9: mapping values are not allowed in "
                             "this context",
                             p);

    cr_assert_neq(cfg_load(&c, &e), 0);
    cr_expect_str_eq(e.msg, want);
    free(want);
    free(p);
    /* The system file is named too, and stops the reading. */
    p = put("etc/config.yaml", "state: [a, b]\n");
    want = af_asprintf("%s:1:8: 'state' wants a single value, not a list", p);
    cr_assert_neq(cfg_load(&c, &e), 0);
    cr_expect_str_eq(e.msg, want);
    free(want);
    free(p);
}

Test(config, an_unreadable_file_is_an_error)
{
    struct af_err e = {0};
    struct cfg c;
    char *want;

    mkdirs("etc/config.yaml"); /* a directory where the file belongs */
    want = at("etc/config.yaml: read error");
    cr_assert_neq(cfg_load(&c, &e), 0);
    cr_expect_str_eq(e.msg, want);
    free(want);
}

Test(config, errors_name_line_and_column)
{
    expect_error("fanout: 8\nfan_out: 8\n",
                 "c.yaml:2:1: unknown key 'fan_out' (known: fanout, state, "
                 "host_keys, ssh_config, inventory)");
    expect_error("fanout: 0\n",
                 "c.yaml:1:9: 'fanout' wants a number from 1 to 100000, "
                 "not '0'");
    expect_error("fanout: 100001\n",
                 "c.yaml:1:9: 'fanout' wants a number from 1 to 100000, "
                 "not '100001'");
    expect_error("fanout: lots\n",
                 "c.yaml:1:9: 'fanout' wants a number from 1 to 100000, "
                 "not 'lots'");
    expect_error("fanout: \"8\"\n",
                 "c.yaml:1:9: 'fanout' wants a number from 1 to 100000, "
                 "not '8'");
    expect_error("fanout:\n", "c.yaml:1:8: 'fanout' wants a value");
    expect_error("fanout: {a: 1}\n",
                 "c.yaml:1:9: 'fanout' wants a single value, not a mapping");
    expect_error("host_keys: yes\n",
                 "c.yaml:1:12: 'host_keys' is strict or accept-new, not "
                 "'yes'");
    expect_error("state: \"\"\n", "c.yaml:1:8: 'state' wants a value");
    expect_error("inventory: ~\n", "c.yaml:1:12: 'inventory' wants a value");
    expect_error("ssh_config: [a]\n",
                 "c.yaml:1:13: 'ssh_config' wants a single value, not a "
                 "list");
    expect_error("- fanout: 8\n",
                 "c.yaml:1:1: a defaults file is a mapping of fanout, state, "
                 "host_keys, ssh_config, inventory");
    expect_error(
        "fanout: 8\nfanout: 9\n",
        "c.yaml:2:1: duplicate key 'fanout' (first at line 1, column 1)");
    expect_error("state: \"a\\0b\"\n",
                 "c.yaml:1:8: NUL character (\\0) inside a value");
    expect_error("fanout: 8\nstate: &s x\n",
                 "c.yaml:2:8: anchors are not supported");
}

Test(config, tilde_without_home_and_overlong_paths)
{
    char *big = af_calloc(CFG_PATH_MAX + 16, 1);

    unsetenv("HOME");
    expect_error("state: ~/x.db\n",
                 "c.yaml:1:8: 'state': '~/' but HOME is not set");
    memcpy(big, "state: ", 7);
    memset(big + 7, 'a', CFG_PATH_MAX);
    expect_error(big, "c.yaml:1:8: 'state': path longer than 4095 bytes");
    free(big);
}

static void
no_usage(FILE *out)
{
    (void)out;
}

/* The files fill the shared options; the command line wins over them. */
Test(config, options_override_the_files)
{
    static const struct cmd_spec spec = {
        .name = "t", .usage = no_usage, .max_args = -1};
    char a0[] = "t", a1[] = "-f", a2[] = "5", a3[] = "--state",
         a4[] = "/cli.db";
    char *argv[] = {a0, a1, a2, a3, a4, NULL};
    struct cmd_opts o;

    free(put("etc/config.yaml", "fanout: 8\nstate: /sys.db\n"
                                "host_keys: accept-new\ninventory: s.yaml\n"));
    cmd_opts_init(&o);
    cr_expect_eq(o.fanout, 8);
    cr_expect_str_eq(o.state, "/sys.db");
    cr_expect_eq(o.state_derived, 0);
    cr_expect_str_eq(o.inventory, "s.yaml");
    cr_expect_eq(o.hostkeys, CONN_HOSTKEY_ACCEPT_NEW);
    cr_assert_eq(cmd_getopt(5, argv, &spec, &o, NULL), 0);
    cr_expect_eq(o.fanout, 5);
    cr_expect_str_eq(o.state, "/cli.db");
    cr_expect_str_eq(o.inventory, "s.yaml");
}

Test(config, built_in_defaults_without_files)
{
    struct cmd_opts o;

    cmd_opts_init(&o);
    cr_expect_eq(o.fanout, 64);
    cr_expect_null(o.state);
    cr_expect_str_eq(o.inventory, "./inventory.yaml");
    cr_expect_eq(o.hostkeys, CONN_HOSTKEY_STRICT);
}

/* Whatever the command, a bad file ends the process with exit code 2. */
/* A bad file is kept for later (cmd_limit_resolve tells it and exits 2),
 * so --help still works; the built-in defaults stay in force. */
Test(config, a_bad_file_is_kept_for_after_the_options)
{
    struct cmd_opts o;

    free(put("etc/config.yaml", "fanout: 9\nhost_keys: off\n"));
    cmd_opts_init(&o);
    cr_expect(strstr(o.cfg_err, "config.yaml:2:") != NULL, "cfg_err: '%s'",
              o.cfg_err);
    cr_expect_eq(o.fanout, 64);
    cr_expect_str_eq(o.inventory, "./inventory.yaml");
}

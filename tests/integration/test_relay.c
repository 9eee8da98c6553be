/* SPDX-License-Identifier: MIT */
/*
 * Rack gateways (inventory `gateway:`, ops/relay.h) against the shared
 * simulated rack: `stage` through a group of six nodes whose first node is
 * the gateway sends the package once (orchestrator egress < 2 copies, from
 * the --json summary), every node ends with the verified copy and five of
 * them fetched it from the gateway. A gateway whose agent corrupts what it
 * relays (the agent's test-only fault variable, set in the gateway node's
 * shell start-up file) gets every member's fetch refused on the hash, and
 * the orchestrator pushes those members directly and says so; with the
 * gateway down, the members are pushed directly.
 *
 * Only nodes npu041..npu046 are used; their packages and the start-up
 * file are removed afterwards.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-mem.h"
#include "af-sha256.h"
#include "harness.h"
#include "tjson.h"

#define RT_PKG   "Ascend-cann-toolkit_8.0.RC2_linux-x86_64.run"
#define RT_DEST  "/var/lib/ascend-fleet/packages/" RT_PKG
#define RT_SIZE  ((off_t)64 << 20)
#define RT_INV   AF_RACK_DIR "/inv-relay.yaml"
#define RT_FIRST 41
#define RT_N     6

static char rt_dir[64];

/* Sparse 64 MiB: a header and 1 MiB of random bytes every 16 MiB. */
static void
rt_make_package(const char *path, char hex[65])
{
    char *blk = af_malloc(1 << 20), *cmd;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    struct th_result r;
    off_t off;

    cr_assert(fd >= 0 && rnd >= 0);
    cr_assert_eq(ftruncate(fd, RT_SIZE), 0);
    cr_assert_eq(pwrite(fd, "#!/bin/sh\nexit 0\n", 17, 0), 17);
    for (off = 4096; off < RT_SIZE; off += (off_t)16 << 20) {
        cr_assert_eq(read(rnd, blk, 1 << 20), 1 << 20);
        cr_assert_eq(pwrite(fd, blk, 1 << 20, off), 1 << 20);
    }
    close(rnd);
    close(fd);
    free(blk);
    cmd = af_asprintf("sha256sum %s", path);
    {
        const char *argv[] = {"sh", "-c", cmd, NULL};

        cr_assert_eq(th_run(&r, 60, argv), 0);
    }
    cr_assert_eq(r.status, 0);
    memcpy(hex, r.out, 64);
    hex[64] = '\0';
    th_result_free(&r);
    free(cmd);
}

/* The rack's own settings, and the six nodes as a group with a gateway. */
static void
rt_write_inventory(void)
{
    FILE *f = fopen(RT_INV, "w");
    int i;

    cr_assert_not_null(f);
    fputs("defaults:\n  user: root\n  identity: id_ed25519\n"
          "  known_hosts: known_hosts\n  connect_timeout: 5\n"
          "  handshake_timeout: 10\ngroups:\n  gw41:\n"
          "    gateway: npu041\n    hosts:\n",
          f);
    for (i = RT_FIRST; i < RT_FIRST + RT_N; i++) {
        char node[16], path[256], *addr;

        snprintf(node, sizeof(node), "npu%03d", i);
        snprintf(path, sizeof(path), AF_RACK_DIR "/nodes/%s/addr", node);
        addr = th_slurp(path, NULL);
        cr_assert_not_null(addr, "no address for %s", node);
        addr[strcspn(addr, "\n")] = '\0';
        fprintf(f, "      - {name: %s, address: \"%s\"}\n", node, addr);
        free(addr);
    }
    fclose(f);
}

static void
rt_clean_nodes(void)
{
    int i;

    for (i = RT_FIRST; i < RT_FIRST + RT_N; i++)
        th_rack("exec npu%03d -- rm -rf /var/lib/ascend-fleet/packages", i);
}

static void
rt_fini(void)
{
    char *p;

    rt_clean_nodes();
    th_rack("exec npu%03d -- rm -f /root/.bashrc", RT_FIRST);
    unlink(RT_INV);
    if (rt_dir[0] != '\0') {
        p = af_asprintf("%s/%s", rt_dir, RT_PKG);
        unlink(p);
        free(p);
        rmdir(rt_dir);
    }
}

/* Nodes first.. of the group hold the package with the right hash. */
static void
rt_assert_verified(const char *hex, int first)
{
    int i;

    for (i = first; i < RT_FIRST + RT_N; i++) {
        char *out = th_rack_out("exec npu%03d -- sha256sum " RT_DEST, i);

        cr_assert_not_null(out, "npu%03d has no copy", i);
        cr_assert(strncmp(out, hex, 64) == 0, "npu%03d holds %.64s, not %s", i,
                  out, hex);
        free(out);
    }
}

struct rt_run {
    double bytes, relayed, gateways;
    int via, fell_back, gw_items, gw_failed;
};

/* Run stage --json through the gateway inventory and sum its events. */
static void
rt_stage(struct rt_run *s, const char *limit)
{
    struct th_result r;
    char *save = NULL, *line;

    memset(s, 0, sizeof(*s));
    cr_assert_eq(th_fleet(&r, 300,
                          "stage -i %s --json -f 8 --packages %s "
                          "--stage cann --limit %s",
                          RT_INV, rt_dir, limit),
                 0);
    cr_assert_eq(r.status, 0, "stage failed: %s%s", r.out, r.err);
    for (line = strtok_r(r.out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        struct jv *v = json_parse(line);
        const char *type = jstr(v, "type");

        if (strcmp(type, "summary") == 0) {
            s->bytes = jnum(v, "bytes");
            s->relayed = jnum(v, "bytes_relayed");
            s->gateways = jnum(v, "gateways");
        } else if (strcmp(type, "package") == 0 && jget(v, "role") != NULL) {
            s->gw_items++;
            s->gw_failed += strcmp(jstr(v, "status"), "failed") == 0;
        } else if (strcmp(type, "package") == 0) {
            /* The gateway, selected too, finds its copy "staged". */
            cr_assert(strcmp(jstr(v, "status"), "failed") != 0, "%s", line);
            if (jget(v, "via") != NULL) {
                cr_assert_str_eq(jstr(v, "via"), "npu041");
                s->via++;
            }
            if (jget(v, "relay_error") != NULL) {
                cr_assert(strstr(jstr(v, "relay_error"), "sha256 mismatch"),
                          "%s", line);
                s->fell_back++;
            }
        }
        jv_free(v);
    }
    th_result_free(&r);
}

static void
rt_setup(char hex[65])
{
    char *pkg;

    snprintf(rt_dir, sizeof(rt_dir), "/tmp/af-relay-XXXXXX");
    cr_assert_not_null(mkdtemp(rt_dir));
    pkg = af_asprintf("%s/%s", rt_dir, RT_PKG);
    rt_make_package(pkg, hex);
    free(pkg);
    rt_write_inventory();
    rt_clean_nodes();
}

Test(relay,
     stage_through_a_gateway_sends_one_copy,
     .fini = rt_fini,
     .timeout = 600)
{
    struct rt_run s;
    char hex[65];

    rt_setup(hex);
    rt_stage(&s, "gw41");
    cr_assert_eq(s.gateways, 1);
    cr_assert_eq(s.gw_items, 1, "one push to the gateway expected");
    cr_assert_eq(s.via, RT_N - 1, "%d of %d members fetched from npu041", s.via,
                 RT_N - 1);
    cr_assert_eq(s.fell_back, 0);
    cr_assert(s.bytes >= (double)RT_SIZE && s.bytes < 2.0 * (double)RT_SIZE,
              "orchestrator egress %.0f bytes: not between 1 and 2 copies "
              "of %lld",
              s.bytes, (long long)RT_SIZE);
    cr_assert_eq(s.relayed, (double)(RT_N - 1) * (double)RT_SIZE);
    rt_assert_verified(hex, RT_FIRST);
}

Test(relay,
     corrupted_relay_is_refused_and_pushed_directly,
     .fini = rt_fini,
     .timeout = 600)
{
    struct rt_run s;
    char hex[65];

    rt_setup(hex);
    /* The node's /root is its own and empty: this is the only line. */
    cr_assert_eq(th_rack("exec npu%03d -- sh -c 'echo export "
                         "AF_AGENT_TEST_RELAY_FAULT=corrupt >/root/.bashrc'",
                         RT_FIRST),
                 0);
    rt_stage(&s, "gw41");
    cr_assert_eq(s.via, 0, "a member accepted relayed bytes");
    cr_assert_eq(s.fell_back, RT_N - 1, "%d members fell back", s.fell_back);
    /* Gateway plus five direct pushes. */
    cr_assert(s.bytes >= (double)RT_N * (double)RT_SIZE, "egress %.0f",
              s.bytes);
    rt_assert_verified(hex, RT_FIRST);
}

static void
rt_up_fini(void)
{
    th_rack("fault npu%03d up", RT_FIRST);
    rt_fini();
}

Test(relay,
     unreachable_gateway_means_direct_pushes,
     .fini = rt_up_fini,
     .timeout = 600)
{
    struct rt_run s;
    char hex[65];

    rt_setup(hex);
    cr_assert_eq(th_rack("fault npu%03d down", RT_FIRST), 0);
    /* Only the members are selected; their gateway is down. */
    rt_stage(&s, "npu[042-046]");
    cr_assert_eq(s.gw_items, 1);
    cr_assert_eq(s.gw_failed, 1, "the gateway's failure is reported");
    cr_assert_eq(s.via, 0);
    cr_assert(s.bytes >= (double)(RT_N - 1) * (double)RT_SIZE, "egress %.0f",
              s.bytes);
    rt_assert_verified(hex, RT_FIRST + 1);
}

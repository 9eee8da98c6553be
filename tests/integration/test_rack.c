/* SPDX-License-Identifier: MIT */
/*
 * Tests of the simulated rack itself (tests/rack/rack.sh), through the
 * system OpenSSH client: each node is its own host (hostname, files,
 * boot_id), the reboot tool really reboots it, and the faults (down, mute,
 * changed host key) look like they would on a real rack. Runs against the
 * shared rack fixture and uses its last nodes (npu058..npu064); every fault
 * is undone before the test ends.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"
#include "harness.h"

#define SSH_TIMEOUT 20

/* The node's address, from the rack (caller frees). */
static char *
node_addr(const char *node)
{
    char *path = af_asprintf("%s/nodes/%s/addr", AF_RACK_DIR, node);
    char buf[64] = "";
    FILE *f = fopen(path, "r");

    free(path);
    cr_assert_not_null(f, "node %s has no addr file", node);
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return af_strdup(buf);
}

/* Run cmd on node with the system ssh client and the rack's known_hosts. */
static void
ssh_node(struct th_result *r, const char *node, const char *cmd)
{
    char *addr = node_addr(node);
    char *target = af_asprintf("root@%s", addr);
    const char *argv[] = {"ssh",
                          "-F",
                          "/dev/null",
                          "-i",
                          AF_RACK_DIR "/id_ed25519",
                          "-o",
                          "UserKnownHostsFile=" AF_RACK_DIR "/known_hosts",
                          "-o",
                          "StrictHostKeyChecking=yes",
                          "-o",
                          "BatchMode=yes",
                          "-o",
                          "ConnectTimeout=5",
                          target,
                          cmd,
                          NULL};

    cr_assert_eq(th_run(r, SSH_TIMEOUT, argv), 0, "cannot run ssh");
    free(target);
    free(addr);
}

/* stdout of cmd on node, trailing newline removed; fails the test if the
 * command does not succeed. */
static char *
ssh_out(const char *node, const char *cmd)
{
    struct th_result r;
    char *out;

    ssh_node(&r, node, cmd);
    cr_assert_eq(r.status, 0, "ssh %s '%s' exited %d: %s", node, cmd, r.status,
                 r.err);
    out = af_strdup(r.out);
    out[strcspn(out, "\n")] = '\0';
    th_result_free(&r);
    return out;
}

static char *
boot_id_of(const char *node)
{
    return ssh_out(node, "cat /proc/sys/kernel/random/boot_id");
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

Test(rack, node_answers_with_its_own_hostname)
{
    const char *nodes[] = {"npu058", "npu064"};

    for (size_t i = 0; i < 2; i++) {
        char *name = ssh_out(nodes[i], "hostname");

        cr_expect_str_eq(name, nodes[i]);
        free(name);
    }
}

Test(rack, file_written_on_a_node_stays_on_that_node)
{
    char *path = af_asprintf("/root/th-rack-private-%d", (int)getpid());
    char *cmd = af_asprintf("echo only-here > %s", path);
    char *test = af_asprintf("test -e %s", path);
    char *content;
    struct th_result r;

    free(ssh_out("npu059", cmd));
    content = th_node_file("npu059", path);
    cr_assert_not_null(content, "the writing node does not have %s", path);
    cr_expect_str_eq(content, "only-here\n");
    free(content);

    ssh_node(&r, "npu060", test);
    cr_expect_eq(r.status, 1, "%s is visible on another node (rc %d: %s)", path,
                 r.status, r.err);
    th_result_free(&r);
    cr_expect_eq(access(path, F_OK), -1, "%s is visible on the host", path);
    cr_expect_null(th_node_file("npu060", path));

    free(test);
    test = af_asprintf("rm -f %s", path);
    free(ssh_out("npu059", test));
    free(test);
    free(cmd);
    free(path);
}

Test(rack, each_node_has_its_own_boot_id)
{
    const char *nodes[] = {"npu058", "npu059", "npu060"};
    char *ids[3];

    for (size_t i = 0; i < 3; i++) {
        char *file = af_asprintf("%s/nodes/%s/boot_id", AF_RACK_DIR, nodes[i]);
        char buf[64] = "";
        FILE *f;

        ids[i] = boot_id_of(nodes[i]);
        cr_assert_eq(strlen(ids[i]), 36, "boot_id '%s' is not a UUID", ids[i]);
        /* The node sees the boot_id the rack gave it for this boot. */
        f = fopen(file, "r");
        cr_assert_not_null(f);
        cr_assert_not_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
        cr_expect_str_eq(ids[i], buf);
        free(file);
    }
    cr_expect_str_neq(ids[0], ids[1]);
    cr_expect_str_neq(ids[0], ids[2]);
    cr_expect_str_neq(ids[1], ids[2]);
    for (size_t i = 0; i < 3; i++)
        free(ids[i]);
}

Test(rack, reboot_brings_the_node_back_with_a_new_boot_id)
{
    char *before = boot_id_of("npu061");
    char *after = NULL;
    char *events, *boot_line;
    struct th_result r;
    int went_down = 0;

    ssh_node(&r, "npu061", "/usr/local/sbin/fleet-sim-reboot");
    cr_assert_eq(r.status, 0, "fleet-sim-reboot failed: %s", r.err);
    th_result_free(&r);

    /* Down, then up again with another boot_id, within 30 s. */
    for (int i = 0; i < 300 && after == NULL; i++) {
        ssh_node(&r, "npu061", "cat /proc/sys/kernel/random/boot_id");
        if (r.status != 0) {
            went_down = 1;
        } else {
            r.out[strcspn(r.out, "\n")] = '\0';
            if (strcmp(r.out, before) != 0)
                after = af_strdup(r.out);
        }
        th_result_free(&r);
        if (after == NULL)
            sleep_ms(100);
    }
    cr_assert_not_null(after, "npu061 did not come back with a new boot_id");
    cr_expect(went_down, "npu061 never refused a connection while rebooting");
    cr_expect_eq(strlen(after), 36);

    events = th_node_file("npu061", "/var/lib/fleet-sim/events.log");
    cr_assert_not_null(events);
    boot_line = af_asprintf(" boot %s\n", after);
    cr_expect_not_null(strstr(events, " reboot\n"), "no reboot in:\n%s",
                       events);
    cr_expect_not_null(strstr(events, boot_line), "no '%s' in:\n%s", boot_line,
                       events);
    cr_expect_lt(strstr(events, " reboot\n"), strstr(events, boot_line),
                 "boot logged before reboot:\n%s", events);
    free(boot_line);
    free(events);
    free(after);
    free(before);
}

Test(rack, fault_down_refuses_connections_until_up)
{
    struct th_result r;
    char *name;

    cr_assert_eq(th_rack("fault npu062 down"), 0);
    ssh_node(&r, "npu062", "true");
    cr_expect_neq(r.status, 0);
    cr_expect_not_null(strstr(r.err, "Connection refused"), "ssh said: %s",
                       r.err);
    th_result_free(&r);

    cr_assert_eq(th_rack("fault npu062 up"), 0);
    name = ssh_out("npu062", "hostname");
    cr_expect_str_eq(name, "npu062");
    free(name);
}

Test(rack, muted_node_accepts_tcp_but_never_speaks)
{
    char *addr = node_addr("npu063");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(22)};
    struct pollfd pfd;
    char *name;
    int fd, n;

    cr_assert_eq(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    cr_assert_eq(th_rack("fault npu063 mute"), 0);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    n = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    cr_expect_eq(n, 0, "connect to muted %s:22: %s", addr, strerror(errno));
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    n = poll(&pfd, 1, 2000);
    cr_expect_eq(n, 0, "muted node sent something (or hung up) within 2 s");
    close(fd);

    cr_assert_eq(th_rack("fault npu063 unmute"), 0);
    name = ssh_out("npu063", "hostname");
    cr_expect_str_eq(name, "npu063");
    free(name);
    free(addr);
}

Test(rack, rekeyed_node_fails_strict_host_key_checking)
{
    char saved[] = "/tmp/th-rack-key-XXXXXX";
    char *key =
        af_asprintf("%s/nodes/npu064/ssh_host_ed25519_key", AF_RACK_DIR);
    const char *cp[] = {"cp", key, saved, NULL};
    struct th_result r;
    char *name;
    int fd = mkstemp(saved);

    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(th_run(&r, 10, cp), 0);
    cr_assert_eq(r.status, 0, "cannot save the host key: %s", r.err);
    th_result_free(&r);

    cr_assert_eq(th_rack("rekey npu064"), 0);
    ssh_node(&r, "npu064", "true");
    cr_expect_neq(r.status, 0, "ssh accepted a changed host key");
    cr_expect_not_null(strstr(r.err, "Host key verification failed"),
                       "ssh said: %s", r.err);
    th_result_free(&r);

    /* Undo: put the old key back, known_hosts is right again. */
    cr_assert_eq(th_rack("rekey npu064 --key %s", saved), 0);
    unlink(saved);
    name = ssh_out("npu064", "hostname");
    cr_expect_str_eq(name, "npu064");
    free(name);
    free(key);
}

Test(rack, status_lists_every_node_up)
{
    char *out = th_rack_out("status");
    int lines = 0, up = 0;

    cr_assert_not_null(out);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char name[32], addr[32], state[16];

        lines++;
        if (sscanf(line, "%31s %31s %15s", name, addr, state) == 3 &&
            strcmp(state, "up") == 0)
            up++;
    }
    cr_expect_eq(lines, 64);
    cr_expect_eq(up, 64, "only %d of 64 nodes up", up);
    free(out);
}

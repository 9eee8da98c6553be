/* SPDX-License-Identifier: MIT */
/*
 * Tests of the simulated Ascend tools of the test rack (tests/rack/fake):
 * npu-smi, hccn_tool, the vendor-style .run packages built by mkrun.sh, the
 * wheels built by mkwheel.py and seed-node.sh. Each test runs the fakes on
 * its own temporary directory through FLEET_SIM_ROOT (the node's /) and
 * FLEET_SIM_CTL (the node's control directory); every command runs under
 * timeout(1), so a test cannot hang.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAKE_DIR AF_SOURCE_DIR "/tests/rack/fake"
#define OUT_CAP  65536

/* Per-test state: each Criterion test runs in its own process. */
struct fx {
    char dir[64];  /* temporary directory of the test */
    char root[96]; /* FLEET_SIM_ROOT */
    char ctl[96];  /* FLEET_SIM_CTL */
    char pkg[96];  /* packages built by the test */
    char out[OUT_CAP];
};

static struct fx fx;

static void fmt(char *buf, size_t cap, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

static void
fmt(char *buf, size_t cap, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(buf, cap, f, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < cap, "buffer too small");
}

/* Run a shell command with the test's root and control directory, bounded
 * to `secs` seconds; stdout and stderr land in fx.out. Returns the exit
 * status (124 on timeout, -1 on a signal). */
static int
sh_run(int secs, const char *cmd)
{
    char full[8192];
    FILE *p;
    size_t n = 0, got;
    int st;

    fmt(full, sizeof full,
        "cd %s && FLEET_SIM_ROOT=%s FLEET_SIM_CTL=%s FAKE=%s PKG=%s "
        "timeout %d sh -c '%s' 2>&1",
        fx.dir, fx.root, fx.ctl, FAKE_DIR, fx.pkg, secs, cmd);
    p = popen(full, "r");
    cr_assert_not_null(p);
    while ((got = fread(fx.out + n, 1, sizeof fx.out - 1 - n, p)) > 0)
        n += got;
    fx.out[n] = '\0';
    st = pclose(p);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void
write_file(const char *rel, const char *text)
{
    char path[512], dir[512];
    char *slash;
    FILE *f;

    fmt(path, sizeof path, "%s/%s", fx.dir, rel);
    fmt(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    cr_assert_not_null(slash);
    *slash = '\0';
    fmt(fx.out, sizeof fx.out, "mkdir -p %s", dir);
    cr_assert_eq(system(fx.out), 0);
    f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Read a file of the test directory into buf; returns 0 or -1 if absent. */
static int
read_file(const char *rel, char *buf, size_t cap)
{
    char path[512];
    FILE *f;
    size_t n;

    fmt(path, sizeof path, "%s/%s", fx.dir, rel);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

static int
exists(const char *rel)
{
    char path[512];
    struct stat sb;

    fmt(path, sizeof path, "%s/%s", fx.dir, rel);
    return lstat(path, &sb) == 0;
}

static int
count_substr(const char *hay, const char *needle)
{
    int n = 0;
    const char *p = hay;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

static void
setup(void)
{
    char cmd[512];

    fmt(fx.dir, sizeof fx.dir, "/tmp/test_fakes.XXXXXX");
    cr_assert_not_null(mkdtemp(fx.dir));
    fmt(fx.root, sizeof fx.root, "%s/root", fx.dir);
    fmt(fx.ctl, sizeof fx.ctl, "%s/ctl", fx.dir);
    fmt(fx.pkg, sizeof fx.pkg, "%s/pkg", fx.dir);
    fmt(cmd, sizeof cmd, "mkdir -p %s/etc %s %s", fx.root, fx.ctl, fx.pkg);
    cr_assert_eq(system(cmd), 0);
}

static void
teardown(void)
{
    char cmd[256];

    if (fx.dir[0] != '\0' && strncmp(fx.dir, "/tmp/test_fakes.", 16) == 0) {
        fmt(cmd, sizeof cmd, "rm -rf %s", fx.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", fx.dir);
    }
}

/* A root with the HwHiAiUser account the driver package asks for. */
static void
add_hwhiaiuser(void)
{
    write_file("root/etc/passwd",
               "root:x:0:0:root:/root:/bin/bash\n"
               "HwHiAiUser:x:1000:1000::/home/HwHiAiUser:/bin/bash\n");
    write_file("root/etc/group", "root:x:0:\nHwHiAiUser:x:1000:\n");
}

/* Build one package into fx.pkg; returns nothing, asserts success. */
static void
build(const char *kind, const char *version)
{
    char cmd[512];

    fmt(cmd, sizeof cmd,
        "$FAKE/mkrun.sh --kind %s --version %s --arch $(uname -m) --out $PKG",
        kind, version);
    cr_assert_eq(sh_run(60, cmd), 0, "mkrun.sh failed: %s", fx.out);
}

#define DRIVER   "$PKG/Ascend-hdk-910-npu-driver_24.1.0_linux-$(uname -m).run"
#define FIRMWARE "$PKG/Ascend-hdk-910-npu-firmware_7.5.0.2.220.run"
#define TOOLKIT  "$PKG/Ascend-cann-toolkit_8.0.RC2_linux-$(uname -m).run"

TestSuite(fakes, .init = setup, .fini = teardown, .timeout = 180);

/* ---- npu-smi ------------------------------------------------------------ */

Test(fakes, npu_smi_table_has_one_row_per_npu_with_ctl_health)
{
    write_file("ctl/loaded-driver", "24.1.0\n");
    write_file("ctl/health", "OK OK OK Warning OK OK OK OK\n");
    cr_assert_eq(sh_run(10, "$FAKE/npu-smi info"), 0, "%s", fx.out);
    cr_expect_not_null(
        strstr(fx.out, "| npu-smi 24.1.0                   Version: 24.1.0"),
        "%s", fx.out);
    cr_expect_eq(count_substr(fx.out, "910B                | "), 8, "%s",
                 fx.out);
    cr_expect_not_null(
        strstr(fx.out, "| 3     910B                | Warning       |"), "%s",
        fx.out);
    cr_expect_not_null(
        strstr(fx.out, "| 2     910B                | OK            |"));
    cr_expect_eq(count_substr(fx.out, "| Warning"), 1);
    cr_expect_eq(count_substr(fx.out, "No running processes found in NPU"), 8);
    cr_expect_not_null(strstr(fx.out, "0000:C1:00.0"));
}

Test(fakes, npu_smi_count_and_chip_come_from_ctl)
{
    write_file("ctl/loaded-driver", "25.0.rc1.1\n");
    write_file("ctl/npu-count", "4\n");
    write_file("ctl/chip", "910A\n");
    cr_assert_eq(sh_run(10, "$FAKE/npu-smi info"), 0);
    cr_expect_eq(count_substr(fx.out, "910A                | OK"), 4, "%s",
                 fx.out);
    cr_assert_eq(sh_run(10, "$FAKE/npu-smi info -l"), 0);
    cr_expect_not_null(strstr(fx.out, "Total Count                    : 4"),
                       "%s", fx.out);
    cr_expect_eq(count_substr(fx.out, "NPU ID"), 4);
    cr_expect_eq(count_substr(fx.out, "Chip Count                     : 1"), 4);
}

Test(fakes, npu_smi_fails_when_no_driver_is_loaded)
{
    cr_expect_eq(sh_run(10, "$FAKE/npu-smi info"), 1);
    cr_expect_not_null(
        strstr(fx.out, "dcmi module initialize failed. ret is -8005"), "%s",
        fx.out);
    write_file("ctl/loaded-driver", "\n");
    cr_expect_eq(sh_run(10, "$FAKE/npu-smi info -l"), 1);
}

Test(fakes, npu_smi_board_shows_driver_and_running_firmware)
{
    write_file("ctl/loaded-driver", "24.1.0\n");
    write_file("ctl/running-firmware", "7.5.0.2.220\n");
    cr_assert_eq(sh_run(10, "$FAKE/npu-smi info -t board -i 2"), 0, "%s",
                 fx.out);
    cr_expect_not_null(
        strstr(fx.out, "Software Version               : 24.1.0"), "%s",
        fx.out);
    cr_expect_not_null(
        strstr(fx.out, "Firmware Version               : 7.5.0.2.220"));
    cr_expect_not_null(
        strstr(fx.out, "PCI Device ID                  : 0xD801"));
    cr_expect_not_null(strstr(fx.out, "Chip Count                     : 1"));
    cr_expect_eq(sh_run(10, "$FAKE/npu-smi info -t board -i 8"), 1);
    cr_expect_eq(sh_run(10, "$FAKE/npu-smi info --bogus"), 1);
    cr_expect_not_null(strstr(fx.out, "Usage"));
    cr_expect_eq(sh_run(10, "$FAKE/npu-smi status"), 1);
}

/* ---- hccn_tool ---------------------------------------------------------- */

Test(fakes, hccn_set_get_round_trip_persists_conf_and_logs)
{
    char conf[4096], ev[4096];

    write_file("ctl/loaded-driver", "24.1.0\n");
    cr_assert_eq(sh_run(10,
                        "$FAKE/hccn_tool -i 3 -ip -s address 192.168.103.101 "
                        "netmask 255.255.255.0"),
                 0, "%s", fx.out);
    cr_assert_eq(sh_run(10, "$FAKE/hccn_tool -i 3 -ip -g"), 0);
    cr_expect_str_eq(fx.out, "ipaddr:192.168.103.101\nnetmask:255.255.255.0\n");
    cr_assert_eq(
        sh_run(10, "$FAKE/hccn_tool -i 3 -netdetect -s address 192.168.103.1"),
        0);
    cr_assert_eq(sh_run(10, "$FAKE/hccn_tool -i 3 -netdetect -g"), 0);
    cr_expect_str_eq(fx.out, "netdetect address: 192.168.103.1\n");
    cr_assert_eq(
        sh_run(10, "$FAKE/hccn_tool -i 3 -gateway -s gateway 192.168.103.1"),
        0);
    cr_assert_eq(sh_run(10, "$FAKE/hccn_tool -i 3 -gateway -g"), 0);
    cr_expect_str_eq(fx.out, "default gateway:192.168.103.1, Iface:eth3\n");
    cr_assert_eq(sh_run(10, "$FAKE/hccn_tool -i 3 -tls -s enable 0"), 0);
    cr_assert_eq(sh_run(10, "$FAKE/hccn_tool -i 3 -tls -g"), 0);
    cr_expect_not_null(strstr(fx.out, "tls switch[0]"), "%s", fx.out);
    /* Setting the address again replaces the key instead of adding one. */
    cr_assert_eq(sh_run(10,
                        "$FAKE/hccn_tool -i 3 -ip -s address 192.168.103.102 "
                        "netmask 255.255.255.0"),
                 0);

    cr_assert_eq(read_file("root/etc/hccn.conf", conf, sizeof conf), 0);
    cr_expect_not_null(strstr(conf, "address_3=192.168.103.102\n"), "%s", conf);
    cr_expect_eq(count_substr(conf, "address_3="), 1, "%s", conf);
    cr_expect_not_null(strstr(conf, "netmask_3=255.255.255.0\n"));
    cr_expect_not_null(strstr(conf, "netdetect_3=192.168.103.1\n"));
    cr_expect_not_null(strstr(conf, "gateway_3=192.168.103.1\n"));
    cr_expect_not_null(strstr(conf, "send_arp_status_3=1\n"));
    cr_expect_not_null(strstr(conf, "tls_enable_3=0\n"));

    cr_assert_eq(read_file("ctl/events.log", ev, sizeof ev), 0);
    cr_expect_not_null(strstr(ev, " hccn set 3 ip 192.168.103.101\n"), "%s",
                       ev);
    cr_expect_not_null(strstr(ev, " hccn set 3 ip 192.168.103.102\n"));
    cr_expect_not_null(strstr(ev, " hccn set 3 gateway 192.168.103.1\n"));
    cr_expect_eq(count_substr(ev, " hccn set 3 ip "), 2);
}

Test(fakes, hccn_rejects_invalid_id_fail_flag_and_foreign_gateway)
{
    char ev[4096];

    write_file("ctl/loaded-driver", "24.1.0\n");
    cr_expect_eq(sh_run(10, "$FAKE/hccn_tool -i 8 -ip -g"), 1);
    cr_expect_not_null(strstr(fx.out, "Invalid device id"), "%s", fx.out);
    cr_expect_eq(sh_run(10, "$FAKE/hccn_tool -i x -link -g"), 1);

    write_file("ctl/hccn-fail-1", "");
    cr_expect_eq(sh_run(10,
                        "$FAKE/hccn_tool -i 1 -ip -s address 192.168.101.101 "
                        "netmask 255.255.255.0"),
                 1);
    cr_expect_neq(fx.out[0], '\0', "a failed set must say why");
    cr_expect_eq(sh_run(10, "$FAKE/hccn_tool -i 1 -tls -s enable 0"), 1);
    /* Other NPUs are not affected by NPU 1's flag. */
    cr_expect_eq(sh_run(10,
                        "$FAKE/hccn_tool -i 0 -ip -s address 192.168.100.101 "
                        "netmask 255.255.255.0"),
                 0, "%s", fx.out);
    cr_expect_eq(
        sh_run(10, "$FAKE/hccn_tool -i 0 -gateway -s gateway 192.168.101.1"),
        1);
    cr_expect_not_null(strstr(fx.out, "segment"), "%s", fx.out);
    cr_expect_eq(sh_run(10,
                        "$FAKE/hccn_tool -i 0 -ip -s address 192.168.100.300 "
                        "netmask 255.255.255.0"),
                 1);
    cr_expect_eq(sh_run(10, "$FAKE/hccn_tool -i 0 -ip -s address 192.168.100.9 "
                            "netmask 255.0.255.0"),
                 1);

    cr_assert_eq(read_file("ctl/events.log", ev, sizeof ev), 0);
    cr_expect_eq(count_substr(ev, "hccn set 1 "), 0, "%s", ev);
    cr_expect_eq(count_substr(ev, "hccn set 0 gateway"), 0, "%s", ev);
}

Test(fakes, hccn_link_reflects_link_down_flag)
{
    write_file("ctl/loaded-driver", "24.1.0\n");
    cr_assert_eq(sh_run(10, "$FAKE/hccn_tool -i 5 -link -g"), 0);
    cr_expect_str_eq(fx.out, "link status: UP\n");
    write_file("ctl/link-down-5", "");
    cr_assert_eq(sh_run(10, "$FAKE/hccn_tool -i 5 -link -g"), 0);
    cr_expect_str_eq(fx.out, "link status: DOWN\n");
}

Test(fakes, hccn_ping_answers_from_rack_records_only)
{
    const char *ping = "$FAKE/hccn_tool -i 0 -ping -g address 192.168.100.103";

    write_file("ctl/loaded-driver", "24.1.0\n");
    cr_assert_eq(sh_run(10,
                        "$FAKE/hccn_tool -i 0 -ip -s address 192.168.100.101 "
                        "netmask 255.255.255.0"),
                 0);
    write_file("ctl/rack/npu002/upper/etc/hccn.conf",
               "address_0=192.168.100.103\nnetmask_0=255.255.255.0\n"
               "address_1=192.168.101.103\nnetmask_1=255.255.255.0\n");
    write_file("ctl/rack/npu002/ctl/events.log", "");

    /* Peer not up: no answer. */
    cr_expect_eq(sh_run(10, ping), 1);
    cr_expect_not_null(
        strstr(fx.out,
               "3 packets transmitted, 0 received, 100.00% packet loss"),
        "%s", fx.out);
    write_file("ctl/rack/npu002/up", "");
    cr_expect_eq(sh_run(10, ping), 0, "%s", fx.out);
    cr_expect_not_null(
        strstr(fx.out, "3 packets transmitted, 3 received, 0.00% packet loss"),
        "%s", fx.out);
    cr_expect_eq(
        sh_run(10,
               "$FAKE/hccn_tool -i 0 -ping -g address 192.168.100.103 pkt 5"),
        0);
    cr_expect_not_null(strstr(fx.out, "5 packets transmitted, 5 received"),
                       "%s", fx.out);
    /* Unknown address, and a peer address in another subnet. */
    cr_expect_eq(
        sh_run(10, "$FAKE/hccn_tool -i 0 -ping -g address 192.168.100.104"), 1);
    cr_expect_eq(
        sh_run(10, "$FAKE/hccn_tool -i 0 -ping -g address 192.168.101.103"), 1);
    /* Peer's NPU 0 link down. */
    write_file("ctl/rack/npu002/ctl/link-down-0", "");
    cr_expect_eq(sh_run(10, ping), 1);
    cr_assert_eq(sh_run(5, "rm ctl/rack/npu002/ctl/link-down-0"), 0);
    cr_expect_eq(sh_run(10, ping), 0);
    /* Own link down. */
    write_file("ctl/link-down-0", "");
    cr_expect_eq(sh_run(10, ping), 1);
}

/* ---- .run packages ------------------------------------------------------ */

Test(fakes, run_package_rejects_unknown_option)
{
    build("driver", "24.1.0");
    add_hwhiaiuser();
    cr_expect_eq(sh_run(30, "sh " DRIVER " --full --frobnicate"), 1);
    cr_expect_not_null(strstr(fx.out, "Unrecognized parameters: --frobnicate"),
                       "%s", fx.out);
    cr_expect_not(exists("root/usr/local/Ascend/driver/version.info"));
    /* The toolkit option --install means nothing to the driver package. */
    cr_expect_eq(sh_run(30, "sh " DRIVER " --install"), 1);
    cr_expect_not_null(strstr(fx.out, "Unrecognized parameters: --install"));
    cr_expect_eq(sh_run(30, "sh " DRIVER " --upgrade --install-for-all"), 1);
}

Test(fakes, run_check_verifies_payload_and_catches_damage)
{
    build("driver", "24.1.0");
    cr_expect_eq(sh_run(30, "sh " DRIVER " --check"), 0, "%s", fx.out);
    cr_expect_not_null(strstr(fx.out, "Verification successful"), "%s", fx.out);

    /* One byte changed near the end of the payload. */
    cr_assert_eq(sh_run(30, "cp " DRIVER " bad.run && sz=$(wc -c <bad.run) && "
                            "printf Z | dd of=bad.run bs=1 seek=$((sz - 64)) "
                            "conv=notrunc 2>/dev/null"),
                 0);
    cr_expect_eq(sh_run(30, "sh bad.run --check"), 1, "%s", fx.out);
    cr_expect_null(strstr(fx.out, "Verification successful"));
    cr_expect_eq(sh_run(30, "sh bad.run --full"), 1);

    /* Truncated in the payload and in the header. */
    cr_assert_eq(sh_run(30, "sz=$(wc -c <" DRIVER
                            ") && head -c $((sz - 100)) " DRIVER
                            " >short.run && head -c 400 " DRIVER " >tiny.run"),
                 0);
    cr_expect_eq(sh_run(30, "sh short.run --check"), 1);
    cr_expect_neq(sh_run(30, "sh tiny.run --check"), 0);
    cr_expect_neq(sh_run(30, "sh tiny.run --full"), 0);
}

Test(fakes, driver_install_writes_version_info_tools_and_event)
{
    char buf[4096];

    build("driver", "24.1.0");
    add_hwhiaiuser();
    cr_assert_eq(
        sh_run(60, "sh " DRIVER " --nox11 --full --quiet --install-for-all"), 0,
        "%s", fx.out);
    cr_expect_not_null(strstr(
        fx.out, "Driver package installed successfully! "
                "Reboot needed for installation/upgrade to take effect!"));
    cr_assert_eq(
        read_file("root/usr/local/Ascend/driver/version.info", buf, sizeof buf),
        0);
    cr_expect_not_null(strstr(buf, "Version=24.1.0\n"), "%s", buf);
    cr_expect_not_null(strstr(buf, "package_version=24.1.0\n"));
    cr_expect_not_null(strstr(buf, "compatible_version_fw=["));
    cr_expect(exists("root/usr/local/Ascend/driver/tools/upgrade-tool"));
    cr_expect(exists("root/usr/local/Ascend/driver/tools/hccn_tool"));
    cr_expect(exists("root/usr/local/sbin/npu-smi"));
    cr_assert_eq(read_file("root/etc/ascend_install.info", buf, sizeof buf), 0);
    cr_expect_not_null(
        strstr(buf, "Driver_Install_Path_Param=/usr/local/Ascend\n"), "%s",
        buf);
    cr_expect_not_null(strstr(buf, "UserName=HwHiAiUser\n"));
    cr_expect_not_null(strstr(buf, "Driver_Install_For_All=yes\n"));
    cr_assert_eq(read_file("ctl/events.log", buf, sizeof buf), 0);
    cr_expect_eq(count_substr(buf, " install driver 24.1.0\n"), 1, "%s", buf);

    /* The installed npu-smi (through the symlink) is the working fake. */
    write_file("ctl/loaded-driver", "24.1.0\n");
    cr_expect_eq(sh_run(10, "root/usr/local/sbin/npu-smi info -l"), 0, "%s",
                 fx.out);
    cr_expect_not_null(strstr(fx.out, "Total Count"));

    /* A reinstall is allowed and logged again. */
    cr_assert_eq(sh_run(60, "sh " DRIVER " --nox11 --full --quiet"), 0, "%s",
                 fx.out);
    cr_assert_eq(read_file("ctl/events.log", buf, sizeof buf), 0);
    cr_expect_eq(count_substr(buf, " install driver 24.1.0\n"), 2, "%s", buf);
}

Test(fakes, driver_install_needs_hwhiaiuser_unless_root_for_all)
{
    build("driver", "24.1.0");
    write_file("root/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    write_file("root/etc/group", "root:x:0:\n");
    cr_expect_eq(sh_run(60, "sh " DRIVER " --full --quiet --install-for-all"),
                 1);
    cr_expect_not_null(strstr(fx.out, "HwHiAiUser"), "%s", fx.out);
    cr_expect_not(exists("root/usr/local/Ascend/driver"));
    cr_expect_eq(sh_run(60, "sh " DRIVER " --full --install-username=root"), 1);
    cr_expect_eq(sh_run(60, "sh " DRIVER " --full --install-username=root "
                            "--install-usergroup=root"),
                 1);
    cr_expect_eq(sh_run(60,
                        "sh " DRIVER " --full --quiet --install-username=root "
                        "--install-usergroup=root --install-for-all"),
                 0, "%s", fx.out);
    cr_expect(exists("root/usr/local/Ascend/driver/version.info"));
}

Test(fakes, install_faults_fail_or_hang_without_writing)
{
    char buf[4096];

    build("driver", "24.1.0");
    add_hwhiaiuser();
    write_file("ctl/fault-install-fail", "");
    cr_expect_eq(sh_run(60, "sh " DRIVER " --full --quiet"), 1);
    cr_expect_not_null(strstr(fx.out, "[ERROR]"), "%s", fx.out);
    cr_expect_not(exists("root/usr/local/Ascend/driver/version.info"));
    cr_assert_eq(sh_run(5, "rm ctl/fault-install-fail"), 0);

    write_file("ctl/fault-install-hang", "");
    cr_expect_eq(sh_run(3, "sh " DRIVER " --full --quiet"), 124, "%s", fx.out);
    cr_expect_not(exists("root/usr/local/Ascend/driver/version.info"));
    if (read_file("ctl/events.log", buf, sizeof buf) == 0)
        cr_expect_null(strstr(buf, "install driver"), "%s", buf);
}

Test(fakes, upgrade_of_a_missing_component_fails)
{
    build("driver", "24.1.0");
    build("toolkit", "8.0.RC2");
    add_hwhiaiuser();
    cr_expect_eq(sh_run(60, "sh " DRIVER " --nox11 --upgrade --quiet"), 1);
    cr_expect_not(exists("root/usr/local/Ascend/driver"));
    cr_expect_eq(sh_run(60, "sh " TOOLKIT " --upgrade --quiet"), 1);
    cr_expect_not(exists("root/usr/local/Ascend/ascend-toolkit"));
    cr_assert_eq(sh_run(60, "sh " DRIVER " --full --quiet"), 0, "%s", fx.out);
    cr_expect_eq(sh_run(60, "sh " DRIVER " --nox11 --upgrade --quiet"), 0, "%s",
                 fx.out);
}

Test(fakes, firmware_needs_a_driver_first)
{
    char buf[4096];

    build("driver", "24.1.0");
    build("firmware", "24.1.0");
    add_hwhiaiuser();
    cr_expect_eq(sh_run(60, "sh " FIRMWARE " --nox11 --full --quiet"), 1);
    cr_expect_not_null(strstr(fx.out, "driver not installed"), "%s", fx.out);
    cr_expect_not(exists("root/usr/local/Ascend/firmware"));

    cr_assert_eq(sh_run(60, "sh " DRIVER " --full --quiet --install-for-all"),
                 0);
    cr_assert_eq(sh_run(60, "sh " FIRMWARE " --nox11 --full --quiet"), 0, "%s",
                 fx.out);
    cr_expect_not_null(
        strstr(fx.out, "The firmware of [8] chips are successfully upgraded."));
    cr_expect_not_null(
        strstr(fx.out, "Firmware package installed successfully! Reboot now"));
    cr_assert_eq(read_file("root/usr/local/Ascend/firmware/version.info", buf,
                           sizeof buf),
                 0);
    cr_expect_not_null(strstr(buf, "Version=7.5.0.2.220\n"), "%s", buf);
    cr_expect_not_null(strstr(buf, "package_version=24.1.0\n"));
    cr_assert_eq(read_file("ctl/events.log", buf, sizeof buf), 0);
    cr_expect_not_null(strstr(buf, " install firmware 7.5.0.2.220\n"), "%s",
                       buf);
}

Test(fakes, toolkit_install_writes_info_latest_set_env_and_wheels)
{
    char buf[4096];

    build("toolkit", "8.0.RC2");
    cr_assert_eq(sh_run(60, "sh " TOOLKIT " --install --quiet --nox11"), 0,
                 "%s", fx.out);
    cr_assert_eq(
        sh_run(10, "cat root/usr/local/Ascend/ascend-toolkit/latest/"
                   "$(uname -m)-linux/ascend_toolkit_install.info && "
                   "readlink root/usr/local/Ascend/ascend-toolkit/latest && "
                   "ls root/usr/local/Ascend/ascend-toolkit/latest/lib64"),
        0, "%s", fx.out);
    cr_expect_not_null(strstr(fx.out, "version=8.0.RC2\n"), "%s", fx.out);
    cr_expect_not_null(strstr(fx.out, "\n8.0.RC2\n"));
    cr_expect_not_null(strstr(fx.out, "te-0.4.0-py3-none-any.whl"));
    cr_expect_not_null(strstr(fx.out, "hccl-0.1.0-py3-none-any.whl"));
    cr_assert_eq(read_file("root/usr/local/Ascend/ascend-toolkit/set_env.sh",
                           buf, sizeof buf),
                 0);
    cr_expect_not_null(
        strstr(buf,
               "ASCEND_TOOLKIT_HOME=/usr/local/Ascend/ascend-toolkit/latest"),
        "%s", buf);
    cr_assert_eq(read_file("ctl/events.log", buf, sizeof buf), 0);
    cr_expect_not_null(strstr(buf, " install toolkit 8.0.RC2\n"), "%s", buf);
}

/* ---- wheels and seeding ------------------------------------------------- */

Test(fakes, wheels_install_with_pip_and_import)
{
    /* Debian's interpreter when present (what the nodes use), else PATH's. */
    cr_assert_eq(
        sh_run(
            120,
            "PY=/usr/bin/python3; [ -x $PY ] || PY=python3; "
            "$PY $FAKE/mkwheel.py --out whl torch:2.1.0:$(uname -m) "
            "torch_npu:2.1.0.post6:$(uname -m) te:0.4.0 hccl:0.1.0 "
            "apex:0.1+ascend >/dev/null && "
            "$PY -m pip install -q --no-index --no-deps "
            "--disable-pip-version-check "
            "--target site whl/*.whl && mkdir -p root/tk && "
            "PYTHONPATH=site ASCEND_TOOLKIT_HOME=/tk $PY -c \""
            "import torch, torch_npu, te, hccl, apex; "
            "print(torch.__version__, torch_npu.__version__, te.__version__); "
            "print(torch_npu.npu.is_available(), torch.npu.device_count())\""),
        0, "%s", fx.out);
    cr_expect_not_null(strstr(fx.out, "2.1.0.post6 0.4.0"), "%s", fx.out);
    cr_expect_not_null(strstr(fx.out, "False 0"), "no driver loaded: %s",
                       fx.out);
    cr_expect(exists("site/torch_npu-2.1.0.post6.dist-info/RECORD"));
    /* Without the CANN environment torch_npu does not import. */
    cr_expect_neq(sh_run(60, "PY=/usr/bin/python3; [ -x $PY ] || PY=python3; "
                             "PYTHONPATH=site $PY -c \"import torch_npu\""),
                  0);
}

Test(fakes, seed_node_full_presets_an_upper_dir)
{
    char buf[8192];

    cr_assert_eq(
        sh_run(120, "$FAKE/seed-node.sh --root up --state full --arch x86_64 "
                    "--driver 24.1.0 --cann 8.0.RC2"),
        0, "%s", fx.out);
    cr_assert_eq(
        read_file("up/usr/local/Ascend/driver/version.info", buf, sizeof buf),
        0);
    cr_expect_not_null(strstr(buf, "package_version=24.1.0\n"));
    cr_assert_eq(
        read_file("up/usr/local/Ascend/firmware/version.info", buf, sizeof buf),
        0);
    cr_expect_not_null(strstr(buf, "Version=7.5.0.2.220\n"), "%s", buf);
    cr_expect(exists("up/usr/local/Ascend/ascend-toolkit/latest/x86_64-linux/"
                     "ascend_toolkit_install.info"));
    cr_expect(exists("up/usr/local/Ascend/ascend-toolkit/set_env.sh"));
    cr_assert_eq(read_file("up/etc/hccn.conf", buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "");
    cr_assert_eq(read_file("up/etc/passwd", buf, sizeof buf), 0);
    cr_expect_not_null(strstr(buf, "root:x:0:0:"));
    cr_expect_eq(count_substr(buf, "\nHwHiAiUser:x:"), 1, "%s", buf);
    /* Seeding leaves the node's own control directory alone. */
    cr_expect_not(exists("ctl/events.log"));

    cr_assert_eq(sh_run(60, "$FAKE/seed-node.sh --root fresh --state fresh"),
                 0);
    cr_expect_not(exists("fresh/usr"));
    cr_expect_not(exists("fresh/etc"));
}

/* SPDX-License-Identifier: MIT */
/*
 * Facts of a node (see ag-facts.h). Reads files and runs npu-smi and
 * hccn_tool only; no interpreter is started so the request stays fast.
 * The npu-smi table is parsed by splitting on '|' so column widths may
 * change between driver releases.
 */
#include "ag-facts.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include "af-facts.h"
#include "af-mem.h"
#include "ag-run.h"
#include "ag-util.h"

/* Capture cap of the tools run for facts. */
#define AG_FACTS_CAP (256 * 1024)

/* Set key to the value of key= in a file under root, or to "". */
static void
ag_facts_file_kv(struct af_kv *kv,
                 const char *name,
                 const char *root,
                 const char *path,
                 const char *key)
{
    char *host = ag_root_path(root, path);
    char *v = ag_kv_file_get(host, key);

    af_kv_set(kv, name, v ? v : "");
    free(v);
    free(host);
}

static void
ag_facts_yesno(struct af_kv *kv, const char *name, int yes)
{
    af_kv_set(kv, name, yes ? "yes" : "no");
}

/* 1 if a "name:" line exists in a passwd/group style file under root. */
static int
ag_facts_has_entry(const char *root, const char *path, const char *name)
{
    char *host = ag_root_path(root, path);
    char *text = ag_read_file(host, 4 * 1024 * 1024, NULL);
    size_t nl = strlen(name);
    const char *line;
    int found = 0;

    free(host);
    if (text == NULL)
        return 0;
    for (line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');

        if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
            found = 1;
            break;
        }
        if (end == NULL)
            break;
        line = end + 1;
    }
    free(text);
    return found;
}

static void
ag_facts_disk(struct af_kv *kv, const char *root, const char *install)
{
    char *node = af_strdup(install);
    char buf[32] = "";

    for (;;) {
        char *host = ag_root_path(root, node[0] ? node : "/");
        struct statvfs sv;
        int rc = statvfs(host, &sv);
        int err = errno;
        char *slash;

        free(host);
        if (rc == 0) {
            unsigned long long mb = (unsigned long long)sv.f_bavail *
                                    (unsigned long long)sv.f_frsize /
                                    (1024ULL * 1024ULL);

            snprintf(buf, sizeof(buf), "%llu", mb);
            break;
        }
        slash = strrchr(node, '/');
        if (err != ENOENT && err != ENOTDIR)
            break;
        if (slash == NULL || node[0] == '\0')
            break;
        *slash = '\0';
    }
    af_kv_set(kv, "disk_free_mb", buf);
    free(node);
}

static void
ag_facts_cann(struct af_kv *kv,
              const char *root,
              const char *install,
              const char *arch)
{
    static const struct {
        const char *dir;
        const char *layout;
    } layouts[] = {
        /* Newest layout first: CANN >= 8.5 installs <install>/cann. */
        {"cann", "cann"},
        {"ascend-toolkit/latest", "toolkit"},
    };
    size_t i;

    af_kv_set(kv, "cann_version", "");
    af_kv_set(kv, "cann_layout", "");
    af_kv_set(kv, "cann_path", "");
    for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
        char *dir = af_asprintf("%s/%s", install, layouts[i].dir);
        char *info =
            af_asprintf("%s/%s-linux/ascend_toolkit_install.info", dir, arch);
        char *host = ag_root_path(root, info);
        char *v = ag_kv_file_get(host, "version");

        free(host);
        free(info);
        if (v != NULL) {
            af_kv_set(kv, "cann_version", v);
            af_kv_set(kv, "cann_layout", layouts[i].layout);
            af_kv_set(kv, "cann_path", dir);
            free(v);
            free(dir);
            return;
        }
        free(dir);
    }
}

static int
ag_facts_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of entries of dir (host path) starting with prefix. */
static char **
ag_facts_list(const char *dir, const char *prefix, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            names = af_reallocarray(names, cap, sizeof(*names));
        }
        names[(*n)++] = af_strdup(de->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort(names, *n, sizeof(*names), ag_facts_name_cmp);
    return names;
}

static void
ag_facts_free_list(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Look for torch/torch_npu/apex/te/hccl dist-info directories in one
 * directory. */
static void
ag_facts_scan_site(struct af_kv *kv, const char *host_dir)
{
    static const struct {
        const char *dist;
        const char *key;
    } wanted[] = {
        {"torch", "torch_version"}, {"torch_npu", "torch_npu_version"},
        {"apex", "apex_version"},   {"te", "te_version"},
        {"hccl", "hccl_version"},
    };
    static const char suffix[] = ".dist-info";
    size_t n, i, j;
    char **names = ag_facts_list(host_dir, "", &n);

    for (i = 0; i < n; i++) {
        const char *name = names[i];
        size_t len = strlen(name), sl = sizeof(suffix) - 1;
        const char *dash = strchr(name, '-');

        if (dash == NULL || len <= sl || strcmp(name + len - sl, suffix) != 0)
            continue;
        for (j = 0; j < sizeof(wanted) / sizeof(wanted[0]); j++) {
            size_t dl = strlen(wanted[j].dist);
            const char *have = af_kv_get(kv, wanted[j].key);

            if ((size_t)(dash - name) != dl ||
                strncasecmp(name, wanted[j].dist, dl) != 0)
                continue;
            if (have != NULL && have[0] != '\0')
                continue;
            {
                char *v =
                    af_strndup(dash + 1, (size_t)(name + len - sl - dash - 1));

                af_kv_set(kv, wanted[j].key, v);
                free(v);
            }
        }
    }
    ag_facts_free_list(names, n);
}

/* Scan <base>/python3.../<leaf> under root. */
static void
ag_facts_scan_glob(struct af_kv *kv,
                   const char *root,
                   const char *base,
                   const char *leaf)
{
    char *hbase = ag_root_path(root, base);
    size_t n, i;
    char **names = ag_facts_list(hbase, "python3", &n);

    for (i = 0; i < n; i++) {
        char *dir = af_asprintf("%s/%s/%s", hbase, names[i], leaf);

        ag_facts_scan_site(kv, dir);
        free(dir);
    }
    ag_facts_free_list(names, n);
    free(hbase);
}

static void
ag_facts_python(struct af_kv *kv, const char *root)
{
    char *py = ag_find_tool_node(root, "python3");
    char *dir;

    af_kv_set(kv, "python", py ? py : "");
    free(py);
    af_kv_set(kv, "torch_version", "");
    af_kv_set(kv, "torch_npu_version", "");
    af_kv_set(kv, "apex_version", "");
    af_kv_set(kv, "te_version", "");
    af_kv_set(kv, "hccl_version", "");
    ag_facts_scan_glob(kv, root, "/usr/local/lib", "dist-packages");
    ag_facts_scan_glob(kv, root, "/usr/local/lib", "site-packages");
    dir = ag_root_path(root, "/usr/lib/python3/dist-packages");
    ag_facts_scan_site(kv, dir);
    free(dir);
    ag_facts_scan_glob(kv, root, "/usr/lib", "site-packages");
}

/* Copy s[0..n) without surrounding blanks into a new string. */
static char *
ag_facts_trim(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return af_strndup(s, n);
}

/* Split one table line on '|' into at most max trimmed fields. */
static size_t
ag_facts_split(const char *line, char **fields, size_t max)
{
    const char *p = strchr(line, '|');
    size_t n = 0;

    while (p != NULL && n < max) {
        const char *q = strchr(p + 1, '|');

        if (q == NULL)
            break;
        fields[n++] = ag_facts_trim(p + 1, (size_t)(q - p - 1));
        p = q;
    }
    return n;
}

int
ag_facts_parse_npusmi(const char *text, struct af_kv *kv)
{
    const char *line = text;
    int count = 0, ok = 0, after_sep = 0;
    long cur = -1;
    int cur_chip_rows = 0;
    char num[32];

    af_kv_set(kv, "npu_loaded_version", "");
    af_kv_set(kv, "npu_chip", "");
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *l = af_strndup(line, len);
        const char *p = l;
        char *f[8];
        size_t nf, i;
        int stop = 0;

        line = end ? end + 1 : NULL;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '+') {
            after_sep = 1;
            free(l);
            continue;
        }
        if (*p != '|') {
            free(l);
            continue;
        }
        if (count == 0 && strstr(p, "Version:") != NULL) {
            char *v = af_strdup(strstr(p, "Version:") + 8);
            char *s = v, *e;

            while (*s == ' ')
                s++;
            e = s;
            while (*e != '\0' && *e != ' ' && *e != '|')
                e++;
            *e = '\0';
            af_kv_set(kv, "npu_loaded_version", s);
            free(v);
            free(l);
            continue;
        }
        nf = ag_facts_split(p, f, 8);
        if (nf >= 2 && (strstr(f[1], "Process") != NULL ||
                        strncmp(f[0], "No running", 10) == 0)) {
            stop = 1;
        } else if (nf >= 2 && isdigit((unsigned char)f[0][0])) {
            if (after_sep) {
                char *name = f[0];
                char *key;

                cur = strtol(f[0], &name, 10);
                while (*name == ' ' || *name == '\t')
                    name++;
                key = af_asprintf("npu.%ld.health", cur);
                af_kv_set(kv, key, f[1]);
                free(key);
                key = af_asprintf("npu.%ld.chip", cur);
                af_kv_set(kv, key, name);
                free(key);
                if (count == 0)
                    af_kv_set(kv, "npu_chip", name);
                if (strcmp(f[1], "OK") == 0)
                    ok++;
                count++;
                cur_chip_rows = 0;
            } else if (cur >= 0 && cur_chip_rows == 0) {
                char *key = af_asprintf("npu.%ld.bus", cur);

                af_kv_set(kv, key, f[1]);
                free(key);
                cur_chip_rows++;
            }
        }
        after_sep = 0;
        for (i = 0; i < nf; i++)
            free(f[i]);
        free(l);
        if (stop)
            break;
    }
    snprintf(num, sizeof(num), "%d", count);
    af_kv_set(kv, "npu_count", num);
    snprintf(num, sizeof(num), "%d", ok);
    af_kv_set(kv, "npu_health_ok", num);
    return count;
}

/* First non-empty line of s as a new string ("" if none). */
static char *
ag_facts_first_line(const char *s)
{
    while (s != NULL && *s != '\0') {
        const char *end = strchr(s, '\n');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        char *t = ag_facts_trim(s, n);

        if (t[0] != '\0')
            return t;
        free(t);
        s = end ? end + 1 : NULL;
    }
    return af_strdup("");
}

/* Value after "key :" / "key:" in the lines of text, or NULL. */
static char *
ag_facts_colon_value(const char *text, const char *key)
{
    const char *line = text;
    size_t kl = strlen(key);

    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char *t = ag_facts_trim(line, n);

        if (strncmp(t, key, kl) == 0) {
            const char *p = t + kl;

            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == ':') {
                char *v = ag_facts_trim(p + 1, strlen(p + 1));

                free(t);
                return v;
            }
        }
        free(t);
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

/* The driver's own tool under install, else one on AG_PATH (node path). */
static char *
ag_facts_tool(const char *root, const char *install, const char *name)
{
    char *node = af_asprintf("%s/driver/tools/%s", install, name);
    char *host = ag_root_path(root, node);
    int ok = ag_is_exec(host);

    free(host);
    if (ok)
        return node;
    free(node);
    return ag_find_tool_node(root, name);
}

/* An address as hccn_tool printed it, "" for 0.0.0.0 (never configured). */
static void
ag_facts_set_ip(struct af_kv *kv, int i, const char *what, const char *v)
{
    char key[48];

    snprintf(key, sizeof(key), "hccn.%d.%s", i, what);
    af_kv_set(kv, key, v == NULL || strcmp(v, "0.0.0.0") == 0 ? "" : v);
}

/*
 * hccn.<i>.address/netmask from `hccn_tool -i <i> -ip -g`. A never
 * configured NPU reads as empty values, 0.0.0.0, or a failing call while
 * /etc/hccn.conf has no address_<i> line: all three are "" (unset). Any
 * other failure leaves the keys out (unknown).
 */
static void
ag_facts_hccn_ip(struct af_kv *kv,
                 const char *root,
                 int i,
                 const struct ag_run_result *res)
{
    char *a = NULL, *m = NULL;

    if (res->rc == 0 && !res->timed_out && res->out.data != NULL) {
        a = ag_facts_colon_value(res->out.data, "ipaddr");
        m = ag_facts_colon_value(res->out.data, "netmask");
    } else if (!res->timed_out) {
        char *conf = ag_root_path(root, "/etc/hccn.conf");
        char key[32];

        snprintf(key, sizeof(key), "address_%d", i);
        a = ag_kv_file_get(conf, key);
        free(conf);
        if (a != NULL && a[0] != '\0') {
            free(a);
            return; /* configured, yet the tool fails: unknown */
        }
    } else {
        return;
    }
    ag_facts_set_ip(kv, i, "address", a);
    ag_facts_set_ip(kv, i, "netmask", m);
    free(a);
    free(m);
}

static void
ag_facts_npu(struct af_kv *kv, const char *root, const char *install)
{
    char *smi = ag_facts_tool(root, install, "npu-smi");
    char *hccn = NULL;
    struct ag_run_result res;
    int count = 0, i;

    ag_facts_yesno(kv, "npu_smi", smi != NULL);
    af_kv_set(kv, "npu_smi_error", "");
    af_kv_set(kv, "npu_count", "0");
    af_kv_set(kv, "npu_chip", "");
    af_kv_set(kv, "npu_loaded_version", "");
    af_kv_set(kv, "npu_health_ok", "0");
    af_kv_set(kv, "firmware_running", "");
    if (smi == NULL)
        goto out;
    {
        char a_info[] = "info";
        char *argv[] = {smi, a_info, NULL};

        if (ag_run(root, argv, AG_FACTS_NPUSMI_TIMEOUT, AG_FACTS_CAP, &res) !=
                0 ||
            res.rc != 0 || res.timed_out) {
            char *why;

            if (res.timed_out)
                why = af_asprintf("npu-smi info timed out after %d s",
                                  AG_FACTS_NPUSMI_TIMEOUT);
            else if (res.err.len > 0)
                why = ag_facts_first_line(res.err.data);
            else if (res.out.len > 0)
                why = ag_facts_first_line(res.out.data);
            else
                why = af_asprintf("npu-smi info failed with rc %d", res.rc);
            if (why[0] == '\0') {
                free(why);
                why = af_asprintf("npu-smi info failed with rc %d", res.rc);
            }
            af_kv_set(kv, "npu_smi_error", why);
            free(why);
            ag_run_result_free(&res);
            goto out;
        }
        count = ag_facts_parse_npusmi(res.out.data ? res.out.data : "", kv);
        ag_run_result_free(&res);
    }
    {
        char a_info[] = "info", a_t[] = "-t", a_board[] = "board";
        char a_i[] = "-i", a_0[] = "0";
        char *argv[] = {smi, a_info, a_t, a_board, a_i, a_0, NULL};

        if (ag_run(root, argv, AG_FACTS_NPUSMI_TIMEOUT, AG_FACTS_CAP, &res) ==
                0 &&
            res.rc == 0 && res.out.data != NULL) {
            char *v = ag_facts_colon_value(res.out.data, "Firmware Version");

            if (v != NULL)
                af_kv_set(kv, "firmware_running", v);
            free(v);
        }
        ag_run_result_free(&res);
    }
    hccn = ag_facts_tool(root, install, "hccn_tool");
    if (hccn == NULL)
        goto out;
    /*
     * hccn_tool is not safe to run in parallel on one node: one by one, and
     * for no more NPUs than a node can have.
     */
    for (i = 0; i < count && i < AF_FACTS_MAX_NPUS; i++) {
        char idx[16], a_i[] = "-i", a_ip[] = "-ip", a_g[] = "-g";
        char *argv[] = {hccn, a_i, idx, a_ip, a_g, NULL};

        snprintf(idx, sizeof(idx), "%d", i);
        if (ag_run(root, argv, AG_FACTS_HCCN_TIMEOUT, AG_FACTS_CAP, &res) == 0)
            ag_facts_hccn_ip(kv, root, i, &res);
        ag_run_result_free(&res);
    }
out:
    free(hccn);
    free(smi);
}

void
ag_facts_collect(const char *root, const char *install, struct af_kv *kv)
{
    struct utsname u;
    char *p, *v;

    memset(&u, 0, sizeof(u));
    uname(&u);
    af_kv_set(kv, "hostname", u.nodename);
    af_kv_set(kv, "arch", u.machine);
    ag_facts_file_kv(kv, "os_id", root, "/etc/os-release", "ID");
    ag_facts_file_kv(kv, "os_version", root, "/etc/os-release", "VERSION_ID");
    af_kv_set(kv, "kernel", u.release);

    p = ag_root_path(root, "/proc/sys/kernel/random/boot_id");
    v = ag_read_file(p, 256, NULL);
    free(p);
    {
        char *t = v ? ag_facts_trim(v, strlen(v)) : af_strdup("");

        af_kv_set(kv, "boot_id", t);
        free(t);
    }
    free(v);
    p = ag_root_path(root, "/proc/uptime");
    v = ag_read_file(p, 256, NULL);
    free(p);
    {
        char buf[32] = "";

        if (v != NULL && isdigit((unsigned char)v[0]))
            snprintf(buf, sizeof(buf), "%lld", strtoll(v, NULL, 10));
        af_kv_set(kv, "uptime_s", buf);
    }
    free(v);
    ag_facts_disk(kv, root, install);

    p = ag_find_tool_node(root, "dkms");
    ag_facts_yesno(kv, "dkms", p != NULL);
    free(p);
    /* CANN's set_env.sh sourced by login shells (the cann stage's env). */
    p = ag_root_path(root, "/etc/profile.d/ascend-fleet.sh");
    v = ag_read_file(p, 65536, NULL);
    free(p);
    ag_facts_yesno(kv, "cann_env_profile",
                   v != NULL && strstr(v, "set_env.sh") != NULL);
    free(v);
    v = af_asprintf("/lib/modules/%s/build", u.release);
    p = ag_root_path(root, v);
    ag_facts_yesno(kv, "kernel_headers", ag_exists(p));
    free(p);
    free(v);
    ag_facts_yesno(kv, "hwhiaiuser_user",
                   ag_facts_has_entry(root, "/etc/passwd", "HwHiAiUser"));
    ag_facts_yesno(kv, "hwhiaiuser_group",
                   ag_facts_has_entry(root, "/etc/group", "HwHiAiUser"));

    v = af_asprintf("%s/driver/version.info", install);
    p = ag_root_path(root, v);
    free(v);
    v = ag_kv_file_get(p, "package_version");
    if (v == NULL || v[0] == '\0') {
        free(v);
        v = ag_kv_file_get(p, "Version");
    }
    af_kv_set(kv, "driver_version", v ? v : "");
    free(v);
    free(p);
    v = af_asprintf("%s/driver/tools/upgrade-tool", install);
    p = ag_root_path(root, v);
    ag_facts_yesno(kv, "driver_complete", ag_exists(p));
    free(p);
    free(v);
    v = af_asprintf("%s/firmware/version.info", install);
    ag_facts_file_kv(kv, "firmware_version", root, v, "Version");
    free(v);

    ag_facts_cann(kv, root, install, u.machine);
    ag_facts_python(kv, root);
    ag_facts_npu(kv, root, install);
}

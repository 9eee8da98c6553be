/* SPDX-License-Identifier: MIT */
/*
 * Request loop of the agent (see ag-serve.h and common/af-proto.h). Paths
 * in requests are absolute node paths, mapped under --root for tests on
 * fixture trees.
 */
#include "ag-serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-mem.h"
#include "af-proto.h"
#include "af-sha256.h"
#include "ag-facts.h"
#include "ag-put.h"
#include "ag-relay.h"
#include "ag-run.h"
#include "ag-util.h"

/* Largest file a put may carry. */
#define AG_PUT_MAX (64ULL * 1024 * 1024 * 1024)

struct ag_req {
    size_t argc;
    char **argv; /* decoded words, NULL-terminated */
};

static void
ag_req_free(struct ag_req *r)
{
    size_t i;

    for (i = 0; i < r->argc; i++)
        free(r->argv[i]);
    free(r->argv);
    r->argv = NULL;
    r->argc = 0;
}

/*
 * Split a request line on single spaces and decode the words; an empty
 * word (two spaces in a row, or a trailing space) is an empty argument.
 * Returns NULL or a static error text.
 */
static const char *
ag_req_parse(const char *line, struct ag_req *r)
{
    const char *p = line;
    size_t cap = 8;

    r->argc = 0;
    r->argv = af_calloc(cap, sizeof(*r->argv));
    if (*line == '\0')
        return "empty request";
    for (;;) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);
        char *w;
        long dl;

        if (n == 0 && r->argc == 0)
            return "malformed request: empty verb";
        w = af_strndup(p, n);
        dl = af_proto_decode(w);
        if (dl < 0) {
            free(w);
            return "malformed request: bad percent escape";
        }
        if ((size_t)dl != strlen(w)) {
            free(w);
            return "malformed request: NUL byte in a word";
        }
        if (r->argc + 1 >= cap) {
            cap *= 2;
            r->argv = af_reallocarray(r->argv, cap, sizeof(*r->argv));
        }
        r->argv[r->argc++] = w;
        r->argv[r->argc] = NULL;
        if (sp == NULL)
            break;
        p = sp + 1;
    }
    return NULL;
}

/* Parse a non-negative decimal number no larger than max. */
static int
ag_parse_num(const char *s, unsigned long long max, unsigned long long *v)
{
    unsigned long long n = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (n > (max - (unsigned long long)(*s - '0')) / 10)
            return -1;
        n = n * 10 + (unsigned long long)(*s - '0');
    }
    *v = n;
    return 0;
}

static void
ag_body_add(struct af_buf *b, const char *key, const char *val, size_t n)
{
    char *enc = af_proto_encode(val, n);

    af_buf_puts(b, key);
    af_buf_puts(b, "=");
    af_buf_puts(b, enc);
    af_buf_puts(b, "\n");
    free(enc);
}

static void
ag_body_str(struct af_buf *b, const char *key, const char *val)
{
    ag_body_add(b, key, val, strlen(val));
}

static void
ag_body_num(struct af_buf *b, const char *key, long long v)
{
    char num[32];

    snprintf(num, sizeof(num), "%lld", v);
    ag_body_str(b, key, num);
}

static int
ag_respond(int fd, int ok, const char *body, size_t len)
{
    char head[64];
    int n, rc;

    n = snprintf(head, sizeof(head), "%s %s %zu\n", AF_PROTO_RESP,
                 ok ? "ok" : "err", len);
    rc = ag_write_all(fd, head, (size_t)n);
    if (rc == 0 && len > 0)
        rc = ag_write_all(fd, body, len);
    return rc;
}

static int
ag_respond_err(int fd, const char *msg)
{
    struct af_buf b;
    int rc;

    af_buf_init(&b, 0);
    ag_body_str(&b, "error", msg);
    rc = ag_respond(fd, 0, b.data, b.len);
    af_buf_free(&b);
    return rc;
}

/* An err response "<what>: <detail>". */
static int
ag_respond_err2(int fd, const char *what, const char *detail)
{
    char *msg = af_asprintf("%s: %s", what, detail);
    int rc = ag_respond_err(fd, msg);

    free(msg);
    return rc;
}

static int
ag_do_hello(int fd, const struct ag_serve_opts *o)
{
    struct af_buf b;
    int rc;

    af_buf_init(&b, 0);
    ag_body_num(&b, "proto", AF_PROTO_VERSION);
    ag_body_str(&b, "version", o->version);
    ag_body_str(&b, "arch", o->arch);
    ag_body_str(&b, "sha256", o->sha256);
    rc = ag_respond(fd, 1, b.data, b.len);
    af_buf_free(&b);
    return rc;
}

static int
ag_do_facts(int fd, const struct ag_serve_opts *o, const struct ag_req *r)
{
    struct af_kv kv;
    size_t len;
    char *body;
    int rc;

    if (r->argc != 2 || r->argv[1][0] != '/')
        return ag_respond_err(fd, "usage: facts <absolute-install-path>");
    af_kv_init(&kv);
    ag_facts_collect(o->root, r->argv[1], &kv);
    body = af_proto_kv_format(&kv, &len);
    rc = ag_respond(fd, 1, body, len);
    free(body);
    af_kv_free(&kv);
    return rc;
}

/* run-stream: every piece of output goes out at once as a data frame. */
struct ag_stream {
    int fd;
    int failed; /* a write failed: the orchestrator is gone */
};

static void
ag_stream_tee(void *data, int stream, const char *p, size_t n)
{
    struct ag_stream *as = data;
    char head[32];
    int len;

    (void)stream;
    if (as->failed || n == 0)
        return;
    len = snprintf(head, sizeof(head), "AFD %zu\n", n);
    if (ag_write_all(as->fd, head, (size_t)len) != 0 ||
        ag_write_all(as->fd, p, n) != 0)
        as->failed = 1;
}

static int
ag_do_run(int fd,
          const struct ag_serve_opts *o,
          const struct ag_req *r,
          int stream)
{
    unsigned long long timeout, cap;
    struct ag_run_result res;
    struct ag_stream as = {fd, 0};
    struct af_buf b;
    int rc;

    if (r->argc < 4 || ag_parse_num(r->argv[1], 86400ULL * 365, &timeout) ||
        ag_parse_num(r->argv[2], 1ULL << 40, &cap))
        return ag_respond_err(fd, stream ? "usage: run-stream <timeout-s> "
                                           "<cap-bytes> <argv0> [argv...]"
                                         : "usage: run <timeout-s> "
                                           "<cap-bytes> <argv0> [argv...]");
    rc = ag_run_tee(o->root, r->argv + 3, (int)timeout, (size_t)cap,
                    stream ? ag_stream_tee : NULL, &as, &res);
    if (rc != 0) {
        ag_run_result_free(&res);
        return ag_respond_err2(fd, "cannot start command", strerror(-rc));
    }
    af_buf_init(&b, 0);
    ag_body_num(&b, "rc", res.rc);
    ag_body_num(&b, "signal", res.sig);
    ag_body_num(&b, "timed_out", res.timed_out);
    ag_body_add(&b, "stdout", res.out.data ? res.out.data : "", res.out.len);
    ag_body_num(&b, "stdout_truncated", res.out.truncated);
    ag_body_num(&b, "stdout_bytes", (long long)res.out_total);
    ag_body_add(&b, "stderr", res.err.data ? res.err.data : "", res.err.len);
    ag_body_num(&b, "stderr_truncated", res.err.truncated);
    ag_body_num(&b, "stderr_bytes", (long long)res.err_total);
    ag_body_num(&b, "duration_ms", res.duration_ms);
    rc = ag_respond(fd, 1, b.data, b.len);
    af_buf_free(&b);
    ag_run_result_free(&res);
    return rc;
}

static int
ag_do_stat(int fd, const struct ag_serve_opts *o, const struct ag_req *r)
{
    struct af_buf b;
    struct stat st;
    char *host;
    int rc;

    if (r->argc != 2 || r->argv[1][0] != '/')
        return ag_respond_err(fd, "usage: stat <absolute-path>");
    host = ag_root_path(o->root, r->argv[1]);
    af_buf_init(&b, 0);
    if (stat(host, &st) != 0) {
        ag_body_num(&b, "exists", 0);
    } else {
        char hex[65] = "";
        char mode[16];
        unsigned long long msize;

        ag_body_num(&b, "exists", 1);
        ag_body_str(&b, "type",
                    S_ISREG(st.st_mode)   ? "file"
                    : S_ISDIR(st.st_mode) ? "dir"
                                          : "other");
        ag_body_num(&b, "size", (long long)st.st_size);
        snprintf(mode, sizeof(mode), "%o", (unsigned)(st.st_mode & 07777));
        ag_body_str(&b, "mode", mode);
        /* A package with a matching verified mark is not read again. */
        if (S_ISREG(st.st_mode) && !ag_put_verified(host, hex, &msize) &&
            ag_sha256_file(host, hex) != 0)
            hex[0] = '\0';
        ag_body_str(&b, "sha256", hex);
    }
    rc = ag_respond(fd, 1, b.data, b.len);
    af_buf_free(&b);
    free(host);
    return rc;
}

/*
 * Read and drop n payload bytes. Returns 0, or -EPIPE when the input ends
 * first (the stream is then out of step and serving must stop).
 */
static int
ag_drain(struct ag_in *in, unsigned long long n)
{
    char buf[65536];

    while (n > 0) {
        ssize_t r =
            ag_in_read(in, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf));

        if (r <= 0)
            return r < 0 ? (int)r : -EPIPE;
        n -= (unsigned long long)r;
    }
    return 0;
}

static int
ag_hex64_ok(const char *s)
{
    size_t i;

    for (i = 0; i < 64; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            return 0;
    }
    return s[64] == '\0';
}

/* Parse an octal mode; 010000 when malformed. */
static unsigned long long
ag_parse_mode(const char *m)
{
    unsigned long long mode = 0;

    if (*m == '\0')
        return 010000;
    for (; *m != '\0'; m++) {
        if (*m < '0' || *m > '7' || mode > 07777)
            return 010000;
        mode = mode * 8 + (unsigned long long)(*m - '0');
    }
    return mode;
}

/* Most packages one "staged" answer lists. */
#define AG_STAGED_MAX 1000

/*
 * staged <dir> -> n, then name.I, sha256.I, size.I for each file of dir
 * whose verified mark still matches it (ag-put.h), without reading any.
 */
static int
ag_do_staged(int fd, const struct ag_serve_opts *o, const struct ag_req *r)
{
    struct af_buf b;
    struct dirent *de;
    char *host;
    DIR *d;
    long long n = 0;
    int rc;

    if (r->argc != 2 || r->argv[1][0] != '/')
        return ag_respond_err(fd, "usage: staged <absolute-dir>");
    host = ag_root_path(o->root, r->argv[1]);
    af_buf_init(&b, 0);
    d = opendir(host);
    while (d != NULL && n < AG_STAGED_MAX && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char sha[65], key[32], *base, *path;
        unsigned long long size;

        if (len <= 9 || strcmp(de->d_name + len - 9, ".verified") != 0)
            continue;
        base = af_strndup(de->d_name, len - 9);
        path = af_asprintf("%s/%s", host, base);
        if (ag_put_verified(path, sha, &size)) {
            snprintf(key, sizeof(key), "name.%lld", n);
            ag_body_str(&b, key, base);
            snprintf(key, sizeof(key), "sha256.%lld", n);
            ag_body_str(&b, key, sha);
            snprintf(key, sizeof(key), "size.%lld", n);
            ag_body_num(&b, key, (long long)size);
            n++;
        }
        free(path);
        free(base);
    }
    if (d != NULL)
        closedir(d);
    ag_body_num(&b, "n", n);
    rc = ag_respond(fd, 1, b.data ? b.data : "", b.len);
    af_buf_free(&b);
    free(host);
    return rc;
}

/*
 * partial <sha256> <size> <path> -> offset: where a put of that package
 * may resume (0 when nothing verified is there).
 */
static int
ag_do_partial(int fd, const struct ag_serve_opts *o, const struct ag_req *r)
{
    unsigned long long size, off;
    struct af_buf b;
    char *host;
    int rc;

    if (r->argc != 4 || !ag_hex64_ok(r->argv[1]) ||
        ag_parse_num(r->argv[2], AG_PUT_MAX, &size) || r->argv[3][0] != '/')
        return ag_respond_err(fd, "usage: partial <sha256> <size> "
                                  "<absolute-path>");
    host = ag_root_path(o->root, r->argv[3]);
    off = ag_put_resume_point(host, r->argv[1], size);
    af_buf_init(&b, 0);
    ag_body_num(&b, "offset", (long long)off);
    rc = ag_respond(fd, 1, b.data, b.len);
    af_buf_free(&b);
    free(host);
    return rc;
}

/* Make the parent directory of host (0700) if it is missing. */
static int
ag_put_mkparent(const char *host)
{
    char *dir = af_strdup(host), *slash = strrchr(dir, '/');
    int werr = 0;

    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (!ag_exists(dir))
            werr = -ag_mkdirs(dir, 0700);
    }
    free(dir);
    return werr;
}

/*
 * put <sha256> <size> <mode> <path> [<offset>] + (size - offset) payload
 * bytes, hashed while they arrive (ag-put.h). Returns a negative errno
 * only when serving cannot go on; a stream cut short keeps the partial.
 */
static int
ag_do_put(int fd,
          struct ag_in *in,
          const struct ag_serve_opts *o,
          const struct ag_req *r)
{
    unsigned long long size, mode, off = 0, left;
    struct ag_put put;
    char hex[65], buf[65536];
    char *host = NULL, *fail = NULL;
    const char *why = NULL;
    int werr = 0, rc = 0, opened = 0;
    struct af_buf b;

    af_buf_init(&b, 0);
    memset(&put, 0, sizeof(put));
    put.fd = -1;
    if ((r->argc != 5 && r->argc != 6) ||
        ag_parse_num(r->argv[2], AG_PUT_MAX, &size) ||
        (r->argc == 6 && (ag_parse_num(r->argv[5], size, &off)))) {
        /* Without a size the payload cannot be skipped. */
        rc = ag_respond_err(fd, "usage: put <sha256> <size> <mode-octal> "
                                "<absolute-path> [<offset>]");
        goto out;
    }
    mode = ag_parse_mode(r->argv[3]);
    if (!ag_hex64_ok(r->argv[1]))
        why = "put: bad sha256";
    else if (mode > 07777)
        why = "put: bad mode";
    else if (r->argv[4][0] != '/')
        why = "put: path must be absolute";
    if (why == NULL) {
        host = ag_root_path(o->root, r->argv[4]);
        werr = ag_put_mkparent(host);
        if (werr != 0)
            why = "put: cannot write";
        else if ((werr = ag_put_open(&put, host, r->argv[1], size, off,
                                     &why)) == 0)
            opened = 1;
    }
    if (!opened) {
        rc = ag_drain(in, size - off);
        if (rc == 0)
            fail = werr ? af_asprintf("%s: %s", why, strerror(werr))
                        : af_strdup(why);
        goto out;
    }
    for (left = size - off; left > 0;) {
        ssize_t n = ag_in_read(in, buf,
                               left < sizeof(buf) ? (size_t)left : sizeof(buf));

        if (n <= 0) {
            /* Cut short: keep what arrived for the next attempt. */
            ag_put_suspend(&put);
            rc = n < 0 ? (int)n : -EPIPE;
            goto out;
        }
        left -= (unsigned long long)n;
        if (werr == 0)
            werr = ag_put_write(&put, buf, (size_t)n);
    }
    if (werr != 0) {
        ag_put_discard(&put);
        fail = af_asprintf("put: cannot write: %s", strerror(werr));
        goto out;
    }
    werr = ag_put_finish(&put, (mode_t)mode, hex);
    if (werr == EBADMSG) {
        fail = af_asprintf("sha256 mismatch: got %s want %s", hex, r->argv[1]);
        goto out;
    }
    if (werr != 0) {
        ag_put_discard(&put);
        fail = af_asprintf("put: cannot install: %s", strerror(werr));
        goto out;
    }
    /* Packages are marked, so "staged" answers without reading them. */
    if (strncmp(r->argv[4], AF_PKG_DIR "/", sizeof(AF_PKG_DIR)) == 0)
        (void)ag_put_mark_verified(host, hex);
    ag_body_num(&b, "size", (long long)size);
    ag_body_num(&b, "offset", (long long)off);
    ag_body_str(&b, "sha256", hex);
out:
    ag_put_free(&put);
    /* Answer only now, so a failed put has left nothing behind. */
    if (fail != NULL)
        rc = ag_respond_err(fd, fail);
    else if (rc == 0 && b.data != NULL)
        rc = ag_respond(fd, 1, b.data, b.len);
    free(fail);
    free(host);
    af_buf_free(&b);
    return rc;
}

/* Largest file a get may return. */
#define AG_GET_MAX AG_PUT_MAX

/*
 * Send exactly size bytes of fd after "AFD <size>": what the file holds,
 * zeros in place of what it lost while being read (*changed is then set).
 * Returns 0 or a negative errno of the output.
 */
static int
ag_get_send(int fd, int in, unsigned long long size, char hex[65], int *changed)
{
    struct af_sha256 h;
    char head[64], buf[65536];
    unsigned long long left = size;
    int n = snprintf(head, sizeof(head), "AFD %llu\n", size), rc;

    af_sha256_init(&h);
    if ((rc = ag_write_all(fd, head, (size_t)n)) != 0)
        return rc;
    while (left > 0) {
        size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        ssize_t got = *changed ? 0 : read(in, buf, want);

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            /* Shorter than announced: keep the stream in step. */
            *changed = 1;
            memset(buf, 0, want);
            got = (ssize_t)want;
        }
        af_sha256_update(&h, buf, (size_t)got);
        if ((rc = ag_write_all(fd, buf, (size_t)got)) != 0)
            return rc;
        left -= (unsigned long long)got;
    }
    af_sha256_final_hex(&h, hex);
    return 0;
}

/*
 * get <path> <max> -> err when the file cannot be read or is larger than
 * max; else "AFD <size>\n", size raw bytes, then ok with size, mode and
 * the sha256 of the bytes sent (err when the file changed while read).
 */
static int
ag_do_get(int fd, const struct ag_serve_opts *o, const struct ag_req *r)
{
    unsigned long long max;
    struct stat st, st2;
    struct af_buf b;
    char hex[65], mode[16], *host, *msg;
    int in, rc, changed = 0;

    if (r->argc != 3 || r->argv[1][0] != '/' ||
        ag_parse_num(r->argv[2], AG_GET_MAX, &max))
        return ag_respond_err(fd, "usage: get <absolute-path> <max-bytes>");
    host = ag_root_path(o->root, r->argv[1]);
    in = open(host, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    free(host);
    if (in < 0)
        return ag_respond_err2(fd, r->argv[1], strerror(errno));
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return ag_respond_err2(fd, r->argv[1], "not a regular file");
    }
    if ((unsigned long long)st.st_size > max) {
        close(in);
        msg = af_asprintf("%s: %llu bytes, more than the limit of %llu",
                          r->argv[1], (unsigned long long)st.st_size, max);
        rc = ag_respond_err(fd, msg);
        free(msg);
        return rc;
    }
    rc = ag_get_send(fd, in, (unsigned long long)st.st_size, hex, &changed);
    if (rc == 0 && (fstat(in, &st2) != 0 || st2.st_size != st.st_size ||
                    st2.st_mtim.tv_sec != st.st_mtim.tv_sec ||
                    st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec))
        changed = 1;
    close(in);
    if (rc != 0)
        return rc;
    if (changed)
        return ag_respond_err2(fd, r->argv[1],
                               "the file changed while it "
                               "was read");
    af_buf_init(&b, 0);
    ag_body_num(&b, "size", (long long)st.st_size);
    snprintf(mode, sizeof(mode), "%o", (unsigned)(st.st_mode & 07777));
    ag_body_str(&b, "mode", mode);
    ag_body_str(&b, "sha256", hex);
    rc = ag_respond(fd, 1, b.data, b.len);
    af_buf_free(&b);
    return rc;
}

/* 1 if one argument of the NUL-separated cmdline (n bytes) is arg. */
static int
ag_cmdline_has(const char *cmd, size_t n, const char *arg)
{
    size_t off = 0, al = strlen(arg);

    while (off < n) {
        const char *end = memchr(cmd + off, '\0', n - off);
        size_t wl = end ? (size_t)(end - cmd - off) : n - off;

        if (wl == al && memcmp(cmd + off, arg, al) == 0)
            return 1;
        off += wl + 1;
    }
    return 0;
}

/*
 * running <path>: the processes with an argument exactly equal to path,
 * from /proc/<pid>/cmdline (no pattern matching: "torch-2.1.0+cpu...whl"
 * is found as written). Answers running=<count> and pids=<pid,...>.
 */
static int
ag_do_running(int fd, const struct ag_req *r)
{
    struct af_buf b, pids;
    struct dirent *de;
    long count = 0;
    DIR *d;
    int rc;

    if (r->argc != 2 || r->argv[1][0] == '\0')
        return ag_respond_err(fd, "usage: running <argument>");
    d = opendir("/proc");
    if (d == NULL)
        return ag_respond_err2(fd, "running: /proc", strerror(errno));
    af_buf_init(&pids, 0);
    while ((de = readdir(d)) != NULL) {
        char path[64], *cmd;
        size_t n;

        if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
            strspn(de->d_name, "0123456789") != strlen(de->d_name) ||
            strlen(de->d_name) > 20 || atol(de->d_name) == (long)getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/%.20s/cmdline", de->d_name);
        cmd = ag_read_file(path, 256 * 1024, &n);
        if (cmd != NULL && ag_cmdline_has(cmd, n, r->argv[1])) {
            af_buf_printf(&pids, "%s%s", count ? "," : "", de->d_name);
            count++;
        }
        free(cmd);
    }
    closedir(d);
    af_buf_init(&b, 0);
    ag_body_num(&b, "running", count);
    ag_body_str(&b, "pids", pids.data ? pids.data : "");
    rc = ag_respond(fd, 1, b.data, b.len);
    af_buf_free(&b);
    af_buf_free(&pids);
    return rc;
}

/* The detached grandchild of a reboot request; never returns. */
static void
ag_reboot_child(unsigned delay, const char *path, char *const argv[])
{
    long maxfd = sysconf(_SC_OPEN_MAX);
    long i;
    int null_fd;

    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    for (i = 0; i < maxfd; i++)
        close((int)i);
    null_fd = open("/dev/null", O_RDWR);
    if (null_fd == 0) {
        dup2(0, 1);
        dup2(0, 2);
    }
    signal(SIGPIPE, SIG_DFL);
    setenv("PATH", AG_PATH, 1);
    while (delay > 0)
        delay = sleep(delay);
    if (path != NULL)
        execv(path, argv);
    else
        execvp(argv[0], argv);
    _exit(127);
}

static int
ag_do_reboot(int fd, const struct ag_serve_opts *o, const struct ag_req *r)
{
    unsigned long long delay;
    char *path;
    pid_t pid;
    int status;

    if (r->argc < 3 || ag_parse_num(r->argv[1], 86400, &delay))
        return ag_respond_err(fd, "usage: reboot <delay-s> <argv0> "
                                  "[argv...]");
    path = ag_find_tool(o->root, r->argv[2], 1);
    pid = fork();
    if (pid < 0) {
        free(path);
        return ag_respond_err2(fd, "reboot: fork", strerror(errno));
    }
    if (pid == 0) {
        setsid();
        if (fork() == 0)
            ag_reboot_child((unsigned)delay, path, r->argv + 2);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    free(path);
    return ag_respond(fd, 1, "", 0);
}

/* A verb of ag-relay.c: its body, or its error text. */
static int
ag_do_relay_verb(
    int fd,
    const struct ag_serve_opts *o,
    const struct ag_req *r,
    int (*verb)(const char *, char *const *, size_t, struct af_kv *, char **))
{
    struct af_kv kv;
    char *err = NULL, *body;
    size_t len;
    int rc;

    af_kv_init(&kv);
    if (verb(o->root, r->argv, r->argc, &kv, &err) != 0) {
        rc = ag_respond_err(fd, err != NULL ? err : "relay: failed");
    } else {
        body = af_proto_kv_format(&kv, &len);
        rc = ag_respond(fd, 1, body, len);
        free(body);
    }
    free(err);
    af_kv_free(&kv);
    return rc;
}

int
ag_serve(int in_fd, int out_fd, const struct ag_serve_opts *o)
{
    struct ag_in in;
    char *greet;
    int rc;

    greet = af_asprintf("%s %d %s %s %s\n", AF_PROTO_GREETING, AF_PROTO_VERSION,
                        o->version, o->arch, o->sha256);
    rc = ag_write_all(out_fd, greet, strlen(greet));
    free(greet);
    if (rc != 0)
        return rc;
    ag_in_init(&in, in_fd);
    for (;;) {
        struct ag_req req = {0, NULL};
        const char *perr;
        char *line = NULL;
        int got = ag_in_line(&in, AF_PROTO_MAX_LINE, &line);
        int quit = 0;

        if (got == 0) {
            rc = 0;
            break;
        }
        if (got == -1) {
            rc = ag_respond_err(out_fd, "request line too long");
            if (rc != 0)
                break;
            continue;
        }
        if (got < 0) {
            rc = got;
            break;
        }
        perr = ag_req_parse(line, &req);
        if (perr != NULL)
            rc = ag_respond_err(out_fd, perr);
        else if (strcmp(req.argv[0], "hello") == 0 && req.argc == 1)
            rc = ag_do_hello(out_fd, o);
        else if (strcmp(req.argv[0], "facts") == 0)
            rc = ag_do_facts(out_fd, o, &req);
        else if (strcmp(req.argv[0], "run") == 0)
            rc = ag_do_run(out_fd, o, &req, 0);
        else if (strcmp(req.argv[0], "run-stream") == 0)
            rc = ag_do_run(out_fd, o, &req, 1);
        else if (strcmp(req.argv[0], "stat") == 0)
            rc = ag_do_stat(out_fd, o, &req);
        else if (strcmp(req.argv[0], "put") == 0)
            rc = ag_do_put(out_fd, &in, o, &req);
        else if (strcmp(req.argv[0], "get") == 0)
            rc = ag_do_get(out_fd, o, &req);
        else if (strcmp(req.argv[0], "running") == 0)
            rc = ag_do_running(out_fd, &req);
        else if (strcmp(req.argv[0], "partial") == 0)
            rc = ag_do_partial(out_fd, o, &req);
        else if (strcmp(req.argv[0], "staged") == 0)
            rc = ag_do_staged(out_fd, o, &req);
        else if (strcmp(req.argv[0], "relay") == 0)
            rc = ag_do_relay_verb(out_fd, o, &req, ag_relay_verb);
        else if (strcmp(req.argv[0], "fetch") == 0)
            rc = ag_do_relay_verb(out_fd, o, &req, ag_fetch_verb);
        else if (strcmp(req.argv[0], "reboot") == 0)
            rc = ag_do_reboot(out_fd, o, &req);
        else if (strcmp(req.argv[0], "quit") == 0 && req.argc == 1) {
            rc = ag_respond(out_fd, 1, "", 0);
            quit = 1;
        } else
            rc = ag_respond_err2(out_fd, "unknown request", req.argv[0]);
        ag_req_free(&req);
        free(line);
        if (rc != 0 || quit)
            break;
    }
    ag_in_free(&in);
    return rc;
}

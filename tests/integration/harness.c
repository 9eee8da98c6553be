/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness (see harness.h): fork/exec with captured output
 * and a process-group timeout, word splitting for th_fleet/th_rack, and
 * reading files off the simulated rack's nodes.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"

#ifndef AF_BIN
#error "AF_BIN must be defined by tests/CMakeLists.txt"
#endif
#ifndef AF_RACK_DIR
#error "AF_RACK_DIR must be defined by tests/CMakeLists.txt"
#endif
#ifndef AF_SOURCE_DIR
#error "AF_SOURCE_DIR must be defined by tests/CMakeLists.txt"
#endif

#define TH_MAX_WORDS    256
#define TH_RACK_TIMEOUT 300

/* A growing byte string. */
struct th_str {
    char *p;
    size_t len;
    size_t cap;
};

static void
str_add(struct th_str *s, const char *data, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        s->p = af_realloc(s->p, cap);
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static char *
str_take(struct th_str *s)
{
    if (s->p == NULL)
        return af_strdup("");
    return s->p;
}

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
th_result_free(struct th_result *r)
{
    if (r == NULL)
        return;
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

int
th_run(struct th_result *r, int timeout_s, const char *const *argv)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    struct th_str out = {0}, err = {0};
    int status = 0, rc = 0, open_fds = 2;
    long long deadline = now_ms() + (long long)timeout_s * 1000;
    char **argv_copy;
    size_t nargs = 0;
    pid_t pid;

    memset(r, 0, sizeof(*r));
    /* execvp wants char *const[]: copy the pointers rather than cast. */
    while (argv[nargs] != NULL)
        nargs++;
    argv_copy = af_calloc(nargs + 1, sizeof(*argv_copy));
    memcpy(argv_copy, argv, nargs * sizeof(*argv_copy));
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = -errno;
        goto fail;
    }
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto fail;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        setpgid(0, 0);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(outp[1], 1);
        dup2(errp[1], 2);
        execvp(argv[0], argv_copy);
        dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so the group exists before a kill */
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;

    while (open_fds > 0) {
        struct pollfd pfd[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
        long long left = deadline - now_ms();
        char buf[65536];
        int i, n;

        if (left <= 0) {
            kill(-pid, SIGKILL);
            r->timed_out = 1;
            break;
        }
        n = poll(pfd, 2, left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR) {
            kill(-pid, SIGKILL);
            break;
        }
        for (i = 0; i < 2 && n > 0; i++) {
            ssize_t got;

            if (pfd[i].fd < 0 ||
                !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            got = read(pfd[i].fd, buf, sizeof(buf));
            if (got > 0) {
                str_add(i == 0 ? &out : &err, buf, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                close(pfd[i].fd);
                if (i == 0)
                    outp[0] = -1;
                else
                    errp[0] = -1;
                open_fds--;
            }
        }
    }
    /* Output is closed (or time is up): wait for the command itself,
     * still bounded by the deadline. */
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (now_ms() >= deadline && !r->timed_out) {
            kill(-pid, SIGKILL);
            r->timed_out = 1;
        }
        usleep(10000);
    }
    if (r->timed_out)
        kill(-pid, SIGKILL); /* whatever of the group is left */
    if (!r->timed_out && status != -1 && WIFEXITED(status))
        r->status = WEXITSTATUS(status);
    else
        r->status = -1;
    r->out = str_take(&out);
    r->err = str_take(&err);
    rc = 0;
    goto out;
fail:
    free(out.p);
    free(err.p);
out:
    free(argv_copy);
    if (outp[0] >= 0)
        close(outp[0]);
    if (outp[1] >= 0)
        close(outp[1]);
    if (errp[0] >= 0)
        close(errp[0]);
    if (errp[1] >= 0)
        close(errp[1]);
    return rc;
}

/*
 * Split text into words at spaces, in place; 'quoted phrases' are one word
 * (without the quotes). Returns the number of words stored in words.
 */
static int
split_words(char *text, char **words, int max)
{
    int n = 0;
    char *p = text;

    while (*p != '\0' && n < max) {
        char *w;

        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        w = p;
        if (*p == '\'') {
            char *end = strchr(p + 1, '\'');

            w = p + 1;
            if (end == NULL) {
                p += strlen(p);
            } else {
                *end = '\0';
                p = end + 1;
            }
        } else {
            while (*p != '\0' && *p != ' ')
                p++;
            if (*p == ' ')
                *p++ = '\0';
        }
        words[n++] = w;
    }
    return n;
}

/*
 * argv = prog, the first `keep` words, extra words, the remaining words.
 * With keep < 0, keep = the words before the first one starting with '-'.
 */
static int
run_words(struct th_result *r,
          int timeout_s,
          const char *prog,
          int keep,
          const char *const *extra,
          int nextra,
          const char *fmt,
          va_list ap)
{
    char *text = NULL;
    char *words[TH_MAX_WORDS];
    const char *argv[TH_MAX_WORDS + 8];
    int n, i, k = 0, rc;

    if (vasprintf(&text, fmt, ap) < 0)
        return -ENOMEM;
    n = split_words(text, words, TH_MAX_WORDS);
    if (keep < 0) {
        keep = 0;
        while (keep < n && words[keep][0] != '-')
            keep++;
    }
    if (keep > n)
        keep = n;
    argv[k++] = prog;
    for (i = 0; i < keep; i++)
        argv[k++] = words[i];
    for (i = 0; i < nextra; i++)
        argv[k++] = extra[i];
    for (i = keep; i < n; i++)
        argv[k++] = words[i];
    argv[k] = NULL;
    rc = th_run(r, timeout_s, argv);
    free(text);
    return rc;
}

int
th_fleet(struct th_result *r, int timeout_s, const char *fmt, ...)
{
    const char *extra[] = {"-i", AF_RACK_DIR "/inventory.yaml"};
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = run_words(r, timeout_s, AF_BIN, -1, extra, 2, fmt, ap);
    va_end(ap);
    return rc;
}

static int
rack_v(struct th_result *r, const char *fmt, va_list ap)
{
    const char *extra[] = {"--dir", AF_RACK_DIR};

    return run_words(r, TH_RACK_TIMEOUT, AF_SOURCE_DIR "/tests/rack/rack.sh", 1,
                     extra, 2, fmt, ap);
}

int
th_rack(const char *fmt, ...)
{
    struct th_result r;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = rack_v(&r, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return -1;
    fputs(r.err, stderr);
    rc = r.status;
    th_result_free(&r);
    return rc;
}

char *
th_rack_out(const char *fmt, ...)
{
    struct th_result r;
    va_list ap;
    char *out = NULL;
    int rc;

    va_start(ap, fmt);
    rc = rack_v(&r, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return NULL;
    fputs(r.err, stderr);
    if (r.status == 0) {
        out = r.out;
        r.out = NULL;
    }
    th_result_free(&r);
    return out;
}

char *
th_node_file(const char *node, const char *path)
{
    static const char ctl[] = "/var/lib/fleet-sim/";
    char *file, *data;

    if (strchr(node, '/') != NULL || path[0] != '/')
        return NULL;
    if (strncmp(path, ctl, sizeof(ctl) - 1) == 0)
        file = af_asprintf("%s/nodes/%s/ctl/%s", AF_RACK_DIR, node,
                           path + sizeof(ctl) - 1);
    else
        file = af_asprintf("%s/nodes/%s/upper%s", AF_RACK_DIR, node, path);
    data = th_slurp(file, NULL);
    free(file);
    return data;
}

char *
th_slurp(const char *path, size_t *len)
{
    struct th_str s = {0};
    char buf[65536];
    ssize_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    while ((got = read(fd, buf, sizeof(buf))) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            free(s.p);
            return NULL;
        }
        str_add(&s, buf, (size_t)got);
    }
    close(fd);
    if (len != NULL)
        *len = s.len;
    return str_take(&s);
}

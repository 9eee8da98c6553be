/* SPDX-License-Identifier: MIT */
/*
 * Rack relay: the gateway's bounded one-file server and the member's
 * verified fetch (see ag-relay.h). Plain TCP inside the rack: the bytes are
 * not secret (vendor packages) and their integrity rests on the SHA-256 the
 * orchestrator sends each member over its own SSH session, not on the
 * transport; the token only keeps other local clients from using the
 * server as a free file service for the run's duration.
 */
#define _GNU_SOURCE
#include "ag-relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "af-kv.h"
#include "af-mem.h"
#include "ag-put.h"
#include "ag-util.h"

#define AG_RELAY_LINE      256
#define AG_RELAY_MAX_SIZE  (64ULL * 1024 * 1024 * 1024)
#define AG_RELAY_MAX_CONC  256
#define AG_RELAY_CONNECT_S 10
/* The only tree a relay serves from (node view). */
#define AG_RELAY_DIR "/var/lib/ascend-fleet/"

struct ag_relay {
    char *host; /* the file, host view */
    char sha[65];
    unsigned long long size;
    char token[129];
    unsigned long long members, max_conc, idle_s, timeout_s;
    int corrupt;
};

static int
ag_relay_num(const char *s, unsigned long long max, unsigned long long *v)
{
    unsigned long long n = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' ||
            n > (max - (unsigned long long)(*s - '0')) / 10)
            return -1;
        n = n * 10 + (unsigned long long)(*s - '0');
    }
    *v = n;
    return 0;
}

/* 1 when s is min..max hex digits. */
static int
ag_relay_hex(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s), i;

    if (n < min || n > max)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

/* An IPv4 or IPv6 literal (no names: the agent does no DNS). */
static int
ag_relay_addr(const char *a,
              unsigned port,
              struct sockaddr_storage *ss,
              socklen_t *len)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)port);
        *len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)port);
        *len = sizeof(*s6);
        return 0;
    }
    return -1;
}

/* Compare without an early exit, so timing tells nothing of the token. */
static int
ag_relay_token_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), i;
    unsigned char d = na == nb ? 0 : 1;

    for (i = 0; i < na && i < nb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* One line of at most cap-1 bytes, without its newline; -1 on failure. */
static int
ag_relay_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;

    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || n + 1 >= cap)
            return -1;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

static void
ag_relay_timeouts(int fd, long rcv_s, long snd_s)
{
    struct timeval rt = {rcv_s, 0}, st = {snd_s, 0};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof(st));
}

/* Send the file from off to its end, one byte flipped when corrupt. */
static int
ag_relay_send(const struct ag_relay *rl, int cfd, int in, off_t off)
{
    unsigned long long left = rl->size - (unsigned long long)off;
    char buf[65536];

    while (left > 0) {
        ssize_t n;

        if (!rl->corrupt) {
            n = sendfile(cfd, in, &off,
                         left < (1U << 30) ? (size_t)left : (1U << 30));
        } else {
            n = pread(in, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf),
                      off);
            if (n > 0) {
                buf[0] ^= 0x5a;
                if (ag_write_all(cfd, buf, (size_t)n) != 0)
                    return -1;
                off += n;
            }
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        left -= (unsigned long long)n;
    }
    return 0;
}

/* Serve one client (in its own process); 0 when the file was sent. */
static int
ag_relay_client(const struct ag_relay *rl, int cfd)
{
    char line[AG_RELAY_LINE], *w[4], *save = NULL, *msg = NULL;
    unsigned long long off = 0;
    struct stat st;
    int in = -1, r = 1, i;

    ag_relay_timeouts(cfd, 30, 120);
    if (ag_relay_line(cfd, line, sizeof(line)) < 0)
        goto out;
    for (i = 0; i < 4; i++)
        w[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
    if (w[3] == NULL || strcmp(w[0], AG_RELAY_MAGIC) != 0)
        msg = af_strdup("ERR malformed request\n");
    else if (!ag_relay_token_eq(w[1], rl->token))
        msg = af_strdup("ERR wrong token\n");
    else if (strcasecmp(w[2], rl->sha) != 0)
        msg = af_strdup("ERR this relay serves another package\n");
    else if (ag_relay_num(w[3], rl->size, &off) != 0)
        msg = af_strdup("ERR bad offset\n");
    else if ((in = open(rl->host, O_RDONLY | O_CLOEXEC)) < 0 ||
             fstat(in, &st) != 0 || !S_ISREG(st.st_mode) ||
             (unsigned long long)st.st_size != rl->size)
        msg = af_strdup("ERR the relay's copy is gone or changed\n");
    else
        msg = af_asprintf("OK %llu\n", rl->size - off);
    if (ag_write_all(cfd, msg, strlen(msg)) != 0 || msg[0] != 'O')
        goto out;
    r = ag_relay_send(rl, cfd, in, (off_t)off) == 0 ? 0 : 1;
out:
    free(msg);
    if (in >= 0)
        close(in);
    close(cfd);
    return r;
}

/* Count finished clients; sets *last when any ended. */
static void
ag_relay_reap(unsigned long long *live,
              unsigned long long *served,
              long long *last)
{
    pid_t pid;
    int st;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        (*live)--;
        *last = ag_now_ms();
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            (*served)++;
    }
}

/* The detached server; never returns. */
static void
ag_relay_server(const struct ag_relay *rl, int lfd)
{
    long long start = ag_now_ms(), last = start;
    long long deadline = start + (long long)rl->timeout_s * 1000;
    unsigned long long live = 0, served = 0;
    int i, null_fd;

    /* Let go of the session's pipes, or it would never end. */
    for (i = 0; i < 1024; i++)
        if (i != lfd)
            close(i);
    null_fd = open("/dev/null", O_RDWR);
    if (null_fd == 0) {
        dup2(0, 1);
        dup2(0, 2);
    }
    signal(SIGPIPE, SIG_IGN);
    while (served < rl->members) {
        struct pollfd p = {lfd, POLLIN, 0};
        long long now;

        ag_relay_reap(&live, &served, &last);
        now = ag_now_ms();
        if (served >= rl->members || now >= deadline ||
            (live == 0 && now - last >= (long long)rl->idle_s * 1000))
            break;
        if (live >= rl->max_conc) {
            poll(NULL, 0, 50);
            continue;
        }
        if (poll(&p, 1, 100) == 1 && (p.revents & POLLIN)) {
            int cfd = accept(lfd, NULL, NULL);
            pid_t pid;

            if (cfd < 0)
                continue;
            pid = fork();
            if (pid == 0) {
                close(lfd);
                alarm((unsigned)((deadline - now) / 1000 + 1));
                _exit(ag_relay_client(rl, cfd));
            }
            close(cfd);
            if (pid > 0) {
                live++;
                last = now;
            }
        }
    }
    close(lfd);
    /* Clients still running end by their alarm at the latest. */
    while (live > 0 && wait(NULL) > 0)
        live--;
    _exit(0);
}

static int
ag_relay_parse(const char *root,
               char *const *argv,
               size_t argc,
               struct ag_relay *rl,
               const char **why)
{
    unsigned long long lim = AG_RELAY_MAX_CONC;
    struct stat st;

    *why = "usage: relay <sha256> <size> <absolute-path> <bind-address> "
           "<token> <members> <max-conc> <idle-s> <timeout-s>";
    if (argc != 10 || !ag_relay_hex(argv[1], 64, 64) ||
        ag_relay_num(argv[2], AG_RELAY_MAX_SIZE, &rl->size) ||
        argv[3][0] != '/' || !ag_relay_hex(argv[5], 16, 128) ||
        ag_relay_num(argv[6], 1ULL << 20, &rl->members) ||
        ag_relay_num(argv[7], lim, &rl->max_conc) || rl->max_conc == 0 ||
        ag_relay_num(argv[8], 86400, &rl->idle_s) ||
        ag_relay_num(argv[9], 7 * 86400, &rl->timeout_s))
        return -1;
    if (strncmp(argv[3], AG_RELAY_DIR, strlen(AG_RELAY_DIR)) != 0 ||
        strstr(argv[3], "/../") != NULL) {
        *why = "relay: only files under " AG_RELAY_DIR " are served";
        return -1;
    }
    snprintf(rl->sha, sizeof(rl->sha), "%s", argv[1]);
    snprintf(rl->token, sizeof(rl->token), "%s", argv[5]);
    rl->host = ag_root_path(root, argv[3]);
    if (stat(rl->host, &st) != 0 || !S_ISREG(st.st_mode) ||
        (unsigned long long)st.st_size != rl->size) {
        *why = "relay: the package is not here with that size";
        return -1;
    }
    {
        const char *f = getenv(AG_RELAY_FAULT_ENV);

        rl->corrupt = f != NULL && strcmp(f, "corrupt") == 0;
    }
    return 0;
}

int
ag_relay_verb(const char *root,
              char *const *argv,
              size_t argc,
              struct af_kv *body,
              char **err)
{
    struct ag_relay rl;
    struct sockaddr_storage ss;
    socklen_t len;
    const char *why = NULL;
    char num[32];
    pid_t pid;
    int lfd = -1, st, r = -1;

    memset(&rl, 0, sizeof(rl));
    if (ag_relay_parse(root, argv, argc, &rl, &why) != 0) {
        *err = af_strdup(why);
        goto out;
    }
    if (ag_relay_addr(argv[4], 0, &ss, &len) != 0) {
        *err = af_asprintf("relay: %s is not an IP address", argv[4]);
        goto out;
    }
    lfd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, len) != 0 ||
        listen(lfd, (int)rl.max_conc + 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&ss, &len) != 0) {
        *err = af_asprintf("relay: cannot listen on %s: %s", argv[4],
                           strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        *err = af_asprintf("relay: fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        setsid();
        if (fork() == 0)
            ag_relay_server(&rl, lfd);
        _exit(0);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    snprintf(num, sizeof(num), "%u",
             (unsigned)ntohs(ss.ss_family == AF_INET
                                 ? ((struct sockaddr_in *)&ss)->sin_port
                                 : ((struct sockaddr_in6 *)&ss)->sin6_port));
    af_kv_add(body, "port", num);
    r = 0;
out:
    if (lfd >= 0)
        close(lfd);
    free(rl.host);
    return r;
}

/* Connect with a bounded wait; the socket is blocking again on return. */
static int
ag_fetch_connect(const struct sockaddr_storage *ss, socklen_t len)
{
    struct pollfd p;
    socklen_t el = sizeof(int);
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), fl, e = 0;

    if (fd < 0)
        return -1;
    fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (connect(fd, (const struct sockaddr *)ss, len) != 0) {
        if (errno != EINPROGRESS)
            goto fail;
        p.fd = fd;
        p.events = POLLOUT;
        if (poll(&p, 1, AG_RELAY_CONNECT_S * 1000) != 1) {
            errno = ETIMEDOUT;
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
            errno = e ? e : EIO;
            goto fail;
        }
    }
    fcntl(fd, F_SETFL, fl);
    return fd;
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

struct ag_fetch {
    const char *addr, *port;
    struct sockaddr_storage ss;
    socklen_t len;
    unsigned long long size, mode, timeout;
};

static int
ag_fetch_parse(char *const *argv, size_t argc, struct ag_fetch *f)
{
    unsigned long long port = 0;
    const char *m = argc >= 7 ? argv[6] : "";

    f->timeout = 120;
    f->mode = 0;
    if ((argc != 8 && argc != 9) || ag_relay_num(argv[2], 65535, &port) ||
        port == 0 || !ag_relay_hex(argv[3], 16, 128) ||
        !ag_relay_hex(argv[4], 64, 64) ||
        ag_relay_num(argv[5], AG_RELAY_MAX_SIZE, &f->size) ||
        argv[7][0] != '/' ||
        (argc == 9 && ag_relay_num(argv[8], 86400, &f->timeout)) ||
        f->timeout == 0 || *m == '\0')
        return -1;
    for (; *m != '\0'; m++) {
        if (*m < '0' || *m > '7' || f->mode > 07777)
            return -1;
        f->mode = f->mode * 8 + (unsigned long long)(*m - '0');
    }
    if (f->mode > 07777 ||
        ag_relay_addr(argv[1], (unsigned)port, &f->ss, &f->len) != 0)
        return -1;
    f->addr = argv[1];
    f->port = argv[2];
    return 0;
}

/* Make the parent directory of host (0700) if it is missing. */
static int
ag_fetch_mkparent(const char *host)
{
    char *dir = af_strdup(host), *slash = strrchr(dir, '/');
    int r = 0;

    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (!ag_exists(dir))
            r = ag_mkdirs(dir, 0700);
    }
    free(dir);
    return r;
}

/* Read the reply line and the bytes into put; fills *got. */
static char *
ag_fetch_stream(const struct ag_fetch *f,
                int fd,
                struct ag_put *put,
                unsigned long long want,
                unsigned long long *got)
{
    char line[AG_RELAY_LINE], buf[65536];
    unsigned long long n = 0;

    if (ag_relay_line(fd, line, sizeof(line)) < 0)
        return af_asprintf("relay %s:%s: no answer (%s)", f->addr, f->port,
                           errno ? strerror(errno) : "connection closed");
    if (strncmp(line, "ERR ", 4) == 0)
        return af_asprintf("relay %s:%s refused: %s", f->addr, f->port,
                           line + 4);
    if (strncmp(line, "OK ", 3) != 0 || ag_relay_num(line + 3, want, &n) ||
        n != want)
        return af_asprintf("relay %s:%s: unexpected answer", f->addr, f->port);
    while (*got < want) {
        unsigned long long left = want - *got;
        ssize_t r =
            read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
        int w;

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return af_asprintf("relay %s:%s: the stream ended after %llu of "
                               "%llu bytes (%s); the partial is kept",
                               f->addr, f->port, *got, want,
                               r < 0 ? strerror(errno) : "connection closed");
        if ((w = ag_put_write(put, buf, (size_t)r)) != 0)
            return af_asprintf("fetch: cannot write: %s", strerror(w));
        *got += (unsigned long long)r;
    }
    return NULL;
}

int
ag_fetch_verb(const char *root,
              char *const *argv,
              size_t argc,
              struct af_kv *body,
              char **err)
{
    struct ag_fetch f;
    struct ag_put put;
    unsigned long long off, got = 0;
    const char *why = NULL;
    char *host = NULL, *req = NULL, hex[65], num[32];
    int fd = -1, opened = 0, r = -1, w;

    memset(&put, 0, sizeof(put));
    put.fd = -1;
    if (ag_fetch_parse(argv, argc, &f) != 0) {
        *err = af_strdup("usage: fetch <ip-address> <port> <token> <sha256> "
                         "<size> <mode-octal> <absolute-path> [<timeout-s>]");
        goto out;
    }
    host = ag_root_path(root, argv[7]);
    if ((w = -ag_fetch_mkparent(host)) != 0) {
        *err = af_asprintf("fetch: cannot write: %s", strerror(w));
        goto out;
    }
    off = ag_put_resume_point(host, argv[4], f.size);
    if ((w = ag_put_open(&put, host, argv[4], f.size, off, &why)) != 0) {
        *err = af_asprintf("%s: %s", why, strerror(w));
        goto out;
    }
    opened = 1;
    if ((fd = ag_fetch_connect(&f.ss, f.len)) < 0) {
        *err = af_asprintf("relay %s:%s: cannot connect: %s", f.addr, f.port,
                           strerror(errno));
        goto out;
    }
    ag_relay_timeouts(fd, (long)f.timeout, 30);
    req = af_asprintf("%s %s %s %llu\n", AG_RELAY_MAGIC, argv[3], argv[4], off);
    errno = 0;
    if (ag_write_all(fd, req, strlen(req)) != 0 ||
        (*err = ag_fetch_stream(&f, fd, &put, f.size - off, &got)) != NULL)
        goto out;
    w = ag_put_finish(&put, (mode_t)f.mode, hex);
    opened = 0;
    if (w == EBADMSG) {
        *err = af_asprintf("sha256 mismatch: the bytes relayed by %s hash to "
                           "%s, not %s; discarded",
                           f.addr, hex, argv[4]);
        goto out;
    }
    if (w != 0) {
        ag_put_discard(&put);
        *err = af_asprintf("fetch: cannot install: %s", strerror(w));
        goto out;
    }
    snprintf(num, sizeof(num), "%llu", f.size);
    af_kv_add(body, "size", num);
    snprintf(num, sizeof(num), "%llu", off);
    af_kv_add(body, "offset", num);
    snprintf(num, sizeof(num), "%llu", got);
    af_kv_add(body, "received", num);
    af_kv_add(body, "sha256", hex);
    r = 0;
out:
    if (r != 0 && *err == NULL)
        *err = af_asprintf("relay %s:%s: %s", f.addr, f.port,
                           strerror(errno ? errno : EIO));
    if (opened)
        ag_put_suspend(&put);
    ag_put_free(&put);
    if (fd >= 0)
        close(fd);
    free(req);
    free(host);
    return r;
}

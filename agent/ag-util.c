/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the node agent (see ag-util.h). Plain libc: this file is
 * built statically with musl for every node architecture.
 */
#include "ag-util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"
#include "af-sha256.h"

void
ag_in_init(struct ag_in *in, int fd)
{
    in->fd = fd;
    in->cap = 64 * 1024;
    in->buf = af_malloc(in->cap);
    in->off = 0;
    in->len = 0;
    in->eof = 0;
}

void
ag_in_free(struct ag_in *in)
{
    free(in->buf);
    in->buf = NULL;
}

/* Read more input after the held bytes. Returns >0, 0 at EOF or -errno. */
static ssize_t
ag_in_fill(struct ag_in *in)
{
    ssize_t r;

    if (in->eof)
        return 0;
    if (in->off > 0) {
        memmove(in->buf, in->buf + in->off, in->len - in->off);
        in->len -= in->off;
        in->off = 0;
    }
    if (in->len == in->cap) {
        in->cap *= 2;
        in->buf = af_realloc(in->buf, in->cap);
    }
    do {
        r = read(in->fd, in->buf + in->len, in->cap - in->len);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0)
        in->eof = 1;
    in->len += (size_t)r;
    return r;
}

int
ag_in_line(struct ag_in *in, size_t max, char **line)
{
    size_t scanned = 0;
    int skipping = 0;

    *line = NULL;
    for (;;) {
        char *start = in->buf + in->off;
        size_t have = in->len - in->off;
        char *nl = memchr(start + scanned, '\n', have - scanned);
        ssize_t r;

        if (nl != NULL) {
            size_t n = (size_t)(nl - start);

            in->off += n + 1;
            if (skipping || n > max)
                return -1;
            *line = af_strndup(start, n);
            return 1;
        }
        scanned = have;
        if (have > max) {
            /* Too long: drop what we hold and look for the newline. */
            skipping = 1;
            in->off = in->len;
            scanned = 0;
        }
        r = ag_in_fill(in);
        if (r < 0)
            return (int)r;
        if (r == 0) {
            have = in->len - in->off;
            if (skipping)
                return -1;
            if (have == 0)
                return 0;
            *line = af_strndup(in->buf + in->off, have);
            in->off = in->len;
            return 1;
        }
    }
}

ssize_t
ag_in_read(struct ag_in *in, void *p, size_t n)
{
    size_t have = in->len - in->off;
    ssize_t r;

    if (have == 0) {
        in->off = 0;
        in->len = 0;
        r = ag_in_fill(in);
        if (r <= 0)
            return r;
        have = in->len - in->off;
    }
    if (n > have)
        n = have;
    memcpy(p, in->buf + in->off, n);
    in->off += n;
    return (ssize_t)n;
}

int
ag_write_all(int fd, const void *p, size_t n)
{
    const char *s = p;

    while (n > 0) {
        ssize_t w = write(fd, s, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

char *
ag_root_path(const char *root, const char *path)
{
    size_t rl;

    if (root == NULL || strcmp(root, "/") == 0 || root[0] == '\0')
        return af_strdup(path);
    rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    while (path[0] == '/')
        path++;
    return af_asprintf("%.*s/%s", (int)rl, root, path);
}

char *
ag_read_file(const char *path, size_t max, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    buf = af_malloc(max + 1);
    while (n < max) {
        ssize_t r = read(fd, buf + n, max - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            buf = NULL;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
out:
    close(fd);
    return buf;
}

/* Strip blanks, CR and one pair of double quotes around s[0..n). */
static char *
ag_trim_value(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    if (n >= 2 && ((s[0] == '"' && s[n - 1] == '"') ||
                   (s[0] == '\'' && s[n - 1] == '\''))) {
        s++;
        n -= 2;
    }
    return af_strndup(s, n);
}

char *
ag_kv_file_get(const char *path, const char *key)
{
    size_t kl = strlen(key);
    char *text, *line, *val = NULL;

    text = ag_read_file(path, 256 * 1024, NULL);
    if (text == NULL)
        return NULL;
    line = text;
    while (*line != '\0') {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        char *p = line;

        while (*p == ' ' || *p == '\t')
            p++;
        if ((size_t)(p - line) + kl < n && strncmp(p, key, kl) == 0) {
            char *q = p + kl;

            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == '=') {
                q++;
                val = ag_trim_value(q, n - (size_t)(q - line));
                break;
            }
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    free(text);
    return val;
}

int
ag_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

int
ag_is_exec(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    return access(path, X_OK) == 0;
}

/* Lookup under one root; returns the node path or NULL. */
static char *
ag_find_under(const char *root, const char *name)
{
    const char *dir = AG_PATH;

    if (strchr(name, '/') != NULL) {
        char *host = ag_root_path(root, name);
        int ok = name[0] == '/' && ag_is_exec(host);

        free(host);
        return ok ? af_strdup(name) : NULL;
    }
    while (*dir != '\0') {
        const char *colon = strchr(dir, ':');
        size_t dl = colon ? (size_t)(colon - dir) : strlen(dir);
        char *node = af_asprintf("%.*s/%s", (int)dl, dir, name);
        char *host = ag_root_path(root, node);
        int ok = ag_is_exec(host);

        free(host);
        if (ok)
            return node;
        free(node);
        if (colon == NULL)
            break;
        dir = colon + 1;
    }
    return NULL;
}

char *
ag_find_tool_node(const char *root, const char *name)
{
    return ag_find_under(root, name);
}

char *
ag_find_tool(const char *root, const char *name, int host_fallback)
{
    char *node = ag_find_under(root, name);
    char *host;

    if (node != NULL) {
        host = ag_root_path(root, node);
        free(node);
        return host;
    }
    if (!host_fallback)
        return NULL;
    return ag_find_under("/", name);
}

int
ag_mkdirs(const char *dir, mode_t mode)
{
    char *p = af_strdup(dir);
    char *s;
    int rc = 0;

    for (s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;

            *s = '\0';
            if (mkdir(p, mode) != 0 && errno != EEXIST) {
                rc = -errno;
                goto out;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
out:
    free(p);
    return rc;
}

int
ag_sha256_file(const char *path, char hex[65])
{
    struct af_sha256 c;
    char buf[65536];
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    af_sha256_init(&c);
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        af_sha256_update(&c, buf, (size_t)r);
    }
    af_sha256_final_hex(&c, hex);
out:
    close(fd);
    return rc;
}

long long
ag_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

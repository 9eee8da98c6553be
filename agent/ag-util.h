/* SPDX-License-Identifier: MIT */
/*
 * Small libc-only helpers of the node agent: a buffered reader for the
 * request stream, full writes, paths under the --root directory, key=value
 * files and tool lookup on the agent's fixed PATH.
 */
#ifndef AG_UTIL_H
#define AG_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* The only PATH the agent searches and hands to the commands it runs. */
#define AG_PATH                                                      \
    "/usr/local/Ascend/driver/tools:/usr/local/sbin:/usr/local/bin:" \
    "/usr/sbin:/usr/bin:/sbin:/bin"

/* Buffered reader over a file descriptor (the agent's stdin). */
struct ag_in {
    int fd;
    char *buf;
    size_t off; /* first unread byte */
    size_t len; /* bytes held */
    size_t cap;
    int eof;
};

void ag_in_init(struct ag_in *in, int fd);
void ag_in_free(struct ag_in *in);
/*
 * Read one line of at most max bytes (without the newline) into a new
 * string *line that the caller frees. Returns 1 for a line, 0 at end of
 * input (a final unterminated line counts as a line), -1 when the line was
 * longer than max (it is consumed through its newline and *line is NULL),
 * or a negative errno.
 */
int ag_in_line(struct ag_in *in, size_t max, char **line);
/*
 * Read up to n bytes (buffered data first). Returns the count, 0 at end of
 * input, or a negative errno.
 */
ssize_t ag_in_read(struct ag_in *in, void *p, size_t n);

/* Write all n bytes, retrying on EINTR. Returns 0 or a negative errno. */
int ag_write_all(int fd, const void *p, size_t n);

/*
 * The host path of the absolute node path "path" when the agent serves the
 * directory root ("/" = the real root). Returns a new string.
 */
char *ag_root_path(const char *root, const char *path);
/*
 * Read at most max bytes of a file into a new NUL-terminated string;
 * *len (if not NULL) receives the length. NULL if it cannot be read.
 */
char *ag_read_file(const char *path, size_t max, size_t *len);
/*
 * The value of the first "key=value" line of a file, without surrounding
 * blanks and double quotes, as a new string; NULL if the file or the key is
 * missing.
 */
char *ag_kv_file_get(const char *path, const char *key);
/* 1 if path exists (following links), else 0. */
int ag_exists(const char *path);
/* 1 if path is an executable regular file, else 0. */
int ag_is_exec(const char *path);
/*
 * Find an executable named name: a name with a '/' is taken as a node path,
 * otherwise each AG_PATH directory is tried, all under root. If nothing
 * is found under root and host_fallback is set, the same lookup is made on
 * the real root. Returns the host path as a new string, or NULL.
 */
char *ag_find_tool(const char *root, const char *name, int host_fallback);
/* Like ag_find_tool without fallback, but returns the node path. */
char *ag_find_tool_node(const char *root, const char *name);

/* Create dir and its missing parents with mode. Returns 0 or -errno. */
int ag_mkdirs(const char *dir, mode_t mode);
/* SHA-256 of a file's content. Returns 0 or a negative errno. */
int ag_sha256_file(const char *path, char hex[65]);
/* Milliseconds of the monotonic clock. */
long long ag_now_ms(void);

#endif /* AG_UTIL_H */

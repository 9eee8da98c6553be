/* SPDX-License-Identifier: MIT */
/*
 * A small YAML document tree built with libyaml, with the source position of
 * every node, so that inventory and playbook checks can report
 * FILE:LINE:COL. Only the first document of a file is read. Anchors and
 * aliases are rejected (an inventory should read the same to every eye), so
 * are duplicate keys in a mapping (found in linear time) and NUL characters
 * inside a scalar (a "\0" escape would otherwise truncate the value).
 * Encoding errors (invalid UTF-8, control characters) report the line and
 * column where the bad byte is.
 */
#ifndef AF_YAML_H
#define AF_YAML_H

#include <stddef.h>

struct af_err;

enum af_ynode_type {
    AF_YSCALAR,
    AF_YSEQ,
    AF_YMAP,
};

struct af_ynode {
    enum af_ynode_type type;
    int line;                /* 1-based */
    int col;                 /* 1-based */
    char *scalar;            /* AF_YSCALAR: the value (never NULL) */
    int quoted;              /* AF_YSCALAR: was written in quotes */
    int null;                /* AF_YSCALAR: plain "", "~", "null", "Null" or
                                "NULL": YAML's null, i.e. no value */
    size_t n;                /* AF_YSEQ: items; AF_YMAP: pairs */
    struct af_ynode **items; /* AF_YSEQ */
    struct af_ynode **keys;  /* AF_YMAP: scalar keys, in file order */
    struct af_ynode **vals;  /* AF_YMAP */
};

/*
 * Parse the file at path. On success *root holds the tree (an empty file
 * gives an empty AF_YMAP) and the caller frees it with af_yaml_free. On
 * failure returns AF_EYAML (or -errno when the file cannot be read) and
 * e->msg reads "PATH:LINE:COL: problem".
 */
int af_yaml_load(const char *path, struct af_ynode **root, struct af_err *e);

/* Same for a string in memory; name is used in messages in place of PATH. */
int af_yaml_load_string(const char *name,
                        const char *text,
                        size_t len,
                        struct af_ynode **root,
                        struct af_err *e);

/* Free a tree. Accepts NULL. */
void af_yaml_free(struct af_ynode *n);

/* Value for key in a mapping, or NULL (also NULL if m is not a mapping). */
struct af_ynode *af_yaml_get(const struct af_ynode *m, const char *key);

#endif /* AF_YAML_H */

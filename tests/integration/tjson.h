/* SPDX-License-Identifier: MIT */
/*
 * A strict little JSON parser for integration tests: just enough to check
 * the documents ascend-fleet prints. Any syntax error fails the parse, so a
 * test that parses a document checks its syntax too. Accessors assert.
 */
#ifndef AF_TJSON_H
#define AF_TJSON_H

#include <stddef.h>

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    enum jt t;
    int b;      /* J_BOOL */
    double num; /* J_NUM */
    char *s;    /* J_STR, unescaped (\u00XX as that byte, higher as UTF-8) */
    size_t slen;
    size_t n;    /* J_ARR, J_OBJ */
    char **keys; /* J_OBJ */
    struct jv **kids;
};

void jv_free(struct jv *v);
struct jv *json_parse(const char *text);
const struct jv *jget(const struct jv *v, const char *key);
const char *jstr(const struct jv *v, const char *key);
double jnum(const struct jv *v, const char *key);
const struct jv *jnode(const struct jv *doc, const char *name);

/*
 * JSON Lines: every line of out (each ending in a newline, none empty) must
 * be an object with "v": 1 and a non-empty string "type", or the test
 * fails. Returns a J_ARR of the line objects in order (jv_free it).
 */
struct jv *jsonl_parse(const char *out);
/* How many lines have this type. */
size_t jsonl_count(const struct jv *lines, const char *type);
/* The nth (0-based) line of this type, or NULL. */
const struct jv *
jsonl_nth(const struct jv *lines, const char *type, size_t nth);
/* The first line of this type whose string member key is val, or NULL. */
const struct jv *jsonl_find(const struct jv *lines,
                            const char *type,
                            const char *key,
                            const char *val);

#endif /* AF_TJSON_H */

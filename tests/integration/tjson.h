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

#endif /* AF_TJSON_H */

/* SPDX-License-Identifier: MIT */
/* The integration tests' JSON checker (see tjson.h). */
#include "tjson.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"

/* --------------------------------------------------- a tiny JSON parser */

/*
 * Just enough JSON to check the documents ascend-fleet prints: a strict
 * recursive-descent parser into a tree. Any syntax error makes the parse
 * fail, so a test that parses a document checks its syntax as well.
 */

void
jv_free(struct jv *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys)
            free(v->keys[i]);
        jv_free(v->kids[i]);
    }
    free(v->keys);
    free(v->kids);
    free(v->s);
    free(v);
}

static void
j_ws(const char **p)
{
    while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
        (*p)++;
}

static struct jv *j_value(const char **p, int depth);

static int
j_string(const char **p, char **out, size_t *outlen)
{
    size_t cap = 16, len = 0;
    char *s;

    if (**p != '"')
        return -1;
    (*p)++;
    s = af_malloc(cap);
    while (**p != '"') {
        char c = **p;

        if (c == '\0' || (unsigned char)c < 0x20) {
            free(s);
            return -1;
        }
        if (c == '\\') {
            (*p)++;
            switch (**p) {
            case '"':
                c = '"';
                break;
            case '\\':
                c = '\\';
                break;
            case '/':
                c = '/';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'u': {
                unsigned int u;

                if (sscanf(*p + 1, "%4x", &u) != 1 ||
                    (u >= 0xd800 && u <= 0xdfff)) {
                    free(s);
                    return -1;
                }
                *p += 4;
                if (u <= 0xff) {
                    c = (char)u;
                    break;
                }
                /* U+0100..U+FFFF (U+FFFD for bytes that were not UTF-8):
                 * its UTF-8 bytes, the last one stored below. */
                if (len + 4 > cap)
                    s = af_realloc(s, cap *= 2);
                if (u >= 0x800) {
                    s[len++] = (char)(0xe0 | (u >> 12));
                    s[len++] = (char)(0x80 | ((u >> 6) & 0x3f));
                } else {
                    s[len++] = (char)(0xc0 | (u >> 6));
                }
                c = (char)(0x80 | (u & 0x3f));
                break;
            }
            default:
                free(s);
                return -1;
            }
        }
        if (len + 2 > cap)
            s = af_realloc(s, cap *= 2);
        s[len++] = c;
        (*p)++;
    }
    (*p)++;
    s[len] = '\0';
    *out = s;
    *outlen = len;
    return 0;
}

static struct jv *
j_container(const char **p, int depth, int obj)
{
    struct jv *v = af_calloc(1, sizeof(*v));
    size_t cap = 0;

    v->t = obj ? J_OBJ : J_ARR;
    (*p)++;
    j_ws(p);
    if (**p == (obj ? '}' : ']')) {
        (*p)++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t klen;
        struct jv *kid;

        j_ws(p);
        if (obj) {
            if (j_string(p, &key, &klen) < 0)
                goto bad;
            j_ws(p);
            if (**p != ':') {
                free(key);
                goto bad;
            }
            (*p)++;
        }
        kid = j_value(p, depth + 1);
        if (kid == NULL) {
            free(key);
            goto bad;
        }
        if (v->n == cap) {
            cap = cap ? cap * 2 : 8;
            v->kids = af_realloc(v->kids, cap * sizeof(*v->kids));
            if (obj)
                v->keys = af_realloc(v->keys, cap * sizeof(*v->keys));
        }
        if (obj)
            v->keys[v->n] = key;
        v->kids[v->n++] = kid;
        j_ws(p);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p == (obj ? '}' : ']')) {
            (*p)++;
            return v;
        }
        goto bad;
    }
bad:
    jv_free(v);
    return NULL;
}

static struct jv *
j_value(const char **p, int depth)
{
    struct jv *v;

    if (depth > 32)
        return NULL;
    j_ws(p);
    switch (**p) {
    case '{':
        return j_container(p, depth, 1);
    case '[':
        return j_container(p, depth, 0);
    case '"':
        v = af_calloc(1, sizeof(*v));
        v->t = J_STR;
        if (j_string(p, &v->s, &v->slen) < 0) {
            free(v);
            return NULL;
        }
        return v;
    default:
        break;
    }
    v = af_calloc(1, sizeof(*v));
    if (strncmp(*p, "null", 4) == 0) {
        v->t = J_NULL;
        *p += 4;
    } else if (strncmp(*p, "true", 4) == 0) {
        v->t = J_BOOL;
        v->b = 1;
        *p += 4;
    } else if (strncmp(*p, "false", 5) == 0) {
        v->t = J_BOOL;
        *p += 5;
    } else if (**p == '-' || (**p >= '0' && **p <= '9')) {
        char *end;

        v->t = J_NUM;
        v->num = strtod(*p, &end);
        *p = end;
    } else {
        free(v);
        return NULL;
    }
    return v;
}

/* Parse a whole document (nothing but white space after the value). */
struct jv *
json_parse(const char *text)
{
    const char *p = text;
    struct jv *v = j_value(&p, 0);

    if (v == NULL)
        return NULL;
    j_ws(&p);
    if (*p != '\0') {
        jv_free(v);
        return NULL;
    }
    return v;
}

/* Member key of object v, or NULL. */
const struct jv *
jget(const struct jv *v, const char *key)
{
    if (v == NULL || v->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->kids[i];
    return NULL;
}

/* String member key of object v (fails the test if it is not a string). */
const char *
jstr(const struct jv *v, const char *key)
{
    const struct jv *m = jget(v, key);

    cr_assert_not_null(m, "no member \"%s\"", key);
    cr_assert_eq(m->t, J_STR, "member \"%s\" is not a string", key);
    return m->s;
}

double
jnum(const struct jv *v, const char *key)
{
    const struct jv *m = jget(v, key);

    cr_assert_not_null(m, "no member \"%s\"", key);
    cr_assert_eq(m->t, J_NUM, "member \"%s\" is not a number", key);
    return m->num;
}

/* The record of node name in an exec document, or NULL. */
const struct jv *
jnode(const struct jv *doc, const char *name)
{
    const struct jv *nodes = jget(doc, "nodes");

    for (size_t i = 0; nodes && i < nodes->n; i++) {
        const struct jv *m = jget(nodes->kids[i], "name");

        if (m && m->t == J_STR && strcmp(m->s, name) == 0)
            return nodes->kids[i];
    }
    return NULL;
}

/* ------------------------------------------------------- JSON Lines */

struct jv *
jsonl_parse(const char *out)
{
    struct jv *all = af_calloc(1, sizeof(*all));
    const char *p = out, *nl;
    size_t cap = 0;

    all->t = J_ARR;
    cr_assert_not_null(out);
    for (; *p != '\0'; p = nl + 1) {
        char *line;
        struct jv *v;
        const struct jv *ver, *type;

        nl = strchr(p, '\n');
        cr_assert_not_null(nl,
                           "JSON Lines output does not end in a newline:"
                           "\n%s",
                           out);
        line = af_strndup(p, (size_t)(nl - p));
        v = json_parse(line);
        cr_assert_not_null(v, "line %zu is not JSON: '%s'\nwhole output:\n%s",
                           all->n + 1, line, out);
        cr_assert_eq(v->t, J_OBJ, "line %zu is not an object: %s", all->n + 1,
                     line);
        ver = jget(v, "v");
        type = jget(v, "type");
        cr_assert(ver != NULL && ver->t == J_NUM && ver->num == 1.0,
                  "line %zu has no \"v\": 1: %s", all->n + 1, line);
        cr_assert(type != NULL && type->t == J_STR && type->slen > 0,
                  "line %zu has no \"type\": %s", all->n + 1, line);
        if (all->n == cap) {
            cap = cap ? cap * 2 : 16;
            all->kids = af_reallocarray(all->kids, cap, sizeof(*all->kids));
        }
        all->kids[all->n++] = v;
        free(line);
    }
    return all;
}

size_t
jsonl_count(const struct jv *lines, const char *type)
{
    size_t i, c = 0;

    for (i = 0; i < lines->n; i++)
        c += strcmp(jget(lines->kids[i], "type")->s, type) == 0;
    return c;
}

const struct jv *
jsonl_nth(const struct jv *lines, const char *type, size_t nth)
{
    size_t i;

    for (i = 0; i < lines->n; i++)
        if (strcmp(jget(lines->kids[i], "type")->s, type) == 0 && nth-- == 0)
            return lines->kids[i];
    return NULL;
}

const struct jv *
jsonl_find(const struct jv *lines,
           const char *type,
           const char *key,
           const char *val)
{
    size_t i;

    for (i = 0; i < lines->n; i++) {
        const struct jv *l = lines->kids[i], *m = jget(l, key);

        if (strcmp(jget(l, "type")->s, type) == 0 && m != NULL &&
            m->t == J_STR && strcmp(m->s, val) == 0)
            return l;
    }
    return NULL;
}

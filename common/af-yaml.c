/* SPDX-License-Identifier: MIT */
/*
 * YAML file -> position-annotated tree, via libyaml's event parser.
 * Deliberately small: scalars, sequences, mappings; no anchors or tags.
 */
#include "af-yaml.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"

#define AF_YAML_MAX_DEPTH 64
/* Largest file read (an inventory of 100,000 nodes is about 8 MiB). */
#define AF_YAML_MAX_FILE (256 << 20)

static struct af_ynode *
ynode_new(enum af_ynode_type type, const yaml_mark_t *m)
{
    struct af_ynode *n = af_calloc(1, sizeof(*n));

    n->type = type;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

void
af_yaml_free(struct af_ynode *n)
{
    size_t i;

    if (n == NULL)
        return;
    free(n->scalar);
    for (i = 0; i < n->n; i++) {
        if (n->type == AF_YSEQ) {
            af_yaml_free(n->items[i]);
        } else if (n->type == AF_YMAP) {
            af_yaml_free(n->keys[i]);
            af_yaml_free(n->vals[i]);
        }
    }
    free(n->items);
    free(n->keys);
    free(n->vals);
    free(n);
}

struct af_ynode *
af_yaml_get(const struct af_ynode *m, const char *key)
{
    size_t i;

    if (m == NULL || m->type != AF_YMAP)
        return NULL;
    for (i = 0; i < m->n; i++)
        if (strcmp(m->keys[i]->scalar, key) == 0)
            return m->vals[i];
    return NULL;
}

/* What one parse needs: the parser, the name for messages, the text. */
struct yctx {
    yaml_parser_t p;
    const char *name;
    const char *text;
    size_t len;
    struct af_err *e;
};

static int
yaml_fail(struct yctx *y, const yaml_mark_t *m, const char *what)
{
    return af_err_set(y->e, AF_EYAML, "%s:%zu:%zu: %s", y->name, m->line + 1,
                      m->column + 1, what);
}

/*
 * libyaml's reader (encoding) errors carry a byte offset, not a mark:
 * turn it into a line and a column counted in characters.
 */
static void
offset_mark(const struct yctx *y, size_t off, yaml_mark_t *m)
{
    size_t i;

    m->line = 0;
    m->column = 0;
    for (i = 0; i < off && i < y->len; i++) {
        unsigned char c = (unsigned char)y->text[i];

        if (c == '\n') {
            m->line++;
            m->column = 0;
        } else if ((c & 0xC0) != 0x80) {
            m->column++;
        }
    }
}

static int
parser_fail(struct yctx *y)
{
    yaml_parser_t *p = &y->p;
    yaml_mark_t m = p->problem_mark;
    const char *what = p->problem ? p->problem : "syntax error";

    if (p->error == YAML_READER_ERROR) {
        offset_mark(y, p->problem_offset, &m);
        if (p->problem_value >= 0)
            return af_err_set(y->e, AF_EYAML, "%s:%zu:%zu: %s (#x%X)", y->name,
                              m.line + 1, m.column + 1, what,
                              (unsigned)p->problem_value);
        return yaml_fail(y, &m, what);
    }
    if (p->error == YAML_MEMORY_ERROR)
        return af_err_set(y->e, AF_EINTERNAL, "%s: out of memory", y->name);
    if (p->context != NULL)
        return af_err_set(y->e, AF_EYAML, "%s:%zu:%zu: %s %s", y->name,
                          m.line + 1, m.column + 1, what, p->context);
    return yaml_fail(y, &m, what);
}

/*
 * Arrays grow to the next power of two: append is amortised O(1). n is the
 * count before the append.
 */
static void *
grow(void *v, size_t n, size_t size)
{
    if (n == 0 || (n & (n - 1)) == 0)
        return af_reallocarray(v, n ? n * 2 : 1, size);
    return v;
}

/* Open-addressing set of the keys of one mapping (indices + 1; 0 empty). */
struct keyset {
    size_t *slot;
    size_t cap; /* power of two */
};

static size_t
key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

/* Slot holding key s, or the empty slot where it would go. */
static size_t *
keyset_slot(const struct keyset *ks,
            struct af_ynode *const *keys,
            const char *s)
{
    size_t i = key_hash(s) & (ks->cap - 1);

    for (;; i = (i + 1) & (ks->cap - 1))
        if (ks->slot[i] == 0 || strcmp(keys[ks->slot[i] - 1]->scalar, s) == 0)
            return &ks->slot[i];
}

/*
 * Find key s among keys[0..n) (the map's keys so far); when absent, record
 * index n for it (the caller appends it). Returns the earlier key or NULL.
 */
static const struct af_ynode *
keyset_add(struct keyset *ks,
           struct af_ynode *const *keys,
           size_t n,
           const struct af_ynode *key)
{
    size_t *s, i;

    if ((n + 1) * 2 > ks->cap) {
        struct keyset big = {
            af_calloc(ks->cap ? ks->cap * 2 : 16, sizeof(size_t)),
            ks->cap ? ks->cap * 2 : 16};

        for (i = 0; i < n; i++)
            *keyset_slot(&big, keys, keys[i]->scalar) = i + 1;
        free(ks->slot);
        *ks = big;
    }
    s = keyset_slot(ks, keys, key->scalar);
    if (*s != 0)
        return keys[*s - 1];
    *s = n + 1;
    return NULL;
}

/* YAML 1.2 core schema nulls, when written plain. */
static int
is_null_scalar(const yaml_event_t *ev)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    const char *v = (const char *)ev->data.scalar.value;
    size_t i;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp(v, nulls[i]) == 0)
            return 1;
    return 0;
}

static int
parse_scalar(struct yctx *y, yaml_event_t *ev, struct af_ynode **out)
{
    struct af_ynode *n;

    if (ev->data.scalar.anchor != NULL)
        return yaml_fail(y, &ev->start_mark, "anchors are not supported");
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
        return yaml_fail(y, &ev->start_mark,
                         "NUL character (\\0) inside a value");
    n = ynode_new(AF_YSCALAR, &ev->start_mark);
    n->scalar =
        af_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    n->null = is_null_scalar(ev);
    *out = n;
    return 0;
}

static int
parse_node(struct yctx *y, yaml_event_t *ev, int depth, struct af_ynode **out);

/* The next node, parsed from the next event. */
static int
parse_next(struct yctx *y, int depth, struct af_ynode **out)
{
    yaml_event_t ev;
    int r;

    *out = NULL;
    if (!yaml_parser_parse(&y->p, &ev))
        return parser_fail(y);
    r = parse_node(y, &ev, depth, out);
    yaml_event_delete(&ev);
    return r;
}

/* One mapping key and its value, appended to map n. */
static int
parse_pair(struct yctx *y,
           struct af_ynode *n,
           struct keyset *ks,
           struct af_ynode *key,
           int depth)
{
    const struct af_ynode *old;
    struct af_ynode *val = NULL;
    int r;

    if (key->type != AF_YSCALAR) {
        r = af_err_set(y->e, AF_EYAML,
                       "%s:%d:%d: mapping keys must be "
                       "plain scalars",
                       y->name, key->line, key->col);
        goto out;
    }
    if ((old = keyset_add(ks, n->keys, n->n, key)) != NULL) {
        r = af_err_set(y->e, AF_EYAML,
                       "%s:%d:%d: duplicate key '%s' (first "
                       "at line %d, column %d)",
                       y->name, key->line, key->col, key->scalar, old->line,
                       old->col);
        goto out;
    }
    if ((r = parse_next(y, depth, &val)) != 0)
        goto out;
    n->keys = grow(n->keys, n->n, sizeof(*n->keys));
    n->vals = grow(n->vals, n->n, sizeof(*n->vals));
    n->keys[n->n] = key;
    n->vals[n->n] = val;
    n->n++;
    return 0;
out:
    af_yaml_free(key);
    return r;
}

/*
 * Parse one node whose first event is ev (already consumed). Recursive,
 * depth-capped so a hostile file cannot blow the stack.
 */
static int
parse_node(struct yctx *y, yaml_event_t *ev, int depth, struct af_ynode **out)
{
    struct af_ynode *n = NULL;
    struct keyset ks = {NULL, 0};
    yaml_event_t child;
    int r = AF_EYAML;

    if (depth > AF_YAML_MAX_DEPTH)
        return yaml_fail(y, &ev->start_mark, "nesting too deep");
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return yaml_fail(y, &ev->start_mark, "aliases are not supported");
    case YAML_SCALAR_EVENT:
        return parse_scalar(y, ev, out);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        break;
    default:
        return yaml_fail(y, &ev->start_mark, "unexpected YAML event");
    }
    if ((ev->type == YAML_SEQUENCE_START_EVENT &&
         ev->data.sequence_start.anchor != NULL) ||
        (ev->type == YAML_MAPPING_START_EVENT &&
         ev->data.mapping_start.anchor != NULL))
        return yaml_fail(y, &ev->start_mark, "anchors are not supported");

    n = ynode_new(ev->type == YAML_SEQUENCE_START_EVENT ? AF_YSEQ : AF_YMAP,
                  &ev->start_mark);
    for (;;) {
        struct af_ynode *item = NULL;

        if (!yaml_parser_parse(&y->p, &child)) {
            r = parser_fail(y);
            goto out;
        }
        if (child.type == YAML_SEQUENCE_END_EVENT ||
            child.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&child);
            break;
        }
        r = parse_node(y, &child, depth + 1, &item);
        yaml_event_delete(&child);
        if (r != 0)
            goto out;
        if (n->type == AF_YSEQ) {
            n->items = grow(n->items, n->n, sizeof(*n->items));
            n->items[n->n++] = item;
            continue;
        }
        if ((r = parse_pair(y, n, &ks, item, depth + 1)) != 0)
            goto out;
    }
    free(ks.slot);
    *out = n;
    return 0;
out:
    free(ks.slot);
    af_yaml_free(n);
    return r;
}

static int
parse_stream(struct yctx *y, struct af_ynode **root)
{
    yaml_event_t ev;
    int r = AF_EYAML;
    struct af_ynode *doc = NULL;

    for (;;) {
        if (!yaml_parser_parse(&y->p, &ev))
            return parser_fail(y);
        if (ev.type == YAML_STREAM_START_EVENT ||
            ev.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        break;
    }
    if (ev.type == YAML_STREAM_END_EVENT) {
        /* Empty file: an empty mapping. */
        doc = ynode_new(AF_YMAP, &ev.start_mark);
        yaml_event_delete(&ev);
        *root = doc;
        return 0;
    }
    r = parse_node(y, &ev, 0, &doc);
    yaml_event_delete(&ev);
    if (r != 0)
        return r;
    /* Consume document end; a second document is an error. */
    for (;;) {
        if (!yaml_parser_parse(&y->p, &ev)) {
            r = parser_fail(y);
            goto out;
        }
        if (ev.type == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        r = yaml_fail(y, &ev.start_mark, "only one YAML document is allowed");
        yaml_event_delete(&ev);
        goto out;
    }
    *root = doc;
    return 0;
out:
    af_yaml_free(doc);
    return r;
}

int
af_yaml_load_string(const char *name,
                    const char *text,
                    size_t len,
                    struct af_ynode **root,
                    struct af_err *e)
{
    struct yctx y;
    int r;

    *root = NULL;
    memset(&y, 0, sizeof(y));
    y.name = name;
    y.text = text;
    y.len = len;
    y.e = e;
    if (!yaml_parser_initialize(&y.p))
        return af_err_set(e, AF_EINTERNAL, "%s: cannot initialise libyaml",
                          name);
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    r = parse_stream(&y, root);
    yaml_parser_delete(&y.p);
    return r;
}

int
af_yaml_load(const char *path, struct af_ynode **root, struct af_err *e)
{
    struct af_buf b;
    char chunk[65536];
    FILE *f;
    size_t got;
    int r;

    *root = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        r = -errno;
        return af_err_set(e, r, "%s: %s", path, strerror(-r));
    }
    /* Read it whole, so that encoding errors can be placed by offset. */
    af_buf_init(&b, 0);
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + got > AF_YAML_MAX_FILE) {
            r = af_err_set(e, AF_EYAML, "%s: larger than %d MiB", path,
                           AF_YAML_MAX_FILE >> 20);
            goto out;
        }
        af_buf_append(&b, chunk, got);
    }
    if (ferror(f)) {
        r = af_err_set(e, -EIO, "%s: read error", path);
        goto out;
    }
    r = af_yaml_load_string(path, b.data ? b.data : "", b.len, root, e);
out:
    fclose(f);
    af_buf_free(&b);
    return r;
}

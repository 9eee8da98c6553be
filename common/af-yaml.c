/* SPDX-License-Identifier: MIT */
/*
 * YAML file -> position-annotated tree, via libyaml's event parser.
 * Deliberately small: scalars, sequences, mappings; no anchors or tags.
 */
#include "af-yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "af-err.h"
#include "af-mem.h"

#define AF_YAML_MAX_DEPTH 64

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

static int
yaml_fail(struct af_err *e, const char *name, const yaml_mark_t *m,
          const char *what)
{
    return af_err_set(e, AF_EYAML, "%s:%zu:%zu: %s", name, m->line + 1,
                      m->column + 1, what);
}

static int
parser_fail(struct af_err *e, const char *name, yaml_parser_t *p)
{
    const yaml_mark_t *m = &p->problem_mark;
    const char *what = p->problem ? p->problem : "syntax error";

    if (p->context != NULL)
        return af_err_set(e, AF_EYAML, "%s:%zu:%zu: %s %s", name, m->line + 1,
                          m->column + 1, what, p->context);
    return yaml_fail(e, name, m, what);
}

/*
 * Parse one node whose first event is ev (already consumed). Recursive,
 * depth-capped so a hostile file cannot blow the stack.
 */
static int
parse_node(yaml_parser_t *p, yaml_event_t *ev, const char *name, int depth,
           struct af_ynode **out, struct af_err *e)
{
    struct af_ynode *n = NULL;
    yaml_event_t child;
    int r = AF_EYAML;

    if (depth > AF_YAML_MAX_DEPTH)
        return yaml_fail(e, name, &ev->start_mark, "nesting too deep");
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return yaml_fail(e, name, &ev->start_mark,
                         "aliases are not supported");
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor != NULL)
            return yaml_fail(e, name, &ev->start_mark,
                             "anchors are not supported");
        n = ynode_new(AF_YSCALAR, &ev->start_mark);
        n->scalar = af_strndup((const char *)ev->data.scalar.value,
                               ev->data.scalar.length);
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        *out = n;
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        break;
    default:
        return yaml_fail(e, name, &ev->start_mark, "unexpected YAML event");
    }
    if ((ev->type == YAML_SEQUENCE_START_EVENT &&
         ev->data.sequence_start.anchor != NULL) ||
        (ev->type == YAML_MAPPING_START_EVENT &&
         ev->data.mapping_start.anchor != NULL))
        return yaml_fail(e, name, &ev->start_mark,
                         "anchors are not supported");

    n = ynode_new(ev->type == YAML_SEQUENCE_START_EVENT ? AF_YSEQ : AF_YMAP,
                  &ev->start_mark);
    for (;;) {
        struct af_ynode *key = NULL, *val = NULL;

        if (!yaml_parser_parse(p, &child)) {
            r = parser_fail(e, name, p);
            goto out;
        }
        if (child.type == YAML_SEQUENCE_END_EVENT ||
            child.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&child);
            break;
        }
        r = parse_node(p, &child, name, depth + 1,
                       n->type == AF_YSEQ ? &val : &key, e);
        yaml_event_delete(&child);
        if (r != 0)
            goto out;
        if (n->type == AF_YSEQ) {
            n->items = af_reallocarray(n->items, n->n + 1, sizeof(*n->items));
            n->items[n->n++] = val;
            continue;
        }
        if (key->type != AF_YSCALAR) {
            r = af_err_set(e, AF_EYAML, "%s:%d:%d: mapping keys must be "
                           "plain scalars", name, key->line, key->col);
            af_yaml_free(key);
            goto out;
        }
        if (af_yaml_get(n, key->scalar) != NULL) {
            r = af_err_set(e, AF_EYAML, "%s:%d:%d: duplicate key '%s'", name,
                           key->line, key->col, key->scalar);
            af_yaml_free(key);
            goto out;
        }
        if (!yaml_parser_parse(p, &child)) {
            r = parser_fail(e, name, p);
            af_yaml_free(key);
            goto out;
        }
        r = parse_node(p, &child, name, depth + 1, &val, e);
        yaml_event_delete(&child);
        if (r != 0) {
            af_yaml_free(key);
            goto out;
        }
        n->keys = af_reallocarray(n->keys, n->n + 1, sizeof(*n->keys));
        n->vals = af_reallocarray(n->vals, n->n + 1, sizeof(*n->vals));
        n->keys[n->n] = key;
        n->vals[n->n] = val;
        n->n++;
    }
    *out = n;
    return 0;
out:
    af_yaml_free(n);
    return r;
}

static int
parse_stream(yaml_parser_t *p, const char *name, struct af_ynode **root,
             struct af_err *e)
{
    yaml_event_t ev;
    int r = AF_EYAML;
    struct af_ynode *doc = NULL;

    for (;;) {
        if (!yaml_parser_parse(p, &ev))
            return parser_fail(e, name, p);
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
    r = parse_node(p, &ev, name, 0, &doc, e);
    yaml_event_delete(&ev);
    if (r != 0)
        return r;
    /* Consume document end; a second document is an error. */
    for (;;) {
        if (!yaml_parser_parse(p, &ev)) {
            r = parser_fail(e, name, p);
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
        r = yaml_fail(e, name, &ev.start_mark,
                      "only one YAML document is allowed");
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
af_yaml_load_string(const char *name, const char *text, size_t len,
                    struct af_ynode **root, struct af_err *e)
{
    yaml_parser_t p;
    int r;

    *root = NULL;
    if (!yaml_parser_initialize(&p))
        return af_err_set(e, AF_EINTERNAL, "%s: cannot initialise libyaml",
                          name);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    r = parse_stream(&p, name, root, e);
    yaml_parser_delete(&p);
    return r;
}

int
af_yaml_load(const char *path, struct af_ynode **root, struct af_err *e)
{
    yaml_parser_t p;
    FILE *f;
    int r;

    *root = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        r = -errno;
        return af_err_set(e, r, "%s: %s", path, strerror(-r));
    }
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return af_err_set(e, AF_EINTERNAL, "%s: cannot initialise libyaml",
                          path);
    }
    yaml_parser_set_input_file(&p, f);
    r = parse_stream(&p, path, root, e);
    yaml_parser_delete(&p);
    fclose(f);
    return r;
}

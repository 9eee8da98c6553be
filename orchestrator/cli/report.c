/* SPDX-License-Identifier: MIT */
/* The reporter (see report.h). */
#include "report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "fold.h"

void
report_escape(struct af_buf *b, const char *p, size_t n, int keep_nl)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run;

    while (i < n) {
        unsigned char c = s[i];
        size_t l;

        for (run = i; run < n && s[run] >= 0x20 && s[run] < 0x7f; run++)
            ;
        if (run > i) {
            af_buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        if (keep_nl && (c == '\n' || c == '\t')) {
            af_buf_append(b, &c, 1);
            i++;
            continue;
        }
        l = c >= 0x80 ? afj_utf8_len(s + i, n - i) : 0;
        /* C1 controls (U+0080..U+009F) act on terminals too. */
        if (l > 0 && !(l == 2 && c == 0xc2 && s[i + 1] < 0xa0)) {
            af_buf_append(b, s + i, l);
            i += l;
            continue;
        }
        af_buf_printf(b, "\\x%02x", c);
        i++;
    }
}

char *
report_safe(const char *s)
{
    struct af_buf b;

    af_buf_init(&b, 0);
    report_escape(&b, s ? s : "", s ? strlen(s) : 0, 0);
    af_buf_append(&b, "", 0);
    if (b.data == NULL)
        return af_strdup("");
    return af_buf_steal(&b);
}

void
report_error(struct report *r, const char *fmt, ...)
{
    va_list ap;
    char *msg, *safe;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    msg = af_malloc((size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    safe = report_safe(msg);
    fprintf(r->err, "ascend-fleet %s: %s\n", r->cmd, safe);
    free(safe);
    free(msg);
}

void
report_block(struct report *r,
             const char *nodes,
             const char *head,
             const char *body,
             size_t len)
{
    static const char sep[] = "---------------\n";
    struct af_buf b;

    af_buf_init(&b, 0);
    af_buf_puts(&b, sep);
    af_buf_puts(&b, nodes);
    af_buf_puts(&b, " ");
    report_escape(&b, head, strlen(head), 0);
    af_buf_puts(&b, "\n");
    af_buf_puts(&b, sep);
    report_escape(&b, body, len, 1);
    if (len > 0 && body[len - 1] != '\n')
        af_buf_puts(&b, "\n");
    fwrite(b.data, 1, b.len, r->out);
    af_buf_free(&b);
}

void
report_json_begin(struct report *r,
                  struct af_json *j,
                  struct af_buf *b,
                  const char *type)
{
    (void)r;
    af_buf_init(b, 0);
    afj_init(j, b);
    afj_obj_begin(j);
    afj_kint(j, "v", REPORT_JSON_VERSION);
    afj_kstr(j, "type", type);
}

void
report_json_end(struct report *r, struct af_json *j, struct af_buf *b)
{
    afj_obj_end(j);
    af_buf_append(b, "\n", 1);
    fwrite(b->data, 1, b->len, r->out);
    fflush(r->out);
    af_buf_free(b);
}

static void
report_output(struct report *r, const struct ev *e)
{
    struct af_buf b;
    struct af_json j;

    if (r->json) {
        report_json_begin(r, &j, &b, "output");
        afj_kstr(&j, "node", e->node);
        afj_kstr(&j, "stream", e->stream ? "stderr" : "stdout");
        afj_kstrn(&j, "data", e->data, e->len);
        report_json_end(r, &j, &b);
        return;
    }
    af_buf_init(&b, 0);
    report_escape(&b, e->node, strlen(e->node), 0);
    af_buf_puts(&b, e->stream ? ": [stderr] " : ": ");
    report_escape(&b, e->data, e->len, 0);
    af_buf_puts(&b, "\n");
    fwrite(b.data, 1, b.len, r->out);
    fflush(r->out);
    af_buf_free(&b);
}

static void
report_emit(void *ctx, const struct ev *e)
{
    struct report *r = ctx;

    switch (e->kind) {
    case EV_OUTPUT:
        if (r->lines)
            report_output(r, e);
        break;
    case EV_NOTICE:
        report_error(r, "%s", e->reason ? e->reason : "");
        break;
    default:
        break;
    }
}

void
report_init(struct report *r, const char *cmd, int json, int lines)
{
    memset(r, 0, sizeof(*r));
    r->cmd = cmd;
    r->out = stdout;
    r->err = stderr;
    r->json = json;
    r->lines = lines;
    r->sink.emit = report_emit;
    r->sink.ctx = r;
}

const struct ev_sink *
report_sink(struct report *r)
{
    return &r->sink;
}

const char *
report_strip_node(const char *msg, const char *node)
{
    size_t n = strlen(node);

    if (msg != NULL && strncmp(msg, node, n) == 0 && msg[n] == ':' &&
        msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

void
report_errs_init(struct report_errs *e)
{
    e->f = fold_new();
}

void
report_errs_add(struct report_errs *e, const char *node, const char *msg)
{
    fold_add(e->f, report_strip_node(msg ? msg : "", node), node);
}

void
report_errs_print(struct report_errs *e, FILE *out)
{
    size_t g;

    fold_sort_by_size(e->f);
    for (g = 0; g < fold_groups(e->f); g++) {
        char *nodes = fold_nodes(e->f, g),
             *msg = report_safe(fold_key(e->f, g));

        fprintf(out, "%s: %s\n", nodes, msg);
        free(msg);
        free(nodes);
    }
}

void
report_errs_free(struct report_errs *e)
{
    fold_free(e->f);
    e->f = NULL;
}

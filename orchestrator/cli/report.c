/* SPDX-License-Identifier: MIT */
/* The reporter (see report.h). */
#include "report.h"

#include <ctype.h>
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
report_errs_add_at(struct report_errs *e,
                   const char *node,
                   const char *address,
                   const char *msg)
{
    char *key = report_err_key(msg, node, address);

    fold_add_item(e->f, key, node, report_strip_node(msg ? msg : "", node));
    free(key);
}

void
report_errs_print(struct report_errs *e, FILE *out)
{
    size_t g;

    fold_sort_by_size(e->f);
    for (g = 0; g < fold_groups(e->f); g++) {
        const char *one = fold_item(e->f, g);
        char *nodes = fold_nodes(e->f, g),
             *msg = report_safe(
                 fold_size(e->f, g) == 1 && one ? one : fold_key(e->f, g));

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

/* 1 when the n bytes at s[i] are word w standing alone (not inside a
 * longer name or address). */
static int
report_word_at(const char *s, size_t i, const char *w, size_t n)
{
    unsigned char before = i > 0 ? (unsigned char)s[i - 1] : ' ', after;

    if (n == 0 || strncmp(s + i, w, n) != 0)
        return 0;
    after = (unsigned char)s[i + n];
    if (isalnum(before) || before == '.' || before == '-' || before == '_')
        return 0;
    return !(isalnum(after) || after == '.' || after == '-' || after == '_');
}

char *
report_err_key(const char *msg, const char *node, const char *address)
{
    const char *s = report_strip_node(msg ? msg : "", node);
    size_t i = 0, na = address ? strlen(address) : 0, nn = strlen(node);
    struct af_buf b;

    af_buf_init(&b, 0);
    while (s[i] != '\0') {
        if (report_word_at(s, i, address, na)) {
            af_buf_puts(&b, "<address>");
            i += na;
        } else if (report_word_at(s, i, node, nn)) {
            af_buf_puts(&b, "<node>");
            i += nn;
        } else if (strncmp(s + i, "SHA256:", 7) == 0) {
            af_buf_puts(&b, "SHA256:<fingerprint>");
            for (i += 7; isalnum((unsigned char)s[i]) || s[i] == '+' ||
                         s[i] == '/' || s[i] == '=';
                 i++)
                ;
        } else {
            af_buf_append(&b, s + i, 1);
            i++;
        }
    }
    af_buf_append(&b, "", 0);
    return b.data ? af_buf_steal(&b) : af_strdup("");
}

void
report_fold_init(struct report_fold *rf,
                 const char *const *words,
                 size_t nwords)
{
    size_t s;

    rf->blocks = fold_new();
    rf->words = words;
    rf->nwords = nwords;
    rf->by = af_calloc(nwords, sizeof(*rf->by));
    for (s = 0; s < nwords; s++)
        rf->by[s] = fold_new();
}

void
report_fold_add(struct report_fold *rf,
                size_t status,
                const char *key,
                const char *node,
                const void *item)
{
    fold_add_item(rf->blocks, key, node, item);
    if (status < rf->nwords)
        fold_add(rf->by[status], "", node);
}

size_t
report_fold_sort(struct report_fold *rf)
{
    fold_sort_by_size(rf->blocks);
    return fold_groups(rf->blocks);
}

const void *
report_fold_item(const struct report_fold *rf, size_t g)
{
    return fold_item(rf->blocks, g);
}

size_t
report_fold_size(const struct report_fold *rf, size_t g)
{
    return fold_size(rf->blocks, g);
}

char *
report_fold_nodes(const struct report_fold *rf, size_t g)
{
    return fold_nodes(rf->blocks, g);
}

void
report_fold_tally(struct report *r,
                  const struct report_fold *rf,
                  size_t optional)
{
    size_t s;

    for (s = 0; s < rf->nwords; s++) {
        size_t c = fold_groups(rf->by[s]) ? fold_size(rf->by[s], 0) : 0;

        if (s >= optional && c == 0)
            continue;
        fprintf(r->out, "%s%zu %s", s == 0 ? "" : ", ", c, rf->words[s]);
        if (s > 0 && c > 0) {
            char *nodes = fold_nodes(rf->by[s], 0);

            fprintf(r->out, ": %s", nodes);
            free(nodes);
        }
    }
    fprintf(r->out, "\n");
}

void
report_fold_free(struct report_fold *rf)
{
    size_t s;

    for (s = 0; rf->by != NULL && s < rf->nwords; s++)
        fold_free(rf->by[s]);
    free(rf->by);
    fold_free(rf->blocks);
    memset(rf, 0, sizeof(*rf));
}

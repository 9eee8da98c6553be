/* SPDX-License-Identifier: MIT */
/*
 * Hostlist expansion and folding (pdsh / ClusterShell NodeSet syntax).
 * Expansion parses every term first and counts the names, so a pattern that
 * would give too many names fails before anything is allocated. Folding is a
 * greedy, sort-based scheme, O(n log n) per pass: it does not search for the
 * best of all possible foldings, only for a short and stable one.
 */
#include "hostlist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"

/* 18 decimal digits always fit in an unsigned long long. */
#define HL_MAX_DIGITS 18

struct hl_span {
    unsigned long long lo, hi;
    int width; /* 0 = no padding */
};

struct hl_field {
    const char *text; /* literal text (spans == NULL) */
    size_t len;
    struct hl_span *spans;
    size_t nspans;
};

struct hl_term {
    struct hl_field *f;
    size_t nf;
    size_t count;   /* names this term gives */
    size_t namelen; /* upper bound on one name's length */
};

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
term_free(struct hl_term *t)
{
    size_t i;

    for (i = 0; i < t->nf; i++)
        free(t->f[i].spans);
    free(t->f);
    t->f = NULL;
    t->nf = 0;
}

/*
 * Make room for item n (the count before the append): arrays grow to the
 * next power of two, so n appends cost O(n), not O(n^2) copying.
 */
static void *
grow(void *v, size_t n, size_t size)
{
    if (n == 0 || (n & (n - 1)) == 0)
        return af_reallocarray(v, n ? n * 2 : 1, size);
    return v;
}

/* Parse a decimal number of len digits; 0 on success, -1 if not numeric. */
static int
parse_num(const char *s, size_t len, unsigned long long *v)
{
    size_t i;

    if (len == 0 || len > HL_MAX_DIGITS)
        return -1;
    *v = 0;
    for (i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return -1;
        *v = *v * 10 + (unsigned long long)(s[i] - '0');
    }
    return 0;
}

/* Parse the text between '[' and ']' into f->spans; count its numbers. */
static int
parse_range(const char *pat,
            const char *s,
            size_t len,
            struct hl_field *f,
            size_t *count,
            struct af_err *e)
{
    size_t i = 0, total = 0;

    if (len == 0)
        return af_err_set(e, AF_EINPUT, "empty range '[]' in '%s'", pat);
    while (i <= len) {
        size_t j = i, dash = SIZE_MAX, n;
        struct hl_span sp;

        while (j < len && s[j] != ',') {
            if (s[j] == '-' && dash == SIZE_MAX)
                dash = j;
            j++;
        }
        if (j == i)
            return af_err_set(e, AF_EINPUT,
                              "empty range item in '[%.*s]' "
                              "of '%s'",
                              (int)len, s, pat);
        if (dash == SIZE_MAX) {
            if (parse_num(s + i, j - i, &sp.lo) != 0)
                goto bad;
            sp.hi = sp.lo;
        } else {
            if (parse_num(s + i, dash - i, &sp.lo) != 0 ||
                parse_num(s + dash + 1, j - dash - 1, &sp.hi) != 0)
                goto bad;
            if (sp.lo > sp.hi)
                return af_err_set(e, AF_EINPUT,
                                  "reversed range '%.*s' in "
                                  "'%s'",
                                  (int)(j - i), s + i, pat);
        }
        /* "08" pads to two digits, "8" and "0" do not pad. */
        n = (dash == SIZE_MAX ? j : dash) - i;
        sp.width = (n > 1 && s[i] == '0') ? (int)n : 0;
        if (sp.hi - sp.lo >= HL_MAX_NAMES ||
            total + (size_t)(sp.hi - sp.lo + 1) > HL_MAX_NAMES)
            return af_err_set(e, AF_EINPUT,
                              "'%s' expands to more than %d "
                              "names",
                              pat, HL_MAX_NAMES);
        total += (size_t)(sp.hi - sp.lo + 1);
        f->spans = grow(f->spans, f->nspans, sizeof(sp));
        f->spans[f->nspans++] = sp;
        i = j + 1;
        continue;
    bad:
        return af_err_set(e, AF_EINPUT,
                          "non-numeric range '%.*s' in '%s' "
                          "(expected N or N-M, at most %d digits)",
                          (int)(j - i), s + i, pat, HL_MAX_DIGITS);
    }
    *count = total;
    return 0;
}

/* Parse one top-level term s[0..len) (already trimmed, brackets balanced). */
static int
parse_term(const char *pat,
           const char *s,
           size_t len,
           struct hl_term *t,
           struct af_err *e)
{
    size_t i = 0, count = 1;
    int r;

    memset(t, 0, sizeof(*t));
    t->namelen = 1;
    while (i < len) {
        struct hl_field *f;
        size_t j, c = 0;

        t->f = grow(t->f, t->nf, sizeof(*t->f));
        f = &t->f[t->nf++];
        memset(f, 0, sizeof(*f));
        if (s[i] != '[') {
            for (j = i; j < len && s[j] != '['; j++)
                if (is_space(s[j]))
                    return af_err_set(e, AF_EINPUT,
                                      "space inside name "
                                      "'%.*s' in '%s'",
                                      (int)len, s, pat);
            f->text = s + i;
            f->len = j - i;
            t->namelen += j - i;
            i = j;
            continue;
        }
        for (j = i + 1; j < len && s[j] != ']'; j++)
            ;
        if ((r = parse_range(pat, s + i + 1, j - i - 1, f, &c, e)) != 0)
            return r;
        if (count > HL_MAX_NAMES / c)
            return af_err_set(e, AF_EINPUT,
                              "'%s' expands to more than %d "
                              "names",
                              pat, HL_MAX_NAMES);
        count *= c;
        t->namelen += HL_MAX_DIGITS + 2;
        i = j + 1;
    }
    t->count = count;
    return 0;
}

/* Emit the names of t, leftmost range slowest, into out[*k...]. */
static void
gen(const struct hl_term *t,
    size_t fi,
    char *buf,
    size_t len,
    char **out,
    size_t *k)
{
    const struct hl_field *f;
    size_t s;

    if (fi == t->nf) {
        out[(*k)++] = af_strndup(buf, len);
        return;
    }
    f = &t->f[fi];
    if (f->spans == NULL) {
        memcpy(buf + len, f->text, f->len);
        gen(t, fi + 1, buf, len + f->len, out, k);
        return;
    }
    for (s = 0; s < f->nspans; s++) {
        unsigned long long v = f->spans[s].lo;

        for (;;) {
            int w = snprintf(buf + len, HL_MAX_DIGITS + 2, "%0*llu",
                             f->spans[s].width, v);

            gen(t, fi + 1, buf, len + (size_t)w, out, k);
            if (v == f->spans[s].hi)
                break;
            v++;
        }
    }
}

int
hl_expand(const char *pattern, char ***names, size_t *n, struct af_err *e)
{
    struct hl_term *terms = NULL;
    size_t nterms = 0, total = 0, i, start, k = 0;
    char **out = NULL;
    int depth = 0, r = AF_EINTERNAL;

    *names = NULL;
    *n = 0;
    if (pattern == NULL)
        pattern = "";
    /* Split at top-level commas, checking the brackets on the way. */
    for (i = 0, start = 0;; i++) {
        char c = pattern[i];
        size_t a, b;

        if (c == '[') {
            if (depth++ > 0) {
                r = af_err_set(e, AF_EINPUT, "nested '[' in '%s'", pattern);
                goto out;
            }
            continue;
        }
        if (c == ']') {
            if (depth-- == 0) {
                r = af_err_set(e, AF_EINPUT, "unbalanced ']' in '%s'", pattern);
                goto out;
            }
            continue;
        }
        if (c == '\0' && depth > 0) {
            r = af_err_set(e, AF_EINPUT, "unbalanced '[' in '%s'", pattern);
            goto out;
        }
        if (c != '\0' && (c != ',' || depth > 0))
            continue;
        a = start;
        b = i;
        while (a < b && is_space(pattern[a]))
            a++;
        while (b > a && is_space(pattern[b - 1]))
            b--;
        if (a == b) {
            r = af_err_set(
                e, AF_EINPUT, "%s in '%s'",
                i == 0 && c == '\0' ? "empty hostlist" : "empty name", pattern);
            goto out;
        }
        terms = grow(terms, nterms, sizeof(*terms));
        r = parse_term(pattern, pattern + a, b - a, &terms[nterms], e);
        nterms++;
        if (r != 0)
            goto out;
        if (total + terms[nterms - 1].count > HL_MAX_NAMES) {
            r = af_err_set(e, AF_EINPUT, "'%s' expands to more than %d names",
                           pattern, HL_MAX_NAMES);
            goto out;
        }
        total += terms[nterms - 1].count;
        if (c == '\0')
            break;
        start = i + 1;
    }

    out = af_reallocarray(NULL, total, sizeof(*out));
    for (i = 0; i < nterms; i++) {
        char *buf = af_malloc(terms[i].namelen);

        gen(&terms[i], 0, buf, 0, out, &k);
        free(buf);
    }
    *names = out;
    *n = k;
    r = 0;
out:
    for (i = 0; i < nterms; i++)
        term_free(&terms[i]);
    free(terms);
    return r;
}

void
hl_names_free(char **names, size_t n)
{
    size_t i;

    if (names == NULL)
        return;
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- folding ---------------------------------------------------------- */

struct fent {
    const char *s;
    size_t slen;
    size_t dpos, dlen; /* the digit run folded on; dlen 0 = literal */
    unsigned long long val;
    int width; /* 0 = unpadded */
};

static int
keycmp(const struct fent *a, const struct fent *b)
{
    size_t al = a->dlen ? a->dpos : a->slen;
    size_t bl = b->dlen ? b->dpos : b->slen;
    int c;

    c = memcmp(a->s, b->s, al < bl ? al : bl);
    if (c != 0)
        return c;
    if (al != bl)
        return al < bl ? -1 : 1;
    if ((a->dlen != 0) != (b->dlen != 0))
        return a->dlen ? 1 : -1;
    if (a->dlen == 0)
        return 0;
    return strcmp(a->s + a->dpos + a->dlen, b->s + b->dpos + b->dlen);
}

static int
fent_cmp_key(const void *pa, const void *pb)
{
    const struct fent *a = pa, *b = pb;
    int c = keycmp(a, b);

    if (c != 0)
        return c;
    /* Order within a key block only matters for determinism. */
    if (a->width != b->width)
        return a->width < b->width ? -1 : 1;
    if (a->val != b->val)
        return a->val < b->val ? -1 : 1;
    return 0;
}

/*
 * Locate the skip-th run of digits from the end, outside brackets; fill
 * dpos/dlen (dlen 0 when there is none or it is too long to fold).
 */
static void
fent_locate(struct fent *f, size_t skip)
{
    size_t i = f->slen, end;
    int depth = 0;

    f->dlen = 0;
    while (i > 0) {
        char c = f->s[i - 1];

        if (c == ']') {
            depth++;
        } else if (c == '[') {
            depth--;
        } else if (depth == 0 && is_digit(c)) {
            end = i;
            while (i > 0 && is_digit(f->s[i - 1]))
                i--;
            if (skip-- > 0)
                continue;
            if (end - i > HL_MAX_DIGITS)
                return;
            f->dpos = i;
            f->dlen = end - i;
            (void)parse_num(f->s + i, f->dlen, &f->val);
            f->width = (f->dlen > 1 && f->s[i] == '0') ? (int)f->dlen : 0;
            return;
        }
        i--;
    }
}

/* Emit one key block [a, b) of entries (sorted by width then value). */
static void
emit_block(struct fent *v, size_t a, size_t b, char ***out, size_t *nout)
{
    struct af_buf buf;
    size_t i, j;

    while (a < b) {
        /* Sub-block of one width. */
        for (j = a + 1; j < b && v[j].width == v[a].width; j++)
            ;
        /* A key with a single distinct value stays as written. */
        if (v[a].dlen == 0 || v[a].val == v[j - 1].val) {
            *out = grow(*out, *nout, sizeof(**out));
            (*out)[(*nout)++] = af_strndup(v[a].s, v[a].slen);
            a = j;
            continue;
        }
        af_buf_init(&buf, 0);
        af_buf_append(&buf, v[a].s, v[a].dpos);
        af_buf_puts(&buf, "[");
        for (i = a; i < j;) {
            size_t k = i;

            /* Extend over equal or consecutive values. */
            while (k + 1 < j && v[k + 1].val <= v[k].val + 1)
                k++;
            if (i > a)
                af_buf_puts(&buf, ",");
            af_buf_printf(&buf, "%0*llu", v[i].width, v[i].val);
            if (v[k].val != v[i].val)
                af_buf_printf(&buf, "-%0*llu", v[k].width, v[k].val);
            i = k + 1;
        }
        af_buf_puts(&buf, "]");
        af_buf_puts(&buf, v[a].s + v[a].dpos + v[a].dlen);
        *out = grow(*out, *nout, sizeof(**out));
        (*out)[(*nout)++] = af_buf_steal(&buf);
        a = j;
    }
}

/*
 * One folding pass on the skip-th digit run from the end. Consumes terms
 * (frees them) and returns the new list through *terms and *n.
 */
static void
fold_pass(char ***terms, size_t *n, size_t skip)
{
    struct fent *v = af_calloc(*n ? *n : 1, sizeof(*v));
    char **out = NULL;
    size_t nout = 0, i, a, b;

    for (i = 0; i < *n; i++) {
        v[i].s = (*terms)[i];
        v[i].slen = strlen(v[i].s);
        fent_locate(&v[i], skip);
    }
    qsort(v, *n, sizeof(*v), fent_cmp_key);
    for (a = 0; a < *n; a = b) {
        int widths[8];
        size_t nw = 0, w;

        for (b = a + 1; b < *n && keycmp(&v[a], &v[b]) == 0; b++)
            ;
        /*
         * An unpadded number as long as a padded width of the same key
         * ("100" next to "099") reads the same in that padded range, so it
         * joins it: npu[098-100] rather than npu[098-099],npu100.
         */
        for (i = a; i < b && nw < 8; i++)
            if (v[i].width > 0 && (nw == 0 || widths[nw - 1] != v[i].width))
                widths[nw++] = v[i].width;
        if (nw > 0) {
            for (i = a; i < b; i++)
                for (w = 0; v[i].width == 0 && w < nw; w++)
                    if ((int)v[i].dlen == widths[w])
                        v[i].width = widths[w];
            qsort(v + a, b - a, sizeof(*v), fent_cmp_key);
        }
        emit_block(v, a, b, &out, &nout);
    }
    free(v);
    hl_names_free(*terms, *n);
    *terms = out;
    *n = nout;
}

/* Compare with digit runs taken as numbers, so npu9 sorts before npu10. */
static int
natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (is_digit(*a) && is_digit(*b)) {
            const char *ea = a, *eb = b, *za, *zb;

            while (*a == '0' && is_digit(a[1]))
                a++;
            while (*b == '0' && is_digit(b[1]))
                b++;
            za = a;
            zb = b;
            while (is_digit(*ea))
                ea++;
            while (is_digit(*eb))
                eb++;
            if (ea - za != eb - zb)
                return ea - za < eb - zb ? -1 : 1;
            for (; a < ea; a++, b++)
                if (*a != *b)
                    return *a < *b ? -1 : 1;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    if (*a || *b)
        return *a ? 1 : -1;
    return 0;
}

/* The first name a term expands to: each range replaced by its first number. */
static char *
first_name(const char *t)
{
    char *out = af_malloc(strlen(t) + 1), *o = out;

    while (*t) {
        if (*t != '[') {
            *o++ = *t++;
            continue;
        }
        for (t++; is_digit(*t); t++)
            *o++ = *t;
        while (*t && *t != ']')
            t++;
        if (*t)
            t++;
    }
    *o = '\0';
    return out;
}

struct sterm {
    char *term;
    char *first;
};

/* Terms sort by the first name they give, in natural order. */
static int
term_cmp(const void *pa, const void *pb)
{
    const struct sterm *a = pa, *b = pb;
    int c = natcmp(a->first, b->first);

    if (c == 0)
        c = strcmp(a->first, b->first);
    return c != 0 ? c : strcmp(a->term, b->term);
}

char *
hl_fold(const char *const *names, size_t n)
{
    char **terms = af_calloc(n ? n : 1, sizeof(*terms));
    struct sterm *sorted;
    struct af_buf out;
    size_t nterms = n, i, skip, before;

    for (i = 0; i < n; i++)
        terms[i] = af_strdup(names[i]);
    /*
     * Fold on the last number, then on earlier ones, and start again while
     * that still merges something: r1n01..r2n04 becomes r1n[01-04] and
     * r2n[01-04], then r[1-2]n[01-04].
     */
    do {
        before = nterms;
        for (skip = 0; skip < 4 && nterms > 1; skip++)
            fold_pass(&terms, &nterms, skip);
    } while (nterms > 1 && nterms < before);

    sorted = af_calloc(nterms ? nterms : 1, sizeof(*sorted));
    for (i = 0; i < nterms; i++) {
        sorted[i].term = terms[i];
        sorted[i].first = first_name(terms[i]);
    }
    qsort(sorted, nterms, sizeof(*sorted), term_cmp);
    af_buf_init(&out, 0);
    af_buf_puts(&out, "");
    for (i = 0; i < nterms; i++) {
        if (i == 0 || strcmp(sorted[i].term, sorted[i - 1].term) != 0) {
            if (i > 0)
                af_buf_puts(&out, ",");
            af_buf_puts(&out, sorted[i].term);
        }
    }
    for (i = 0; i < nterms; i++)
        free(sorted[i].first);
    free(sorted);
    hl_names_free(terms, nterms);
    return af_buf_steal(&out);
}

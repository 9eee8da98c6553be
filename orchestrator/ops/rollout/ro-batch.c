/* SPDX-License-Identifier: MIT */
/*
 * Batch sizes (Ansible's serial: counts or percentages, the last entry
 * repeats), the failure budget and the assignment of nodes to batches.
 * Pure arithmetic over the run's counters: no I/O.
 */
#include "ro-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"

int
ro_batch_size(const char *spec, size_t k, size_t total, size_t *out)
{
    char *dup = af_strdup(spec), *save = NULL, *tok;
    size_t i = 0;
    long last = -1;
    int pct = 0, lastpct = 0, r = 0;

    for (tok = strtok_r(dup, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save), i++) {
        char *end;
        long v = strtol(tok, &end, 10);

        pct = *end == '%';
        if (end == tok || (*end && !(pct && end[1] == '\0')) || v < 1 ||
            (pct && v > 100)) {
            r = -1;
            goto out;
        }
        last = v;
        lastpct = pct;
        if (i == k)
            break;
    }
    if (last < 0) {
        r = -1;
        goto out;
    }
    if (lastpct) {
        size_t s = total * (size_t)last / 100;

        *out = s ? s : 1;
    } else {
        *out = (size_t)last;
    }
out:
    free(dup);
    return r;
}

int
ro_parse_budget(const char *spec, size_t total, size_t *out)
{
    char *end;
    long v = strtol(spec, &end, 10);

    if (end == spec || v < 0)
        return -1;
    if (*end == '%' && end[1] == '\0' && v <= 100) {
        *out = total * (size_t)v / 100;
        return 0;
    }
    if (*end != '\0')
        return -1;
    *out = (size_t)v;
    return 0;
}

size_t
ro_failed_total(const struct ro *ro)
{
    size_t s = 0;
    int f;

    for (f = RO_F_UNREACHABLE; f < RO_F_COUNT; f++)
        s += (size_t)ro->fails[f];
    return s;
}

int
ro_budget_exceeded(const struct ro *ro, char *why, size_t whylen)
{
    size_t failed = ro_failed_total(ro);

    if (failed <= ro->budget)
        return 0;
    snprintf(why, whylen, "failure budget exceeded: %zu failed > max-fail %zu",
             failed, ro->budget);
    return 1;
}

/* Keep batch numbers recorded by an earlier attempt of the run. */
int
ro_assign_batches(struct ro *ro, const size_t *order, size_t n)
{
    size_t pos = 0, nb, k;
    int b = 0;

    while (pos < n) {
        if (ro_batch_size(ro->eff.batch, (size_t)b, n, &nb) != 0)
            return -1;
        for (k = 0; k < nb && pos < n; k++, pos++)
            if (ro->nj[order[pos]].batch < 0)
                ro->nj[order[pos]].batch = b;
        b++;
    }
    return 0;
}

int
ro_opts_check(const struct ro_opts *o, char *why, size_t whylen)
{
    size_t x;

    if (o->batch == NULL || ro_batch_size(o->batch, 0, 1, &x) != 0) {
        snprintf(why, whylen,
                 "--batch wants sizes like 1,10%%,25%% (each >= 1, "
                 "percentages <= 100%%), not '%s'",
                 o->batch ? o->batch : "");
        return -1;
    }
    /* Every entry, not only the first: "1,abc" is as wrong as "abc". */
    {
        const char *p = o->batch;
        size_t k = 0;

        for (; *p; p++)
            if (*p == ',')
                k++;
        if (ro_batch_size(o->batch, k, 1, &x) != 0) {
            snprintf(why, whylen,
                     "--batch wants sizes like 1,10%%,25%%, not '%s'",
                     o->batch);
            return -1;
        }
    }
    if (o->max_fail == NULL || ro_parse_budget(o->max_fail, 1, &x) != 0) {
        snprintf(why, whylen,
                 "--max-fail wants a count >= 0 or a percentage like "
                 "10%%, not '%s'",
                 o->max_fail ? o->max_fail : "");
        return -1;
    }
    if (o->settle_s < 0) {
        snprintf(why, whylen, "--settle wants seconds >= 0, not %d",
                 o->settle_s);
        return -1;
    }
    if (o->fanout < 1) {
        snprintf(why, whylen, "--fanout wants a number >= 1, not %d",
                 o->fanout);
        return -1;
    }
    return 0;
}

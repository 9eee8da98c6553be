/* SPDX-License-Identifier: MIT */
/*
 * The aggregate bandwidth cap (see rate.h): bucket arithmetic in integers,
 * a parser for "200M", and the loop part, a timer that refills the bucket
 * and wakes paused pushes only while some push waits.
 */
#include "rate.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"

#define RATE_US 1000000ULL

void
rate_bucket_init(struct rate_bucket *b, uint64_t rate, uint64_t now_us)
{
    memset(b, 0, sizeof(*b));
    b->rate = rate > 0 ? rate : 1;
    b->burst = b->rate / 10 > RATE_MIN_BURST ? b->rate / 10 : RATE_MIN_BURST;
    b->tokens = b->burst;
    b->last_us = now_us;
}

void
rate_bucket_refill(struct rate_bucket *b, uint64_t now_us)
{
    uint64_t dt, room, full_us, add;

    if (now_us <= b->last_us)
        return;
    dt = now_us - b->last_us;
    b->last_us = now_us;
    room = b->burst - b->tokens;
    /*
     * Past the time that fills the bucket the product rate * dt could
     * overflow, and it does not matter: the bucket is full. Below it,
     * rate * dt stays under room * 1e6 + rate, well inside 64 bits.
     */
    full_us = (room * RATE_US + b->rate - 1) / b->rate;
    if (dt >= full_us) {
        b->tokens = b->burst;
        b->carry = 0;
        return;
    }
    add = b->rate * dt + b->carry;
    b->tokens += add / RATE_US;
    b->carry = add % RATE_US;
    if (b->tokens >= b->burst) {
        b->tokens = b->burst;
        b->carry = 0;
    }
}

size_t
rate_bucket_take(struct rate_bucket *b, size_t want)
{
    uint64_t n = want < b->tokens ? want : b->tokens;

    if (n < want && n < RATE_MIN_TAKE)
        return 0;
    b->tokens -= n;
    return (size_t)n;
}

int
rate_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0, mul = 1;
    const char *p = s;

    if (s == NULL || !isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > RATE_MAX)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    switch (*p) {
    case 'k':
    case 'K':
        mul = 1024;
        p++;
        break;
    case 'm':
    case 'M':
        mul = 1024 * 1024;
        p++;
        break;
    case 'g':
    case 'G':
        mul = 1024 * 1024 * 1024;
        p++;
        break;
    default:
        break;
    }
    if (*p == 'B' || *p == 'b')
        p++;
    if (strcmp(p, "/s") == 0)
        p += 2;
    if (*p != '\0' || v == 0 || v > RATE_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

struct rate {
    uv_timer_t timer;
    struct rate_bucket b;
    struct rate_waiter *head, *tail;
    uint64_t tick;  /* counts ticks that woke someone */
    uint64_t share; /* bytes per waiter in this tick, 0 = no limit */
};

static uint64_t
rate_now_us(void)
{
    return uv_hrtime() / 1000;
}

static void
rate_closed(uv_handle_t *h)
{
    free(h->data);
}

/* A tick: refill, then wake everyone waiting, each with an equal share of
 * what the bucket holds (rate_take enforces it). */
static void
rate_tick(uv_timer_t *t)
{
    struct rate *r = t->data;
    struct rate_waiter *w;
    uint64_t n = 0;

    rate_bucket_refill(&r->b, rate_now_us());
    /*
     * The pushes woken last time queue again only once their conns were
     * driven, after this callback: so the timer stops (and shares end) at
     * the first tick that finds nobody waiting, not when the queue empties.
     */
    if (r->head == NULL) {
        uv_timer_stop(&r->timer);
        r->share = 0;
        return;
    }
    if (r->b.tokens < RATE_MIN_TAKE)
        return;
    for (w = r->head; w != NULL; w = w->next)
        n++;
    r->tick++;
    r->share = n > 1 ? r->b.tokens / n : 0;
    if (r->share > 0 && r->share < RATE_MIN_TAKE)
        r->share = RATE_MIN_TAKE;
    w = r->head;
    r->head = r->tail = NULL;
    while (w != NULL) {
        struct rate_waiter *next = w->next;

        w->next = NULL;
        w->queued = 0;
        w->cb(w);
        w = next;
    }
}

struct rate *
rate_new(uv_loop_t *loop, uint64_t rate)
{
    struct rate *r = af_calloc(1, sizeof(*r));

    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    rate_bucket_init(&r->b, rate, rate_now_us());
    return r;
}

void
rate_free(struct rate *r)
{
    if (r == NULL)
        return;
    r->head = r->tail = NULL;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, rate_closed);
}

uint64_t
rate_bps(const struct rate *r)
{
    return r->b.rate;
}

size_t
rate_take(struct rate *r, struct rate_waiter *w, size_t want)
{
    size_t n;

    rate_bucket_refill(&r->b, rate_now_us());
    if (w != NULL && r->share > 0) {
        if (w->tick != r->tick) {
            w->tick = r->tick;
            w->used = 0;
        }
        if (w->used >= r->share)
            return 0;
        if (want > r->share - w->used)
            want = (size_t)(r->share - w->used);
    }
    n = rate_bucket_take(&r->b, want);
    if (w != NULL)
        w->used += n;
    return n;
}

void
rate_wait(struct rate *r, struct rate_waiter *w, rate_wake_cb cb)
{
    if (w->queued)
        return;
    w->cb = cb;
    w->next = NULL;
    w->queued = 1;
    if (r->tail != NULL)
        r->tail->next = w;
    else
        r->head = w;
    r->tail = w;
    if (!uv_is_active((uv_handle_t *)&r->timer))
        uv_timer_start(&r->timer, rate_tick, RATE_TICK_MS, RATE_TICK_MS);
}

void
rate_cancel(struct rate *r, struct rate_waiter *w)
{
    struct rate_waiter **pp, *prev = NULL;

    if (!w->queued)
        return;
    for (pp = &r->head; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
        if (*pp != w)
            continue;
        *pp = w->next;
        if (r->tail == w)
            r->tail = prev;
        break;
    }
    w->next = NULL;
    w->queued = 0;
}

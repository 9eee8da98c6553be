/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for net/rate: the token bucket's integer arithmetic (refill,
 * carry of fractions, burst cap, clock going backwards, no overflow at the
 * largest rate), a simulated ten seconds of greedy takers that must stay
 * within burst + rate * T, the --rate parser, and the loop part on a
 * private libuv loop: a paused taker is woken by the timer, the cap holds
 * in real time, each tick is shared among the waiters, and closing leaves
 * the loop empty.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include <uv.h>

#include "rate.h"

#define MIB (1024ULL * 1024)

Test(rate, bucket_starts_full_and_take_never_exceeds_it)
{
    struct rate_bucket b;

    rate_bucket_init(&b, 10 * MIB, 0);
    cr_assert_eq(b.burst, 10 * MIB / 10, "burst is a tenth of a second");
    cr_assert_eq(b.tokens, b.burst);
    cr_assert_eq(rate_bucket_take(&b, 4096), 4096);
    cr_assert_eq(rate_bucket_take(&b, SIZE_MAX), (size_t)(MIB - 4096));
    cr_assert_eq(b.tokens, 0);
    cr_assert_eq(rate_bucket_take(&b, 1), 0, "an empty bucket gives nothing");
}

Test(rate, takes_below_the_minimum_wait_for_more_tokens)
{
    struct rate_bucket b;

    rate_bucket_init(&b, 1000 * 1000, 0);
    (void)rate_bucket_take(&b, SIZE_MAX);
    rate_bucket_refill(&b, 10000); /* 10 ms: 10000 bytes */
    cr_assert_eq(rate_bucket_take(&b, 65536), 0,
                 "handed out a sliver instead of waiting");
    cr_assert_eq(rate_bucket_take(&b, 8000), 8000, "a small want is served");
    rate_bucket_refill(&b, 30000); /* 20 ms more: 22000 bytes */
    cr_assert_eq(rate_bucket_take(&b, 65536), 22000);
}

Test(rate, refill_earns_rate_times_time_and_keeps_the_fraction)
{
    struct rate_bucket b;
    uint64_t t = 0;
    int i;

    rate_bucket_init(&b, 1000, t); /* 1000 B/s: burst is the minimum */
    cr_assert_eq(b.burst, RATE_MIN_BURST);
    (void)rate_bucket_take(&b, RATE_MIN_BURST);
    /* 1.5 ms earns 1.5 bytes: 1 now, the half is carried. */
    rate_bucket_refill(&b, t += 1500);
    cr_assert_eq(b.tokens, 1);
    rate_bucket_refill(&b, t += 1500);
    cr_assert_eq(b.tokens, 3, "the carried half-byte was lost");
    /* A thousand refills of 1 us each earn exactly one byte. */
    for (i = 0; i < 1000; i++)
        rate_bucket_refill(&b, t += 1);
    cr_assert_eq(b.tokens, 4);
}

Test(rate, refill_stops_at_the_burst_and_ignores_a_clock_going_back)
{
    struct rate_bucket b;

    rate_bucket_init(&b, 100 * MIB, 5000000);
    (void)rate_bucket_take(&b, SIZE_MAX);
    rate_bucket_refill(&b, 4000000); /* earlier than the last refill */
    cr_assert_eq(b.tokens, 0);
    rate_bucket_refill(&b, 5000000 + 3600ULL * 1000000); /* an hour later */
    cr_assert_eq(b.tokens, b.burst);
}

Test(rate, largest_rate_does_not_overflow)
{
    struct rate_bucket b;

    rate_bucket_init(&b, RATE_MAX, 0);
    (void)rate_bucket_take(&b, SIZE_MAX);
    rate_bucket_refill(&b, 10000); /* 10 ms at 1 TiB/s */
    cr_assert_eq(b.tokens, RATE_MAX / 100, "got %llu",
                 (unsigned long long)b.tokens);
    rate_bucket_refill(&b, UINT64_MAX / 2);
    cr_assert_eq(b.tokens, b.burst);
}

/*
 * Ten simulated seconds of four greedy pushes taking 128 KiB chunks every
 * millisecond: together they get at most burst + rate * T, and the cap is
 * not left unused either.
 */
Test(rate, greedy_takers_stay_within_burst_plus_rate_times_time)
{
    struct rate_bucket b;
    uint64_t rate = 32 * MIB, total = 0, t;
    int k;

    rate_bucket_init(&b, rate, 0);
    for (t = 0; t <= 10ULL * 1000000; t += 1000) {
        rate_bucket_refill(&b, t);
        for (k = 0; k < 4; k++)
            total += rate_bucket_take(&b, 128 * 1024);
        cr_assert_leq(total, b.burst + rate * t / 1000000,
                      "at %llu us: %llu bytes", (unsigned long long)t,
                      (unsigned long long)total);
    }
    cr_assert_geq(total, rate * 10 - rate / 100, "the cap was not used: %llu",
                  (unsigned long long)total);
}

Test(rate, parse_accepts_numbers_and_binary_suffixes)
{
    uint64_t v;

    cr_assert_eq(rate_parse("200M", &v), 0);
    cr_assert_eq(v, 200 * MIB);
    cr_assert_eq(rate_parse("1g", &v), 0);
    cr_assert_eq(v, 1024 * MIB);
    cr_assert_eq(rate_parse("500000", &v), 0);
    cr_assert_eq(v, 500000);
    cr_assert_eq(rate_parse("64KB/s", &v), 0);
    cr_assert_eq(v, 64 * 1024);
    cr_assert_eq(rate_parse("10k", &v), 0);
    cr_assert_eq(v, 10 * 1024);
    cr_assert_eq(rate_parse("1024G", &v), 0);
    cr_assert_eq(v, RATE_MAX);
}

Test(rate, parse_rejects_garbage)
{
    static const char *const bad[] = {
        "",      "0",
        "0M",    "-1",
        "1.5M",  "abc",
        "12X",   "M",
        " 10M",  "10M ",
        "10MM",  "10/s/s",
        "1025G", "99999999999999999999999",
    };
    uint64_t v = 7;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(rate_parse(bad[i], &v), -1, "'%s' was accepted", bad[i]);
        cr_expect_eq(v, 7, "'%s' changed the output", bad[i]);
    }
    cr_expect_eq(rate_parse(NULL, &v), -1);
}

/* ---- on a loop ---------------------------------------------------------- */

struct rt_taker {
    struct rate *rate;
    struct rate_waiter w;
    uint64_t got, want, wakes;
    uint64_t t0, t_end;
};

static void rt_take(struct rt_taker *t);

static void
rt_wake(struct rate_waiter *w)
{
    struct rt_taker *t = w->data;

    t->wakes++;
    rt_take(t);
}

/* Take until the bucket is dry, then wait for the timer. */
static void
rt_take(struct rt_taker *t)
{
    size_t n;

    while (t->got < t->want &&
           (n = rate_take(t->rate, &t->w,
                          (size_t)(t->want - t->got < 65536 ? t->want - t->got
                                                            : 65536))) > 0)
        t->got += n;
    if (t->got < t->want) {
        t->w.data = t;
        rate_wait(t->rate, &t->w, rt_wake);
    } else {
        t->t_end = uv_hrtime();
    }
}

Test(rate, loop_wakes_paused_takers_and_holds_the_cap)
{
    uv_loop_t loop;
    struct rt_taker t[3];
    uint64_t rate = 4 * MIB, total = 0, last = 0;
    double secs;
    int i;

    cr_assert_eq(uv_loop_init(&loop), 0);
    memset(t, 0, sizeof(t));
    t[0].rate = rate_new(&loop, rate);
    for (i = 0; i < 3; i++) {
        t[i].rate = t[0].rate;
        t[i].want = MIB; /* 3 MiB in all: about 0.75 s at 4 MiB/s */
        t[i].t0 = uv_hrtime();
        rt_take(&t[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT); /* ends: the timer stops when idle */
    for (i = 0; i < 3; i++) {
        cr_assert_eq(t[i].got, MIB, "taker %d got %llu", i,
                     (unsigned long long)t[i].got);
        cr_expect_gt(t[i].wakes, 0, "taker %d was never paused", i);
        total += t[i].got;
        if (t[i].t_end > last)
            last = t[i].t_end;
    }
    secs = (double)(last - t[0].t0) / 1e9;
    /* (total - burst) / rate seconds at least; the lower bound only. */
    cr_expect_geq(secs, (double)(total - rate / 10) / (double)rate - 0.06,
                  "3 MiB went in %.3f s at a 4 MiB/s cap", secs);
    rate_free(t[0].rate);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
}

Test(rate, cancel_forgets_a_waiter)
{
    uv_loop_t loop;
    struct rt_taker t;

    cr_assert_eq(uv_loop_init(&loop), 0);
    memset(&t, 0, sizeof(t));
    t.rate = rate_new(&loop, 1000);
    t.want = 1ULL << 40;
    rt_take(&t);
    cr_assert(t.w.queued);
    rate_cancel(t.rate, &t.w);
    cr_assert(!t.w.queued);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns: nothing waits any more */
    cr_assert_eq(t.wakes, 0);
    rate_free(t.rate);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

static struct rt_taker rt_fair[4];

static void
rt_stop(uv_timer_t *h)
{
    int i;

    for (i = 0; i < 4; i++)
        rate_cancel(rt_fair[i].rate, &rt_fair[i].w);
    uv_close((uv_handle_t *)h, NULL);
}

/*
 * Four takers that want more than the cap gives: each tick splits the
 * bucket among them, so after 0.6 s they differ by at most the first burst
 * (the first taker found the bucket full) and a share. Without shares the
 * first one woken would take every tick's bytes.
 */
Test(rate, each_tick_is_shared_among_the_waiters)
{
    uv_loop_t loop;
    uv_timer_t stop;
    uint64_t rate = 4 * MIB, lo = UINT64_MAX, hi = 0;
    struct rate *r;
    int i;

    cr_assert_eq(uv_loop_init(&loop), 0);
    memset(rt_fair, 0, sizeof(rt_fair));
    r = rate_new(&loop, rate);
    for (i = 0; i < 4; i++) {
        rt_fair[i].rate = r;
        rt_fair[i].want = 1ULL << 40;
        rt_take(&rt_fair[i]);
    }
    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, rt_stop, 600, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (i = 0; i < 4; i++) {
        if (rt_fair[i].got < lo)
            lo = rt_fair[i].got;
        if (rt_fair[i].got > hi)
            hi = rt_fair[i].got;
    }
    cr_expect_gt(lo, 0, "a taker got nothing");
    cr_expect_leq(hi - lo, rate / 10 + rate / 20,
                  "unfair: one got %llu bytes, another %llu",
                  (unsigned long long)hi, (unsigned long long)lo);
    rate_free(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

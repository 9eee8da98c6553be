/* SPDX-License-Identifier: MIT */
/*
 * An aggregate bandwidth cap shared by many pushes on one loop: a token
 * bucket of bytes. A push takes what the bucket holds before it hands bytes
 * to its channel; when the bucket is empty the push pauses (it registers a
 * waiter and sends nothing) and a uv_timer ticking every RATE_TICK_MS, and
 * only while someone waits, refills the bucket and wakes the waiters in the
 * order they came. Nothing polls: an idle cap costs no wake-ups.
 *
 * Shares are fair: each tick divides what the bucket holds among the pushes
 * that were waiting, so a push whose turn comes first cannot take all of
 * it and the nodes advance together.
 *
 * The cap counts payload bytes (what the packages hold), not the SSH and
 * protocol overhead around them. Over any interval T it lets through at
 * most burst + rate * T bytes, with burst a tenth of a second's worth (at
 * least RATE_MIN_BURST), so a short run stays within the cap too.
 */
#ifndef AF_RATE_H
#define AF_RATE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define RATE_TICK_MS   50
#define RATE_MIN_BURST (16 * 1024)
/*
 * The least a take hands out (unless less was asked for): below it the
 * taker waits for the next tick. Without it a push driven again at once
 * would take the few bytes earned since its last call, over and over, in
 * tiny writes.
 */
#define RATE_MIN_TAKE (16 * 1024)
/* The largest cap accepted: 1 TiB/s (keeps the arithmetic in 64 bits). */
#define RATE_MAX ((uint64_t)1 << 40)

/* The arithmetic alone (unit-tested without a loop); times in microseconds. */
struct rate_bucket {
    uint64_t rate;   /* bytes per second */
    uint64_t burst;  /* most tokens the bucket holds */
    uint64_t tokens; /* bytes that may go now */
    uint64_t carry;  /* remainder of the last refill, in byte-microseconds */
    uint64_t last_us;
};

/* A full bucket for rate bytes per second (1..RATE_MAX) at now_us. */
void rate_bucket_init(struct rate_bucket *b, uint64_t rate, uint64_t now_us);
/* Add what the time since the last refill earned, up to the burst. Time
 * going backwards adds nothing. */
void rate_bucket_refill(struct rate_bucket *b, uint64_t now_us);
/* Take up to want bytes: returns how many may go now; 0 when the bucket
 * holds less than RATE_MIN_TAKE and less than want. */
size_t rate_bucket_take(struct rate_bucket *b, size_t want);

/*
 * Parse a rate: a whole number of bytes per second, optionally followed by
 * K, M or G (powers of 1024, either case, an optional trailing "B" or
 * "/s"): "200M", "1g", "500000", "64KB/s". Returns 0 and *out (1..RATE_MAX),
 * or -1 for anything else (empty, zero, negative, fractions, other
 * suffixes, too large).
 */
int rate_parse(const char *s, uint64_t *out);

struct rate;
struct rate_waiter;
typedef void (*rate_wake_cb)(struct rate_waiter *w);

/* Embedded in its user; zero it before its first use. */
struct rate_waiter {
    struct rate_waiter *next;
    int queued;
    rate_wake_cb cb;
    void *data;
    uint64_t tick; /* the tick its share below belongs to */
    uint64_t used; /* bytes taken of that share */
};

/* A cap of rate bytes per second (1..RATE_MAX) on loop. Never fails. */
struct rate *rate_new(uv_loop_t *loop, uint64_t rate);
/*
 * Close the cap: its timer is closed and the memory freed from the close
 * callback (run the loop after). Waiters still queued are dropped without a
 * call. Accepts NULL.
 */
void rate_free(struct rate *r);
uint64_t rate_bps(const struct rate *r);
/*
 * Take up to want bytes now (refilled by the time elapsed); may be 0. With
 * w (may be NULL), at most w's share of the last tick while other pushes
 * wait too.
 */
size_t rate_take(struct rate *r, struct rate_waiter *w, size_t want);
/*
 * Call cb(w) once, later, from the loop, when the bucket has tokens again.
 * A waiter already queued stays where it is. w must stay valid until its
 * callback ran or rate_cancel.
 */
void rate_wait(struct rate *r, struct rate_waiter *w, rate_wake_cb cb);
/* Forget w if it is queued. */
void rate_cancel(struct rate *r, struct rate_waiter *w);

#endif /* AF_RATE_H */

/* SPDX-License-Identifier: MIT */
/*
 * Agent client: puts the static agent on a node and talks to it over one
 * exec channel of a READY conn (protocol in common/af-proto.h).
 *
 * Start-up costs one channel when the node already holds the agent: the
 * probe command first refuses a node whose /var/lib/ascend-fleet (or
 * anything below it, or /, /var, /var/lib) is owned by another user than
 * the login user or root, is group/other-writable or is a symlink (as
 * ssh's StrictModes), then picks the binary for the node's architecture,
 * checks its SHA-256 with sha256sum and only then execs it; the agent
 * greets with its protocol version and its own hash. A missing or
 * corrupted copy is replaced by streaming the binary over a second
 * channel's stdin into a temp file, checked with sha256sum (never by
 * running it) and renamed atomically into
 * /var/lib/ascend-fleet/agent/<sha256>/ (0700, files 0700), then a third
 * channel checks the hash again and serves. Up to 64 KiB of login-script
 * output before the greeting is skipped. A protocol mismatch is a clear
 * node error.
 *
 * Requests are queued and answered in order. The agc owns no libuv handles;
 * its channels belong to the conn. Free it (agc_free) only after the conn's
 * close callback has run, since closing the conn ends its channels with
 * callbacks into the agc.
 */
#ifndef AF_AGC_H
#define AF_AGC_H

#include <stddef.h>
#include <stdint.h>

#include "af-proto.h"

struct conn;
struct agc;

/* status 0: the agent is serving; negative AF_E*: see agc_error. */
typedef void (*agc_ready_cb)(struct agc *a, int status);
/*
 * Response to one request: status 0 with the body, AF_EREMOTE when the agent
 * answered "err" (body has error=...), or a negative code when the channel
 * failed (AF_ETIMEOUT when the request's timer fired); body is then empty.
 * body is borrowed for the call.
 */
typedef void (*agc_resp_cb)(struct agc *a,
                            int status,
                            const struct af_kv *body,
                            void *data);

struct agc *agc_new(struct conn *c, agc_ready_cb cb, void *data);
/* Probe, push if needed, start serving; ready_cb runs later. */
void agc_start(struct agc *a);
/*
 * Queue a request of nwords words (encoded here) followed by plen raw bytes
 * of payload (the "put" request). The payload is borrowed, not copied: it
 * must stay valid until the response callback ran (or the session closed).
 * timeout_ms bounds the wait for the answer (0 = 10 minutes). The response
 * callback runs exactly once: with the answer; with the session's error
 * when the agent failed, timed out or answered something that is not the
 * protocol (the whole session then fails, every pending request hears of
 * it, and agc_error says why); or with AF_ECANCELED from agc_free.
 */
void agc_request(struct agc *a,
                 const char *const *words,
                 size_t nwords,
                 const void *payload,
                 size_t plen,
                 uint64_t timeout_ms,
                 agc_resp_cb cb,
                 void *data);
/*
 * Supplies the next bytes of a streamed payload: copy at most cap bytes to
 * buf and return how many (> 0); 0 to pause the payload until
 * agc_stream_resume (a bandwidth cap); or a negative AF_E* code to abandon
 * the request. Called from the loop as the channel drains.
 */
typedef long (*agc_fill_cb)(void *data, char *buf, size_t cap);
/*
 * As agc_request, but the plen payload bytes are pulled from fill in
 * chunks as the remote window allows, so at most about 640 KiB of it
 * are held in memory whatever plen is. Requests queued after it wait until
 * its payload is sent. When fill fails the node's agent cannot find the
 * next request in the stream: stdin is closed, the session fails with
 * fill's code, and every pending callback runs with it (this one too).
 * While the payload flows, timeout_ms counts from the last bytes handed on
 * (a payload held back by a bandwidth cap may take longer than it).
 */
void agc_request_stream(struct agc *a,
                        const char *const *words,
                        size_t nwords,
                        uint64_t plen,
                        agc_fill_cb fill,
                        uint64_t timeout_ms,
                        agc_resp_cb cb,
                        void *data);
/*
 * Go on with a streamed payload whose fill returned 0 (paused): fill is
 * called again from the loop. Does nothing when no payload is streaming.
 */
void agc_stream_resume(struct agc *a);
/*
 * Receives the bytes of a data frame ("AFD <size>", af-proto.h) in order as
 * they arrive: total is the announced size, p/n the next bytes (borrowed).
 * Called from the loop; it must not free the agc.
 */
typedef void (*agc_sink_cb)(void *data,
                            uint64_t total,
                            const char *p,
                            size_t n);
/*
 * As agc_request, for a request answered by a data frame before its
 * response ("get"): the frame's bytes go to sink as they arrive and are
 * never held whole in memory, then cb runs with the response as usual. A
 * frame larger than max, or a frame answering another request, fails the
 * session (a protocol error). While the frame flows, timeout_ms counts
 * from the last bytes received.
 */
void agc_request_sink(struct agc *a,
                      const char *const *words,
                      size_t nwords,
                      uint64_t max,
                      agc_sink_cb sink,
                      uint64_t timeout_ms,
                      agc_resp_cb cb,
                      void *data);
/*
 * As agc_request_sink, for a request answered by any number of data frames
 * before its response ("run-stream"): the bytes of each frame go to sink
 * as they arrive (total is that frame's size), never held whole; a frame
 * larger than max fails the session. While frames flow, timeout_ms counts
 * from the last bytes received.
 */
void agc_request_frames(struct agc *a,
                        const char *const *words,
                        size_t nwords,
                        uint64_t max,
                        agc_sink_cb sink,
                        uint64_t timeout_ms,
                        agc_resp_cb cb,
                        void *data);
void agc_free(struct agc *a);

void *agc_data(const struct agc *a);
struct conn *agc_conn(const struct agc *a);
/* 1 if this session had to push the agent binary. */
int agc_pushed(const struct agc *a);
/* Node architecture as the probe saw it ("x86_64"), or "". Borrowed. */
const char *agc_arch(const struct agc *a);
const char *agc_error(const struct agc *a);
/* 1 while the agent serves (greeted, not failed). */
int agc_serving(const struct agc *a);

#endif /* AF_AGC_H */

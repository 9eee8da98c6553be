/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol between the orchestrator and the node agent, shared by
 * both sides (agent/ builds this file with musl, libc only).
 *
 * Transport: the orchestrator opens one SSH exec channel running
 * "<agent> serve". The agent first writes one greeting line:
 *
 *     AFAGENT <proto> <agent-version> <arch> <sha256-of-own-binary>\n
 *
 * and the orchestrator refuses to talk on any <proto> but AF_PROTO_VERSION.
 * Each request is one line of words separated by single spaces, each word
 * percent-encoded (af_proto_encode); "put" is followed by exactly <size> raw
 * bytes. Each response is
 *
 *     AFP <ok|err> <body-length>\n<body>
 *
 * where body is lines "key=value\n" with percent-encoded values; an err body
 * has at least "error=<text>". Requests:
 *
 *   hello                          -> proto, version, arch, sha256
 *   facts <install-path>           -> node facts (keys in agent/README.md)
 *   run <timeout-s> <cap-bytes> <argv0> [argv...]
 *                                  -> rc, signal, timed_out, stdout,
 *                                     stdout_truncated, stderr,
 *                                     stderr_truncated, duration_ms
 *   run-stream <timeout-s> <cap-bytes> <argv0> [argv...]
 *                                  -> as run, and before the response every
 *                                     piece of stdout and stderr, as it is
 *                                     read (merged in that order, uncapped),
 *                                     as a data frame "AFD <size>\n" and
 *                                     <size> raw bytes (any number of them)
 *   stat <path>                    -> exists=0|1, size, sha256 (from the
 *                                     verified mark a put left, when it
 *                                     still matches the file)
 *   partial <sha256> <size> <path> -> offset: bytes of that package a cut
 *                                     put left verified in <path>.partial
 *                                     (0 when none)
 *   put <sha256> <size> <mode-octal> <path> [<offset>]
 *                                  + <size> - <offset> raw bytes
 *                                  -> written to <path>.partial (checkpoint
 *                                     in <path>.partial.meta every 64 MiB),
 *                                     hashed as it arrives, renamed into
 *                                     place: size, offset, sha256; err
 *                                     (partial removed) on mismatch; a
 *                                     stream cut short keeps the partial
 *   get <path> <max-bytes>         -> err when path is not a readable
 *                                     regular file or is larger than max;
 *                                     else a data frame "AFD <size>\n" and
 *                                     exactly <size> raw bytes, then the
 *                                     response: size, mode (octal), sha256
 *                                     of the bytes sent; err when the file
 *                                     changed while it was read (the frame
 *                                     still has <size> bytes, zero-padded)
 *   staged <dir>                   -> n, name.I, sha256.I, size.I: the
 *                                     files of dir a put installed whose
 *                                     verified mark still matches them
 *                                     (nothing is read again)
 *   relay <sha256> <size> <path> <bind-ip> <token> <members> <max-conc>
 *         <idle-s> <timeout-s>     -> port: a detached, bounded TCP server
 *                                     of that verified file for the rack
 *                                     (agent/ag-relay.h)
 *   fetch <ip> <port> <token> <sha256> <size> <mode-octal> <path>
 *         [<timeout-s>]            -> size, offset, received, sha256: the
 *                                     file from a relay into <path>.partial
 *                                     after the verified offset, installed
 *                                     only on a SHA-256 match
 *   running <argument>             -> running (count), pids: processes with
 *                                     an argv element exactly <argument>
 *   reboot <delay-s> <argv0> [argv...]
 *                                  -> ok at once; a detached child runs the
 *                                     command after delay-s so that the SSH
 *                                     session ends cleanly first
 *   quit                           -> ok, then the agent exits 0
 */
#ifndef AF_PROTO_H
#define AF_PROTO_H

#include <stddef.h>

#include "af-kv.h"

#define AF_PROTO_VERSION  1
#define AF_PROTO_GREETING "AFAGENT"
#define AF_PROTO_RESP     "AFP"
/* Longest request line or response header the peer must accept. */
#define AF_PROTO_MAX_LINE (256 * 1024)
/* Largest response body an orchestrator accepts. */
#define AF_PROTO_MAX_BODY (8 * 1024 * 1024)
/* Most "key=value" lines a response body may hold. */
#define AF_PROTO_MAX_KEYS 4096
/*
 * The node directory of ascend-fleet, and where the orchestrator installs
 * the agent: <dir>/<sha256>/<name>. Everything in it is owned by the login
 * user (or root) and writable by no one else, or the node is refused.
 */
#define AF_NODE_DIR   "/var/lib/ascend-fleet"
#define AF_AGENT_DIR  AF_NODE_DIR "/agent"
#define AF_AGENT_NAME "ascend-fleet-agent"
/* Where packages are staged and pushed for a rollout: <dir>/<name>. */
#define AF_PKG_DIR AF_NODE_DIR "/packages"

/*
 * Percent-encode n bytes of s into a new NUL-terminated string (the caller
 * frees it). Bytes outside [A-Za-z0-9._/:,+@=-] become %XX; the result
 * never holds spaces, newlines or '%' except as escapes.
 */
char *af_proto_encode(const char *s, size_t n);
/*
 * Decode in place; returns the decoded length (the string stays
 * NUL-terminated), or -1 on a malformed escape.
 */
long af_proto_decode(char *s);

/*
 * Serialise kv as "key=value\n" lines with encoded values (all vlens
 * bytes of each) into a new string; *len receives its length. The caller
 * frees it.
 */
char *af_proto_kv_format(const struct af_kv *kv, size_t *len);
/*
 * Parse a body of "key=value\n" lines into kv (appending); decoded values
 * keep every byte, NULs included (af_kv_getn). Returns 0; -1 on a malformed
 * line (no '=', a bad key, a bad escape or a raw NUL); -2 when the body
 * holds more than AF_PROTO_MAX_KEYS lines. On error kv holds the lines
 * before the bad one.
 */
int af_proto_kv_parse(struct af_kv *kv, const char *body, size_t len);

#endif /* AF_PROTO_H */

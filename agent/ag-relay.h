/* SPDX-License-Identifier: MIT */
/*
 * Rack relay of verified packages between agents (docs/scale.md).
 *
 * "relay" runs on a gateway node: it binds a TCP port on the address the
 * orchestrator names, answers with the port, and leaves a detached server
 * behind that hands out one file (a package the orchestrator has just
 * verified on this node) to clients that present the run's one-time token
 * and the file's SHA-256. The server is bounded: at most max_conc clients
 * at once, it exits once `members` clients were sent the file to its end,
 * after idle_s seconds without a client, or after timeout_s in all.
 *
 * "fetch" runs on a member node: it connects to such a server, asks for the
 * bytes after its own verified offset (ag-put.h), streams them into the
 * partial while hashing, and installs the file only when the full SHA-256
 * is the one the orchestrator gave it. Wrong bytes are discarded, a short
 * stream keeps the partial for the next attempt: a relay can make a fetch
 * fail, never install something else.
 *
 * Neither speaks the request protocol: they fill a key=value body or an
 * error text, and ag-serve.c answers.
 */
#ifndef AG_RELAY_H
#define AG_RELAY_H

#include <stddef.h>

struct af_kv;

/* First line a fetch sends on the TCP connection. */
#define AG_RELAY_MAGIC "AFRELAY1"

/*
 * Test-only fault injection: when this variable is "corrupt" in a relay's
 * environment, the server flips one byte of what it sends (tests prove that
 * members then refuse the file).
 */
#define AG_RELAY_FAULT_ENV "AF_AGENT_TEST_RELAY_FAULT"

/*
 * relay <sha256> <size> <path> <bind-address> <token> <members> <max-conc>
 *       <idle-s> <timeout-s>
 * Check that path (under root) is a regular file of that size under
 * /var/lib/ascend-fleet/ (no "/../"), bind, fork the detached server. Returns 0
 * with body holding port=, or -1 with *err set (a new string).
 */
int ag_relay_verb(const char *root,
                  char *const *argv,
                  size_t argc,
                  struct af_kv *body,
                  char **err);

/*
 * fetch <address> <port> <token> <sha256> <size> <mode-octal> <path>
 *       [<timeout-s>]
 * Returns 0 with body holding size=, offset= (bytes already verified
 * here), received= and sha256=, or -1 with *err set (a new string): the
 * relay refused, the stream ended early (the partial is kept), or the hash
 * did not match (nothing kept).
 */
int ag_fetch_verb(const char *root,
                  char *const *argv,
                  size_t argc,
                  struct af_kv *body,
                  char **err);

#endif /* AG_RELAY_H */

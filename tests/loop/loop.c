/* SPDX-License-Identifier: MIT */
/* Rack connection options for the loop tests (see loop.h). */
#include "loop.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

static ssh_key lt_key;

void
lt_init(void)
{
    struct af_err e;

    cr_assert_eq(conn_key_load(AF_RACK_DIR "/id_ed25519", &lt_key, &e), 0, "%s",
                 e.msg);
}

void
lt_fini(void)
{
    ssh_key_free(lt_key);
    lt_key = NULL;
}

void
lt_node(struct lt_node *n, size_t k, int unreachable)
{
    unsigned a, b, c, d;

    cr_assert_eq(sscanf(AF_RACK_BASE, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
    memset(n, 0, sizeof(*n));
    snprintf(n->name, sizeof(n->name), "node%zu", k + 1);
    /* .250 and up are never rack nodes (a rack has at most 200 here). */
    snprintf(n->host, sizeof(n->host), "%u.%u.%u.%u", a, b, c,
             unreachable ? 250u : d + (unsigned)k);
    n->o.name = n->name;
    n->o.host = n->host;
    n->o.port = 22;
    n->o.user = "root";
    n->o.key = lt_key;
    n->o.identity = AF_RACK_DIR "/id_ed25519";
    n->o.known_hosts = AF_RACK_DIR "/known_hosts";
    n->o.hostkey_policy = CONN_HOSTKEY_STRICT;
    n->o.connect_timeout_ms = 5000;
    n->o.handshake_timeout_ms = 5000;
    n->o.auth_timeout_ms = 5000;
}

/* SPDX-License-Identifier: MIT */
/*
 * The HCCL rank table (JSON) of a valid plan for a set of nodes.
 */
#include "hccn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "af-yaml.h"
#include "hccn-internal.h"
#include "inv.h"

#define HCCN_MAX_SERVER_ID 64

int
hccn_ranktable_json(const struct hccn_plan *plan,
                    const struct inv *inv,
                    const size_t *node_idx,
                    size_t n,
                    const char *const *server_ids,
                    char **json,
                    struct af_err *e)
{
    struct af_buf b;
    const char **ids = NULL;
    size_t k, q;
    int i, r = AF_EINTERNAL;

    *json = NULL;
    af_buf_init(&b, 0);
    if (!hccn_plan_valid(plan)) {
        r = af_err_set(e, AF_EINPUT, "rank table: the hccn plan has errors");
        goto out;
    }
    if (n == 0) {
        r = af_err_set(e, AF_EINPUT, "rank table: no nodes selected");
        goto out;
    }
    if (inv->nnodes != plan->nnodes) {
        r = af_err_set(e, AF_EINPUT,
                       "rank table: the plan is not of this inventory");
        goto out;
    }
    ids = af_calloc(n, sizeof(*ids));
    for (k = 0; k < n; k++) {
        const struct inv_node *node;

        if (node_idx[k] >= plan->nnodes) {
            r = af_err_set(e, AF_EINPUT,
                           "rank table: node index %zu out of "
                           "range",
                           node_idx[k]);
            goto out;
        }
        node = &inv->nodes[node_idx[k]];
        if (server_ids != NULL)
            ids[k] = server_ids[k];
        else
            ids[k] = node->address != NULL ? node->address : node->name;
        if (ids[k] == NULL || ids[k][0] == '\0' ||
            strlen(ids[k]) > HCCN_MAX_SERVER_ID) {
            r = af_err_set(e, AF_EINPUT,
                           "rank table: %s: server id must be 1 to %d bytes",
                           node->name, HCCN_MAX_SERVER_ID);
            goto out;
        }
        for (q = 0; q < k; q++) {
            if (node_idx[q] == node_idx[k]) {
                r = af_err_set(e, AF_EINPUT, "rank table: %s listed twice",
                               node->name);
                goto out;
            }
            if (strcmp(ids[q], ids[k]) == 0) {
                r = af_err_set(e, AF_EINPUT,
                               "rank table: server id '%s' used twice", ids[k]);
                goto out;
            }
        }
    }

    af_buf_printf(&b,
                  "{\n  \"version\": \"1.0\",\n  \"server_count\": "
                  "\"%zu\",\n  \"server_list\": [\n",
                  n);
    for (k = 0; k < n; k++) {
        af_buf_puts(&b, "    {\n      \"server_id\": ");
        af_buf_json_str(&b, ids[k]);
        af_buf_puts(&b, ",\n      \"device\": [\n");
        for (i = 0; i < plan->npus; i++) {
            const struct hccn_addr *a = hccn_plan_get(plan, node_idx[k], i);

            af_buf_printf(&b,
                          "        {\"device_id\": \"%d\", \"device_ip\": "
                          "\"%s\", \"rank_id\": \"%zu\"}%s\n",
                          i, a->address, k * (size_t)plan->npus + (size_t)i,
                          i + 1 < plan->npus ? "," : "");
        }
        af_buf_printf(&b, "      ]\n    }%s\n", k + 1 < n ? "," : "");
    }
    af_buf_puts(&b, "  ],\n  \"status\": \"completed\"\n}\n");
    *json = af_buf_steal(&b);
    r = 0;
out:
    free(ids);
    af_buf_free(&b);
    return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the agent's parsers of node tool output
 * (agent/ag-facts.c): the `npu-smi info` table, the "key: value" lines of
 * `npu-smi info -t board` and `hccn_tool -i N -ip -g`, and the first-line
 * extraction used for error messages. The parsers are static, so the file
 * is included here (nothing is copied).
 */
#include "../../agent/ag-facts.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"ipaddr", "netmask", "Firmware Version",
                                       ""};
    struct af_kv kv;
    char *text = af_strndup((const char *)data, size), *v;
    size_t i;

    af_kv_init(&kv);
    ag_facts_parse_npusmi(text, &kv);
    af_kv_free(&kv);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        v = ag_facts_colon_value(text, keys[i]);
        free(v);
    }
    v = ag_facts_first_line(text);
    free(v);
    free(text);
    return 0;
}

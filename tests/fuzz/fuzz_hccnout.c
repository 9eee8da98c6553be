/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the orchestrator's reader of hccn_tool answers
 * (orchestrator/ops/hccn-ops.c, hop_field): "ipaddr:", "netmask:",
 * "netdetect address:", "default gateway:", "link status:" values into
 * fixed buffers. The reader is static, so the file is included here.
 */
#include "../../orchestrator/ops/hccn-ops.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const prefixes[] = {
        "ipaddr:",          "netmask:",     "netdetect address:",
        "default gateway:", "link status:", ""};
    char *text = af_strndup((const char *)data, size);
    char small[16], big[64], one[1];
    size_t i;

    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        hop_field(text, prefixes[i], small, sizeof(small));
        if (strlen(small) >= sizeof(small))
            abort();
        hop_field(text, prefixes[i], big, sizeof(big));
        hop_field(text, prefixes[i], one, sizeof(one));
        if (one[0] != '\0')
            abort();
    }
    free(text);
    return 0;
}

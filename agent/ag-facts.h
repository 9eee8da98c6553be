/* SPDX-License-Identifier: MIT */
/*
 * Node facts for the "facts" request: OS, kernel, disk, installed and
 * loaded Ascend versions, NPU table and device IPs. Every key is always
 * present (empty when unknown) except the per-device npu.<i>.* and
 * hccn.<i>.* keys; agent/README.md lists them all. Missing software is a
 * fact, never an error.
 */
#ifndef AG_FACTS_H
#define AG_FACTS_H

#include "af-proto.h"

/* Timeout of each npu-smi call, seconds. */
#define AG_FACTS_NPUSMI_TIMEOUT 20
/* Timeout of each hccn_tool call, seconds. */
#define AG_FACTS_HCCN_TIMEOUT 10

/*
 * Collect the facts of the node seen under root ("/" for the real one) for
 * the Ascend install path install (e.g. /usr/local/Ascend) into kv.
 */
void ag_facts_collect(const char *root, const char *install, struct af_kv *kv);

/*
 * Parse the text of `npu-smi info` into kv: npu_count, npu_chip,
 * npu_loaded_version, npu_health_ok and npu.<i>.health/.chip/.bus.
 * Returns the number of NPU rows found.
 */
int ag_facts_parse_npusmi(const char *text, struct af_kv *kv);

#endif /* AG_FACTS_H */

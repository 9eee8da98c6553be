/* SPDX-License-Identifier: MIT */
/*
 * Bounds on what a node may report as its facts, checked in one place (the
 * agent client, for every "facts" answer, before any reader sees them), so
 * that a hostile or broken node costs bounded memory and time: a node that
 * reports more fails with "implausible facts: <why>". The agent keeps to
 * the same bounds when it collects.
 */
#ifndef AF_FACTS_H_COMMON
#define AF_FACTS_H_COMMON

#include <stddef.h>

#include "af-kv.h"

/* Largest "facts" answer body, bytes. */
#define AF_FACTS_MAX_BODY (1024 * 1024)
/* Most facts keys. */
#define AF_FACTS_MAX_KEYS 1024
/* Largest value of one fact, bytes. */
#define AF_FACTS_MAX_VALUE 4096
/* Most NPUs a node may have; npu_count, npu_health_ok and the <i> of
 * npu.<i>.* and hccn.<i>.* stay below or at it. */
#define AF_FACTS_MAX_NPUS 64

/*
 * 0 when kv is plausible node facts; else -1 with the reason in why (e.g.
 * "npu_count 2000000000 is above 64"). Missing keys are fine (old agents).
 */
int af_facts_check(const struct af_kv *kv, char *why, size_t whysz);

#endif /* AF_FACTS_H_COMMON */

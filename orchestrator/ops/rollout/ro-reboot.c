/* SPDX-License-Identifier: MIT */
/*
 * Rolling reboots and their proof: the node's boot_id is read and recorded
 * with the status "rebooting" before the reboot request (write-ahead), then
 * the node is watched with plain TCP connects to its SSH port
 * (sched_job_reopen_probe: every 200-500 ms, no SSH session, no process on
 * the node) until the port went down and accepts again, and only then
 * with a full session, which must answer with a different boot_id (else
 * the probes go on, until its reboot_timeout passes). After a settle window
 * its phase is verified from facts (ro-node.c). A node caught mid-reboot
 * by a resumed run is polled with full sessions every reboot_poll_ms.
 */

/* The first probe after the reboot request. */
#define RO_REBOOT_PROBE_FIRST_MS 200
/*
 * A port that never refused since the request (or since a session found
 * the old boot_id) counts as back only after this: until then it may be
 * the old system, not yet gone down.
 */
#define RO_REBOOT_DOWN_GRACE_MS 5000
#define _GNU_SOURCE
#include "ro-int.h"

#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "agc.h"
#include "inv.h"
#include "sess.h"
#include "st.h"

void
nj_wait_more(struct nj *j)
{
    struct ro *ro = j->ro;
    uint64_t now = uv_now(&ro->loop);

    if (ro_halted(ro)) {
        /* Recorded "rebooting" with the old boot_id: resume reconciles. */
        nj_detach(j);
        return;
    }
    if (j->state == NJ_RECONCILE) {
        if (now >= j->hard_deadline) {
            nj_fail(j, RO_F_UNREACHABLE,
                    "not reachable within %d s of resuming",
                    j->node->reboot_timeout);
            return;
        }
    } else if (now >= j->reboot_deadline) {
        nj_fail(j, RO_F_REBOOT,
                "did not come back with a new boot_id within %d s",
                j->node->reboot_timeout);
        return;
    }
    j->sess = NULL;
    if (j->state == NJ_REBOOT_WAIT) {
        /* TCP probes until sshd accepts again, then one full session. */
        sched_job_reopen_probe(j->job, RO_REBOOT_PROBE_FIRST_MS,
                               j->reboot_deadline - now, j->down_grace_ms);
        return;
    }
    sched_job_reopen(j->job, (uint64_t)ro->eff.reboot_poll_ms);
}

static void
nj_back(struct nj *j)
{
    struct ro *ro = j->ro;
    struct af_err e;

    if (ro_wrote(ro,
                 st_node_set_boot(ro->st, ro->run, j->node->name,
                                  j->boot_before, j->boot_after, &e),
                 &e, "the new boot_id") != 0 ||
        ro_wrote(ro,
                 st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                                ST_NODE_VERIFYING, NULL, &e),
                 &e, "a node back from its reboot") != 0) {
        nj_fail(j, RO_F_REBOOT, "%s", ro->write_msg);
        return;
    }
    ro_say(ro, j, "reboot", "back with boot_id %.8s (was %.8s)", j->boot_after,
           j->boot_before ? j->boot_before : "?");
    j->state = NJ_SETTLE;
    uv_timer_start(&j->timer, nj_timer_cb, (uint64_t)ro->eff.settle_s * 1000,
                   0);
}

static void
nj_probe_facts_in(struct agc *a,
                  int status,
                  const struct af_kv *body,
                  void *data)
{
    struct nj *j = data;
    const char *boot = af_kv_get(body, "boot_id");

    (void)a;
    if (status == 0 && boot != NULL && *boot &&
        (j->boot_before == NULL || strcmp(boot, j->boot_before) != 0)) {
        free(j->boot_after);
        j->boot_after = af_strdup(boot);
        nj_back(j);
        return;
    }
    /* Down, or the same boot: the reboot has not happened yet. */
    j->down_grace_ms = RO_REBOOT_DOWN_GRACE_MS;
    nj_wait_more(j);
}

static void
nj_probe_facts(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_probe_facts_in(a, status, body, data);
    ro_tx_leave(ro);
}

/* A probe session to a rebooting node is ready (or failed). */
void
nj_probe_ready(struct nj *j, struct sess *s, int status)
{
    (void)s;
    if (ro_halted(j->ro)) {
        nj_detach(j);
        return;
    }
    if (status < 0) {
        /*
         * Down, as a rebooting node should be for a while, or its sshd
         * accepts but is not serving yet: the next accept counts at once.
         */
        j->down_grace_ms = 0;
        nj_wait_more(j);
        return;
    }
    nj_request_facts(j, j->state == NJ_RECONCILE ? nj_reconcile_facts
                                                 : nj_probe_facts);
}

static void
nj_reboot_answer_in(struct agc *a,
                    int status,
                    const struct af_kv *body,
                    void *data)
{
    struct nj *j = data;
    struct ro *ro = j->ro;

    if (status < 0) {
        nj_fail(j, status == AF_ETIMEOUT ? RO_F_TIMEOUT : RO_F_REBOOT,
                "reboot request failed: %s",
                status == AF_EREMOTE && af_kv_get(body, "error")
                    ? af_kv_get(body, "error")
                    : agc_error(a));
        return;
    }
    ro_wrote(ro,
             st_event(ro->st, ro->run, j->node->name, "reboot-sent",
                      "boot_id %s", j->boot_before),
             NULL, "the reboot request");
    j->state = NJ_REBOOT_WAIT;
    j->down_grace_ms = RO_REBOOT_DOWN_GRACE_MS;
    nj_wait_more(j);
}

static void
nj_reboot_answer(struct agc *a,
                 int status,
                 const struct af_kv *body,
                 void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_reboot_answer_in(a, status, body, data);
    ro_tx_leave(ro);
}

/* The node's own reboot command (inventory), split on blanks. */
static void
nj_send_reboot(struct nj *j, struct agc *a)
{
    char *cmd = af_strdup(j->node->reboot_command), *save = NULL, *t;
    const char **words = af_calloc(strlen(cmd) + 3, sizeof(*words));
    size_t n = 0;

    words[n++] = "reboot";
    words[n++] = "1";
    for (t = strtok_r(cmd, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        words[n++] = t;
    agc_request(a, words, n, NULL, 0, 60000, nj_reboot_answer, j);
    free(cmd);
    free(words);
}

/* Fresh boot_id, durable "rebooting", then the reboot request. */
static void
nj_reboot_facts_in(struct agc *a,
                   int status,
                   const struct af_kv *body,
                   void *data)
{
    struct nj *j = data;
    struct ro *ro = j->ro;
    const char *boot = af_kv_get(body, "boot_id");
    struct af_err e;

    if (status < 0 || boot == NULL) {
        nj_agent_fail(j, status < 0 ? status : AF_EPROTO,
                      "facts before the reboot");
        return;
    }
    if (ro_halted(ro)) {
        /* Interrupted before the reboot was sent: resume sends it. */
        nj_detach(j);
        return;
    }
    free(j->boot_before);
    j->boot_before = af_strdup(boot);
    j->reboot_deadline =
        uv_now(&ro->loop) + (uint64_t)j->node->reboot_timeout * 1000;
    /* Write-ahead: "rebooting" with the old boot_id before the request. */
    if (st_node_set_boot(ro->st, ro->run, j->node->name, boot, NULL, &e) != 0 ||
        st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                       ST_NODE_REBOOTING, NULL, &e) != 0) {
        ro_wrote(ro, -1, &e, "the reboot");
        nj_fail(j, RO_F_REBOOT, "cannot record the reboot: %s", e.msg);
        return;
    }
    ro_say(ro, j, "reboot", "rebooting (boot_id %.8s)", boot);
    /* Write-ahead: "rebooting" is durable before the request is sent. */
    if (ro_tx_flush(ro) != 0) {
        nj_fail(j, RO_F_REBOOT, "cannot record the reboot: %s", ro->write_msg);
        return;
    }
    nj_send_reboot(j, a);
}

void
nj_reboot_facts(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_reboot_facts_in(a, status, body, data);
    ro_tx_leave(ro);
}

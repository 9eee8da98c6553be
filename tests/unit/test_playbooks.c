/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of playbooks/: loading and validating playbooks (every error
 * with its exact FILE:LINE:COL), stage expansion, per-node plans with the
 * shipped playbooks/ascend.yaml against synthetic facts and package lists,
 * and Ascend version ordering. Pure logic; the one directory listing test
 * uses a private temporary directory that it removes.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-err.h"
#include "af-proto.h"
#include "pb-plan.h"
#include "pb.h"

#define SHIPPED AF_SOURCE_DIR "/playbooks/ascend.yaml"
#define DATA    AF_SOURCE_DIR "/tests/unit/data/playbooks/"

#define DRV_X86    "Ascend-hdk-910-npu-driver_24.1.0_linux-x86_64.run"
#define DRV_ARM    "Ascend-hdk-910-npu-driver_24.1.0_linux-aarch64.run"
#define FW         "Ascend-hdk-910-npu-firmware_7.5.0.2.220.run"
#define CANN_X86   "Ascend-cann-toolkit_8.0.RC1_linux-x86_64.run"
#define TORCH_CPU  "torch-2.1.0+cpu-cp311-cp311-linux_x86_64.whl"
#define TORCH_CUDA "torch-2.1.0-cp311-cp311-manylinux1_x86_64.whl"
#define TORCH_ARM \
    "torch-2.1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
#define TNPU_X86                                               \
    "torch_npu-2.1.0.post3-cp311-cp311-manylinux_2_17_x86_64." \
    "manylinux2014_x86_64.whl"

/* ---- helpers ---------------------------------------------------------- */

static struct pb *
load_shipped(void)
{
    struct af_err e = {0, ""};
    struct pb *pb = NULL;
    int r = pb_load(SHIPPED, &pb, &e);

    cr_assert_eq(r, 0, "shipped playbook: %s", e.msg);
    return pb;
}

/*
 * Facts from NULL-terminated key, value pairs, on a node whose prereq stage
 * already created HwHiAiUser (a pair may say otherwise).
 */
static void
facts_set(struct af_kv *kv, ...)
{
    va_list ap;
    const char *k, *v;

    af_kv_init(kv);
    af_kv_set(kv, "hwhiaiuser_user", "yes");
    va_start(ap, kv);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        af_kv_set(kv, k, v);
    }
    va_end(ap);
}

/* Package list from NULL-terminated names, each 1000 bytes. */
static void
pkgs_set(struct pb_pkgs *p, ...)
{
    va_list ap;
    const char *n;

    p->n = 0;
    p->v = NULL;
    va_start(ap, p);
    while ((n = va_arg(ap, const char *)) != NULL)
        pb_plan_pkgs_add(p, n, 1000);
    va_end(ap);
}

static struct pb_plan *
plan_of(const struct pb *pb,
        const char *stages,
        const struct af_kv *facts,
        const struct pb_pkgs *pkgs,
        const struct af_kv *vars)
{
    struct pb_plan_input in = {stages, facts, pkgs, "/var/tmp/pk", vars};
    struct af_err e = {0, ""};
    struct pb_plan *plan = NULL;
    int r = pb_plan_node(pb, &in, &plan, &e);

    cr_assert_eq(r, 0, "plan %s: %s", stages, e.msg);
    cr_assert_not_null(plan);
    return plan;
}

static const struct pb_plan_step *
step_of(const struct pb_plan *plan, const char *name)
{
    size_t i;

    for (i = 0; i < plan->n_steps; i++)
        if (strcmp(plan->steps[i].name, name) == 0)
            return &plan->steps[i];
    cr_assert_fail("step %s not in plan", name);
    return NULL;
}

static char *
argv_join(const struct pb_plan_step *ps)
{
    size_t i, len = 1;
    char *s;

    cr_assert_not_null(ps->argv, "%s has no argv", ps->name);
    for (i = 0; i < ps->argc; i++)
        len += strlen(ps->argv[i]) + 1;
    s = calloc(1, len);
    for (i = 0; i < ps->argc; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, ps->argv[i]);
    }
    cr_assert_null(ps->argv[ps->argc], "argv is NULL-terminated");
    return s;
}

static void
expect_load_error(const char *yaml, const char *msg)
{
    struct af_err e = {0, ""};
    struct pb *pb = NULL;
    int r = pb_load_string("t.yaml", yaml, strlen(yaml), &pb, &e);

    cr_assert_neq(r, 0, "expected an error for:\n%s", yaml);
    cr_assert_null(pb);
    cr_assert_str_eq(e.msg, msg);
}

static void
expect_file_error(const char *file, const char *msg)
{
    struct af_err e = {0, ""};
    struct pb *pb = NULL;
    char *want = NULL;
    int r = pb_load(file, &pb, &e);

    cr_assert_eq(r, AF_EINPUT, "%s: r=%d %s", file, r, e.msg);
    cr_assert_null(pb);
    cr_assert(asprintf(&want, "%s:%s", file, msg) > 0);
    cr_assert_str_eq(e.msg, want);
    free(want);
}

/* ---- loading ---------------------------------------------------------- */

Test(pb, shipped_playbook_loads_with_all_stages)
{
    const char *names[] = {"prereq", "driver",    "firmware", "npu", "cann",
                           "torch",  "torch_npu", "apex",     "all"};
    struct pb *pb = load_shipped();
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert_not_null(pb_stage_find(pb, names[i]), "stage %s", names[i]);
    cr_assert_not_null(pb_stage_find(pb, "hccn"));
    cr_assert_str_eq(pb_stage_builtin(pb_stage_find(pb, "hccn")), "hccn",
                     "hccn is done by the orchestrator itself");
    cr_assert_str_eq(pb_var(pb, "install_path"), "/usr/local/Ascend");
    cr_assert_eq(pb_step_reboot(pb_step_find(pb, "driver")), 1);
    cr_assert_eq(pb_step_reboot(pb_step_find(pb, "cann_toolkit")), 0);
    pb_free(pb);
}

Test(pb, all_stage_is_phases_without_apex)
{
    struct pb *pb = load_shipped();
    struct pb_phases ph;
    struct af_err e = {0, ""};
    const char *want[] = {"prereq", "npu", "cann", "torch", "torch_npu"};
    size_t i, j;

    cr_assert_eq(pb_expand_stages(pb, "all", NULL, &ph, &e), 0, "%s", e.msg);
    cr_assert_eq(ph.n, 5);
    for (i = 0; i < ph.n; i++) {
        cr_assert_str_eq(ph.v[i].stage, want[i]);
        for (j = 0; j < ph.v[i].n_steps; j++)
            cr_assert_str_neq(pb_step_name(ph.v[i].steps[j]), "apex");
    }
    cr_assert_eq(ph.v[1].n_steps, 2, "npu is one phase of two steps");
    pb_phases_free(&ph);
    pb_free(pb);
}

Test(pb, expand_drops_repeated_steps_and_rejects_unknown_stage)
{
    struct pb *pb = load_shipped();
    struct pb_phases ph;
    struct af_err e = {0, ""};

    cr_assert_eq(pb_expand_stages(pb, " driver , npu", NULL, &ph, &e), 0);
    cr_assert_eq(ph.n, 2);
    cr_assert_eq(ph.v[0].n_steps, 1);
    cr_assert_str_eq(pb_step_name(ph.v[0].steps[0]), "driver");
    cr_assert_eq(ph.v[1].n_steps, 1);
    cr_assert_str_eq(pb_step_name(ph.v[1].steps[0]), "firmware");
    pb_phases_free(&ph);

    cr_assert_eq(pb_expand_stages(pb, "driver,drivr", NULL, &ph, &e),
                 AF_EINPUT);
    cr_assert(strstr(e.msg, "unknown stage 'drivr'") != NULL, "%s", e.msg);
    cr_assert_eq(ph.n, 0);
    cr_assert_eq(pb_expand_stages(pb, "driver,,cann", NULL, &ph, &e),
                 AF_EINPUT);
    cr_assert_str_eq(e.msg, "empty stage name in 'driver,,cann'");
    pb_free(pb);
}

Test(pb, file_errors_name_file_line_col)
{
    expect_file_error(DATA "bad-unknown-key.yaml",
                      "4:5: unknown key 'comand' in step");
    expect_file_error(DATA "bad-missing-step.yaml",
                      "6:15: stage 'hi' names unknown step 'goodbye'");
    expect_file_error(DATA "bad-placeholder.yaml",
                      "7:39: unknown placeholder '{instal_path}'");
    expect_file_error(DATA "bad-type.yaml", "5:14: timeout must be an integer");
}

Test(pb, yaml_syntax_error_has_position)
{
    struct af_err e = {0, ""};
    struct pb *pb = NULL;
    const char *y = "steps: [a\nstages: {}\n";

    cr_assert_eq(pb_load_string("t.yaml", y, strlen(y), &pb, &e), AF_EYAML);
    cr_assert(strncmp(e.msg, "t.yaml:", 7) == 0, "%s", e.msg);
}

Test(pb, schema_errors_are_exact)
{
    expect_load_error("steps: {}\nstages: {}\nextra: 1\n",
                      "t.yaml:3:1: unknown key 'extra' in playbook");
    expect_load_error("stages: {}\n", "t.yaml:1:1: playbook needs 'steps'");
    expect_load_error("steps:\n  a: {command: [\"/bin/true\"], "
                      "reboot: maybe}\nstages: {}\n",
                      "t.yaml:2:39: reboot must be true or false");
    expect_load_error("steps:\n  a: {command: \"/bin/true\"}\nstages: {}\n",
                      "t.yaml:2:16: command must be a list");
    expect_load_error("steps:\n  a: {command: [\"/bin/x\", \"{package}\"]}\n"
                      "stages: {}\n",
                      "t.yaml:2:27: unknown placeholder '{package}'");
    expect_load_error("steps:\n  a: {command: [\"/bin/x\", \"{version\"]}\n"
                      "stages: {}\n",
                      "t.yaml:2:27: unbalanced brace in '{version' "
                      "(write {{ or }} for a literal brace)");
    expect_load_error("steps:\n  a:\n    package: x.run\n"
                      "    version_from: \"x-v.run\"\n"
                      "    version_fact: f\n    command: [\"/bin/x\"]\n"
                      "stages: {}\n",
                      "t.yaml:4:19: version_from must hold {version} "
                      "exactly once");
    expect_load_error("steps:\n  a:\n    version: \"1\"\n"
                      "    command: [\"/bin/x\"]\nstages: {}\n",
                      "t.yaml:3:5: step 'a' has a target version but no "
                      "version_fact to compare it with");
    expect_load_error("steps:\n  a:\n    command: [\"/bin/x\"]\n"
                      "    codes: [0, 300]\nstages: {}\n",
                      "t.yaml:4:16: exit code must be between 0 and 255");
    expect_load_error("steps:\n  a:\n    command: [\"/bin/x\"]\n"
                      "    verify:\n      - {fact: f, equals: \"1\", "
                      "empty: true}\nstages: {}\n",
                      "t.yaml:5:32: verify check takes one of equals, "
                      "equals_fact, empty, in, truthy; not both 'equals' "
                      "and 'empty'");
    expect_load_error("steps:\n  a:\n    command: [\"/bin/x\"]\n"
                      "    when:\n      - {fact: f, equals: \"1\", "
                      "reason: r}\nstages: {}\n",
                      "t.yaml:5:32: unknown key 'reason' in when check");
    expect_load_error("steps:\n  a:\n    command: [\"/bin/x\"]\n"
                      "    follows: b\nstages: {}\n",
                      "t.yaml:4:14: step 'a' follows unknown step 'b'");
}

Test(pb, stage_errors_are_exact)
{
    const char *steps = "steps:\n  a: {command: [\"/bin/x\"]}\n"
                        "  b: {command: [\"/bin/y\"]}\n";
    char *y = NULL;

    cr_assert(asprintf(&y, "%sstages:\n  s: {stages: [nope]}\n", steps) > 0);
    expect_load_error(y, "t.yaml:5:16: stage 's' names unknown stage 'nope'");
    free(y);
    cr_assert(asprintf(&y,
                       "%sstages:\n  s: {stages: [t]}\n"
                       "  t: {stages: [s]}\n",
                       steps) > 0);
    expect_load_error(y, "t.yaml:5:3: stage 's' includes itself");
    free(y);
    cr_assert(asprintf(&y,
                       "%sstages:\n  sa: [a]\n  sb: [b]\n"
                       "  o:\n    order_when: {fact: f, empty: [sa, sb], "
                       "else: [sa]}\n",
                       steps) > 0);
    expect_load_error(y, "t.yaml:8:39: order_when: 'sb' is in empty but not "
                         "in else; both lists must name the same stages");
    free(y);
    cr_assert(asprintf(&y, "%sstages:\n  h: {builtin: hcnn}\n", steps) > 0);
    expect_load_error(y, "t.yaml:5:16: unknown builtin stage 'hcnn' "
                         "(known: hccn)");
    free(y);
    cr_assert(
        asprintf(&y, "%sstages:\n  s: {steps: [a], stages: [s]}\n", steps) > 0);
    expect_load_error(y, "t.yaml:5:19: stage 's' takes one of steps, stages, "
                         "order_when, builtin; not both 'steps' and "
                         "'stages'");
    free(y);
    cr_assert(asprintf(&y, "%sstages:\n  s: [a, b, a]\n", steps) > 0);
    expect_load_error(y, "t.yaml:5:13: stage 's' names step 'a' twice");
    free(y);
}

Test(pb, builtin_stage_is_a_phase_without_steps)
{
    const char *y = "steps:\n  a: {command: [\"/bin/x\"]}\n"
                    "stages:\n  s: [a]\n  hccn: {builtin: hccn}\n"
                    "  both: {stages: [s, hccn, hccn]}\n";
    struct af_err e = {0, ""};
    struct pb *pb = NULL;
    struct pb_phases ph;

    cr_assert_eq(pb_load_string("t.yaml", y, strlen(y), &pb, &e), 0, "%s",
                 e.msg);
    cr_assert_str_eq(pb_stage_builtin(pb_stage_find(pb, "hccn")), "hccn");
    cr_assert_null(pb_stage_builtin(pb_stage_find(pb, "s")));
    cr_assert_eq(pb_expand_stages(pb, "both", NULL, &ph, &e), 0);
    cr_assert_eq(ph.n, 2, "a builtin phase appears once");
    cr_assert_str_eq(ph.v[1].builtin, "hccn");
    cr_assert_eq(ph.v[1].n_steps, 0);
    pb_phases_free(&ph);
    pb_free(pb);
}

/* ---- plans with the shipped playbook ---------------------------------- */

Test(pb_plan, fresh_node_installs_driver_then_firmware_with_one_reboot)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *drv, *fw;
    char *a;

    facts_set(&f, "arch", "x86_64", "os_id", "debian", NULL);
    pkgs_set(&p, DRV_X86, DRV_ARM, FW, NULL);
    plan = plan_of(pb, "npu", &f, &p, NULL);
    cr_assert_eq(plan->n_phases, 1);
    cr_assert_eq(plan->n_steps, 2);
    cr_assert_str_eq(plan->steps[0].name, "driver");
    cr_assert_str_eq(plan->steps[1].name, "firmware");
    cr_assert_eq(plan->phases[0].reboot, 1);
    cr_assert_eq(plan->blocked, 0);
    drv = step_of(plan, "driver");
    cr_assert_eq(drv->action, PB_ACT_INSTALL);
    cr_assert_str_eq(drv->text, "install 24.1.0");
    cr_assert_str_eq(drv->package, DRV_X86);
    cr_assert_eq(drv->package_size, 1000);
    a = argv_join(drv);
    cr_assert_str_eq(a, "/bin/bash /var/tmp/pk/" DRV_X86
                        " --full --install-for-all --quiet --nox11");
    free(a);
    cr_assert_eq(drv->n_codes, 2);
    cr_assert_eq(drv->codes[0], 0);
    cr_assert_eq(drv->codes[1], 2);
    cr_assert_eq(drv->timeout, 1800);
    cr_assert_eq(drv->reboot, 1);
    cr_assert_eq(drv->n_verify, 4);
    cr_assert_str_eq(drv->verify[1].fact, "npu_loaded_version");
    cr_assert_str_eq(drv->verify[1].value, "24.1.0");
    cr_assert_str_eq(drv->verify[2].value, "8");
    fw = step_of(plan, "firmware");
    cr_assert_eq(fw->action, PB_ACT_INSTALL, "%s", fw->text);
    cr_assert_str_eq(fw->text, "install 7.5.0.2.220");
    a = argv_join(fw);
    cr_assert_str_eq(a, "/bin/bash /var/tmp/pk/" FW " --full --quiet --nox11");
    free(a);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, installed_older_driver_upgrades_firmware_first)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *drv, *fw;
    char *a;

    facts_set(&f, "arch", "aarch64", "driver_version", "23.0.rc2",
              "firmware_version", "6.4.12.1.241", "npu_loaded_version",
              "23.0.rc2", "npu_count", "8", "npu_health_ok", "8", NULL);
    pkgs_set(&p, DRV_X86, DRV_ARM, FW, NULL);
    plan = plan_of(pb, "npu", &f, &p, NULL);
    cr_assert_eq(plan->n_steps, 2);
    cr_assert_str_eq(plan->steps[0].name, "firmware");
    cr_assert_str_eq(plan->steps[1].name, "driver");
    drv = step_of(plan, "driver");
    cr_assert_eq(drv->action, PB_ACT_UPGRADE);
    cr_assert_str_eq(drv->text, "upgrade 23.0.rc2 -> 24.1.0");
    cr_assert_eq(drv->downgrade, 0);
    a = argv_join(drv);
    cr_assert_str_eq(a, "/bin/bash /var/tmp/pk/" DRV_ARM
                        " --upgrade --quiet --nox11");
    free(a);
    fw = step_of(plan, "firmware");
    cr_assert_str_eq(fw->text, "upgrade 6.4.12.1.241 -> 7.5.0.2.220");
    a = argv_join(fw);
    cr_assert_str_eq(a,
                     "/bin/bash /var/tmp/pk/" FW " --upgrade --quiet --nox11");
    free(a);
    cr_assert_eq(plan->phases[0].reboot, 1);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, newer_installed_driver_is_a_downgrade)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *drv;

    facts_set(&f, "arch", "x86_64", "driver_version", "24.1.0.1", NULL);
    pkgs_set(&p, DRV_X86, NULL);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    drv = step_of(plan, "driver");
    cr_assert_eq(drv->action, PB_ACT_UPGRADE);
    cr_assert_eq(drv->downgrade, 1);
    cr_assert_str_eq(drv->text, "downgrade 24.1.0.1 -> 24.1.0");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, node_at_target_is_skipped_without_reboot)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *drv, *fw;

    facts_set(&f, "arch", "x86_64", "driver_version", "24.1.0",
              "npu_loaded_version", "24.1.0", "firmware_version", "7.5.0.2.220",
              "npu_count", "8", "npu_health_ok", "8", NULL);
    pkgs_set(&p, DRV_X86, FW, NULL);
    plan = plan_of(pb, "npu", &f, &p, NULL);
    drv = step_of(plan, "driver");
    fw = step_of(plan, "firmware");
    cr_assert_eq(drv->action, PB_ACT_SKIP);
    cr_assert_str_eq(drv->text, "skip (already 24.1.0)");
    cr_assert_null(drv->argv);
    cr_assert_eq(drv->reboot_pending, 0);
    cr_assert_str_eq(fw->text, "skip (already 7.5.0.2.220)");
    cr_assert_eq(plan->phases[0].reboot, 0);
    cr_assert_eq(pb_plan_step_done(drv, &f), 1);
    cr_assert_eq(pb_plan_step_done(fw, &f), 1);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, installed_but_not_loaded_driver_still_reboots)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *drv;

    facts_set(&f, "arch", "x86_64", "driver_version", "24.1.0",
              "npu_loaded_version", "23.0.rc2", "npu_count", "8",
              "npu_health_ok", "8", NULL);
    pkgs_set(&p, DRV_X86, NULL);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    drv = step_of(plan, "driver");
    cr_assert_eq(drv->action, PB_ACT_SKIP);
    cr_assert_eq(drv->reboot_pending, 1);
    cr_assert_str_eq(drv->text, "skip (already 24.1.0; reboot pending: "
                                "npu_loaded_version is '23.0.rc2', expected "
                                "'24.1.0')");
    cr_assert_eq(plan->phases[0].reboot, 1);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, missing_package_for_arch_blocks_the_node)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *drv;

    facts_set(&f, "arch", "aarch64", NULL);
    pkgs_set(&p, DRV_X86, FW, NULL);
    plan = plan_of(pb, "npu", &f, &p, NULL);
    drv = step_of(plan, "driver");
    cr_assert_eq(drv->action, PB_ACT_BLOCKED);
    cr_assert_str_eq(drv->reason, "no package for aarch64 matching "
                                  "'Ascend-hdk-*-npu-driver_*_linux-"
                                  "aarch64.run'");
    cr_assert_str_eq(drv->text, "blocked (no package for aarch64 matching "
                                "'Ascend-hdk-*-npu-driver_*_linux-"
                                "aarch64.run')");
    cr_assert_eq(plan->blocked, 1);
    cr_assert_null(drv->argv);
    /* The firmware then lacks its driver. */
    cr_assert_str_eq(step_of(plan, "firmware")->text,
                     "blocked (driver not installed)");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);

    facts_set(&f, "arch", "ppc64le", NULL);
    pkgs_set(&p, DRV_X86, NULL);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    cr_assert_str_eq(plan->steps[0].text,
                     "blocked (the playbook names no package for ppc64le)");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, two_matching_packages_block)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;

    facts_set(&f, "arch", "x86_64", NULL);
    pkgs_set(&p, DRV_X86, "Ascend-hdk-910-npu-driver_23.0.rc2_linux-x86_64.run",
             NULL);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    cr_assert_eq(plan->steps[0].action, PB_ACT_BLOCKED);
    cr_assert_str_eq(plan->steps[0].reason,
                     "several packages match 'Ascend-hdk-*-npu-driver_*_"
                     "linux-x86_64.run': " DRV_X86 ", Ascend-hdk-910-npu-"
                     "driver_23.0.rc2_linux-x86_64.run: keep one version");
    cr_assert_eq(plan->blocked, 1);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, unhealthy_chips_gate_the_npu_steps)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;

    facts_set(&f, "arch", "x86_64", "driver_version", "23.0.rc2",
              "firmware_version", "6.4.12.1.241", "npu_count", "8",
              "npu_health_ok", "6", NULL);
    pkgs_set(&p, DRV_X86, FW, NULL);
    plan = plan_of(pb, "npu", &f, &p, NULL);
    cr_assert_str_eq(step_of(plan, "driver")->text,
                     "blocked (NPU health: 2 chips not OK)");
    cr_assert_str_eq(step_of(plan, "firmware")->text,
                     "blocked (NPU health: 2 chips not OK)");
    cr_assert_eq(plan->phases[0].reboot, 0);
    pb_plan_free(plan);
    af_kv_set(&f, "npu_health_ok", "7");
    plan = plan_of(pb, "driver", &f, &p, NULL);
    cr_assert_str_eq(plan->steps[0].text,
                     "blocked (NPU health: 1 chip not OK)");
    pb_plan_free(plan);
    af_kv_set(&f, "npu_health_ok", "8");
    plan = plan_of(pb, "driver", &f, &p, NULL);
    cr_assert_eq(plan->steps[0].action, PB_ACT_UPGRADE);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, torch_uses_cpu_build_on_x86_and_plain_on_aarch64)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    char *a;

    pkgs_set(&p, TORCH_CUDA, TORCH_CPU, TORCH_ARM, NULL);
    facts_set(&f, "arch", "x86_64", NULL);
    plan = plan_of(pb, "torch", &f, &p, NULL);
    cr_assert_str_eq(plan->steps[0].package, TORCH_CPU);
    cr_assert_str_eq(plan->steps[0].text, "install 2.1.0+cpu");
    a = argv_join(&plan->steps[0]);
    cr_assert_str_eq(
        a, "/usr/bin/python3 -m pip install --no-index "
           "--no-deps --break-system-packages /var/tmp/pk/" TORCH_CPU);
    free(a);
    pb_plan_free(plan);
    af_kv_free(&f);

    facts_set(&f, "arch", "aarch64", "torch_version", "2.1.0", NULL);
    plan = plan_of(pb, "torch", &f, &p, NULL);
    cr_assert_str_eq(plan->steps[0].package, TORCH_ARM);
    cr_assert_str_eq(plan->steps[0].text, "skip (already 2.1.0)");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, placeholders_take_vars_overrides_and_remote_paths)
{
    struct pb *pb = load_shipped();
    struct af_kv f, vars;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *tk, *wh, *env;
    char *a;

    facts_set(&f, "arch", "x86_64", "driver_version", "24.1.0", NULL);
    facts_set(&vars, "install_path", "/opt/Ascend", "python",
              "/opt/py/bin/python3", NULL);
    pkgs_set(&p, CANN_X86, NULL);
    p.v[0].remote = strdup("/var/lib/ascend-fleet/packages/ab12/" CANN_X86);
    plan = plan_of(pb, "cann", &f, &p, &vars);
    tk = step_of(plan, "cann_toolkit");
    cr_assert_str_eq(tk->text, "install 8.0.RC1");
    a = argv_join(tk);
    cr_assert_str_eq(a,
                     "/bin/bash /var/lib/ascend-fleet/packages/ab12/" CANN_X86
                     " --install --install-for-all "
                     "--install-path=/opt/Ascend --quiet --nox11");
    free(a);
    cr_assert_str_eq(tk->verify[0].value, "8.0.RC1");
    wh = step_of(plan, "cann_wheels");
    cr_assert_eq(wh->action, PB_ACT_RUN);
    cr_assert_str_eq(wh->to, "8.0.RC1");
    cr_assert_eq(wh->argc, 6);
    cr_assert_str_eq(wh->argv[0], "/bin/sh");
    cr_assert_str_eq(wh->argv[1], "-c");
    cr_assert(strstr(wh->argv[2], "/opt/Ascend") == NULL,
              "values are never pasted into the script");
    cr_assert_str_eq(wh->argv[3], "sh");
    cr_assert_str_eq(wh->argv[4], "/opt/Ascend");
    cr_assert_str_eq(wh->argv[5], "/opt/py/bin/python3");
    env = step_of(plan, "cann_env");
    cr_assert_eq(env->action, PB_ACT_RUN);
    cr_assert_str_eq(env->argv[4], "/opt/Ascend");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&vars);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, follows_steps_run_with_their_leader)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;

    /* Toolkit at target, wheels reported installed: all skipped. */
    facts_set(&f, "arch", "x86_64", "driver_version", "24.1.0", "cann_version",
              "8.0.RC1", "te_version", "0.4.0", "hccl_version", "0.1.0", NULL);
    pkgs_set(&p, CANN_X86, NULL);
    plan = plan_of(pb, "cann", &f, &p, NULL);
    cr_assert_str_eq(step_of(plan, "cann_toolkit")->text,
                     "skip (already 8.0.RC1)");
    cr_assert_str_eq(step_of(plan, "cann_wheels")->text, "skip (already done)");
    /* No fact tells whether the profile line exists: it is re-run. */
    cr_assert_str_eq(step_of(plan, "cann_env")->text, "run");
    pb_plan_free(plan);

    /* Toolkit upgrade: the new toolkit's wheels go in regardless. */
    af_kv_set(&f, "cann_version", "7.0.0");
    plan = plan_of(pb, "cann", &f, &p, NULL);
    cr_assert_str_eq(step_of(plan, "cann_toolkit")->text,
                     "upgrade 7.0.0 -> 8.0.RC1");
    cr_assert_eq(step_of(plan, "cann_wheels")->action, PB_ACT_RUN);
    pb_plan_free(plan);

    /* Toolkit blocked: so are its followers. */
    af_kv_set(&f, "driver_version", "");
    plan = plan_of(pb, "cann", &f, &p, NULL);
    cr_assert_str_eq(step_of(plan, "cann_toolkit")->text,
                     "blocked (driver not installed)");
    cr_assert_str_eq(step_of(plan, "cann_wheels")->text,
                     "blocked (cann_toolkit is blocked)");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, all_on_fresh_debian_node_projects_earlier_installs)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    char *a;

    facts_set(&f, "arch", "x86_64", "os_id", "debian", "dkms", "0",
              "kernel_headers", "0", "hwhiaiuser_group", "0", "hwhiaiuser_user",
              "0", NULL);
    pkgs_set(&p, DRV_X86, FW, CANN_X86, TORCH_CPU, TNPU_X86, NULL);
    plan = plan_of(pb, "all", &f, &p, NULL);
    cr_assert_eq(plan->blocked, 0);
    cr_assert_eq(plan->n_phases, 5);
    cr_assert_eq(step_of(plan, "build_deps_debian")->action, PB_ACT_RUN);
    a = argv_join(step_of(plan, "build_deps_debian"));
    cr_assert(strstr(a, "apt-get install -y make dkms gcc") != NULL, "%s", a);
    free(a);
    cr_assert_str_eq(step_of(plan, "build_deps_rpm")->text,
                     "skip (not for this node: os_id is 'debian', not one "
                     "of the listed values)");
    a = argv_join(step_of(plan, "hwhiaiuser_user"));
    cr_assert_str_eq(a, "/usr/sbin/useradd -g HwHiAiUser -d "
                        "/home/HwHiAiUser -m -s /bin/bash HwHiAiUser");
    free(a);
    cr_assert_str_eq(plan->steps[4].name, "driver");
    cr_assert_str_eq(plan->steps[5].name, "firmware");
    cr_assert_eq(step_of(plan, "cann_toolkit")->action, PB_ACT_INSTALL);
    cr_assert_eq(step_of(plan, "torch_npu")->action, PB_ACT_INSTALL);
    cr_assert_eq(plan->phases[0].reboot, 0);
    cr_assert_eq(plan->phases[1].reboot, 1);
    cr_assert_eq(plan->phases[2].reboot, 0);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);

    /* Prereqs present: nothing to do there. */
    facts_set(&f, "arch", "x86_64", "os_id", "ubuntu", "dkms", "yes",
              "kernel_headers", "1", "hwhiaiuser_group", "true",
              "hwhiaiuser_user", "1", NULL);
    plan = plan_of(pb, "prereq", &f, NULL, NULL);
    cr_assert_str_eq(step_of(plan, "build_deps_debian")->text,
                     "skip (already done)");
    cr_assert_str_eq(step_of(plan, "hwhiaiuser_group")->text,
                     "skip (already done)");
    cr_assert_eq(pb_plan_step_done(step_of(plan, "hwhiaiuser_user"), &f), 1);
    pb_plan_free(plan);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, firmware_alone_on_fresh_node_needs_the_driver)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;

    facts_set(&f, "arch", "x86_64", NULL);
    pkgs_set(&p, FW, NULL);
    plan = plan_of(pb, "firmware", &f, &p, NULL);
    cr_assert_str_eq(plan->steps[0].text, "blocked (driver not installed)");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, step_done_and_verify_follow_the_facts)
{
    struct pb *pb = load_shipped();
    struct af_kv before, after;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *drv;
    char *why = NULL;

    facts_set(&before, "arch", "x86_64", "driver_version", "23.0.rc2",
              "npu_loaded_version", "23.0.rc2", "npu_count", "8",
              "npu_health_ok", "8", NULL);
    pkgs_set(&p, DRV_X86, NULL);
    plan = plan_of(pb, "driver", &before, &p, NULL);
    drv = &plan->steps[0];
    cr_assert_eq(pb_plan_step_done(drv, &before), 0);
    cr_assert_eq(pb_plan_step_verify(drv, &before, &why), 0);
    cr_assert_str_eq(why, "driver_version is '23.0.rc2', expected '24.1.0'");
    free(why);
    why = NULL;

    /* Installed, not yet rebooted: done (never re-run), not verified. */
    facts_set(&after, "arch", "x86_64", "driver_version", "24.1.0",
              "npu_loaded_version", "23.0.rc2", "npu_count", "8",
              "npu_health_ok", "8", NULL);
    cr_assert_eq(pb_plan_step_done(drv, &after), 1);
    cr_assert_eq(pb_plan_step_verify(drv, &after, NULL), 0);

    /* After the reboot, one chip short: verify names it. */
    af_kv_set(&after, "npu_loaded_version", "24.1.0");
    af_kv_set(&after, "npu_count", "7");
    af_kv_set(&after, "npu_health_ok", "7");
    cr_assert_eq(pb_plan_step_verify(drv, &after, &why), 0);
    cr_assert_str_eq(why, "npu_count is '7', expected '8'");
    free(why);
    why = NULL;
    af_kv_set(&after, "npu_count", "8");
    cr_assert_eq(pb_plan_step_verify(drv, &after, &why), 0);
    cr_assert_str_eq(why, "npu_health_ok is '7', npu_count is '8'");
    free(why);
    af_kv_set(&after, "npu_health_ok", "8");
    cr_assert_eq(pb_plan_step_verify(drv, &after, NULL), 1);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&before);
    af_kv_free(&after);
    pb_free(pb);
}

Test(pb_plan, unknown_stage_is_an_input_error)
{
    struct pb *pb = load_shipped();
    struct pb_plan_input in = {"nosuch", NULL, NULL, NULL, NULL};
    struct af_err e = {0, ""};
    struct pb_plan *plan = (struct pb_plan *)&e;

    cr_assert_eq(pb_plan_node(pb, &in, &plan, &e), AF_EINPUT);
    cr_assert_null(plan);
    cr_assert(strncmp(e.msg, "unknown stage 'nosuch'", 22) == 0, "%s", e.msg);
    pb_free(pb);
}

Test(pb_plan, version_is_read_with_the_capture_pattern)
{
    const char *y =
        "steps:\n"
        "  x:\n"
        "    package: \"tool_*_{arch}.run\"\n"
        "    version_from: \"tool_{version}_{arch}\"\n"
        "    version_fact: tool_version\n"
        "    command: [\"/bin/sh\", \"{package}\", \"--v={version}\", "
        "\"{{lit}}\", \"{arch}\"]\n"
        "  y:\n"
        "    package: \"odd-*.run\"\n"
        "    version_from: \"odd-v{version}.run\"\n"
        "    version_fact: odd_version\n"
        "    command: [\"/bin/true\"]\n"
        "stages:\n  s: [x]\n  o: [y]\n";
    struct af_err e = {0, ""};
    struct pb *pb = NULL;
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    char *a;

    cr_assert_eq(pb_load_string("t.yaml", y, strlen(y), &pb, &e), 0, "%s",
                 e.msg);
    facts_set(&f, "arch", "aarch64", NULL);
    pkgs_set(&p, "tool_1.2.rc3_aarch64.run", "odd-1.0.run", NULL);
    plan = plan_of(pb, "s", &f, &p, NULL);
    a = argv_join(&plan->steps[0]);
    cr_assert_str_eq(a, "/bin/sh /var/tmp/pk/tool_1.2.rc3_aarch64.run "
                        "--v=1.2.rc3 {lit} aarch64");
    free(a);
    pb_plan_free(plan);
    plan = plan_of(pb, "o", &f, &p, NULL);
    cr_assert_str_eq(plan->steps[0].text, "blocked (cannot read the version "
                                          "of odd-1.0.run with "
                                          "'odd-v{version}.run')");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, empty_package_file_is_blocked)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p = {0, NULL};
    struct pb_plan *plan;

    facts_set(&f, "arch", "x86_64", NULL);
    pb_plan_pkgs_add(&p, DRV_X86, 0);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    cr_assert_str_eq(plan->steps[0].text,
                     "blocked (package " DRV_X86 " is empty)");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, list_packages_reads_regular_files_sorted)
{
    char dir[] = "/tmp/pb-test-XXXXXX";
    char path[256];
    struct pb_pkgs p;
    struct af_err e = {0, ""};
    const char *names[] = {"b.run", "a.whl", ".hidden"};
    size_t i;
    FILE *fp;

    cr_assert_not_null(mkdtemp(dir));
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        fp = fopen(path, "w");
        cr_assert_not_null(fp);
        fprintf(fp, "%*s", (int)(10 * (i + 1)), "");
        fclose(fp);
    }
    snprintf(path, sizeof(path), "%s/subdir", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    cr_assert_eq(pb_plan_list_packages(dir, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.n, 2);
    cr_assert_str_eq(p.v[0].name, "a.whl");
    cr_assert_eq(p.v[0].size, 20);
    cr_assert_str_eq(p.v[1].name, "b.run");
    cr_assert_eq(p.v[1].size, 10);
    pb_plan_pkgs_free(&p);
    rmdir(path);
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    cr_assert_eq(rmdir(dir), 0);
    cr_assert_lt(pb_plan_list_packages(dir, &p, &e), 0);
    cr_assert(strstr(e.msg, dir) != NULL, "%s", e.msg);
}

/* ---- versions and checks ---------------------------------------------- */

Test(pb, ascend_versions_order)
{
    const char *asc[] = {"23.0.rc2", "23.0.rc3",   "23.0.0",
                         "24.1.rc1", "24.1.RC2",   "24.1.0",
                         "24.1.0.1", "25.0.rc1.1", "25.0.0"};
    size_t i, j, n = sizeof(asc) / sizeof(asc[0]);

    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            int c = pb_version_cmp(asc[i], asc[j]);

            if (i < j)
                cr_assert_lt(c, 0, "%s < %s", asc[i], asc[j]);
            else if (i > j)
                cr_assert_gt(c, 0, "%s > %s", asc[i], asc[j]);
            else
                cr_assert_eq(c, 0, "%s == %s", asc[i], asc[j]);
        }
    }
    cr_assert_lt(pb_version_cmp("8.0.RC1", "8.0.0"), 0);
    cr_assert_lt(pb_version_cmp("2.1.0", "2.1.0.post3"), 0);
    cr_assert_lt(pb_version_cmp("2.1.0rc1", "2.1.0"), 0);
    cr_assert_eq(pb_version_cmp("2.1.0+cpu", "2.1.0"), 0);
    cr_assert_lt(pb_version_cmp("7.1.0.7.220", "7.5.0.2.220"), 0);
    cr_assert_lt(pb_version_cmp("9.0", "10.0"), 0);
}

Test(pb, checks_report_why_they_fail)
{
    struct af_kv f;
    char debian[] = "debian", ubuntu[] = "ubuntu";
    char os_id[] = "os_id", dkms[] = "dkms", x[] = "x", missing[] = "missing";
    char *list[] = {debian, ubuntu};
    struct pb_check c = {os_id, PB_CHECK_IN, NULL, list, 2, NULL};
    char *why = NULL;

    facts_set(&f, "os_id", "ubuntu", "dkms", "Yes", "x", "", NULL);
    cr_assert_eq(pb_check_eval(&c, &f, NULL), 1);
    c.fact = dkms;
    c.op = PB_CHECK_TRUE;
    cr_assert_eq(pb_check_eval(&c, &f, NULL), 1);
    c.op = PB_CHECK_FALSE;
    cr_assert_eq(pb_check_eval(&c, &f, NULL), 0);
    c.fact = x;
    c.op = PB_CHECK_EMPTY;
    cr_assert_eq(pb_check_eval(&c, &f, NULL), 1);
    c.fact = missing;
    cr_assert_eq(pb_check_eval(&c, NULL, NULL), 1, "no facts read as empty");
    c.op = PB_CHECK_NOT_EMPTY;
    cr_assert_eq(pb_check_eval(&c, &f, &why), 0);
    cr_assert_str_eq(why, "missing is missing");
    free(why);
    af_kv_free(&f);
}

Test(pb_plan, driver_without_hwhiaiuser_is_blocked_unless_prereq_runs_first)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan = NULL;
    struct af_err e = {0, ""};
    struct pb_plan_input in = {"npu", NULL, NULL, NULL, NULL};

    facts_set(&f, "arch", "x86_64", "os_id", "debian", "hwhiaiuser_user", "no",
              NULL);
    pkgs_set(&p, "Ascend-hdk-910-npu-driver_24.1.0_linux-x86_64.run",
             "Ascend-hdk-910-npu-firmware_7.5.0.2.220.run", NULL);
    in.facts = &f;
    in.pkgs = &p;
    cr_assert_eq(pb_plan_node(pb, &in, &plan, &e), 0, "%s", e.msg);
    cr_assert_eq(step_of(plan, "driver")->action, PB_ACT_BLOCKED);
    cr_assert(strstr(step_of(plan, "driver")->text, "HwHiAiUser") != NULL, "%s",
              step_of(plan, "driver")->text);
    pb_plan_free(plan);
    plan = NULL;
    in.stages = "prereq,npu";
    cr_assert_eq(pb_plan_node(pb, &in, &plan, &e), 0, "%s", e.msg);
    cr_assert_eq(step_of(plan, "driver")->action, PB_ACT_INSTALL,
                 "prereq creates the user first: %s",
                 step_of(plan, "driver")->text);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

/* ---- values that reach the node ------------------------------------------ */

Test(pb, unsafe_vars_are_rejected_where_written)
{
    expect_load_error("vars:\n  install_path: \"/opt/asc$(touch X)\"\n"
                      "steps: {}\nstages: {}\n",
                      "t.yaml:2:17: var 'install_path' character '$' is not "
                      "allowed (allowed: letters, digits and / . _ - + , : @ "
                      "% =), got '/opt/asc$(touch X)'");
    expect_load_error("vars:\n  install_path: opt/x\nsteps: {}\nstages: {}\n",
                      "t.yaml:2:17: var 'install_path' must be an absolute "
                      "path, got 'opt/x'");
    expect_load_error("vars:\n  python: \"/usr/bin/py thon\"\n"
                      "steps: {}\nstages: {}\n",
                      "t.yaml:2:11: var 'python' spaces are not allowed "
                      "(allowed: letters, digits and / . _ - + , : @ % =), "
                      "got '/usr/bin/py thon'");
    expect_load_error("vars:\n  python: ~\nsteps: {}\nstages: {}\n",
                      "t.yaml:2:11: var 'python' has no value (null)");
    expect_load_error("vars:\n  n: \"8`id`\"\nsteps: {}\nstages: {}\n",
                      "t.yaml:2:6: var 'n' character '`' is not allowed "
                      "(allowed: letters, digits and / . _ - + , : @ % =), "
                      "got '8`id`'");
    expect_load_error("vars:\n  n: \"a\\nb\"\nsteps: {}\nstages: {}\n",
                      "t.yaml:2:6: var 'n' byte 0x0a is not allowed "
                      "(allowed: letters, digits and / . _ - + , : @ % =), "
                      "got 'a\nb'");
    expect_load_error("vars:\n  install_path: /opt/../etc\n"
                      "steps: {}\nstages: {}\n",
                      "t.yaml:2:17: var 'install_path' must not hold '.' or "
                      "'..' parts, got '/opt/../etc'");
}

Test(pb, null_strings_are_rejected_not_read_as_tilde)
{
    expect_load_error("steps:\n  a: {command: [\"/bin/echo\", ~]}\n"
                      "stages: {s: [a]}\n",
                      "t.yaml:2:30: command has no value (null); quote it "
                      "for a literal");
    expect_load_error("steps:\n  a:\n    description:\n"
                      "    command: [/bin/true]\nstages: {s: [a]}\n",
                      "t.yaml:3:17: description has no value (null); quote "
                      "it for a literal");
}

Test(pb_plan, unsafe_var_override_is_refused)
{
    struct pb *pb = load_shipped();
    struct af_kv f, vars;
    struct pb_plan_input in = {"cann", NULL, NULL, NULL, &vars};
    struct af_err e = {0, ""};
    struct pb_plan *plan = (struct pb_plan *)1;

    facts_set(&f, "arch", "aarch64", NULL);
    in.facts = &f;
    af_kv_init(&vars);
    af_kv_set(&vars, "install_path", "/opt/asc;reboot");
    cr_assert_eq(pb_plan_node(pb, &in, &plan, &e), AF_EINPUT);
    cr_assert_null(plan);
    cr_assert_str_eq(e.msg, "var 'install_path' character ';' is not allowed "
                            "(allowed: letters, digits and / . _ - + , : @ % "
                            "=), got '/opt/asc;reboot'");
    af_kv_free(&vars);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, package_without_a_well_formed_version_is_blocked)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *ps;

    facts_set(&f, "arch", "aarch64", NULL);
    pkgs_set(&p, "Ascend-hdk-910-npu-driver_latest_linux-aarch64.run", NULL);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    ps = step_of(plan, "driver");
    cr_assert_eq(ps->action, PB_ACT_BLOCKED);
    cr_assert_null(ps->to);
    cr_assert_null(ps->argv);
    cr_assert_str_eq(
        ps->reason, "'latest' read from "
                    "Ascend-hdk-910-npu-driver_latest_linux-aarch64.run with "
                    "'npu-driver_{version}_linux' is not a version (digits and "
                    "letters in parts joined by . - _ +, starting with a "
                    "digit)");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    pkgs_set(&p, "Ascend-hdk-910-npu-driver_24..1_linux-aarch64.run", NULL);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    cr_assert_eq(step_of(plan, "driver")->action, PB_ACT_BLOCKED);
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    /* Well-formed shapes of the shipped file names still plan. */
    pkgs_set(&p, "Ascend-hdk-910-npu-driver_24.1.0_linux-aarch64.run",
             "Ascend-cann-toolkit_8.0.RC1_linux-aarch64.run",
             "torch-2.1.0+cpu-cp311-cp311-linux_x86_64.whl", NULL);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    cr_assert_str_eq(step_of(plan, "driver")->to, "24.1.0");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

Test(pb_plan, package_with_an_unsafe_file_name_is_blocked)
{
    struct pb *pb = load_shipped();
    struct af_kv f;
    struct pb_pkgs p;
    struct pb_plan *plan;
    const struct pb_plan_step *ps;

    facts_set(&f, "arch", "aarch64", NULL);
    pkgs_set(&p, "Ascend-hdk-9$(id)-npu-driver_24.1.0_linux-aarch64.run", NULL);
    plan = plan_of(pb, "driver", &f, &p, NULL);
    ps = step_of(plan, "driver");
    cr_assert_eq(ps->action, PB_ACT_BLOCKED);
    cr_assert_str_eq(ps->reason,
                     "package file name "
                     "'Ascend-hdk-9$(id)-npu-driver_24.1.0_linux-aarch64.run'"
                     ": character '$' is not allowed (allowed: letters, "
                     "digits and / . _ - + , : @ % =)");
    pb_plan_free(plan);
    pb_plan_pkgs_free(&p);
    af_kv_free(&f);
    pb_free(pb);
}

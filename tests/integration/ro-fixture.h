/* SPDX-License-Identifier: MIT */
/*
 * The fixture shared by the rollout integration tests (test_rollout.c,
 * test_lifecycle.c): per-test directory, inventory and state file, the
 * vendor package cache, running ascend-fleet in the foreground or the
 * background, reading the state file and the nodes' event logs.
 */
#ifndef AF_RO_FIXTURE_H
#define AF_RO_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

/* Bounds (seconds) of one rollout command. */
#define RO_RUN_TIMEOUT   300
#define RO_SHORT_TIMEOUT 60
/* Simulated install and reboot times set on every node of a test. */
#define RO_INSTALL_S "0.3"
#define RO_REBOOT_S  "1"

/* The per-test fixture: a temporary directory, the nodes, a background
 * ascend-fleet (0 when none). Each test runs in its own process. */
struct ro_ctx {
    char dir[64];
    char state[128];
    char inv[128];
    char bgout[128];
    int first, last;
    pid_t bg;
    const char *user; /* login user (NULL: root) */
    int become;       /* become: sudo in the inventory */
};

extern struct ro_ctx ctx;

#define LAST_RUN "(SELECT max(id) FROM runs)"

void sleep_ms(long ms);
long long now_ms(void);
void node_name(char *buf, size_t n, int i);
char *node_words(int first, int last);
unsigned build_key(void);
void rm_rf(const char *path);
const char *packages(const char *tag);
void fleet(struct th_result *r, int timeout_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
long long sql_int(const char *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *sql_text(const char *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *run_status(void);
char *node_status(const char *node);
char *node_reason(const char *node);
int count_events(const char *node, const char *what);
int event_line(const char *node, const char *what);
char *loaded_driver(const char *node);
void ctl_set(int i, const char *file, const char *value);
void set_times(const char *install_s, const char *reboot_s);
void write_inventory(int reboot_timeout);
void ro_setup(int first, int last, const char *state);
void ro_fini(void);
void spawn_fleet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int wait_bg(int timeout_s);
void kill9_bg(void);
char *bg_output(void);
int node_runs(const char *node, const char *pattern);
int wait_sql_geq(long long want, int timeout_s, const char *sql);
void expect_npu_done_once(void);
char *plan_lines(const char *out);

#endif /* AF_RO_FIXTURE_H */

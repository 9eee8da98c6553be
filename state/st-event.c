/* SPDX-License-Identifier: MIT */
/* SQLite state file, the append-only event log. */
#include "st.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "st-internal.h"

static const char sql_event_add[] =
    "INSERT INTO events (run, ts, node, kind, text) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_event_list[] =
    "SELECT id, run, ts, node, kind, text FROM events "
    "WHERE id > ?2 AND (?1 = 0 OR run = ?1) ORDER BY id";

int
st_event(struct st *st,
         int64_t run,
         const char *node,
         const char *kind,
         const char *fmt,
         ...)
{
    char text[ST_EVENT_TEXT_MAX + 1];
    sqlite3_stmt *s = NULL;
    va_list ap;
    int r = AF_EINTERNAL, w;

    va_start(ap, fmt);
    w = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (w < 0)
        snprintf(text, sizeof(text), "(unformattable event text)");
    else if ((size_t)w >= sizeof(text))
        memcpy(text + sizeof(text) - 4, "...", 4);
    if ((r = st__writable(st, "append an event", NULL)) != 0 ||
        (r = st__prep(st, SQL_EVENT_ADD, sql_event_add, &s, NULL)) != 0)
        goto out;
    if (run > 0)
        sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int64(s, 2, st__now_ms());
    st__bind_str(s, 3, node);
    st__bind_str(s, 4, kind ? kind : "note");
    st__bind_str(s, 5, text);
    r = sqlite3_step(s) == SQLITE_DONE ? 0 : AF_EDB;
out:
    st__fin(&s);
    return r;
}

static int
st_read_event(struct st *st, sqlite3_stmt *s, void *row, struct af_err *e)
{
    struct st_event *ev = row;

    (void)st;
    (void)e;
    ev->id = sqlite3_column_int64(s, 0);
    ev->run = sqlite3_column_int64(s, 1);
    ev->ts = sqlite3_column_int64(s, 2);
    ev->node = st__col_str(s, 3);
    ev->kind = st__col_str(s, 4);
    ev->text = st__col_str(s, 5);
    return 0;
}

void
st_events_free(struct st_event *events, size_t n)
{
    size_t i;

    if (events == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(events[i].node);
        free(events[i].kind);
        free(events[i].text);
    }
    free(events);
}

static void
st_events_free_cb(void *rows, size_t n)
{
    st_events_free(rows, n);
}

int
st_event_list(struct st *st,
              int64_t run,
              int64_t after_id,
              struct st_event **out,
              size_t *n,
              struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if ((r = st__prep(st, SQL_EVENT_LIST, sql_event_list, &s, e)) == 0) {
        sqlite3_bind_int64(s, 1, run);
        sqlite3_bind_int64(s, 2, after_id);
        r = st__collect(st, s, sizeof(**out), st_read_event, st_events_free_cb,
                        "list events", (void **)out, n, e);
    }
    st__fin(&s);
    return r;
}

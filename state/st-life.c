/* SPDX-License-Identifier: MIT */
/* Run lifecycle writes for resume (see st-life.h). */
#include "st-life.h"

#include <inttypes.h>

#include <sqlite3.h>

#include "af-err.h"
#include "st-internal.h"

int
st_run_set_options(struct st *st,
                   int64_t run,
                   const char *options_json,
                   const char *note,
                   struct af_err *e)
{
    static const char sql[] =
        "UPDATE runs SET options = ?2, cmdline = cmdline || ?3, "
        "updated = ?4 WHERE id = ?1";
    sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = st__writable(st, "change a run's options", e)) != 0)
        return r;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return st__dberr(st, e, "prepare run options");
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, options_json);
    st__bind_str(s, 3, note ? note : "");
    sqlite3_bind_int64(s, 4, st__now_ms());
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_CHECK)
        r = af_err_set(e, AF_EINPUT, "run options are not valid JSON: %s",
                       options_json);
    else if (rc != SQLITE_DONE)
        r = st__dberr(st, e, "set run options");
    else if (sqlite3_changes(st->db) == 0)
        r = af_err_set(e, AF_ENOTFOUND, "no run %" PRId64, run);
    else
        r = 0;
    sqlite3_finalize(s);
    return r;
}

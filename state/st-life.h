/* SPDX-License-Identifier: MIT */
/*
 * Run lifecycle writes that resume needs beyond st.h: the options a run
 * continues with, when the operator changed them on resume's command line.
 */
#ifndef AF_ST_LIFE_H
#define AF_ST_LIFE_H

#include <stdint.h>

#include "st.h"

struct af_err;

/*
 * Replace run's options (a JSON object text) and append note to its
 * command line (" | resume --batch 2", say; NULL appends nothing), in one
 * statement. Returns 0, AF_ENOTFOUND when there is no such run, AF_EINPUT
 * when options_json is not valid JSON or the file is read-only, or AF_EDB.
 */
ST_MUST_CHECK int st_run_set_options(struct st *st,
                                     int64_t run,
                                     const char *options_json,
                                     const char *note,
                                     struct af_err *e);

#endif /* AF_ST_LIFE_H */

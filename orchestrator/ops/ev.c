/* SPDX-License-Identifier: MIT */
/* Engine events (see ev.h). */
#include "ev.h"

#include <string.h>

void
ev_init(struct ev *e, enum ev_kind kind, const char *node)
{
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->node = node;
    e->exit_code = -1;
    e->duration_ms = -1;
}

void
ev_emit(const struct ev_sink *sink, const struct ev *e)
{
    if (sink != NULL && sink->emit != NULL)
        sink->emit(sink->ctx, e);
}

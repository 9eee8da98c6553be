/* SPDX-License-Identifier: MIT */
/*
 * Hostlist patterns in the pdsh / ClusterShell syntax: "npu[001-032]",
 * "r[1-2]n[01-04]", "login01,npu[1-2]", "10.1.0.[11-42]". Expansion turns a
 * pattern into names; folding turns names back into the shortest pattern we
 * know how to build. Pure string work: no lookups, no I/O.
 */
#ifndef AF_HOSTLIST_H
#define AF_HOSTLIST_H

#include <stddef.h>

struct af_err;

/* Upper bound on the names one pattern may expand to. */
#define HL_MAX_NAMES 1000000

/*
 * Expand pattern into names, in pattern order: top-level terms are separated
 * by commas (a comma inside [] belongs to the range), and within a term the
 * bracket ranges are combined as a cartesian product, leftmost range varying
 * slowest ("r[1-2]n[1-2]" gives r1n1 r1n2 r2n1 r2n2). A range is a list of
 * numbers or LO-HI spans; a bound written with a leading zero sets the width
 * ("[08-10]" gives 08 09 10, "[8-10]" gives 8 9 10). Spaces around top-level
 * terms are ignored. Duplicates are kept, so the result of a pattern can be
 * paired position by position with that of another.
 *
 * On success returns 0 and *names is a new array of *n (at least one)
 * strings that the caller frees with hl_names_free. On failure returns
 * AF_EINPUT with *names NULL and *n 0, and e->msg names the problem and the
 * offending text: empty pattern or term, unbalanced or nested brackets, an
 * empty range or range item, a reversed range, a non-numeric bound, or more
 * than HL_MAX_NAMES names.
 */
int hl_expand(const char *pattern, char ***names, size_t *n, struct af_err *e);

/* Free n names and the array from hl_expand. Accepts NULL. */
void hl_names_free(char **names, size_t n);

/*
 * Fold n names into one pattern, as short as this simple scheme allows:
 * names are grouped by the text around their last run of digits and by digit
 * width, numbers are sorted and joined into ranges ("npu[001-004,007]"), and
 * groups that then differ only in an earlier number are folded again
 * ("r[1-2]n[01-04]"). Names without digits are kept as they are, duplicates
 * are dropped, and the groups are joined by "," in a stable sorted order,
 * so equal sets of names always give the same text. Expanding the result
 * with hl_expand gives back the same set of names. names may contain
 * hostlist brackets already; n may be 0 (gives ""). Never fails; the caller
 * frees the result.
 */
char *hl_fold(const char *const *names, size_t n);

#endif /* AF_HOSTLIST_H */

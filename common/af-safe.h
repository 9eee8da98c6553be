/* SPDX-License-Identifier: MIT */
/*
 * Values that reach a node (install paths, playbook vars, login users) end
 * up in argv words, in scripts and in root's login files. This module
 * checks them against a small safe character set once, at load time, so
 * that nothing written in an inventory or a playbook can be read by a
 * shell as anything but one plain word.
 */
#ifndef AF_SAFE_H
#define AF_SAFE_H

#include <stddef.h>

/* The value must be an absolute path ("/..."), without "." or ".." parts. */
#define AF_SAFE_PATH 0x1
/* The value may start with '-' (an option word of a command). */
#define AF_SAFE_DASH 0x2

/*
 * Check s: not empty, at most 4096 bytes, only letters, digits and
 * / . _ - + , : @ % = (no whitespace, quotes, '$', backtick, ';', '&', '|',
 * '<', '>', '*', '?', '[', '(', '~', '\', control characters or bytes above
 * 0x7e), not starting with '-' unless AF_SAFE_DASH; with AF_SAFE_PATH also
 * the rule above.
 * Returns 0 when it is safe; otherwise -1 and, when why is not NULL, a
 * reason such as "character '$' is not allowed (allowed: ...)" in why.
 */
int af_safe_check(const char *s, unsigned flags, char *why, size_t whylen);

#endif /* AF_SAFE_H */

/* SPDX-License-Identifier: MIT */
/*
 * Embeds the built agent binaries with the assembler's .incbin (paths come
 * from the build as AG_BLOB_*_PATH) and looks them up by architecture.
 */
#include "ag-blob.h"

#include <string.h>

#ifndef AG_BLOB_X86_64_PATH
#error "AG_BLOB_X86_64_PATH must name the built x86_64 agent"
#endif
#ifndef AG_BLOB_AARCH64_PATH
#error "AG_BLOB_AARCH64_PATH must name the built aarch64 agent"
#endif

/*
 * The binaries go to .rodata; the two struct ag_blob objects are laid out
 * here too (three 8-byte words: arch, data, size) so they are constant
 * data without any run-time set-up. Hosts are 64-bit (checked below).
 */
_Static_assert(sizeof(void *) == 8 && sizeof(size_t) == 8 &&
                   sizeof(struct ag_blob) == 24,
               "ag-blob.c lays out struct ag_blob for LP64 hosts");

#define AG_BLOB_ASM(name, path)      \
    ".section .rodata\n"             \
    ".balign 16\n"                   \
    "ag_blob_" name "_start:\n"      \
    ".incbin \"" path "\"\n"         \
    "ag_blob_" name "_end:\n"        \
    "ag_blob_" name "_arch:\n"       \
    ".asciz \"" name "\"\n"          \
    ".section .data.rel.ro,\"aw\"\n" \
    ".balign 8\n"                    \
    ".globl ag_blob_" name "\n"      \
    ".hidden ag_blob_" name "\n"     \
    "ag_blob_" name ":\n"            \
    ".quad ag_blob_" name "_arch\n"  \
    ".quad ag_blob_" name "_start\n" \
    ".quad ag_blob_" name "_end - ag_blob_" name "_start\n"

__asm__(AG_BLOB_ASM("x86_64", AG_BLOB_X86_64_PATH)
            AG_BLOB_ASM("aarch64", AG_BLOB_AARCH64_PATH) ".previous\n");

extern const struct ag_blob ag_blob_x86_64;
extern const struct ag_blob ag_blob_aarch64;

const struct ag_blob *
ag_blob_find(const char *arch)
{
    if (arch == NULL)
        return NULL;
    if (strcmp(arch, "x86_64") == 0)
        return &ag_blob_x86_64;
    if (strcmp(arch, "aarch64") == 0 || strcmp(arch, "arm64") == 0)
        return &ag_blob_aarch64;
    return NULL;
}

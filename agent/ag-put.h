/* SPDX-License-Identifier: MIT */
/*
 * The receiving side of a put: the payload goes into "<path>.partial",
 * hashed as it arrives, with holes where it is all zeros. Every
 * AG_PUT_SYNC bytes "<path>.partial.meta" records "<sha256> <size>
 * <offset>": the bytes before offset were written and belong to the
 * package of that hash. A put cut short (the
 * orchestrator killed, the link lost, the node rebooted) leaves both files,
 * and a later put of the same package resumes at the recorded offset. The
 * full hash is still checked at the end, so a partial that rotted only
 * costs a restart from zero. This file does not speak the protocol.
 */
#ifndef AG_PUT_H
#define AG_PUT_H

#include <stdint.h>
#include <sys/types.h>

#include "af-sha256.h"

/* Bytes between two checkpoints of a partial. */
#define AG_PUT_SYNC (64ULL * 1024 * 1024)

struct ag_put {
    char *path;    /* final node path (host view) */
    char *partial; /* path + ".partial" */
    char *meta;    /* path + ".partial.meta" */
    char sha[65];
    unsigned long long size;
    unsigned long long done;   /* bytes in the partial */
    unsigned long long synced; /* bytes covered by the last checkpoint */
    int fd;
    struct af_sha256 ctx;
};

/*
 * Verified offset a put of (sha, size) to path may resume from: the
 * checkpointed offset when the partial's meta names the same package and
 * the partial holds that many bytes, else 0. Never fails.
 */
unsigned long long
ag_put_resume_point(const char *path, const char *sha, unsigned long long size);

/*
 * Start receiving (sha, size) into path's partial at offset (0 = a fresh
 * partial; else offset must not exceed ag_put_resume_point, and the first
 * offset bytes are hashed from the partial). Returns 0, or an errno with
 * *why set to a static description.
 */
int ag_put_open(struct ag_put *p,
                const char *path,
                const char *sha,
                unsigned long long size,
                unsigned long long offset,
                const char **why);
/* Take n received bytes; checkpoints on the way. Returns 0 or an errno. */
int ag_put_write(struct ag_put *p, const char *buf, size_t n);
/* The stream ended early: checkpoint what arrived and keep it. */
void ag_put_suspend(struct ag_put *p);
/*
 * All bytes are in: hash them (hex into hex), and when the hash matches,
 * set mode and rename the partial into place. Returns 0; or EBADMSG on a
 * mismatch (both files removed), or another errno.
 */
int ag_put_finish(struct ag_put *p, mode_t mode, char hex[65]);
/*
 * Mark the file at path (just installed by ag_put_finish) as holding the
 * package sha: "<path>.verified" records the hash with the file's size,
 * inode, mtime and ctime, so a later question is answered without reading
 * the file again. Any change to the file (a write, a chmod, a replacement)
 * changes its ctime, and the mark no longer counts. Returns 0 or an errno.
 */
int ag_put_mark_verified(const char *path, const char *sha);
/*
 * 1 when path has a mark that still matches the file (its hash in sha,
 * its size in *size), else 0. Never fails.
 */
int ag_put_verified(const char *path, char sha[65], unsigned long long *size);

/* Give up: remove the partial and its meta. */
void ag_put_discard(struct ag_put *p);
/* Release memory and the descriptor (files stay as they are). */
void ag_put_free(struct ag_put *p);

#endif /* AG_PUT_H */

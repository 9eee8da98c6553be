/* SPDX-License-Identifier: MIT */
/*
 * The agent side of the protocol in common/af-proto.h: greeting, then one
 * response per request until "quit" or end of input. A malformed request
 * gets an "AFP err" response and the agent keeps serving.
 */
#ifndef AG_SERVE_H
#define AG_SERVE_H

struct ag_serve_opts {
    const char *root;    /* every absolute node path is taken under it */
    const char *version; /* agent version for the greeting */
    const char *arch;    /* architecture the binary was built for */
    const char *sha256;  /* hex digest of the agent binary */
};

/*
 * Serve requests read from in_fd, writing responses to out_fd. Returns 0
 * after "quit" or at end of input, or a negative errno when the streams
 * fail (e.g. the peer went away in the middle of a put).
 */
int ag_serve(int in_fd, int out_fd, const struct ag_serve_opts *o);

#endif /* AG_SERVE_H */

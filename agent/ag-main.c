/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet-agent: the tiny static program the orchestrator pushes to
 * every node. Modes:
 *   serve [--root DIR]   the protocol of common/af-proto.h on stdin/stdout
 *   selfhash             print the SHA-256 of the running binary
 *   --version            print version, architecture and protocol version
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "af-proto.h"
#include "ag-serve.h"
#include "ag-util.h"

#ifndef AF_VERSION
#define AF_VERSION "0.0.0"
#endif

#if defined(__x86_64__)
#define AG_ARCH "x86_64"
#elif defined(__aarch64__)
#define AG_ARCH "aarch64"
#else
#error "unsupported node architecture"
#endif

#define AG_SELF "/proc/self/exe"

static int
ag_usage(void)
{
    fputs("usage: " AF_AGENT_NAME " serve [--root DIR]\n"
          "       " AF_AGENT_NAME " selfhash\n"
          "       " AF_AGENT_NAME " --version\n",
          stderr);
    return 2;
}

int
main(int argc, char **argv)
{
    struct ag_serve_opts o;
    char hex[65];
    int rc;

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("%s %s %s proto %d\n", AF_AGENT_NAME, AF_VERSION, AG_ARCH,
               AF_PROTO_VERSION);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "selfhash") == 0) {
        rc = ag_sha256_file(AG_SELF, hex);
        if (rc != 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", AF_AGENT_NAME, AG_SELF,
                    strerror(-rc));
            return 1;
        }
        printf("%s\n", hex);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "serve") != 0)
        return ag_usage();
    o.root = "/";
    if (argc == 4 && strcmp(argv[2], "--root") == 0 && argv[3][0] == '/')
        o.root = argv[3];
    else if (argc != 2)
        return ag_usage();
    o.version = AF_VERSION;
    o.arch = AG_ARCH;
    if (ag_sha256_file(AG_SELF, hex) != 0)
        hex[0] = '\0';
    o.sha256 = hex;
    signal(SIGPIPE, SIG_IGN);
    rc = ag_serve(0, 1, &o);
    return rc == 0 ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * The known_hosts markers libssh 0.10 does not honour. libssh reads plain
 * "host key" lines only: a "@revoked" line is taken for a host named
 * "@revoked" and never matches, so a revoked key would connect (and
 * accept-new would record it as trusted). khosts reads the markers itself.
 */
#ifndef AF_KHOSTS_H
#define AF_KHOSTS_H

#include <libssh/libssh.h>

/*
 * 1 if key is listed on a "@revoked" line of the known_hosts file at path,
 * else 0 (also when the file does not exist). A revoked key is refused for
 * every host, whatever the line's host patterns: stricter than OpenSSH,
 * which applies them, and never weaker. "@cert-authority" lines are skipped
 * knowingly: host certificates are not used, so such a line trusts nothing
 * here. Malformed lines are skipped as libssh skips them. Reads the file
 * synchronously (a local file, once per connection).
 */
int khosts_revoked(const char *path, ssh_key key);

/*
 * Whether the known_hosts file at path trusts the key with the SHA-256
 * fingerprint ("SHA256:<base64>") for host (port 22, else "[host]:port",
 * hashed names included, as libssh matches them): 1 when a line for the
 * host has that key, 0 when lines for the host list only other keys, -1
 * when the file lists no key for the host (or cannot be read). Marker
 * lines are skipped. For offline checks (ranktable): no connection.
 */
int khosts_has_fingerprint(const char *path,
                           const char *host,
                           int port,
                           const char *fingerprint);

#endif /* AF_KHOSTS_H */

/* SPDX-License-Identifier: MIT */
/* known_hosts markers: "@revoked" keys are refused (see khosts.h). */
#include "khosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Next blank-separated word of *p (NUL-terminated in place), or NULL. */
static char *
khosts_word(char **p)
{
    char *s = *p, *w;

    s += strspn(s, " \t");
    if (*s == '\0' || *s == '#')
        return NULL;
    w = s;
    s += strcspn(s, " \t\r\n");
    if (*s != '\0')
        *s++ = '\0';
    *p = s;
    return w;
}

/* 1 if the "@revoked" line rest (after the marker) names key. */
static int
khosts_line_has(char *rest, ssh_key key)
{
    char *hosts = khosts_word(&rest), *type = khosts_word(&rest);
    char *b64 = khosts_word(&rest);
    enum ssh_keytypes_e t;
    ssh_key k = NULL;
    int same;

    if (hosts == NULL || type == NULL || b64 == NULL)
        return 0;
    t = ssh_key_type_from_name(type);
    if (t == SSH_KEYTYPE_UNKNOWN ||
        ssh_pki_import_pubkey_base64(b64, t, &k) != SSH_OK)
        return 0;
    same = ssh_key_cmp(k, key, SSH_KEY_CMP_PUBLIC) == 0;
    ssh_key_free(k);
    return same;
}

int
khosts_revoked(const char *path, ssh_key key)
{
    FILE *f;
    char *line = NULL, *p, *marker;
    size_t cap = 0;
    int revoked = 0;

    if (path == NULL || path[0] == '\0' || key == NULL)
        return 0;
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (!revoked && getline(&line, &cap, f) != -1) {
        p = line;
        marker = khosts_word(&p);
        if (marker != NULL && strcmp(marker, "@revoked") == 0)
            revoked = khosts_line_has(p, key);
    }
    free(line);
    fclose(f);
    return revoked;
}

/* "SHA256:<base64>" of key, or NULL. */
static char *
khosts_sha256(ssh_key key)
{
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL, *ret = NULL;

    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) ==
        0)
        fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp != NULL)
        ret = strdup(fp);
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    return ret;
}

int
khosts_has_fingerprint(const char *path,
                       const char *host,
                       int port,
                       const char *fingerprint)
{
    FILE *f;
    char *line = NULL, name[300];
    size_t cap = 0;
    ssize_t len;
    int found = -1;

    if (path == NULL || path[0] == '\0' || host == NULL)
        return -1;
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (port == 22 || port <= 0)
        snprintf(name, sizeof(name), "%s", host);
    else
        snprintf(name, sizeof(name), "[%s]:%d", host, port);
    while (found != 1 && (len = getline(&line, &cap, f)) != -1) {
        struct ssh_knownhosts_entry *ent = NULL;
        char *fp;
        size_t lead = strspn(line, " \t");

        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        /* Comments, blank lines and marker lines (@revoked, ...) aside. */
        if (line[lead] == '\0' || line[lead] == '#' || line[lead] == '@')
            continue;
        if (ssh_known_hosts_parse_line(name, line + lead, &ent) != SSH_OK ||
            ent == NULL) {
            SSH_KNOWNHOSTS_ENTRY_FREE(ent);
            continue;
        }
        fp = khosts_sha256(ent->publickey);
        found = fp != NULL && strcmp(fp, fingerprint) == 0 ? 1 : 0;
        free(fp);
        SSH_KNOWNHOSTS_ENTRY_FREE(ent);
    }
    free(line);
    fclose(f);
    return found;
}

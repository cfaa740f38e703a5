/* The archive folder of one game, <archive_dir>/<game>: names, listing, verifying, pinning,
 * retention, and the start-up sweep of leftovers. */
#ifndef SK_STORE_H
#define SK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "job.h"

struct store_entry {
	char id[64];
	int64_t time_usec;  /* from the ID (UTC) */
	uint64_t size;      /* archive bytes */
	uint64_t files;     /* from the manifest; 0 if it cannot be read */
	uint64_t bytes;     /* uncompressed bytes of regular files */
	bool pinned;
	char tag[32];       /* "pre-restore" etc., "" if none */
};

/* <archive_dir>/<game>, malloc'd; NULL on ENOMEM. */
char *store_game_dir(const char *archive_dir, const char *game);

/* Lists the published archives of game_dir, oldest first. A missing folder is an empty list.
 * Returns 0 or -errno; *ret is malloc'd. */
int store_list(const char *game_dir, struct store_entry **ret, size_t *ret_n);

/* The newest archive's ID into buf; -ENOENT if there is none. */
int store_latest(const char *game_dir, char *buf, size_t len);

/* Checks <id>.tar.gz against its manifest: the archive's SHA-256, then every entry read back
 * through libarchive against its size and hash. Runs as JOB_VERIFY. */
int store_verify(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* Removes temporaries and manifests without an archive left by a crash; returns 0 or -errno. */
int store_sweep(const char *game_dir);

/* Marks or unmarks an archive as kept for ever; 0, -ENOENT, or -errno. */
int store_pin(const char *game_dir, const char *id, bool pin);

/* Decides what retention keeps: keep[i] is set for each entry (oldest first) that stays, and
 * why[i] a short reason ("last", "daily", "pinned", "newest"). Pure; times in local time. */
void store_retention(const struct store_entry *e, size_t n, const struct sk_keep *keep,
		     bool *keep_out, const char **why);

/* Applies retention to game_dir (removes what goes unless dry_run); lists what went into
 * *ret_removed (malloc'd, may be NULL). Returns the count removed or -errno. */
int store_prune(const char *game_dir, const struct sk_keep *keep, bool dry_run, char **ret_report);

#endif

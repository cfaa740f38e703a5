/* The archive folder of one game, <archive_dir>/<game>: names, listing, verifying, pinning,
 * retention, and the start-up sweep of leftovers. Also the checked walk over an archive that
 * verify and restore share. */
#ifndef SK_STORE_H
#define SK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "jobctx.h"

struct manifest;
struct mf_entry;
struct archive_entry;

/* Why retention keeps an archive; a bit mask, 0 means it goes. */
enum store_why {
	KEEP_LAST = 1 << 0,
	KEEP_HOURLY = 1 << 1,
	KEEP_DAILY = 1 << 2,
	KEEP_WEEKLY = 1 << 3,
	KEEP_MONTHLY = 1 << 4,
	KEEP_PINNED = 1 << 5,
	KEEP_NEWEST = 1 << 6,
	KEEP_NO_POLICY = 1 << 7, /* every rule is 0: everything stays */
	KEEP_FOREIGN = 1 << 8,	 /* on a remote: another device uploaded it */
};

/* <archive_dir>/<game>, malloc'd; NULL on ENOMEM. */
char *store_game_dir(const char *archive_dir, const char *game);

/* Parses a whole archive ID (the grammar is snap_id_parse's) into microseconds since the
 * epoch (UTC). Returns 0 or -EINVAL. */
int store_id_time(const char *id, int64_t *ret_usec);

/* Lists the published archives of game_dir, oldest first. A missing folder is an empty list;
 * an unreadable manifest leaves files, bytes and tag empty. Returns 0 or -errno; *ret is
 * malloc'd. */
int store_list(const char *game_dir, struct job_archive **ret, size_t *ret_n);

/* Sets each archive's shared bytes (blocks FIEMAP flags shared with other files: reflinked
 * member groups), 0 where unknown: for listings, not for the scheduler's look at the newest
 * archive. Returns 0 or -errno. */
int store_fill_shared(const char *game_dir, struct job_archive *v, size_t n);
/* Sets ret's disk_* from the archives v[0..n) with their shared bytes filled. */
void store_sum_disk(const struct job_archive *v, size_t n, struct job_result *ret);
/* Lists the game's archives with their shared bytes and sets ret's disk_*. Returns 0 or
 * -errno (ret untouched). */
int store_disk_usage(const char *game_dir, struct job_result *ret);

/* The newest archive's ID into buf; -ENOENT if there is none. */
int store_latest(const char *game_dir, char *buf, size_t len);

/* Checks <id>.tar.gz (spec->id, or the newest) against its manifest: its size and SHA-256, and
 * every entry read back through libarchive against its type, link target, size and hash,
 * with nothing missing or extra. Runs as JOB_VERIFY; -ECANCELED when cancelled. */
int store_verify(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* Where store_walk hands each entry once its header passed every check. restore writes the
 * tree with it; verify passes none. Each returns 0 or -errno (and may fill err). */
struct store_sink {
	int (*begin)(struct archive_entry *ae, const struct mf_entry *me, void *data);
	int (*block)(const void *buf, size_t len, void *data);
	int (*end)(void *data);
	void *data;
};

/* Reads the manifest of <id> in game_dir (id NULL: the newest) into *ret_m and the ID used
 * into id_out. Returns 0 or -errno with a message in ret->message. */
int store_open_manifest(const char *game_dir, const char *id, struct manifest **ret_m, char *id_out,
			size_t id_len, struct job_result *ret);

/* Walks the archive <game_dir>/<m->id>.tar.gz once: checks every entry (a safe relative path,
 * a regular file, directory, symlink or hard link to an earlier file inside the tree, directly
 * in a directory met earlier, valid by manifest_entry_check and matching its manifest entry,
 * data matching its size and SHA-256; a symlink's target is data, wherever it points), that
 * nothing is missing, and at the end the archive's size and SHA-256. Hands each entry to sink (may be NULL).
 * Yields between entries and blocks, reports progress. Returns 0 or -errno with ret->message naming the
 * archive and the entry. */
int store_walk(const char *game_dir, const struct manifest *m, const struct store_sink *sink,
	       const struct job_hooks *hooks, struct job_result *ret);

/* Removes temporaries (*.partial), and manifests and pins without an archive, left by a crash; never
 * follows symlinks and leaves anything else alone. Returns 0 or -errno. */
int store_sweep(const char *game_dir);

/* Removes the archive <id> with its manifest and pin, the archive first (a crash leaves what
 * store_sweep removes). Returns 0 or -errno (-ENOENT for a malformed ID). */
int store_remove(const char *game_dir, const char *id);

/* Marks or unmarks an archive as kept for ever (the marker <id>.pin); 0, -ENOENT, or -errno. */
int store_pin(const char *game_dir, const char *id, bool pin);

/* Whether the archive <id> is pinned here (its marker <id>.pin exists). */
bool store_pinned(const char *game_dir, const char *id);

/* Decides what retention keeps, like restic's forget: keep_last keeps the newest N; each of
 * keep_hourly/daily/weekly/monthly keeps the newest archive of each of the N most recent hours,
 * days, ISO weeks (Monday to Sunday) or months, in local time, that have archives. Rules add up;
 * pinned archives and the newest are always kept; a policy of all zeros keeps everything.
 * why[i] gets the KEEP_* bits of entry i (oldest first), 0 for one that goes. Pure. */
void store_retention(const struct job_archive *e, size_t n, const struct sk_keep *keep, unsigned *why);

/* Formats a KEEP_* mask as "last, daily" into buf; returns buf. */
const char *store_why_str(unsigned why, char *buf, size_t len);

/* Applies retention to game_dir (removes nothing when dry_run) and, if ret is not NULL, gives
 * every archive there (malloc'd, oldest first) with keep set to why it stays, 0 for one that
 * goes. Returns the count removed (or that would be) or -errno. */
int store_prune(const char *game_dir, const struct sk_keep *keep, bool dry_run, struct job_archive **ret,
		size_t *ret_n);

#endif

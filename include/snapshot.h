/* The snapshot: walks a save folder, reads each file stably, and publishes
 * <game_dir>/<ID>.tar.gz with its manifest <ID>.manifest (per-file SHA-256), atomically:
 * written under temporary names, fsynced, renamed, the folder fsynced. On failure nothing
 * is published and no earlier archive is touched. Unchanged files are not read: their member
 * groups are taken from the newest archive (snapshot_reuse.c), and each archive still stands
 * alone. */
#ifndef SK_SNAPSHOT_H
#define SK_SNAPSHOT_H

#include <stddef.h>

#include <stdint.h>

#include "jobctx.h"

/* Suffix of a published archive, of its manifest, and of the temporaries they are written to
 * (<ID>.tar.gz.partial, <ID>.manifest.partial). */
#define SNAP_SUFFIX ".tar.gz"
#define SNAP_MANIFEST_SUFFIX ".manifest"
#define SNAP_TMP_SUFFIX ".partial"
/* Beside an archive: it is kept for ever (pinned). */
#define SNAP_PIN_SUFFIX ".pin"
/* Length of an ID, "YYYYMMDDTHHMMSS.mmmZ". */
#define SNAP_ID_LEN 20

/* Runs a JOB_SNAPSHOT spec: save_dir, game_dir (created 0700 with its parents; refused if it
 * is a symlink), exclude, level, threads, pin (adds <ID>.pin), tag, if_changed (when the tree
 * matches the newest manifest, publishes nothing and sets ret->unchanged and ret->id to it).
 * Fills ret: id, files, bytes_in, bytes_out, usec, files_read, files_reused, groups_damaged
 * (groups of the newest archive that failed their check and were written afresh), and message: a summary ("12
 * files, 3.4 MiB -> 1.1 MiB", plus a warning for skipped sockets, FIFOs and devices) or the cause naming the
 * file. Returns 0 or -errno: -ECANCELED when cancelled, -EAGAIN when a file kept changing while it was read.
 */
int snap_create(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* The one grammar of archive IDs: "YYYYMMDDTHHMMSS" then an optional "." and 1-6 digits of a
 * second, then "Z" (UTC); new IDs have 3 digits. Parses the ID that s starts with into
 * microseconds since the epoch; returns its length, or -EINVAL when s starts with none. */
int snap_id_parse(const char *s, int64_t *ret_usec);

/* Makes a new archive ID for now: "YYYYMMDDTHHMMSS.mmmZ" (UTC), later than any in game_dir
 * (a missing folder has none). Returns 0 or -errno (-ENOSPC if len is too small). */
int snap_new_id(const char *game_dir, char *buf, size_t len);

#endif

/* The snapshot: walks a save folder, reads each file stably, and publishes
 * <game_dir>/<ID>.tar.gz with its manifest <ID>.manifest (per-file SHA-256), atomically:
 * written under temporary names, fsynced, renamed, the folder fsynced. On failure nothing
 * is published and no earlier archive is touched. */
#ifndef SK_SNAPSHOT_H
#define SK_SNAPSHOT_H

#include "job.h"

/* Suffix of a published archive, and of the temporary it is written to. */
#define SNAP_SUFFIX ".tar.gz"
#define SNAP_MANIFEST_SUFFIX ".manifest"
#define SNAP_TMP_SUFFIX ".partial"

/* Runs a JOB_SNAPSHOT spec; fills ret (id, files, bytes, message). Returns 0 or -errno. */
int snap_create(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* Makes a new archive ID for now: "YYYYMMDDTHHMMSS.mmmZ" (UTC), later than any in game_dir. */
int snap_new_id(const char *game_dir, char *buf, size_t len);

#endif

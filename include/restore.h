/* Restore as a transaction: the archive is checked entry by entry while it is extracted into a
 * staging folder beside the save folder, a pinned pre-restore snapshot of the live folder is
 * taken, and the staging folder is swapped in with one rename. Until that rename the live
 * folder is untouched; after it the old tree is removed. docs/restore.md has the steps. */
#ifndef SK_RESTORE_H
#define SK_RESTORE_H

#include "jobctx.h"

/* In the game's archive folder: the ID of the pre-restore snapshot of the last restore (its
 * first line), and the same record of a restore about to swap, which becomes last-restore only
 * once the swap is done. */
#define RESTORE_LAST_FILE "last-restore"
#define RESTORE_PENDING_FILE "restore-pending"
/* Beside the save folder <parent>/<name>: ".<name>" followed by these. */
#define RESTORE_STAGING_SUFFIX ".savekeeper-staging"
#define RESTORE_OLD_SUFFIX ".savekeeper-old"

/* Runs a JOB_RESTORE spec: spec->id (NULL: the newest), or with spec->undo the archive named in
 * last-restore. Refuses, before changing anything, a save folder that is a mount point, holds
 * one, holds the archive folder, or is a symlink to a missing folder; a save folder that is a
 * symlink is otherwise followed (the swap happens beside its target, the link stays). With
 * spec->dry_run changes nothing, sets ret->dry_run and lists in ret->changes one entry per
 * difference ("added", "changed" or "removed", its size and path), sorted by path (a newline in
 * the path written as \n, a backslash as \\). Fills ret (id, pre_id, files, message); returns 0
 * or -errno. */
int restore_run(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* Cleans up after a restore that was interrupted: removes a leftover staging or old folder
 * beside save_dir, or puts the old folder back when the save folder itself is missing (a crash
 * between the two renames of the fallback). Returns 0 or -errno. */
int restore_sweep(const char *save_dir);

/* Everything a crash or a killed worker can leave of a game: restore_sweep of save_dir, then a
 * restore-pending record finished (the swap happened: the pre-restore snapshot is pinned and the
 * record becomes last-restore) or undone (it did not: the pre-restore snapshot goes), then
 * store_sweep of game_dir. Call it under the game's lock. Returns 0 or the first -errno. */
int restore_sweep_game(const char *game_dir, const char *save_dir);

struct manifest;

/* Compares the tree at live (missing: empty) with manifest m as a restore of m would change it:
 * type, size, mode and mtime decide, and a file whose size matches but mtime differs is hashed.
 * Puts the changes of restore_run's dry run into ret->changes (none when nothing changes) and
 * the numbers of added, changed and removed entries into counts. Returns 0 or -errno
 * (-ECANCELED when cancelled). */
int restore_diff(const char *live, const struct manifest *m, const struct job_hooks *hooks,
		 struct job_result *ret, unsigned counts[3]);

#endif

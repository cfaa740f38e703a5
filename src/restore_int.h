/* Inside restore: the records in the game's archive folder (restore_record.c). Each returns 0
 * or -errno. */
#ifndef SK_RESTORE_INT_H
#define SK_RESTORE_INT_H

#include <sys/stat.h>

#include "job.h"

/* Writes restore-pending before the swap: the pre-restore snapshot's ID and the inode of the
 * staging root, which is the save folder's once the swap has happened. */
int restore_record_pending(const char *game_dir, const char *pre_id, const struct stat *staging);

/* After the swap: pins the pre-restore snapshot and renames restore-pending to last-restore. */
int restore_record_finish(const char *game_dir, const char *pre_id);

/* A try that did not swap: removes its pre-restore snapshot (pre_id "" for none) and
 * restore-pending; last-restore stays. */
int restore_record_drop(const char *game_dir, const char *pre_id);

/* A restore into a save folder that did not exist: nothing to undo, last-restore goes. */
int restore_record_forget(const char *game_dir);

/* After a crash: a restore-pending whose staging root is now live (the save folder, resolved)
 * is finished, any other dropped; a damaged one is removed. */
int restore_record_sweep(const char *game_dir, const char *live);

/* The ID in last-restore into buf; -ENOENT with a message in ret when there is none. */
int restore_record_last(const char *game_dir, char *buf, size_t len, struct job_result *ret);

#endif

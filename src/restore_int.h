/* Private to restore (restore.c: the transaction; restore_extract.c: writing the staging tree;
 * restore_diff.c: the dry run; restore_record.c: the records in the game's archive folder). */
#ifndef SK_RESTORE_INT_H
#define SK_RESTORE_INT_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "jobctx.h"

struct manifest;

/* How the staging tree is written: whose files they become (chown only as root). */
struct extract_opts {
	bool chown;
	uid_t uid;
	gid_t gid;
};

/* restore_extract.c */
/* Extracts m's archive in game_dir into the empty folder staging_fd, checking every entry on
 * the way (store_walk). Everything is created relative to folder fds that were opened without
 * following a symlink, so nothing is ever written through one; runs of zeros become holes.
 * Then, unless live_fd is -1, gives the staging tree a second name of every FIFO, socket and
 * device of the live folder live_fd, which no archive holds, at the same path, so the swap
 * keeps them (folders the archive lacks on the way are made 0700; a name the archive has
 * wins). Folders get their modes and times last. Returns 0 or -errno with ret->message naming
 * the archive or the entry. */
int restore_extract(int staging_fd, int live_fd, const char *game_dir, const struct manifest *m,
		    const struct extract_opts *o, const struct job_hooks *hooks, struct job_result *ret);

/* True for what a snapshot archives (files, folders, symlinks), whose st_mode is mode. */
static inline bool
restore_archivable(mode_t mode)
{
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode);
}

/* restore_record.c; each returns 0 or -errno. */
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

/* Off-machine copies: the queue of archives still to upload (a journal next to the archives)
 * and the upload of one archive through rclone; the runner's copy job drains the queue. The journal is
 * changed only under the game's lock; uploads run without it, since a published archive never changes. */
#ifndef SK_REMOTE_H
#define SK_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "jobctx.h"

struct rclone_opts;
struct rclone_rc;

/* The journals in <archive_dir>/<game>, one entry per line, oldest first: the copy queue, and
 * the archives this machine uploaded (and its remote retention has not removed since), which
 * tells this device's copies on the remote from other devices'. A line of the record is an
 * archive ID; a line of the queue is an entry (enum remote_op). */
#define REMOTE_QUEUE_FILE "remote-queue"
#define REMOTE_UPLOADED_FILE "remote-uploaded"
/* The folder in <archive_dir>/<game> a pull downloads into before its check; removed by the
 * start-up sweep (remote_sweep) and emptied by the next pull if a stopped one left it. */
#define REMOTE_STAGING "pull.partial"
/* A listing's copy of the remote's manifests: REMOTE_LIST_STAGING.XXXXXX in the game's folder. */
#define REMOTE_LIST_STAGING "list.partial"

/* What an entry of the copy queue asks for. A line that is an archive ID asks for its upload
 * (the only kind a journal held before pins were mirrored, so those still load); "pin ID" and
 * "unpin ID" ask that the remote's marker <ID>.pin follow a pin or unpin made here; an older
 * build reads such a line as an ID with no archive here and drops it without harm. */
enum remote_op { REMOTE_OP_UPLOAD, REMOTE_OP_PIN, REMOTE_OP_UNPIN };

/* What the queue entry asks for, with the archive ID it names in *ret_id (a pointer into entry). */
enum remote_op remote_entry_parse(const char *entry, const char **ret_id);

/* Reads the game's journal file (REMOTE_QUEUE_FILE or REMOTE_UPLOADED_FILE) into a malloc'd
 * array of malloc'd entries (*ret_n may be 0; a missing file is an empty journal). Returns 0 or
 * -errno. */
int remote_journal_read(const char *game_dir, const char *file, char ***ret_ids, size_t *ret_n);

/* Adds id to the end of the journal (nothing if it is there), or removes it; the file is
 * replaced by a complete new one (write, fsync, rename, fsync of the folder), so a crash
 * leaves either the old journal or the new. Call under the game's lock. Returns 0 or -errno. */
int remote_journal_add(const char *game_dir, const char *file, const char *id);
int remote_journal_remove(const char *game_dir, const char *file, const char *id);

/* Frees what remote_journal_read returned. */
void remote_journal_free(char **ids, size_t n);

/* Whether the journal's entries (as read) hold entry. */
bool remote_journal_has(char **ids, size_t n, const char *entry);

/* Queues the remote's side of a pin (pin true) or unpin of archive id made here, when this
 * machine uploaded the archive (the record) or has it queued: the entry takes the place of a
 * pin or unpin of id still waiting, at the queue's end, so the last one wins. Call under the
 * game's lock. Returns the queue's length when queued, 0 when the archive is not this
 * machine's on the remote, or -errno. */
int remote_queue_pin(const char *game_dir, const char *id, bool pin);

/* How the spec says to run rclone (binary, config, bandwidth). */
void remote_rclone_opts(const struct job_spec *spec, struct rclone_opts *o);

/* Uploads archive id of the game to spec->remote (NAME:PATH/<game>): the archive and its
 * manifest under .partial names, then renamed, the archive first (the manifest goes up
 * beside the archive's rename), so a manifest on the remote always has its archive; then its
 * pin, if it is pinned here. The uploads go through *rc, set here on first use: the daemon's
 * rclone rcd when the spec lends it (rc_addr), else one the job starts (the caller lets go of
 * either with rclone_rc_stop). Returns 0, 1 when the archive or its manifest is no longer here
 * (retention removed it first; nothing is uploaded then), or -errno as rclone_rc_upload_files,
 * with the message in err. */
int remote_upload(const struct job_spec *spec, struct rclone_rc **rc, const char *id,
		  const struct job_hooks *hooks, char *err, size_t errlen);

/* Makes the remote's marker <id>.pin what it is here now: copies it up when the archive is
 * pinned here (*ret_pinned true), removes it from the remote otherwise (nothing to remove is no
 * failure). Returns 0 with *ret_pinned, 1 when the marker here went away during the copy (a
 * later entry for id says what to do), or -errno as rclone_run with the message in err. */
int remote_pin_sync(const struct job_spec *spec, const char *id, bool *ret_pinned,
		    const struct job_hooks *hooks, char *err, size_t errlen);

/* The remote-list job: the archives the remote holds for the game (NAME.tar.gz with a valid
 * ID), oldest first, in ret->archives with ID, time, size, and pinned when <ID>.pin is there. A remote
 * without the game's folder lists nothing. */
int remote_list(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* The pull job, under the game's lock: downloads archive spec->id (NULL: the remote's newest)
 * with its manifest into the game's folder as temporaries (.partial, which the start-up sweep
 * removes), checks the archive against the manifest (size and SHA-256 of the archive, then
 * every entry), and publishes them as a snapshot does (manifest, then archive); a check that
 * fails leaves nothing behind. An archive already here is left as it is. ret->id names it. */
int remote_pull(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* Removes the pull's staging folder with what a pull that was killed left in it (files only:
 * nothing else is ever put there). Call under the game's lock. Returns 0 or -errno. */
int remote_sweep(const char *game_dir);

/* The remote's retention, in three steps the runner takes (run_remote_prune), the game's lock
 * held only around the two that read or change this machine's record, never over the network:
 * remote_list first; then remote_prune_plan applies spec->keep to the listed archives (in
 * ret->archives) that this device uploaded, as the record REMOTE_UPLOADED_FILE says (all of them
 * with spec->prune_foreign), keeping those pinned here or on the remote; each gets why it stays
 * in keep (KEEP_FOREIGN: another device's), 0 if it goes; returns how many go or -errno. Then
 * remote_prune_delete removes them from the remote, all their manifests before all their
 * archives (two rclone deletes), so a remote manifest always has its archive and a stop halfway
 * leaves archives that are still recorded, for the next run; it changes nothing here. Last,
 * remote_prune_forget takes them off the record. Each returns 0 or -errno with ret->message. */
int remote_prune_plan(const struct job_spec *spec, struct job_result *ret);
int remote_prune_delete(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);
int remote_prune_forget(const struct job_spec *spec, struct job_result *ret);

#endif

/* The job contract: what a job is asked to do (the spec), what it answers (the result), how far
 * it got (the progress), and the context a concurrency core hands to the work. This header is a
 * leaf: the engines (snapshot, gz, store, restore) include it and nothing above it, and they never
 * ask which core runs them. A core supplies the context's operations; those it leaves NULL
 * behave as on a thread of its own (sleep with nanosleep, wait with poll). */
#ifndef SK_JOBCTX_H
#define SK_JOBCTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* The kinds of job the runner (runner.c) knows. Every change to a game's archive folder is
 * one of them and runs under the game's lock (a copy takes it only to change its queue). */
enum job_kind {
	JOB_SNAPSHOT,
	JOB_VERIFY,
	JOB_RESTORE,
	JOB_PRUNE,
	JOB_PIN,
	JOB_UNPIN,
	JOB_LIST,
	JOB_COPY,	  /* uploads the game's copy queue */
	JOB_REMOTE_LIST,  /* lists the remote's archives of the game */
	JOB_PULL,	  /* downloads an archive from the remote (id; NULL: the newest) */
	JOB_REMOTE_PRUNE, /* applies keep to this device's copies on the remote */
};
#define JOB_KIND_LAST JOB_REMOTE_PRUNE

struct job_progress {
	uint64_t files_done, files_total;
	uint64_t bytes_done, bytes_total;
};

/* The context a core supplies. The work calls it only through the functions below. */
struct job_hooks {
	/* Called often (between files and chunks): a core that shares its thread with the loop
	 * switches back to it here once its slice is used up. May be NULL. */
	void (*yield)(void *ctx);
	/* Waits usec without holding the thread the loop runs on. May be NULL (nanosleep). */
	void (*sleep)(uint64_t usec, void *ctx);
	/* Waits until fd is ready for events (POLLIN, POLLOUT); returns 0, or -EINTR when woken
	 * early (the caller checks its condition again). May be NULL (poll). */
	int (*wait_fd)(int fd, uint32_t events, void *ctx);
	/* Called on each helper thread the work starts (the gzip stream's compression threads),
	 * first thing. A core whose work shares the loop's thread lowers the helper's priority
	 * here, so that the loop wins the CPU from it; elsewhere helpers keep the job thread's
	 * (already lowered) nice and run SCHED_BATCH, so that the job's thread wins a CPU from
	 * them when it wakes. Must be safe on any thread. May be NULL. */
	void (*helper_start)(void *ctx);
	/* Called when progress moves, at most a few times a second. May be NULL. */
	void (*progress)(const struct job_progress *p, void *ctx);
	void *ctx;
	/* Set (from any thread) to ask the job to stop; checked at every yield point. */
	atomic_bool *cancel;
	/* The core runs the work on the loop's thread: long computations are cut into short
	 * pieces (the gzip stream compressing on this thread uses 64 KiB chunks instead of 1 MiB)
	 * so that yield comes often. */
	bool short_slices;
};

struct job_spec {
	enum job_kind kind;
	char *game;
	char *save_dir; /* the game's save folder */
	char *game_dir; /* <archive_dir>/<game> */
	char *id;	/* verify, restore, pin, unpin: the archive; NULL for "latest" */
	char **exclude;
	unsigned n_exclude;
	int level;	     /* gzip level 1-9 */
	unsigned threads;    /* compression threads, >= 1 */
	bool dry_run;	     /* restore, verify, prune: change nothing */
	bool undo;	     /* restore: put back the state from before the last restore */
	bool pin;	     /* snapshot: pin the new archive (pre-restore) */
	char *tag;	     /* snapshot: optional label kept in the manifest, e.g. "pre-restore" */
	bool if_changed;     /* snapshot: publish nothing when the tree matches the latest manifest */
	bool prune;	     /* snapshot: apply keep to the game's archives after publishing */
	struct sk_keep keep; /* snapshot with prune, prune: the retention policy */
	/* The game's remote, NAME:PATH/<game> (NULL: none): a snapshot queues its archive for it,
	 * copy, remote-list and pull use it, and restore fetches from it an ID not found here. */
	char *remote;
	char *rclone;	      /* the rclone binary; NULL: "rclone" from PATH */
	char *rclone_config;  /* rclone --config FILE; NULL: rclone's own */
	char *remote_bwlimit; /* rclone --bwlimit VALUE; NULL: none */
	char *device;	      /* snapshot: recorded in the manifest; restore: this device */
	bool force;	      /* restore: pass the stale-over-newer guard */
	bool want_disk;	      /* snapshot: report disk use (disk_*) even when nothing changed */
	bool prune_foreign;   /* remote prune: other devices' archives count and may go too */
	/* copy: the daemon's rclone rcd to upload through (127.0.0.1:PORT) and its Basic
	 * credentials; NULL: the job starts its own. */
	char *rc_addr;
	char *rc_auth;
};

/* One archive of a game, as list and prune report it. */
struct job_archive {
	char id[64];
	int64_t time_usec; /* from the ID (UTC) */
	uint64_t size;	   /* archive bytes */
	uint64_t shared;   /* of them, in blocks shared with other archives (reflinks) */
	uint64_t files;	   /* from the manifest; 0 if it cannot be read */
	uint64_t bytes;	   /* uncompressed bytes of regular files */
	bool pinned;
	char tag[32];	 /* "pre-restore" etc., "" if none */
	unsigned keep;	 /* prune: the KEEP_* reasons it stays (store.h), 0 when it goes */
	char device[64]; /* remote-list: the device that made it, from its manifest; "" unknown */
};

/* One difference a restore's dry run found between the save folder and the archive. */
struct job_change {
	char change[8]; /* "added", "changed" or "removed" */
	uint64_t size;
	char *path; /* malloc'd; a newline in it written as \n, a backslash as \\ */
};

struct job_result {
	int err;	    /* 0, or -errno / -EINVAL; message says what */
	char message[1024]; /* one line: the cause naming the file, or a summary */
	char id[64];	    /* the archive made or used */
	char pre_id[64];    /* restore: the pre-restore snapshot taken first, "" if none */
	uint64_t files;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t usec;		      /* wall time */
	bool unchanged;		      /* snapshot with if_changed: nothing changed since id */
	uint64_t files_read;	      /* snapshot: files read and compressed */
	uint64_t files_reused;	      /* snapshot: files taken from the previous archive unread */
	uint64_t groups_damaged;      /* snapshot: groups of it that failed their check */
	int pruned;		      /* snapshot with prune, prune: archives removed, or -errno */
	bool dry_run;		      /* restore: nothing was changed; changes says what would be */
	struct job_archive *archives; /* list, prune: malloc'd, oldest first */
	unsigned n_archives;
	struct job_change *changes; /* restore's dry run: malloc'd, sorted by path */
	unsigned n_changes;
	unsigned pending; /* copy: archives still queued (id: the oldest of them) */
	/* What the game's archives cost on disk after the job, when disk_known (set by list,
	 * prune, restore, pull and a snapshot that made an archive or was asked to): their
	 * count, bytes, and of those the bytes in blocks shared with other files. */
	bool disk_known;
	uint64_t disk_archives, disk_size, disk_shared;
};

/* The work of one job kind: fills ret and returns ret->err. */
typedef int job_work_fn(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* Frees what a result owns (archives, changes). Accepts NULL. */
void job_result_clear(struct job_result *r);

/* True once cancellation was asked for; also calls the yield hook. Work code calls this between
 * files and chunks. hooks may be NULL. */
bool job_yield(const struct job_hooks *hooks);
/* True once cancellation was asked for, without yielding. */
bool job_cancelled(const struct job_hooks *hooks);
/* Waits usec in the core's way (a coroutine parks on a loop timer); true when cancelled. */
bool job_sleep(const struct job_hooks *hooks, uint64_t usec);
/* Waits until fd is ready for events in the core's way (a coroutine parks on the loop);
 * returns 0, -EINTR when woken early, or -errno. */
int job_wait_fd(const struct job_hooks *hooks, int fd, uint32_t events);
/* Called by a helper thread of the work as it starts: the core's helper_start, if any. */
void job_helper_start(const struct job_hooks *hooks);
/* Reports progress to the core, if it listens. */
void job_report(const struct job_hooks *hooks, const struct job_progress *p);

/* Takes an exclusive flock on fd, waiting up to wait_usec with job_sleep between tries, so a
 * wait never holds the loop and stays cancellable. Returns 0, -EWOULDBLOCK when the wait ran
 * out, -ECANCELED, or -errno. */
int job_flock(const struct job_hooks *hooks, int fd, uint64_t wait_usec);

/* The name of a kind ("snapshot", "verify", ...). */
const char *job_kind_name(enum job_kind kind);

#endif

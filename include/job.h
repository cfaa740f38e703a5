/* A job: one unit of work a concurrency core runs (a snapshot, a verify, a restore). The code
 * that does the work is the same under every core; the hooks are how a core reaches into it:
 * a yield point, a progress report and a cancel flag. */
#ifndef SK_JOB_H
#define SK_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

enum job_kind { JOB_SNAPSHOT, JOB_VERIFY, JOB_RESTORE };

struct job_progress {
	uint64_t files_done, files_total;
	uint64_t bytes_done, bytes_total;
};

struct job_hooks {
	/* Called often (between files and chunks). The coroutine core switches back to the loop
	 * here when its slice is used up; NULL for the other cores. */
	void (*yield)(void *ctx);
	/* Called when progress moves, at most a few times a second. May be NULL. */
	void (*progress)(const struct job_progress *p, void *ctx);
	void *ctx;
	/* Set (from any thread) to ask the job to stop; checked at every yield point. */
	atomic_bool *cancel;
};

struct job_spec {
	enum job_kind kind;
	char *game;
	char *save_dir;      /* the game's save folder */
	char *game_dir;      /* <archive_dir>/<game> */
	char *id;            /* verify, restore: the archive; NULL for "latest" */
	char **exclude;
	unsigned n_exclude;
	int level;           /* gzip level 1-9 */
	unsigned threads;    /* compression threads, >= 1 */
	bool dry_run;        /* restore, verify: change nothing */
	bool undo;           /* restore: put back the state from before the last restore */
	bool pin;            /* snapshot: pin the new archive (pre-restore) */
	char *tag;           /* snapshot: optional label kept in the manifest, e.g. "pre-restore" */
	bool if_changed;     /* snapshot: publish nothing when the tree matches the latest manifest */
	bool prune;          /* snapshot: apply keep to the game's archives after publishing */
	struct sk_keep keep;
};

struct job_result {
	int err;             /* 0, or -errno / -EINVAL; message says what */
	char message[1024];  /* one line: the cause naming the file, or a summary */
	char id[64];         /* the archive made or used */
	char pre_id[64];     /* restore: the pre-restore snapshot taken first, "" if none */
	uint64_t files;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t usec;       /* wall time */
	bool unchanged;      /* snapshot with if_changed: nothing changed since id */
	int pruned;          /* snapshot with prune: archives removed, or -errno */
	char *detail;        /* optional malloc'd multi-line text (dry-run listing); freed by job_result_clear */
};

/* The work of one job kind: fills ret and returns ret->err. */
typedef int job_work_fn(const struct job_spec *spec, const struct job_hooks *hooks,
			struct job_result *ret);

/* Runs the job in the calling thread (snap_create, store_verify or restore_run by kind), times
 * it into ret->usec; always fills *ret. Returns ret->err. */
int job_execute(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* Makes job_execute run fn for every kind instead (NULL: the real work again); for tests and
 * benchmarks that need a job of known length. Set it before any job starts. */
void job_set_work(job_work_fn *fn);

/* Locks a game's archive folder so that one job at a time works on a
 * game, across threads, worker processes and daemons: a worker left running by a daemon that
 * was killed keeps its lock until it has cleaned up. Waits up to wait_usec. Returns an fd that
 * releases the lock when closed, -EWOULDBLOCK when someone else still holds it, or -errno when
 * the folder cannot be opened: -ENOENT before the game's first archive, when there is nothing to
 * share yet; the job itself reports any other cause. */
int job_lock_game(const char *game_dir, uint64_t wait_usec);

/* True once cancellation was asked for; also calls the yield hook. Work code calls this between
 * files and chunks. */
bool job_yield(const struct job_hooks *hooks);

struct job_spec *job_spec_dup(const struct job_spec *spec);
void job_spec_free(struct job_spec *spec);
void job_result_clear(struct job_result *r);

/* Serialises a spec or result as one line of JSON (malloc'd) and back; for the process core. */
char *job_spec_to_json(const struct job_spec *spec);
int job_spec_from_json(const char *json, struct job_spec **ret);
char *job_result_to_json(const struct job_result *r);
int job_result_from_json(const char *json, struct job_result *ret);
char *job_progress_to_json(const struct job_progress *p);
int job_progress_from_json(const char *json, struct job_progress *ret);

#endif

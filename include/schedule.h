/* The schedule: per-game state (started or paused, busy, playing), the next due time, and a
 * queue of jobs per game run one at a time on the concurrency core. Requests that arrive while
 * the same kind of job is queued or running join it instead of adding another. */
#ifndef SK_SCHEDULE_H
#define SK_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "job.h"

struct loop;
struct core;
struct sched;

/* Someone waiting for a job: progress events and the result, on the loop. */
struct sched_waiter {
	void (*progress)(const struct job_progress *p, void *data);
	void (*done)(const struct job_result *r, void *data);
	void *data;
	struct sched_waiter *next;
};

enum sched_last { LAST_NONE, LAST_OK, LAST_FAILED, LAST_UNCHANGED };

/* A read-only view of one game for status replies. */
struct sched_game_info {
	const char *name;
	const char *path;
	bool started, busy, playing;
	enum job_kind busy_kind;
	enum sched_last last;
	const char *last_error;	     /* NULL if none */
	const char *last_archive;    /* NULL if none */
	int64_t last_time_usec;	     /* wall clock, 0 if none */
	int64_t next_due_usec;	     /* wall clock, 0 if not scheduled */
	const char *unchanged_since; /* NULL unless the last tick found nothing new */
	struct job_progress progress;
	const char *remote;	    /* the remote copied to, NULL if none */
	unsigned copy_pending;	    /* archives not yet copied */
	const char *copy_oldest;    /* the oldest of them, NULL if none */
	int64_t copy_failing_since; /* wall clock of the first failure in a row, 0 if copies work */
	const char *copy_error;	    /* rclone's message of the last failure, NULL if none */
	/* The archives' disk use as the game's last job that could change it saw it */
	bool disk_known;
	uint64_t disk_archives, disk_size, disk_shared;
	uint64_t copy_last_usec;  /* wall time of the last copy job that uploaded, 0 if none */
	unsigned copy_last_files; /* archives it uploaded */
};

/* Called on the loop after every finished job, for notifications and sd_notify STATUS. */
typedef void sched_event_fn(const char *game, enum job_kind kind, const struct job_result *r, void *data);

/* How a schedule runs. SCHED_ONE_SHOT is --once: jobs are only submitted, nothing ticks, so
 * no save folder is watched (closing an inotify instance that holds watches waits for the
 * kernel's grace period, about 20 ms, more than the whole rest of a small snapshot). */
enum sched_mode { SCHED_DAEMON, SCHED_ONE_SHOT };

/* Creates the schedule of cfg's games; the games of a SCHED_DAEMON schedule are watched for
 * changes. NULL when out of memory. */
struct sched *sched_new(struct loop *loop, struct core *core, const struct sk_config *cfg,
			enum sched_mode mode, sched_event_fn *event, void *data);
/* Cancels queued jobs (their waiters get -ECANCELED); running jobs must have been cancelled
 * through core_free first. Accepts NULL. */
void sched_free(struct sched *s);

/* Swaps in a new config (the caller keeps it alive); games keep their state by name. */
int sched_reload(struct sched *s, const struct sk_config *cfg);
/* Asks every running job to stop (shutdown). */
void sched_cancel_all(struct sched *s);

/* The game called name, or the only game when name is "" or NULL; -ENOENT/-EINVAL with a
 * message in err when there is no such game or the choice is ambiguous. */
int sched_resolve(struct sched *s, const char *name, const char **ret_name, char *err, size_t errlen);

/* The archive folder of the game called name (as resolved by sched_resolve); NULL if none. */
const char *sched_game_dir(const struct sched *s, const char *name);

/* Starts or pauses the schedule of one game (name) or all (NULL). Returns the count changed. */
int sched_set_started(struct sched *s, const char *name, bool started);
/* Marks a game as being played (a wrapped launch); an end takes a snapshot once quiet. */
int sched_set_playing(struct sched *s, const char *name, bool playing);

/* Queues a job for game (kind and the options in tmpl: id, dry_run, undo, if_changed, pin, tag)
 * and adds w (may be NULL) to its waiters. A snapshot joins a queued or running snapshot; *ret_joined
 * says so. A listing (JOB_LIST) reads only and runs at once, beside the queue. Returns 0 or
 * -errno. */
int sched_submit(struct sched *s, const char *game, const struct job_spec *tmpl, struct sched_waiter *w,
		 bool *ret_joined);
/* Forgets a waiter whose client went away (its data will not be touched again). */
void sched_forget(struct sched *s, struct sched_waiter *w);

/* Number of games and the view of game i. */
size_t sched_games(const struct sched *s);
void sched_game_info(const struct sched *s, size_t i, struct sched_game_info *ret);
/* True when no job runs or is queued (for --once). */
bool sched_idle(const struct sched *s);

#endif

/* Private to the schedule (schedule.c: the games, their state and ticks, reload;
 * schedule_queue.c: each game's queue of jobs, started one at a time on the core and ended;
 * schedule_remote.c: copies to the remote beside the queue, and the remote's part of a spec). */
#ifndef SK_SCHEDULE_INT_H
#define SK_SCHEDULE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "schedule.h"

struct core_job;
struct loop_timer;
struct rclone_keep;
struct rclone_opts;
struct watch;

/* A queued or running job and everyone waiting for it. */
struct sched_job {
	struct job_spec spec;
	struct sched_waiter *waiters;
	struct sched_job *next;
};

struct game {
	struct sched *s;
	char *name;
	const struct sk_game *cfg;
	char *game_dir;
	bool started, playing, retired;
	struct sched_job *queue; /* head runs while running != NULL */
	struct core_job *running;
	struct loop_timer *timer;
	int64_t next_due_usec;
	enum sched_last last;
	char *last_error;
	char last_archive[64];
	int64_t last_time_usec;
	char unchanged_since[64];
	struct job_progress progress;
	struct watch *watch; /* NULL when inotify is not available for the folder */
	bool final_pending;  /* a wrapped session ended: one snapshot is due even if paused */
	bool clean;	     /* the folder matches the last archive, as far as the watch knows */
	uint64_t first_change_usec, last_change_usec; /* monotonic; 0: no change pending */
	uint64_t last_snapshot_usec;		      /* monotonic start of the last snapshot */
	/* Copies to the remote: one copy job at a time runs beside the queue. */
	struct core_job *copy_job;
	struct loop_timer *copy_timer; /* the next try after a failure */
	bool copy_again;	       /* a new archive came while a copy ran */
	bool copy_waits;	       /* a copy waits for the daemon's rcd to listen */
	bool copy_lent;		       /* the copy job runs with the daemon's rcd */
	uint64_t copy_asked_usec;      /* monotonic: when the waiting copy was asked for */
	uint64_t copy_waited_usec;     /* how long the running copy waited for rcd */
	unsigned copy_pending;	       /* archives queued, as the last job saw */
	uint64_t copy_last_usec;       /* the last copy job that uploaded: its wall time */
	unsigned copy_last_files;      /* and the archives it uploaded */
	char copy_oldest[64];	       /* the oldest of them, "" if none */
	unsigned copy_failures;	       /* failed tries in a row */
	int64_t copy_failing_since;    /* wall clock, 0 while copies work */
	char *copy_error;	       /* rclone's message of the last failure */
	bool disk_known;	       /* the archives' disk use, from the last job that saw it */
	uint64_t disk_archives, disk_size, disk_shared;
};

struct sched {
	struct loop *loop;
	struct core *core;
	const struct sk_config *cfg;
	struct game **games;
	size_t n_games;
	struct game **retired; /* removed by reload, freed when their job ends */
	size_t n_retired;
	sched_event_fn *event;
	void *data;
	enum sched_mode mode;
	struct rclone_keep *rcd; /* the rclone rcd lent to copy jobs */
	bool stopping;		 /* shutting down: start nothing new */
};

/* schedule.c */
/* The game called name; NULL if none. */
struct game *sched_find(const struct sched *s, const char *name);
/* Frees a game that reload retired, now that its last job has ended. */
void sched_release_retired(struct sched *s, struct game *g);

/* schedule_queue.c */
/* Answers and frees the jobs from *from to the end of a queue: they will never run. */
void sched_queue_cancel(struct sched_job **from);

/* schedule_remote.c */
/* Fills the remote's part of a spec: the game's folder on the remote and how to run rclone.
 * Returns 0 or -ENOMEM; spec->remote is malloc'd (NULL when the game has no remote). */
int sched_remote_spec(const struct sched *s, const struct game *g, struct job_spec *spec);
/* How the schedule runs rclone, from the config. */
void sched_remote_rclone_opts(const struct sched *s, struct rclone_opts *o);
/* Reads the journal's length like store_latest reads the folder: once, when the game starts. */
void sched_remote_read_queue(struct game *g);
/* A snapshot queued its archive for the remote, or a pin or unpin its marker (r->pending: the
 * queue's length then, since it may replace a waiting entry). */
void sched_remote_queued(struct game *g, enum job_kind kind, const struct job_result *r);
/* The game's copy timer (the next try after a failure, or the first copy at start). */
void sched_remote_on_copy_timer(struct loop *loop, struct loop_timer *t, void *data);
/* The daemon's rcd listens, or could not start: the copies that waited for it go now. */
void sched_remote_on_rcd_settled(void *data);

#endif

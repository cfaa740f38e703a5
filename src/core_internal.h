/* What core.c shares with the three cores (core_thread.c, core_coro.c, core_process.c). */
#ifndef SK_CORE_INTERNAL_H
#define SK_CORE_INTERNAL_H

#include <stdatomic.h>
#include <sys/types.h>

#include "core.h"
#include "loop.h"

struct core_job {
	struct core *core;
	struct job_spec *spec;
	struct core_callbacks cb;
	atomic_bool cancel;
	struct core_job *prev, *next;
	void *impl;                 /* the core's own state for this job */
};

struct core {
	const struct core_ops *ops;
	struct loop *loop;
	struct core_settings s;
	struct core_job *jobs;
	unsigned running;
	bool closing;
	void *impl;                 /* the core's own state */
};

/* One concurrency model. start must not call back; cancel runs after the job's cancel flag is
 * set; stop_all runs when the core is freed, after every job was cancelled, and must end each
 * job through core_job_done. init, cancel and destroy may be NULL. */
struct core_ops {
	const char *name;
	int (*init)(struct core *core);
	int (*start)(struct core_job *job);
	void (*cancel)(struct core_job *job);
	void (*stop_all)(struct core *core);
	void (*destroy)(struct core *core);
};

extern const struct core_ops core_thread_ops, core_coro_ops, core_process_ops;

/* Delivers progress to the job's owner; on the loop thread. */
void core_job_progress(struct core_job *job, const struct job_progress *p);
/* Delivers the result, then unlinks and frees job (the core's impl must be freed already). */
void core_job_done(struct core_job *job, struct job_result *r);

/* An eventfd (non-blocking, close-on-exec) watched by the loop for EPOLLIN, for waking the
 * loop from a worker or from a coroutine; returns the fd or -errno. */
int core_eventfd_new(struct core *core, loop_fd_fn *fn, void *data);
/* Makes the eventfd readable; safe from any thread. */
void core_eventfd_poke(int fd);
/* Reads and so clears the eventfd's counter, from its callback. */
void core_eventfd_clear(int fd);
/* Stops watching and closes the eventfd. */
void core_eventfd_free(struct core *core, int fd);

/* Lowers the CPU and I/O priority of a thread or process as settings say; best effort. */
void core_lower_priority(pid_t who, const struct core_settings *s);
/* job_hooks.helper_start of a job on a thread or process of its own: the helper (a compression
 * thread) runs SCHED_BATCH at the nice it inherited, so that the job's thread, which feeds the
 * helpers and waits for them, wins a CPU it wakes up wanting from a helper. */
void core_helper_batch(void *ctx);

#endif

/* The concurrency cores: how a job runs. Each core is a small ops table behind the same calls:
 * a worker thread, a coroutine on the loop thread, or a child process (savekeeperd re-executed
 * in worker mode). Progress and the result are always delivered on the loop thread. */
#ifndef SK_CORE_H
#define SK_CORE_H

#include "config.h"
#include "job.h"

struct loop;
struct core;
struct core_job;

struct core_callbacks {
	/* Progress of a running job, on the loop. May be NULL. */
	void (*progress)(struct core_job *job, const struct job_progress *p, void *data);
	/* The job ended (done, failed or cancelled), on the loop; the job is freed after this. */
	void (*done)(struct core_job *job, const struct job_result *r, void *data);
	void *data;
};

struct core_settings {
	uint64_t slice_usec;   /* coroutine: work between yields */
	int nice;              /* worker CPU priority */
	bool io_idle;          /* worker I/O class idle */
	const char *self_exe;  /* process: the daemon binary to re-execute; NULL: /proc/self/exe */
};

struct core_ops {
	const char *name;
	int (*init)(struct core *core);
	int (*start)(struct core *core, struct core_job *job);
	void (*cancel)(struct core_job *job);
	void (*destroy)(struct core *core);
};

/* Creates a core of the given kind on loop; NULL with errno set on failure. */
struct core *core_new(enum sk_core kind, struct loop *loop, const struct core_settings *s);
/* Cancels running jobs, waits for them to end (their done callbacks run), frees. Accepts NULL. */
void core_free(struct core *core);

/* Starts a job (spec is copied); *ret_job identifies it until its done callback returns.
 * Returns 0 or -errno. */
int core_run(struct core *core, const struct job_spec *spec, const struct core_callbacks *cb,
	     struct core_job **ret_job);
/* Asks a running job to stop; its done callback reports -ECANCELED. */
void core_cancel(struct core_job *job);

/* Jobs running now. */
unsigned core_running(const struct core *core);
const char *core_kind_name(const struct core *core);

/* Worker mode of savekeeperd (process core): reads one job spec line on stdin, runs it,
 * writes progress and result lines on fd out_fd. Returns the exit status. */
int core_worker_main(int out_fd);

#endif

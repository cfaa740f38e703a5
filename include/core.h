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

/* Priorities apply to the thread and process cores only: a coroutine runs on the loop thread,
 * which must stay responsive, so it is never niced. Lowering them is best effort. */
struct core_settings {
	uint64_t slice_usec;  /* coroutine: work between yields; 0: 5 ms */
	int nice;	      /* worker CPU priority (setpriority), e.g. 19 */
	bool io_idle;	      /* worker I/O class idle (ioprio_set) */
	const char *self_exe; /* process: the daemon binary to re-execute; NULL: /proc/self/exe */
	/* process: start the worker as a fork of this process, rather than by re-executing
	 * self_exe, when this process has no thread but the caller's (savekeeperd --once, which
	 * starts none); it is re-executed whenever another thread exists. */
	bool fork_worker;
};

/* Creates a core of the given kind on loop; NULL with errno set on failure. */
struct core *core_new(enum sk_core kind, struct loop *loop, const struct core_settings *s);
/* Cancels running jobs and waits for them to end; their done callbacks run (reporting
 * -ECANCELED, or the result if the job finished first) before core_free returns. Jobs cannot
 * be started from those callbacks. Call it on the loop thread, before loop_free. Accepts NULL. */
void core_free(struct core *core);

/* Starts a job (spec is copied); *ret_job identifies it until its done callback returns.
 * Callbacks never run inside core_run. Returns 0 or -errno (-ESHUTDOWN inside core_free). */
int core_run(struct core *core, const struct job_spec *spec, const struct core_callbacks *cb,
	     struct core_job **ret_job);
/* Asks a running job to stop; its done callback reports -ECANCELED. */
void core_cancel(struct core_job *job);

/* Jobs running now. */
unsigned core_running(const struct core *core);
const char *core_kind_name(const struct core *core);

/* The fd a worker process writes its progress and result lines to. */
#define CORE_WORKER_FD 3

/* Worker mode of savekeeperd (process core), run as `savekeeperd --worker`: reads one job
 * spec (JSON) on stdin up to end of file, runs it, and writes lines "progress {json}" and
 * finally "result {json}" on out_fd (fd 3 for savekeeperd). SIGTERM cancels the job. Returns
 * the exit status: 0 when a result was written. */
int core_worker_main(int out_fd);

#endif

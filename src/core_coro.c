/* The coroutine core: each job runs as a stackful coroutine on the loop thread. The work's
 * yield hook switches back to the loop once a slice of time is used up, or earlier (after
 * SLICE_MIN_USEC) when one of the loop's fds is ready: a waiting request is served after the
 * piece of work under way (a 64 KiB gzip chunk, a 256 KiB read or hash), not after the rest
 * of the slice. Regular files never block in the epoll sense, so the work is cut by time and
 * by the loop's readiness, not its own. A job that waits (job_sleep, job_wait_fd) parks: a
 * loop timer or an fd registration marks it ready again, and meanwhile the loop sleeps in
 * epoll_wait like an idle one, neither spinning nor blocking.
 *
 * A job that wants the CPU again is marked ready and a deferred call is queued on the loop.
 * Deferred calls run after the round's ready fds are served, so a request that arrived during
 * a slice is answered before the next slice starts: a client waits at most one piece of work,
 * never more than a slice. Progress is kept (latest wins) and delivered after the coroutine
 * switches back, on the loop's own stack, so callbacks never run on a job's stack.
 * The coroutine is never niced: it shares the loop thread, which must stay responsive. Its
 * compression threads are lowered like a thread core's worker, so that the loop thread wins a
 * CPU from them. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "coro.h"
#include "core_internal.h"
#include "loop.h"
#include "runner.h"
#include "util.h"

/* The snapshot's stack. Measured with coro_stack_used: a snapshot at level 1 of 20 MiB in
 * 21 files, 30 folders deep, peaks at 12 KiB (libarchive, the gzip writer and SHA-256 keep
 * their buffers on the heap). 256 KiB leaves room for deeper trees and sanitizer builds;
 * pages never touched cost no memory. */
#define CORO_JOB_STACK (256u * 1024u)
#define SLICE_DEFAULT_USEC (5 * USEC_PER_MSEC)
/* The least a job runs before a waiting request makes it yield: the switches then cost the
 * job a few percent under a flood of requests, not half its speed. */
#define SLICE_MIN_USEC 200

struct coro_job {
	struct core_job *job;
	struct coro *co;
	uint64_t slice_start;
	struct loop_timer *timer; /* wakes a sleeping job; made on its first sleep */
	int waiting_fd;		  /* registered while the job waits on it, else -1 */
	bool ready;
	bool has_progress;
	struct job_progress progress;
	struct job_result result;
};

struct coro_core {
	bool queued; /* a resume is queued on the loop */
};

static loop_defer_fn on_ready;

static void
poke(struct core *core)
{
	struct coro_core *cc = core->impl;

	if (!cc->queued)
		cc->queued = loop_defer(core->loop, on_ready, core) == 0;
}

/* Whether the job should give the loop back now: its slice is used up, or a request (any
 * ready fd) waits and the job has run for SLICE_MIN_USEC at least. A client then waits for the
 * piece of work under way, not for the rest of the slice; with nobody waiting the slice runs
 * whole, without switches it does not need. */
static bool
slice_over(struct coro_job *c)
{
	struct core *core = c->job->core;
	uint64_t slice = core->s.slice_usec ? core->s.slice_usec : SLICE_DEFAULT_USEC;
	uint64_t used = now_usec() - c->slice_start;

	if (used >= slice)
		return true;
	return used >= SLICE_MIN_USEC && loop_fds_ready(core->loop);
}

static void
job_yield_hook(void *ctx)
{
	struct coro_job *c = ctx;
	struct core *core = c->job->core;

	if (!slice_over(c))
		return;
	c->ready = true;
	poke(core);
	coro_yield();
}

/* Makes a parked job ready again. */
static void
wake(struct coro_job *c)
{
	c->ready = true;
	poke(c->job->core);
}

static void
on_timer(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)loop, (void)t;
	wake(data);
}

static void
on_fd(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct coro_job *c = data;

	(void)events;
	loop_del_fd(loop, fd);
	c->waiting_fd = -1;
	wake(c);
}

/* Gives the loop back until a timer, an fd or a cancel marks the job ready again. */
static void
park(void)
{
	coro_yield();
}

static void
job_sleep_hook(uint64_t usec, void *ctx)
{
	struct coro_job *c = ctx;
	struct loop *loop = c->job->core->loop;

	if (!c->timer)
		c->timer = loop_timer_new(loop, on_timer, c);
	if (!c->timer || loop_timer_arm(c->timer, usec ? usec : 1) < 0) {
		/* No timer: give the loop one round rather than hold it. */
		wake(c);
		park();
		return;
	}
	park();
	/* Woken early (cancelled, or the core is stopping): the timer must not fire for a later
	 * park. */
	loop_timer_arm(c->timer, 0);
}

static int
job_wait_fd_hook(int fd, uint32_t events, void *ctx)
{
	struct coro_job *c = ctx;
	struct loop *loop = c->job->core->loop;
	int r = loop_add_fd(loop, fd, events, on_fd, c);

	if (r < 0) {
		wake(c);
		park();
		return r;
	}
	c->waiting_fd = fd;
	park();
	if (c->waiting_fd < 0)
		return 0;
	loop_del_fd(loop, fd);
	c->waiting_fd = -1;
	return -EINTR;
}

/* Runs on a compression thread of the job: lowered like a thread core's worker, so that the
 * loop thread, which the coroutine shares, is served first when they compete for a CPU. */
static void
helper_start_hook(void *ctx)
{
	struct coro_job *c = ctx;

	core_lower_priority(gettid(), &c->job->core->s);
}

static void
job_progress_hook(const struct job_progress *p, void *ctx)
{
	struct coro_job *c = ctx;

	c->progress = *p;
	c->has_progress = true;
}

static void
job_body(void *arg)
{
	struct coro_job *c = arg;
	struct job_hooks hooks = {.yield = job_yield_hook,
				  .sleep = job_sleep_hook,
				  .wait_fd = job_wait_fd_hook,
				  .helper_start = helper_start_hook,
				  .progress = job_progress_hook,
				  .ctx = c,
				  .cancel = &c->job->cancel,
				  .short_slices = true};

	runner_execute(c->job->spec, &hooks, &c->result);
}

/* Runs one slice of job; delivers its progress, and its result once the body returned. */
static void
run_slice(struct coro_job *c)
{
	struct core_job *job = c->job;
	struct job_result r;

	c->ready = false;
	c->slice_start = now_usec();
	coro_resume(c->co);
	if (c->has_progress) {
		c->has_progress = false;
		core_job_progress(job, &c->progress);
	}
	if (!coro_done(c->co))
		return;
	r = c->result;
	loop_timer_free(c->timer);
	coro_free(c->co);
	free(c);
	job->impl = NULL;
	core_job_done(job, &r);
}

static void
on_ready(struct loop *loop, void *data)
{
	struct core *core = data;
	struct coro_core *cc = core->impl;
	struct core_job *job, *next;

	(void)loop;
	cc->queued = false;
	/* Jobs started by a done callback join the list's head and wait for the next round. */
	for (job = core->jobs; job; job = next) {
		struct coro_job *c = job->impl;
		next = job->next;
		if (c->ready)
			run_slice(c);
	}
}

static int
coro_start(struct core_job *job)
{
	struct coro_job *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->job = job;
	c->waiting_fd = -1;
	c->co = coro_new(job_body, c, CORO_JOB_STACK);
	if (!c->co) {
		int r = -errno;
		free(c);
		return r;
	}
	c->ready = true;
	job->impl = c;
	poke(job->core);
	return 0;
}

/* A parked job is woken so that it sees its cancel flag now, not when its wait ends. */
static void
coro_cancel(struct core_job *job)
{
	struct coro_job *c = job->impl;

	if (c && !c->ready)
		wake(c);
}

/* The jobs are cancelled: each runs to its next yield point, sees the flag and returns; a
 * parked job is resumed early, and its wait returns at once. */
static void
coro_stop_all(struct core *core)
{
	while (core->jobs)
		run_slice(core->jobs->impl);
}

static int
coro_init(struct core *core)
{
	struct coro_core *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return -ENOMEM;
	core->impl = cc;
	return 0;
}

static void
coro_destroy(struct core *core)
{
	struct coro_core *cc = core->impl;

	if (cc->queued)
		loop_defer_cancel(core->loop, on_ready, core);
	free(cc);
}

const struct core_ops core_coro_ops = {
    .name = "coroutine",
    .init = coro_init,
    .start = coro_start,
    .cancel = coro_cancel,
    .stop_all = coro_stop_all,
    .destroy = coro_destroy,
};

/* The core interface: a job list and an ops table per concurrency model. */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core_internal.h"
#include "job.h"
#include "util.h"

/* From linux/ioprio.h, which not every libc ships. */

static const struct core_ops *
core_ops_of(enum sk_core kind)
{
	switch (kind) {
	case SK_CORE_THREAD:
		return &core_thread_ops;
	case SK_CORE_COROUTINE:
		return &core_coro_ops;
	case SK_CORE_PROCESS:
		return &core_process_ops;
	}
	return NULL;
}

struct core *
core_new(enum sk_core kind, struct loop *loop, const struct core_settings *s)
{
	const struct core_ops *ops = core_ops_of(kind);
	struct core *core;
	int r;

	if (!ops) {
		errno = EINVAL;
		return NULL;
	}
	core = calloc(1, sizeof(*core));
	if (!core)
		return NULL;
	*core = (struct core){.ops = ops, .loop = loop, .s = *s};
	r = ops->init ? ops->init(core) : 0;
	if (r < 0) {
		free(core);
		errno = -r;
		return NULL;
	}
	return core;
}

void
core_free(struct core *core)
{
	if (!core)
		return;
	core->closing = true;
	for (struct core_job *j = core->jobs; j; j = j->next)
		core_cancel(j);
	core->ops->stop_all(core);
	if (core->ops->destroy)
		core->ops->destroy(core);
	free(core);
}

static void
core_job_free(struct core_job *job)
{
	job_spec_free(job->spec);
	free(job);
}

int
core_run(struct core *core, const struct job_spec *spec, const struct core_callbacks *cb,
	 struct core_job **ret_job)
{
	struct core_job *job;
	int r;

	if (core->closing)
		return -ESHUTDOWN;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->core = core;
	job->cb = *cb;
	atomic_init(&job->cancel, false);
	job->spec = job_spec_dup(spec);
	if (!job->spec) {
		core_job_free(job);
		return -ENOMEM;
	}
	r = core->ops->start(job);
	if (r < 0) {
		core_job_free(job);
		return r;
	}
	job->next = core->jobs;
	if (job->next)
		job->next->prev = job;
	core->jobs = job;
	core->running++;
	if (ret_job)
		*ret_job = job;
	return 0;
}

void
core_cancel(struct core_job *job)
{
	if (!job)
		return;
	atomic_store(&job->cancel, true);
	if (job->core->ops->cancel)
		job->core->ops->cancel(job);
}

unsigned
core_running(const struct core *core)
{
	return core->running;
}

const char *
core_kind_name(const struct core *core)
{
	return core->ops->name;
}

void
core_job_progress(struct core_job *job, const struct job_progress *p)
{
	if (job->cb.progress)
		job->cb.progress(job, p, job->cb.data);
}

void
core_job_done(struct core_job *job, struct job_result *r)
{
	struct core *core = job->core;

	if (job->prev)
		job->prev->next = job->next;
	else
		core->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	core->running--;
	if (job->cb.done)
		job->cb.done(job, r, job->cb.data);
	job_result_clear(r);
	core_job_free(job);
}

void
core_lower_priority(pid_t who, const struct core_settings *s)
{
	lower_priority(who, s->nice, s->io_idle);
}

/* The job's thread reads, hashes and hands out the chunks, and its waits for a CPU are waits of
 * the whole snapshot: on the 5 MiB bench tree (perf sched) it waited 3-5.5 ms for a CPU behind
 * its own helpers at the same nice, where the coroutine core's writer, the loop thread, waited
 * under 1 ms. SCHED_BATCH keeps a helper's share of the CPU (it is weighted by the same nice)
 * and only stops it from preempting on wake-up. Best effort, like the nice. */
void
core_helper_batch(void *ctx)
{
	struct sched_param sp = {.sched_priority = 0};

	(void)ctx;
	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
}

int
core_eventfd_new(struct core *core, loop_fd_fn *fn, void *data)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r;

	if (fd < 0)
		return -errno;
	r = loop_add_fd(core->loop, fd, EPOLLIN, fn, data);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

void
core_eventfd_poke(int fd)
{
	uint64_t one = 1;

	/* Fails only when the counter is saturated, which leaves the loop woken anyway. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

void
core_eventfd_clear(int fd)
{
	uint64_t v;

	/* Nothing to read means another round already cleared it. */
	if (read(fd, &v, sizeof(v)) < 0)
		return;
}

void
core_eventfd_free(struct core *core, int fd)
{
	loop_del_fd(core->loop, fd);
	close(fd);
}

/* The thread core: each job runs on its own pthread at lowered priority. The worker leaves
 * its latest progress and finally its result under a mutex and pokes an eventfd that the
 * loop watches; the loop side delivers them and joins the thread. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "core_internal.h"
#include "loop.h"
#include "runner.h"
#include "util.h"

struct thread_job {
	pthread_t thread;
	int efd;
	pthread_mutex_t lock;
	/* Under lock: progress not yet delivered (latest wins), and the result once done. */
	struct job_progress progress;
	bool has_progress;
	bool finished;
	struct job_result result;
};

static void
worker_progress(const struct job_progress *p, void *ctx)
{
	struct thread_job *t = ctx;

	pthread_mutex_lock(&t->lock);
	t->progress = *p;
	t->has_progress = true;
	pthread_mutex_unlock(&t->lock);
	core_eventfd_poke(t->efd);
}

static void *
worker(void *arg)
{
	struct core_job *job = arg;
	struct thread_job *t = job->impl;
	struct job_hooks hooks = {
	    .progress = worker_progress, .helper_start = core_helper_batch, .ctx = t, .cancel = &job->cancel};
	struct job_result r;

	core_lower_priority(gettid(), &job->core->s);
	runner_execute(job->spec, &hooks, &r);
	pthread_mutex_lock(&t->lock);
	t->result = r;
	t->finished = true;
	pthread_mutex_unlock(&t->lock);
	core_eventfd_poke(t->efd);
	return NULL;
}

static void
thread_job_free(struct core *core, struct thread_job *t)
{
	if (t->efd >= 0)
		core_eventfd_free(core, t->efd);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Joins the finished worker and ends the job. */
static void
thread_reap(struct core_job *job)
{
	struct thread_job *t = job->impl;
	struct job_result r;

	pthread_join(t->thread, NULL);
	r = t->result;
	thread_job_free(job->core, t);
	job->impl = NULL;
	core_job_done(job, &r);
}

static void
on_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct core_job *job = data;
	struct thread_job *t = job->impl;
	struct job_progress p;
	bool has_progress, finished;

	(void)loop, (void)events;
	core_eventfd_clear(fd);
	pthread_mutex_lock(&t->lock);
	p = t->progress;
	has_progress = t->has_progress;
	t->has_progress = false;
	finished = t->finished;
	pthread_mutex_unlock(&t->lock);
	if (has_progress)
		core_job_progress(job, &p);
	if (finished)
		thread_reap(job);
}

/* The worker starts with every signal blocked: the daemon takes its signals via signalfd on
 * the loop thread, and a signal must never interrupt the snapshot's system calls. */
static int
spawn(struct core_job *job, struct thread_job *t)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t->thread, NULL, worker, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

static int
thread_start(struct core_job *job)
{
	struct thread_job *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->efd = core_eventfd_new(job->core, on_event, job);
	job->impl = t;
	r = t->efd < 0 ? t->efd : spawn(job, t);
	if (r < 0) {
		thread_job_free(job->core, t);
		job->impl = NULL;
	}
	return r;
}

static void
thread_stop_all(struct core *core)
{
	while (core->jobs)
		thread_reap(core->jobs);
}

const struct core_ops core_thread_ops = {
    .name = "thread",
    .start = thread_start,
    .stop_all = thread_stop_all,
};

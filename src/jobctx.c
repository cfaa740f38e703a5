/* The job contract's calls: each goes to the core's operation, or to the plain blocking call
 * when the core leaves it NULL (a job on a thread or in a process of its own may block). */
#include "jobctx.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>

#include "util.h"

/* How often job_flock tries again: a lock is held for one job, seconds at most. */
#define FLOCK_RETRY_USEC (20 * USEC_PER_MSEC)
/* The longest a thread sleeps before it looks at its cancel flag again. */
#define NAP_USEC (50 * USEC_PER_MSEC)

void
job_result_clear(struct job_result *r)
{
	if (!r)
		return;
	free(r->archives);
	r->archives = NULL;
	r->n_archives = 0;
	for (unsigned i = 0; r->changes && i < r->n_changes; i++)
		free(r->changes[i].path);
	free(r->changes);
	r->changes = NULL;
	r->n_changes = 0;
}

bool
job_cancelled(const struct job_hooks *hooks)
{
	return hooks && hooks->cancel && atomic_load(hooks->cancel);
}

bool
job_yield(const struct job_hooks *hooks)
{
	if (hooks && hooks->yield)
		hooks->yield(hooks->ctx);
	return job_cancelled(hooks);
}

/* Sleeps the thread in naps, so that a cancel asked meanwhile ends the wait soon. */
static void
nap(const struct job_hooks *hooks, uint64_t usec)
{
	uint64_t end = now_usec() + usec, now;

	while (!job_cancelled(hooks) && (now = now_usec()) < end) {
		uint64_t n = end - now < NAP_USEC ? end - now : NAP_USEC;
		struct timespec ts = {.tv_sec = (time_t)(n / USEC_PER_SEC),
				      .tv_nsec = (long)(n % USEC_PER_SEC) * 1000};
		(void)nanosleep(&ts, NULL);
	}
}

bool
job_sleep(const struct job_hooks *hooks, uint64_t usec)
{
	if (job_cancelled(hooks))
		return true;
	if (hooks && hooks->sleep)
		hooks->sleep(usec, hooks->ctx);
	else
		nap(hooks, usec);
	return job_cancelled(hooks);
}

int
job_wait_fd(const struct job_hooks *hooks, int fd, uint32_t events)
{
	struct pollfd p = {.fd = fd, .events = (short)events};

	if (hooks && hooks->wait_fd)
		return hooks->wait_fd(fd, events, hooks->ctx);
	if (poll(&p, 1, -1) < 0)
		return -errno;
	return 0;
}

void
job_helper_start(const struct job_hooks *hooks)
{
	if (hooks && hooks->helper_start)
		hooks->helper_start(hooks->ctx);
}

void
job_report(const struct job_hooks *hooks, const struct job_progress *p)
{
	if (hooks && hooks->progress)
		hooks->progress(p, hooks->ctx);
}

int
job_flock(const struct job_hooks *hooks, int fd, uint64_t wait_usec)
{
	uint64_t deadline = now_usec() + wait_usec;

	/* Not a blocking flock: a job waiting for the lock must still see its cancel flag, and a
	 * coroutine must give its thread back to the loop meanwhile. */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (now_usec() >= deadline)
			return -EWOULDBLOCK;
		if (job_sleep(hooks, FLOCK_RETRY_USEC))
			return -ECANCELED;
	}
	return 0;
}

const char *
job_kind_name(enum job_kind kind)
{
	static const char *const names[] = {
	    [JOB_SNAPSHOT] = "snapshot",
	    [JOB_VERIFY] = "verify",
	    [JOB_RESTORE] = "restore",
	    [JOB_PRUNE] = "prune",
	    [JOB_PIN] = "pin",
	    [JOB_UNPIN] = "unpin",
	    [JOB_LIST] = "list",
	    [JOB_COPY] = "copy",
	    [JOB_REMOTE_LIST] = "remote-list",
	    [JOB_PULL] = "pull",
	    [JOB_REMOTE_PRUNE] = "remote-prune",
	};

	return (unsigned)kind <= JOB_KIND_LAST ? names[kind] : "unknown";
}

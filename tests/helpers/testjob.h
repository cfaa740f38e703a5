/* A job of known behaviour for the core tests, chosen by spec->tag (none: a real snapshot):
 *   "work MS"  busy for MS milliseconds of CPU, yielding every ~50 us of work and reporting
 *              progress every 10 ms; while it runs <game_dir>/test.tar.gz.partial exists;
 *   "sleep MS" waits MS milliseconds through the core's sleep (-ECANCELED when cancelled);
 *   "fail"     fails with a message naming a file;
 *   "helper"   starts a helper thread as the gzip stream does (job_helper_start first) and
 *              says how it runs: "policy=P nice=N" (sched_getscheduler, its own nice).
 * The result's message says where it ran: "pid=P tid=T nice=N loaded_by=L", L being
 * testjob_loaded_by as the job sees it. Included by test_core.c and by the sk-worker helper,
 * which stands in for `savekeeperd --worker`. */
#ifndef SK_TESTJOB_H
#define SK_TESTJOB_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runner.h"
#include "snapshot.h"
#include "util.h"

/* Set by the test program to its pid: a worker forked from it sees that, a program started
 * afresh (sk-worker) sees 0. */
static int testjob_loaded_by;

static void
testjob_spin(uint64_t usec)
{
	uint64_t end = now_usec() + usec;
	volatile uint64_t x = 0;

	while (now_usec() < end)
		x++;
}

struct testjob_helper {
	const struct job_hooks *hooks;
	int policy, nice;
};

static void *
testjob_helper_main(void *arg)
{
	struct testjob_helper *h = arg;

	job_helper_start(h->hooks);
	h->policy = sched_getscheduler(0);
	h->nice = getpriority(PRIO_PROCESS, 0);
	return NULL;
}

/* Runs a helper thread of the job and says how it ran. */
static int
testjob_helper(const struct job_hooks *hooks, struct job_result *ret)
{
	struct testjob_helper h = {.hooks = hooks};
	pthread_t t;

	if (pthread_create(&t, NULL, testjob_helper_main, &h) != 0)
		return -EAGAIN;
	pthread_join(t, NULL);
	snprintf(ret->message, sizeof(ret->message), "policy=%d nice=%d", h.policy, h.nice);
	return 0;
}

static int
testjob_work(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	char partial[4096] = "";
	uint64_t ms = 0, start = now_usec(), last = 0;
	int err = 0;

	if (!spec->tag)
		return snap_create(spec, hooks, ret);
	snprintf(ret->message, sizeof(ret->message), "pid=%d tid=%d nice=%d loaded_by=%d", getpid(), gettid(),
		 getpriority(PRIO_PROCESS, 0), testjob_loaded_by);
	if (spec->tag && !strcmp(spec->tag, "fail")) {
		snprintf(ret->message, sizeof(ret->message), "cannot read 'slot1.sav': Input/output error");
		return -EIO;
	}
	if (!strcmp(spec->tag, "helper"))
		return testjob_helper(hooks, ret);
	if (sscanf(spec->tag, "sleep %lu", &ms) == 1)
		return job_sleep(hooks, ms * USEC_PER_MSEC) ? -ECANCELED : 0;
	if (sscanf(spec->tag, "work %lu", &ms) != 1)
		return -EINVAL;
	if (spec->game_dir) {
		snprintf(partial, sizeof(partial), "%s/test.tar.gz.partial", spec->game_dir);
		close(open(partial, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	}
	while (now_usec() - start < ms * USEC_PER_MSEC) {
		testjob_spin(50);
		ret->files++;
		if (job_yield(hooks)) {
			err = -ECANCELED;
			snprintf(ret->message, sizeof(ret->message), "cancelled");
			break;
		}
		if (hooks->progress && now_usec() - last >= 10 * USEC_PER_MSEC) {
			struct job_progress p = { .files_done = ret->files, .bytes_total = ms };
			hooks->progress(&p, hooks->ctx);
			last = now_usec();
		}
	}
	if (partial[0])
		unlink(partial);
	snprintf(ret->id, sizeof(ret->id), "test");
	return err;
}

#endif

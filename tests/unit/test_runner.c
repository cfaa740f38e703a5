/* The runner: running a job by kind (timing, dispatch, the message on failure), the game's lock
 * it waits for, the contract's calls without a core, and the archive-folder kinds (pin, unpin,
 * prune, list) as jobs. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#include "runner.h"
#include "store.h"
#include "util.h"

static const struct job_spec sample = {
    .kind = JOB_RESTORE,
    .game = (char *)"demo",
    .game_dir = (char *)"/nonexistent/savekeeper/demo",
};

static int yields;

static void
count_yield(void *ctx)
{
	(void)ctx;
	yields++;
}

static int
sleepy_work(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	(void)spec;
	usleep(20000);
	snprintf(ret->id, sizeof(ret->id), "made");
	return job_yield(hooks) ? -ECANCELED : -EIO;
}

static void
test_execute(void **state)
{
	(void)state;
	atomic_bool cancel = false;
	struct job_hooks hooks = {.yield = count_yield, .cancel = &cancel};
	struct job_result r;

	runner_set_work(sleepy_work);
	yields = 0;
	assert_int_equal(runner_execute(&sample, &hooks, &r), -EIO);
	assert_int_equal(r.err, -EIO);
	assert_string_equal(r.id, "made");
	/* Work that gives no message gets the error's text. */
	assert_string_equal(r.message, strerror(EIO));
	assert_true(r.usec >= 20000);
	assert_int_equal(yields, 1);

	cancel = true;
	assert_int_equal(runner_execute(&sample, &hooks, &r), -ECANCELED);
	runner_set_work(NULL);
}

struct releaser {
	int fd;
	uint64_t after_usec;
};

static void *
release_later(void *arg)
{
	struct releaser *rl = arg;

	usleep((useconds_t)rl->after_usec);
	close(rl->fd);
	return NULL;
}

/* A cancel flag set from another thread after a while. */
static void *
cancel_later(void *arg)
{
	usleep(100000);
	atomic_store((atomic_bool *)arg, true);
	return NULL;
}

/* One job per game folder: a second locker waits, then gives up; a job that finds the folder
 * locked waits for it (cancellably) and runs once it is free; the lock goes with its fd. */
static void
test_game_lock(void **state)
{
	char dir[64];
	_cleanup_free_ char *game = NULL;
	struct job_spec spec = sample;
	atomic_bool cancel = false;
	struct job_hooks hooks = {.cancel = &cancel};
	struct releaser rl;
	struct job_result r;
	pthread_t t;
	uint64_t start;
	int held;

	(void)state;
	assert_non_null(mkdtemp(scratch_template(dir, sizeof(dir), "sk-runner")));
	game = path_join(dir, "demo");
	assert_int_equal(runner_lock_game(game, NULL, 0), -ENOENT);
	assert_int_equal(mkdir(game, 0700), 0);
	held = runner_lock_game(game, NULL, 0);
	assert_true(held >= 0);
	assert_int_equal(runner_lock_game(game, NULL, 50 * USEC_PER_MSEC), -EWOULDBLOCK);
	runner_set_work(sleepy_work);
	spec.game_dir = game;

	/* Cancelled while it waits: it ends without running. */
	pthread_create(&t, NULL, cancel_later, &cancel);
	assert_int_equal(runner_execute(&spec, &hooks, &r), -ECANCELED);
	pthread_join(t, NULL);
	assert_string_equal(r.id, "");

	/* The holder lets go: the job runs, after the release. */
	cancel = false;
	rl = (struct releaser){held, 150 * USEC_PER_MSEC};
	start = now_usec();
	pthread_create(&t, NULL, release_later, &rl);
	assert_int_equal(runner_execute(&spec, &hooks, &r), -EIO);
	assert_string_equal(r.id, "made");
	assert_true(now_usec() - start >= 150 * USEC_PER_MSEC);
	pthread_join(t, NULL);
	held = runner_lock_game(game, NULL, 0);
	assert_true(held >= 0);
	close(held);
	runner_set_work(NULL);
	assert_int_equal(rmdir(game), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_contract_without_core(void **state)
{
	(void)state;
	atomic_bool cancel = false;
	struct job_hooks hooks = {.cancel = &cancel};
	uint64_t start = now_usec();
	int fds[2];

	assert_false(job_yield(NULL));
	assert_false(job_yield(&hooks));
	assert_false(job_sleep(&hooks, 20 * USEC_PER_MSEC));
	assert_true(now_usec() - start >= 20 * USEC_PER_MSEC);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(job_wait_fd(&hooks, fds[0], POLLIN), 0);
	close(fds[0]);
	close(fds[1]);
	cancel = true;
	assert_true(job_yield(&hooks));
	assert_true(job_sleep(&hooks, 10 * USEC_PER_SEC));
	assert_string_equal(job_kind_name(JOB_UNPIN), "unpin");
}

static void
test_unknown_kind(void **state)
{
	(void)state;
	struct job_spec s = sample;
	struct job_result r;

	s.kind = (enum job_kind)99;
	assert_int_equal(runner_execute(&s, NULL, &r), -EINVAL);
	assert_non_null(strstr(r.message, "unknown job kind"));
}

static void
touch_at(const char *dir, const char *name)
{
	_cleanup_free_ char *p = path_join(dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fclose(f);
}

static int
remove_in(const char *dir, const char *name)
{
	_cleanup_free_ char *p = path_join(dir, name);

	return unlink(p);
}

/* Pin, unpin, prune and list run as jobs and answer with structured results. */
static void
test_archive_kinds(void **state)
{
	char dir[64];
	struct job_spec spec = sample;
	struct job_result r;

	(void)state;
	assert_non_null(mkdtemp(scratch_template(dir, sizeof(dir), "sk-runner")));
	touch_at(dir, "20240101T000000.000Z.tar.gz");
	touch_at(dir, "20240102T000000.000Z.tar.gz");
	touch_at(dir, "20240103T000000.000Z.tar.gz");
	spec.game_dir = dir;

	spec.kind = JOB_PIN;
	spec.id = (char *)"20240101T000000.000Z";
	assert_int_equal(runner_execute(&spec, NULL, &r), 0);
	assert_string_equal(r.id, spec.id);
	spec.id = (char *)"20990101T000000.000Z";
	assert_int_equal(runner_execute(&spec, NULL, &r), -ENOENT);
	assert_string_equal(r.message, "game 'demo' has no archive 20990101T000000.000Z");

	spec.kind = JOB_PRUNE;
	spec.id = NULL;
	spec.keep = (struct sk_keep){.last = 1};
	spec.dry_run = false;
	assert_int_equal(runner_execute(&spec, NULL, &r), 0);
	assert_int_equal(r.pruned, 1);
	assert_int_equal(r.n_archives, 3);
	assert_int_equal(r.archives[0].keep, KEEP_PINNED);
	assert_true(r.archives[0].pinned);
	assert_int_equal(r.archives[1].keep, 0);
	free(r.archives);

	spec.kind = JOB_LIST;
	assert_int_equal(runner_execute(&spec, NULL, &r), 0);
	assert_int_equal(r.n_archives, 2);
	assert_string_equal(r.archives[1].id, "20240103T000000.000Z");
	free(r.archives);

	spec.kind = JOB_UNPIN;
	spec.id = (char *)"20240101T000000.000Z";
	assert_int_equal(runner_execute(&spec, NULL, &r), 0);
	spec.kind = JOB_PRUNE;
	assert_int_equal(runner_execute(&spec, NULL, &r), 0);
	assert_int_equal(r.pruned, 1);
	free(r.archives);
	assert_int_equal(remove_in(dir, "20240103T000000.000Z.tar.gz"), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_execute),
	    cmocka_unit_test(test_game_lock),
	    cmocka_unit_test(test_contract_without_core),
	    cmocka_unit_test(test_unknown_kind),
	    cmocka_unit_test(test_archive_kinds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

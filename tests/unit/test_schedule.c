/* The schedule on a real loop and thread core, with a job of known behaviour in place of the
 * snapshot: a game removed by reload while its job runs, a backup behind a running tick, the
 * free-space guard, and which schedules watch their folders. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "core.h"
#include "harness.h"
#include "loop.h"
#include "runner.h"
#include "schedule.h"
#include "util.h"

/* What the jobs did; snapshots hold until release is set, then end (cancelled if asked). */
static atomic_bool release;
static atomic_uint snapshots, verifies;

static int
held_work(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	if (spec->kind != JOB_SNAPSHOT) {
		atomic_fetch_add(&verifies, 1);
		return 0;
	}
	atomic_fetch_add(&snapshots, 1);
	while (!atomic_load(&release))
		usleep(1000);
	if (job_yield(hooks)) {
		snprintf(ret->message, sizeof(ret->message), "cancelled");
		return -ECANCELED;
	}
	snprintf(ret->id, sizeof(ret->id), "20240101T000000Z");
	return 0;
}

struct fx {
	char dir[64], save[96], archive[96];
	struct loop *loop;
	struct core *core;
	struct loop_timer *guard, *release;
	struct sk_config *cfg;
	struct sched *s;
	unsigned done, expect;
};

/* A waiter that keeps the result and stops the loop once every expected waiter answered. */
struct wait {
	struct sched_waiter w;
	struct fx *f;
	int err;
	bool done;
	char message[1024];
};

static void
on_done(const struct job_result *r, void *data)
{
	struct wait *wt = data;

	wt->done = true;
	wt->err = r->err;
	snprintf(wt->message, sizeof(wt->message), "%s", r->message);
	if (++wt->f->done == wt->f->expect)
		loop_stop(wt->f->loop);
}

static void
wait_init(struct wait *wt, struct fx *f)
{
	*wt = (struct wait){.w = {.done = on_done, .data = wt}, .f = f};
}

static void
on_guard(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)loop, (void)t, (void)data;
	fail_msg("the loop waited 30 s for a job");
}

static void
on_release(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)loop, (void)t, (void)data;
	atomic_store(&release, true);
}

/* A config for one game "a" at f->save, archives under f->archive, no free-space check. */
static struct sk_config *
config_for(struct fx *f, const char *game, const char *save, bool autostart)
{
	struct sk_config *cfg = NULL;
	char err[256];

	assert_int_equal(config_new_default(&cfg), 0);
	free(cfg->archive_dir);
	cfg->archive_dir = strdup(f->archive);
	assert_non_null(cfg->archive_dir);
	cfg->autostart = autostart;
	cfg->snapshot_on_change = true;
	cfg->min_free_bytes = 0;
	cfg->min_free_percent = 0;
	assert_int_equal(config_add_game(cfg, game, save, err, sizeof(err)), 0);
	return cfg;
}

static int
setup(void **state)
{
	struct core_settings cs = {0};
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(mkdtemp(scratch_template(f->dir, sizeof(f->dir), "sk-sched")));
	snprintf(f->save, sizeof(f->save), "%s/save", f->dir);
	snprintf(f->archive, sizeof(f->archive), "%s/archives", f->dir);
	assert_int_equal(mkdir(f->save, 0700), 0);
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->guard = loop_timer_new(f->loop, on_guard, f);
	f->release = loop_timer_new(f->loop, on_release, f);
	assert_non_null(f->guard);
	assert_non_null(f->release);
	loop_timer_arm(f->guard, 30 * USEC_PER_SEC);
	f->core = core_new(SK_CORE_THREAD, f->loop, &cs);
	assert_non_null(f->core);
	atomic_store(&release, false);
	atomic_store(&snapshots, 0);
	atomic_store(&verifies, 0);
	runner_set_work(held_work);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	/* A failed test may leave a job holding: let it end. */
	atomic_store(&release, true);
	sched_cancel_all(f->s);
	core_free(f->core);
	sched_free(f->s);
	config_free(f->cfg);
	loop_timer_free(f->guard);
	loop_timer_free(f->release);
	loop_free(f->loop);
	runner_set_work(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A reload that drops a game while its snapshot runs: the snapshot is cancelled, the job queued
 * behind it is answered and never started, and a change in the folder after the old config is
 * freed touches nothing of it (ASan reports a read of it). */
static void
test_reload_retires_busy_game(void **state)
{
	struct fx *f = *state;
	struct job_spec backup = {.kind = JOB_SNAPSHOT}, verify = {.kind = JOB_VERIFY};
	struct sk_config *old = config_for(f, "a", f->save, true);
	struct wait w1, w2;
	char other[128], file[128];

	snprintf(other, sizeof(other), "%s/other", f->dir);
	assert_int_equal(mkdir(other, 0700), 0);
	f->s = sched_new(f->loop, f->core, old, SCHED_DAEMON, NULL, NULL);
	assert_non_null(f->s);
	wait_init(&w1, f);
	wait_init(&w2, f);
	assert_int_equal(sched_submit(f->s, "a", &backup, &w1.w, NULL), 0);
	assert_int_equal(sched_submit(f->s, "a", &verify, &w2.w, NULL), 0);

	f->cfg = config_for(f, "b", other, false);
	assert_int_equal(sched_reload(f->s, f->cfg), 0);
	config_free(old);
	/* The waiter of the queued job is answered by the reload itself. */
	assert_true(w2.done);
	assert_int_equal(w2.err, -ECANCELED);
	assert_string_equal(w2.message, "cancelled");

	snprintf(file, sizeof(file), "%s/slot1.sav", f->save);
	close(open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	loop_timer_arm(f->release, 20 * USEC_PER_MSEC);
	f->expect = 2;
	loop_run(f->loop);
	assert_true(w1.done);
	assert_int_equal(w1.err, -ECANCELED);
	assert_int_equal(atomic_load(&verifies), 0);
	assert_int_equal(atomic_load(&snapshots), 1);
	assert_true(sched_idle(f->s));
	assert_int_equal(sched_games(f->s), 1);
}

/* A schedule with game "a" paused, and three waiters. */
static void
start_paused(struct fx *f, struct wait *w0, struct wait *w1, struct wait *w2)
{
	f->cfg = config_for(f, "a", f->save, false);
	f->s = sched_new(f->loop, f->core, f->cfg, SCHED_DAEMON, NULL, NULL);
	assert_non_null(f->s);
	wait_init(w0, f);
	wait_init(w1, f);
	wait_init(w2, f);
}

/* "backup" always snapshots: it does not join a running if-changed tick, which may publish
 * nothing, but a second backup joins the first one while it waits. */
static void
test_backup_after_running_tick(void **state)
{
	struct fx *f = *state;
	struct job_spec tick = {.kind = JOB_SNAPSHOT, .if_changed = true};
	struct job_spec backup = {.kind = JOB_SNAPSHOT};
	struct wait w0, w1, w2;
	bool joined = true;

	start_paused(f, &w0, &w1, &w2);
	assert_int_equal(sched_submit(f->s, "a", &tick, &w0.w, &joined), 0);
	assert_false(joined);
	assert_int_equal(sched_submit(f->s, "a", &backup, &w1.w, &joined), 0);
	assert_false(joined);
	assert_int_equal(sched_submit(f->s, "a", &backup, &w2.w, &joined), 0);
	assert_true(joined);
	loop_timer_arm(f->release, 20 * USEC_PER_MSEC);
	f->expect = 3;
	loop_run(f->loop);
	assert_int_equal(w0.err, 0);
	assert_int_equal(w1.err, 0);
	assert_int_equal(w2.err, 0);
	assert_int_equal(atomic_load(&snapshots), 2);
}

/* With less free space than min_free the snapshot is skipped, answered at once with a message
 * naming the archive folder and the limit; the job never starts. */
static void
test_free_space_guard(void **state)
{
	struct fx *f = *state;
	struct job_spec backup = {.kind = JOB_SNAPSHOT};
	struct wait w;

	f->cfg = config_for(f, "a", f->save, false);
	f->cfg->min_free_bytes = UINT64_MAX / 2;
	f->s = sched_new(f->loop, f->core, f->cfg, SCHED_DAEMON, NULL, NULL);
	assert_non_null(f->s);
	wait_init(&w, f);
	assert_int_equal(sched_submit(f->s, "a", &backup, &w.w, NULL), 0);
	assert_true(w.done);
	assert_int_equal(w.err, -ENOSPC);
	assert_non_null(strstr(w.message, f->archive));
	assert_non_null(strstr(w.message, "min_free"));
	assert_int_equal(atomic_load(&snapshots), 0);
	assert_true(sched_idle(f->s));
}

/* A pin waits in the game's queue behind the running snapshot (and its retention); a listing,
 * which changes nothing, is answered while that snapshot still runs. */
static void
test_pin_queues_list_does_not(void **state)
{
	struct fx *f = *state;
	struct job_spec backup = {.kind = JOB_SNAPSHOT}, list = {.kind = JOB_LIST};
	struct job_spec pin = {.kind = JOB_PIN, .id = (char *)"20240101T000000.000Z"};
	struct wait w0, w1, w2;

	start_paused(f, &w0, &w1, &w2);
	assert_int_equal(sched_submit(f->s, "a", &backup, &w0.w, NULL), 0);
	assert_int_equal(sched_submit(f->s, "a", &pin, &w1.w, NULL), 0);
	assert_int_equal(sched_submit(f->s, "a", &list, &w2.w, NULL), 0);
	f->expect = 1;
	loop_run(f->loop);
	assert_true(w2.done);
	assert_int_equal(w2.err, 0);
	assert_false(w0.done);
	assert_false(w1.done);
	loop_timer_arm(f->release, 20 * USEC_PER_MSEC);
	f->expect = 3;
	loop_run(f->loop);
	assert_int_equal(w0.err, 0);
	/* The snapshot here is a stand-in that publishes nothing: the pin finds no archive. */
	assert_int_equal(w1.err, -ENOENT);
	assert_non_null(strstr(w1.message, "has no archive"));
}

/* The inotify instances among this process's fds, counted by what their links name. */
static unsigned
inotify_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char target[64];
		ssize_t len = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, "anon_inode:inotify") == 0;
	}
	closedir(d);
	return n;
}

/* A daemon's schedule watches each game's folder, paused or not; a one-shot schedule (--once)
 * watches none, yet runs the jobs it is given. */
static void
test_one_shot_watches_nothing(void **state)
{
	struct fx *f = *state;
	struct job_spec backup = {.kind = JOB_SNAPSHOT};
	struct sched *daemon;
	struct wait w;
	unsigned before = inotify_fds();

	f->cfg = config_for(f, "a", f->save, false);
	daemon = sched_new(f->loop, f->core, f->cfg, SCHED_DAEMON, NULL, NULL);
	assert_non_null(daemon);
	assert_int_equal(inotify_fds(), before + 1);
	sched_free(daemon);
	assert_int_equal(inotify_fds(), before);

	f->s = sched_new(f->loop, f->core, f->cfg, SCHED_ONE_SHOT, NULL, NULL);
	assert_non_null(f->s);
	assert_int_equal(inotify_fds(), before);
	wait_init(&w, f);
	assert_int_equal(sched_submit(f->s, "a", &backup, &w.w, NULL), 0);
	loop_timer_arm(f->release, 20 * USEC_PER_MSEC);
	f->expect = 1;
	loop_run(f->loop);
	assert_int_equal(w.err, 0);
	assert_int_equal(atomic_load(&snapshots), 1);
	assert_int_equal(inotify_fds(), before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reload_retires_busy_game, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backup_after_running_tick, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_space_guard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_queues_list_does_not, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_shot_watches_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Jobs: running one (timing, dispatch, the message on failure), the yield hook, copying a
 * spec, and the JSON lines the process core sends through its pipe. */
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
#include "job.h"
#include "util.h"

static char *excl[] = { (char *)"*.tmp", (char *)"logs/\"quoted\"\n" };

static const struct job_spec sample = {
	.kind = JOB_RESTORE,
	.game = (char *)"state-of-decay",
	.save_dir = (char *)"/home/u/Games/sod/Saved Games",
	.game_dir = (char *)"/home/u/.local/share/savekeeper/state-of-decay",
	.id = NULL,
	.exclude = excl,
	.n_exclude = 2,
	.level = 9,
	.threads = 4,
	.dry_run = true,
	.undo = false,
	.pin = true,
	.if_changed = true,
	.prune = true,
	.keep = { .last = 50, .hourly = 24, .daily = 7, .weekly = 4, .monthly = 12 },
	.tag = (char *)"pre-restore",
};

static void
assert_spec_equal(const struct job_spec *a, const struct job_spec *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->game, b->game);
	assert_string_equal(a->save_dir, b->save_dir);
	assert_string_equal(a->game_dir, b->game_dir);
	assert_true((a->id == NULL) == (b->id == NULL));
	assert_int_equal(a->n_exclude, b->n_exclude);
	for (unsigned i = 0; i < a->n_exclude; i++)
		assert_string_equal(a->exclude[i], b->exclude[i]);
	assert_int_equal(a->level, b->level);
	assert_int_equal(a->threads, b->threads);
	assert_int_equal(a->dry_run, b->dry_run);
	assert_int_equal(a->undo, b->undo);
	assert_int_equal(a->pin, b->pin);
	assert_int_equal(a->if_changed, b->if_changed);
	assert_int_equal(a->prune, b->prune);
	assert_memory_equal(&a->keep, &b->keep, sizeof(a->keep));
	assert_string_equal(a->tag, b->tag);
}

static void
test_spec_dup(void **state)
{
	(void)state;
	struct job_spec *d = job_spec_dup(&sample);

	assert_non_null(d);
	assert_spec_equal(d, &sample);
	assert_ptr_not_equal(d->game, sample.game);
	assert_ptr_not_equal(d->exclude[0], sample.exclude[0]);
	assert_null(d->id);
	job_spec_free(d);
	job_spec_free(NULL);
}

static void
test_spec_json(void **state)
{
	(void)state;
	_cleanup_free_ char *json = job_spec_to_json(&sample);
	struct job_spec *back = NULL;

	assert_non_null(json);
	/* One line, so it can travel as a line. */
	assert_null(strchr(json, '\n'));
	assert_int_equal(job_spec_from_json(json, &back), 0);
	assert_spec_equal(back, &sample);
	job_spec_free(back);
}

static void
test_spec_json_invalid(void **state)
{
	(void)state;
	struct job_spec *s = NULL;

	assert_int_equal(job_spec_from_json("{\"kind\": ", &s), -EINVAL);
	assert_int_equal(job_spec_from_json("[1, 2]", &s), -EINVAL);
	assert_int_equal(job_spec_from_json("{\"kind\": 42}", &s), -EINVAL);
	assert_null(s);
}

static void
test_result_json(void **state)
{
	(void)state;
	struct job_result r = { .err = -ENOENT, .id = "20240101T120000.000Z", .files = 12,
				.bytes_in = 1ULL << 40, .bytes_out = 5, .usec = 123456,
				.pre_id = "20240101T115959.000Z", .unchanged = true, .pruned = 3 };
	struct job_result back;
	_cleanup_free_ char *json = NULL;

	snprintf(r.message, sizeof(r.message), "cannot read 'slot \"1\".sav': No such file");
	r.detail = strdup("would restore:\n  slot1.sav\n");
	json = job_result_to_json(&r);
	assert_non_null(json);
	assert_null(strchr(json, '\n'));
	assert_int_equal(job_result_from_json(json, &back), 0);
	assert_int_equal(back.err, -ENOENT);
	assert_string_equal(back.message, r.message);
	assert_string_equal(back.id, r.id);
	assert_string_equal(back.pre_id, r.pre_id);
	assert_true(back.unchanged);
	assert_int_equal(back.pruned, 3);
	assert_int_equal(back.files, 12);
	assert_int_equal(back.bytes_in, 1ULL << 40);
	assert_int_equal(back.bytes_out, 5);
	assert_int_equal(back.usec, 123456);
	assert_string_equal(back.detail, r.detail);
	job_result_clear(&back);
	assert_null(back.detail);
	job_result_clear(&r);
	assert_int_equal(job_result_from_json("nonsense", &back), -EINVAL);
}

static void
test_progress_json(void **state)
{
	(void)state;
	struct job_progress p = { 3, 10, 1ULL << 33, 1ULL << 34 }, back;
	_cleanup_free_ char *json = job_progress_to_json(&p);

	assert_non_null(json);
	assert_int_equal(job_progress_from_json(json, &back), 0);
	assert_memory_equal(&p, &back, sizeof(p));
}

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
	struct job_hooks hooks = { .yield = count_yield, .cancel = &cancel };
	struct job_result r;

	job_set_work(sleepy_work);
	yields = 0;
	assert_int_equal(job_execute(&sample, &hooks, &r), -EIO);
	assert_int_equal(r.err, -EIO);
	assert_string_equal(r.id, "made");
	/* Work that gives no message gets the error's text. */
	assert_string_equal(r.message, strerror(EIO));
	assert_true(r.usec >= 20000);
	assert_int_equal(yields, 1);

	cancel = true;
	assert_int_equal(job_execute(&sample, &hooks, &r), -ECANCELED);
	assert_int_equal(yields, 2);
	job_set_work(NULL);
}

/* One job per game folder: a second locker waits, then gives up; a job that finds the folder
 * locked fails with a message instead of running; the lock goes with its fd. */
static void
test_game_lock(void **state)
{
	char dir[64];
	_cleanup_free_ char *game = NULL;
	struct job_spec spec = sample;
	struct job_result r;
	int held;

	(void)state;
	assert_non_null(mkdtemp(scratch_template(dir, sizeof(dir), "sk-job")));
	game = path_join(dir, "demo");
	assert_int_equal(job_lock_game(game, 0), -ENOENT);
	assert_int_equal(mkdir(game, 0700), 0);
	held = job_lock_game(game, 0);
	assert_true(held >= 0);
	assert_int_equal(job_lock_game(game, 50 * USEC_PER_MSEC), -EWOULDBLOCK);
	job_set_work(sleepy_work);
	spec.game_dir = game;
	assert_int_equal(job_execute(&spec, NULL, &r), -EBUSY);
	assert_non_null(strstr(r.message, game));
	close(held);
	held = job_lock_game(game, 0);
	assert_true(held >= 0);
	close(held);
	job_set_work(NULL);
	assert_int_equal(rmdir(game), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_yield_without_hooks(void **state)
{
	(void)state;
	atomic_bool cancel = false;
	struct job_hooks hooks = { .cancel = &cancel };

	assert_false(job_yield(NULL));
	assert_false(job_yield(&hooks));
	cancel = true;
	assert_true(job_yield(&hooks));
}

static void
test_unknown_kind(void **state)
{
	(void)state;
	struct job_spec s = sample;
	struct job_result r;

	s.kind = (enum job_kind)99;
	assert_int_equal(job_execute(&s, NULL, &r), -EINVAL);
	assert_non_null(strstr(r.message, "unknown job kind"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_dup),
		cmocka_unit_test(test_spec_json),
		cmocka_unit_test(test_spec_json_invalid),
		cmocka_unit_test(test_result_json),
		cmocka_unit_test(test_progress_json),
		cmocka_unit_test(test_execute),
		cmocka_unit_test(test_game_lock),
		cmocka_unit_test(test_yield_without_hooks),
		cmocka_unit_test(test_unknown_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

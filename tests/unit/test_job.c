/* Jobs as data: copying a spec, and the JSON lines the process core sends through its pipe. */
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

static char *excl[] = {(char *)"*.tmp", (char *)"logs/\"quoted\"\n"};

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
    .keep = {.last = 50, .hourly = 24, .daily = 7, .weekly = 4, .monthly = 12},
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
	struct job_result r = {.err = -ENOENT,
			       .id = "20240101T120000.000Z",
			       .files = 12,
			       .bytes_in = 1ULL << 40,
			       .bytes_out = 5,
			       .usec = 123456,
			       .pre_id = "20240101T115959.000Z",
			       .unchanged = true,
			       .pruned = 3};
	struct job_result back;
	_cleanup_free_ char *json = NULL;

	snprintf(r.message, sizeof(r.message), "cannot read 'slot \"1\".sav': No such file");
	r.dry_run = true;
	r.changes = calloc(1, sizeof(*r.changes));
	r.n_changes = 1;
	snprintf(r.changes[0].change, sizeof(r.changes[0].change), "removed");
	r.changes[0].size = 17;
	r.changes[0].path = strdup("stale \"1\"\\n.sav");
	r.archives = calloc(2, sizeof(*r.archives));
	r.n_archives = 2;
	snprintf(r.archives[0].id, sizeof(r.archives[0].id), "20240101T115959.000Z");
	r.archives[0].time_usec = -5;
	r.archives[0].pinned = true;
	snprintf(r.archives[1].tag, sizeof(r.archives[1].tag), "pre-restore");
	r.archives[1].keep = 3;
	r.archives[1].size = 1ULL << 40;
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
	assert_true(back.dry_run);
	assert_int_equal(back.n_changes, 1);
	assert_string_equal(back.changes[0].change, "removed");
	assert_int_equal(back.changes[0].size, 17);
	assert_string_equal(back.changes[0].path, r.changes[0].path);
	assert_int_equal(back.n_archives, 2);
	assert_memory_equal(back.archives, r.archives, 2 * sizeof(*r.archives));
	job_result_clear(&back);
	assert_null(back.archives);
	assert_null(back.changes);
	job_result_clear(&r);
	assert_int_equal(job_result_from_json("nonsense", &back), -EINVAL);
}

static void
test_progress_json(void **state)
{
	(void)state;
	struct job_progress p = {3, 10, 1ULL << 33, 1ULL << 34}, back;
	_cleanup_free_ char *json = job_progress_to_json(&p);

	assert_non_null(json);
	assert_int_equal(job_progress_from_json(json, &back), 0);
	assert_memory_equal(&p, &back, sizeof(p));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_dup),	      cmocka_unit_test(test_spec_json),
	    cmocka_unit_test(test_spec_json_invalid), cmocka_unit_test(test_result_json),
	    cmocka_unit_test(test_progress_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

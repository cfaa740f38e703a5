/* The copy queue: a journal of IDs next to the archives, kept in order, without duplicates,
 * replaced whole (no temporary left behind), read back after a "restart" (a new read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

#include "remote.h"
#include "util.h"

static char dir[128];

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(scratch_template(dir, sizeof(dir), "sk-remote")) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void
assert_queue(const char *const *want, size_t n_want)
{
	char **ids = NULL;
	size_t n = 99;

	assert_int_equal(remote_journal_read(dir, REMOTE_QUEUE_FILE, &ids, &n), 0);
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ids[i], want[i]);
	remote_journal_free(ids, n);
}

static void
test_queue(void **state)
{
	char path[512];

	(void)state;
	assert_queue(NULL, 0);
	assert_int_equal(remote_journal_add(dir, REMOTE_QUEUE_FILE, "20261201T050000.000Z"), 0);
	assert_int_equal(remote_journal_add(dir, REMOTE_QUEUE_FILE, "20261201T060000.000Z"), 0);
	assert_int_equal(remote_journal_add(dir, REMOTE_QUEUE_FILE, "20261201T050000.000Z"), 0);
	assert_queue((const char *const[]){"20261201T050000.000Z", "20261201T060000.000Z"}, 2);
	assert_int_equal(remote_journal_remove(dir, REMOTE_QUEUE_FILE, "20261201T050000.000Z"), 0);
	assert_int_equal(remote_journal_remove(dir, REMOTE_QUEUE_FILE, "20261201T070000.000Z"), 0);
	assert_queue((const char *const[]){"20261201T060000.000Z"}, 1);
	snprintf(path, sizeof(path), "%s/" REMOTE_QUEUE_FILE ".partial", dir);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_hand_edited(void **state)
{
	char path[512];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/" REMOTE_QUEUE_FILE, dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("\n../../etc/passwd\n20261201T080000.000Z\n.hidden\n", f);
	fclose(f);
	assert_queue((const char *const[]){"20261201T080000.000Z"}, 1);
}

static void
test_unreadable_folder(void **state)
{
	char **ids = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(remote_journal_read("/nonexistent/game", REMOTE_QUEUE_FILE, &ids, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(remote_journal_add("/nonexistent/game", REMOTE_QUEUE_FILE, "20261201T080000.000Z"),
			 -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queue),
	    cmocka_unit_test(test_hand_edited),
	    cmocka_unit_test(test_unreadable_folder),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

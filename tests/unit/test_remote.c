/* The copy queue: a journal of IDs next to the archives, kept in order, without duplicates,
 * replaced whole (no temporary left behind), read back after a "restart" (a new read); the
 * record of uploads beside it; the start-up sweep of a pull's staging folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remote.h"
#include "util.h"

static char dir[128];

static int
setup(void **state)
{
	(void)state;
	return scratch_dir_make(dir, sizeof(dir), "sk-remote");
}

static int
teardown(void **state)
{
	(void)state;
	return scratch_dir_remove(dir);
}

/* Each pin test starts with no journal, whatever the tests before it left. */
static int
no_journals(void **state)
{
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/" REMOTE_QUEUE_FILE, dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/" REMOTE_UPLOADED_FILE, dir);
	(void)unlink(path);
	return 0;
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

/* The record of uploads is a journal of its own: the queue's changes leave it alone. */
static void
test_record_apart(void **state)
{
	char **ids = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(remote_journal_add(dir, REMOTE_UPLOADED_FILE, "20261201T090000.000Z"), 0);
	assert_int_equal(remote_journal_add(dir, REMOTE_QUEUE_FILE, "20261201T100000.000Z"), 0);
	assert_int_equal(remote_journal_remove(dir, REMOTE_QUEUE_FILE, "20261201T100000.000Z"), 0);
	assert_int_equal(remote_journal_read(dir, REMOTE_UPLOADED_FILE, &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "20261201T090000.000Z");
	remote_journal_free(ids, n);
	assert_int_equal(remote_journal_remove(dir, REMOTE_UPLOADED_FILE, "20261201T090000.000Z"), 0);
}

/* A journal from before pins (archive IDs alone) still loads as uploads; a pin entry names its
 * archive; a pin entry that names no valid ID (a hand edit) is skipped. */
static void
test_entries(void **state)
{
	char path[512];
	const char *id;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/" REMOTE_QUEUE_FILE, dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("20261201T080000.000Z\npin 20261201T080000.000Z\nunpin ../x\npin nonsense\n"
	      "unpin 20261201T070000.000Z\n",
	      f);
	fclose(f);
	assert_queue((const char *const[]){"20261201T080000.000Z", "pin 20261201T080000.000Z",
					   "unpin 20261201T070000.000Z"},
		     3);
	assert_int_equal(remote_entry_parse("20261201T080000.000Z", &id), REMOTE_OP_UPLOAD);
	assert_string_equal(id, "20261201T080000.000Z");
	assert_int_equal(remote_entry_parse("pin 20261201T080000.000Z", &id), REMOTE_OP_PIN);
	assert_string_equal(id, "20261201T080000.000Z");
	assert_int_equal(remote_entry_parse("unpin 20261201T070000.000Z", &id), REMOTE_OP_UNPIN);
	assert_string_equal(id, "20261201T070000.000Z");
}

/* A pin or unpin is queued only for this machine's archives on the remote (recorded or
 * queued), and the last one for an archive takes the place of one still waiting. */
static void
test_queue_pin(void **state)
{
	(void)state;
	assert_int_equal(remote_queue_pin(dir, "20261201T050000.000Z", true), 0);
	assert_queue(NULL, 0);
	assert_int_equal(remote_journal_add(dir, REMOTE_UPLOADED_FILE, "20261201T050000.000Z"), 0);
	assert_int_equal(remote_journal_add(dir, REMOTE_QUEUE_FILE, "20261201T060000.000Z"), 0);
	assert_int_equal(remote_queue_pin(dir, "20261201T050000.000Z", true), 2);
	assert_int_equal(remote_queue_pin(dir, "20261201T060000.000Z", true), 3);
	assert_int_equal(remote_queue_pin(dir, "20261201T050000.000Z", false), 3);
	assert_queue((const char *const[]){"20261201T060000.000Z", "pin 20261201T060000.000Z",
					   "unpin 20261201T050000.000Z"},
		     3);
}

/* The start-up sweep removes a pull's staging folder with what is in it, and does not follow
 * a symlink put in its place. */
static void
test_sweep_staging(void **state)
{
	char staging[256], path[300], outside[256];
	FILE *f;

	(void)state;
	snprintf(staging, sizeof(staging), "%s/" REMOTE_STAGING, dir);
	assert_int_equal(mkdir(staging, 0700), 0);
	snprintf(path, sizeof(path), "%s/20261201T090000.000Z.tar.gz.abc123.partial", staging);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(remote_sweep(dir), 0);
	assert_int_equal(access(staging, F_OK), -1);
	assert_int_equal(remote_sweep(dir), 0); /* nothing there: nothing to do */

	snprintf(outside, sizeof(outside), "%s/outside", dir);
	assert_int_equal(mkdir(outside, 0700), 0);
	snprintf(path, sizeof(path), "%s/keep", outside);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(symlink(outside, staging), 0);
	(void)remote_sweep(dir);
	assert_int_equal(access(path, F_OK), 0);
	unlink(staging);
}

/* The sweep removes what a listing killed meanwhile left in the game's folder, and only that. */
static void
test_sweep_listing(void **state)
{
	char listing[256], path[300], other[256];
	FILE *f;

	(void)state;
	snprintf(listing, sizeof(listing), "%s/" REMOTE_LIST_STAGING ".Ab12Cd", dir);
	assert_int_equal(mkdir(listing, 0700), 0);
	snprintf(path, sizeof(path), "%s/20261201T090000.000Z.manifest", listing);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(other, sizeof(other), "%s/" REMOTE_LIST_STAGING "-not-ours", dir);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(remote_sweep(dir), 0);
	assert_int_equal(access(listing, F_OK), -1);
	assert_int_equal(access(other, F_OK), 0);
	assert_int_equal(rmdir(other), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queue),
	    cmocka_unit_test(test_hand_edited),
	    cmocka_unit_test(test_unreadable_folder),
	    cmocka_unit_test(test_record_apart),
	    cmocka_unit_test_setup(test_entries, no_journals),
	    cmocka_unit_test_setup(test_queue_pin, no_journals),
	    cmocka_unit_test(test_sweep_staging),
	    cmocka_unit_test(test_sweep_listing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

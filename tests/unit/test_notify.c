/* The notifier without a session bus: libnotify is loaded only when the notifier starts, every
 * notification fails, the caller never waits for it, one warning is logged, and stopping is
 * prompt. Tests on a real bus with a mock server
 * are in tests/integration/65-notify-queue.sh (through tests/helpers/notify_drive.c). */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "log.h"
#include "notify.h"
#include "util.h"

struct fixture {
	char dir[64]; /* an empty XDG_RUNTIME_DIR: no $XDG_RUNTIME_DIR/bus to fall back on */
	char log[96]; /* stderr goes here while a test runs */
	int saved_stderr;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	assert_non_null(mkdtemp(scratch_template(f->dir, sizeof(f->dir), "sk-test-notify")));
	snprintf(f->log, sizeof(f->log), "%s/stderr", f->dir);
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	unsetenv("DISPLAY");
	setenv("XDG_RUNTIME_DIR", f->dir, 1);
	fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	f->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	assert_true(f->saved_stderr >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	*state = f;
	return 0;
}

/* Gives back stderr, showing what went there (assertion messages too) as TAP comments. */
static int
teardown(void **state)
{
	struct fixture *f = *state;
	FILE *fp = fopen(f->log, "re");
	char line[4096];

	dup2(f->saved_stderr, STDERR_FILENO);
	close(f->saved_stderr);
	while (fp && fgets(line, sizeof(line), fp))
		fprintf(stderr, "# %s", line);
	if (fp)
		fclose(fp);
	unlink(f->log);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* How many lines of the captured stderr contain needle. */
static int
count_lines(const struct fixture *f, const char *needle)
{
	FILE *fp = fopen(f->log, "re");
	char line[4096];
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

static void
send_many(int n)
{
	char summary[64];

	for (int i = 0; i < n; i++) {
		snprintf(summary, sizeof(summary), "Backup %d", i);
		notify_send(i % 3 ? NOTE_BACKUP : NOTE_FAILURE, i % 2 ? "demo" : "other", summary,
			    "cannot read 'slot1.sav': Permission denied");
	}
}

/* Whether this process has libnotify loaded. */
static bool
libnotify_loaded(void)
{
	void *h = dlopen("libnotify.so.4", RTLD_NOW | RTLD_NOLOAD);

	if (h)
		dlclose(h);
	return h != NULL;
}

/* libnotify (and the GLib it brings) is not linked: the notifier thread loads it when it
 * starts, so a program that never notifies (savekeeperd --once, a process-core worker) does
 * not pay for loading it. Runs first: once loaded, it stays. */
static void
test_library_loaded_on_first_use(void **state)
{
	(void)state;
	assert_false(libnotify_loaded());
	assert_int_equal(notify_start(SK_NOTIFY_OFF), 0);
	send_many(3);
	assert_int_equal(notify_flush(USEC_PER_SEC), 0);
	notify_stop();
	assert_false(libnotify_loaded());
	assert_int_equal(notify_start(SK_NOTIFY_ALL), 0);
	send_many(1);
	assert_int_equal(notify_flush(30 * USEC_PER_SEC), 0);
	notify_stop();
	assert_true(libnotify_loaded());
}

static void
test_no_bus_warns_once(void **state)
{
	struct fixture *f = *state;

	log_init("test_notify");
	assert_int_equal(notify_start(SK_NOTIFY_ALL), 0);
	/* More than the queue holds: the oldest are dropped, the caller never waits. */
	send_many(100);
	assert_int_equal(notify_flush(30 * USEC_PER_SEC), 0);
	send_many(10);
	assert_int_equal(notify_flush(30 * USEC_PER_SEC), 0);
	notify_stop();
	assert_int_equal(count_lines(f, "desktop notifications unavailable"), 1);
	assert_int_equal(count_lines(f, "warning"), 1);
}

static void
test_restart_after_stop(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(notify_start(SK_NOTIFY_ERRORS), 0);
		notify_send(NOTE_FAILURE, "demo", "Backup of demo failed", "disk full");
		assert_int_equal(notify_flush(30 * USEC_PER_SEC), 0);
		notify_stop();
	}
	/* Each start begins unwarned: one warning per run of the thread. */
	assert_int_equal(count_lines(f, "desktop notifications unavailable"), 3);
}

static void
test_off_attempts_nothing(void **state)
{
	struct fixture *f = *state;
	struct job_result r = {.err = -EIO, .message = "cannot read 'a': Input/output error"};

	assert_int_equal(notify_start(SK_NOTIFY_OFF), 0);
	send_many(5);
	notify_job("demo", JOB_SNAPSHOT, &r);
	assert_int_equal(notify_flush(USEC_PER_SEC), 0);
	notify_stop();
	assert_int_equal(count_lines(f, "desktop notifications"), 0);
}

static void
test_mode_errors_skips_successes(void **state)
{
	struct fixture *f = *state;

	/* In "errors" mode a success is never attempted, so it cannot produce the warning. */
	assert_int_equal(notify_start(SK_NOTIFY_ERRORS), 0);
	notify_send(NOTE_BACKUP, "demo", "Backed up demo", "3 files");
	notify_send(NOTE_RESTORE, "demo", "Restored demo", "");
	assert_int_equal(notify_flush(30 * USEC_PER_SEC), 0);
	assert_int_equal(count_lines(f, "desktop notifications"), 0);
	notify_send(NOTE_FAILURE, "demo", "Backup of demo failed", "disk full");
	assert_int_equal(notify_flush(30 * USEC_PER_SEC), 0);
	notify_stop();
	assert_int_equal(count_lines(f, "desktop notifications unavailable"), 1);
}

static void
test_set_mode_starts_thread(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(notify_start(SK_NOTIFY_OFF), 0);
	notify_send(NOTE_FAILURE, "demo", "Backup of demo failed", "one");
	notify_set_mode(SK_NOTIFY_ALL);
	notify_send(NOTE_FAILURE, "demo", "Backup of demo failed", "two");
	assert_int_equal(notify_flush(30 * USEC_PER_SEC), 0);
	notify_stop();
	assert_int_equal(count_lines(f, "desktop notifications unavailable"), 1);
}

static void
test_stop_without_start(void **state)
{
	(void)state;
	notify_stop();
	notify_send(NOTE_BACKUP, "demo", "Backed up demo", "");
	assert_int_equal(notify_flush(USEC_PER_SEC), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_library_loaded_on_first_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_bus_warns_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_after_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_off_attempts_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mode_errors_skips_successes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_mode_starts_thread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_without_start, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* rclone as a bounded child: the options every command gets, the tail of stderr in the message,
 * the time bound, a missing program, and real uploads through one rclone rcd to the local
 * backend that never leave a partial file under the final name. The mechanics use a stand-in script as the
 * program (it prints its arguments, fails or hangs on request); the upload uses real rclone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rclone.h"
#include "util.h"

static char dir[128];
static char script[256];

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	if (scratch_dir_make(dir, sizeof(dir), "sk-rclone") < 0)
		return -1;
	snprintf(script, sizeof(script), "%s/fake-rclone", dir);
	f = fopen(script, "w");
	if (!f)
		return -1;
	fputs("#!/bin/sh\n"
	      "case \"$1\" in\n"
	      "fail|rcd) echo '2026/12/01 05:00:00 NOTICE: starting' >&2;"
	      " echo '2026/12/01 05:00:01 ERROR : Attempt 1/1 failed: 401 Unauthorized' >&2; exit 7;;\n"
	      "hang) echo $$ >\"$(dirname \"$0\")/hang.pid\"; exec sleep 30;;\n"
	      "esac\n"
	      "echo \"$@\"\n",
	      f);
	fclose(f);
	return chmod(script, 0755);
}

static int
teardown(void **state)
{
	(void)state;
	return scratch_dir_remove(dir);
}

static void
test_arguments(void **state)
{
	struct rclone_opts o = {.binary = script, .config = "/etc/rc.conf", .bwlimit = "1M"};
	_cleanup_free_ char *out = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(
	    rclone_run(&o, (const char *const[]){"lsf", "r:x", NULL}, NULL, &out, 4096, err, sizeof(err)), 0);
	assert_non_null(strstr(out, "lsf r:x --config /etc/rc.conf --bwlimit 1M --retries=1"));
}

static void
test_failure_message(void **state)
{
	struct rclone_opts o = {.binary = script};
	char err[256] = "";

	(void)state;
	assert_int_equal(rclone_run(&o, (const char *const[]){"fail", NULL}, NULL, NULL, 0, err, sizeof(err)),
			 -EIO);
	assert_string_equal(err, "rclone fail failed (exit 7): Attempt 1/1 failed: 401 Unauthorized");
}

static void
test_timeout(void **state)
{
	struct rclone_opts o = {.binary = script, .timeout_usec = 200 * USEC_PER_MSEC};
	char err[256] = "";

	(void)state;
	assert_int_equal(rclone_run(&o, (const char *const[]){"hang", NULL}, NULL, NULL, 0, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_string_equal(err, "rclone hang took too long and was stopped");
}

/* True once pid is gone or a zombie. */
static bool
ended(pid_t pid)
{
	char path[64], st[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (!fgets(st, sizeof(st), f))
		st[0] = '\0';
	fclose(f);
	return strstr(st, ") Z ") != NULL;
}

/* rclone dies with the process that ran it (a killed daemon or worker): no rclone rcd, or any
 * other command, serves on as an orphan. */
static void
test_dies_with_parent(void **state)
{
	struct rclone_opts o = {.binary = script};
	char pidfile[300], err[256];
	pid_t runner, child = 0;
	bool gone;
	FILE *f;

	(void)state;
	snprintf(pidfile, sizeof(pidfile), "%s/hang.pid", dir);
	unlink(pidfile);
	runner = fork();
	assert_true(runner >= 0);
	if (runner == 0)
		_exit(rclone_run(&o, (const char *const[]){"hang", NULL}, NULL, NULL, 0, err, sizeof(err))
			  ? 1
			  : 0);
	for (int i = 0; i < 500 && child <= 0; i++) {
		usleep(10000);
		f = fopen(pidfile, "r");
		if (f && fscanf(f, "%d", &child) != 1)
			child = 0;
		if (f)
			fclose(f);
	}
	assert_true(child > 0);
	kill(runner, SIGKILL);
	waitpid(runner, NULL, 0);
	for (int i = 0; i < 500 && !ended(child); i++)
		usleep(10000);
	gone = ended(child);
	if (!gone)
		kill(child, SIGKILL); /* the test leaves nothing running, even when it fails */
	assert_true(gone);
}

static void
test_missing_program(void **state)
{
	struct rclone_opts o = {.binary = "/nonexistent/rclone"};
	char err[256] = "";

	(void)state;
	assert_int_equal(rclone_run(&o, (const char *const[]){"lsf", NULL}, NULL, NULL, 0, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "cannot run /nonexistent/rclone: No such file or directory"));
}

/* Two uploads through one rclone rcd, each landing whole under its final name with no
 * .partial left; a missing source fails with rc's "not found", and rcd keeps serving. */
static void
test_upload_local_backend(void **state)
{
	struct rclone_opts o = {0};
	struct rclone_rc *rc = NULL;
	char src[300], remote[300], final[400], partial[420], err[512] = "", cmd[2048];
	FILE *f;

	(void)state;
	if (system("command -v rclone >/dev/null") != 0)
		skip_because("rclone is not installed (apt-get install rclone)");
	snprintf(src, sizeof(src), "%s/a.tar.gz", dir);
	snprintf(remote, sizeof(remote), ":local:%s/remote/game", dir);
	f = fopen(src, "w");
	assert_non_null(f);
	for (int i = 0; i < 100000; i++)
		fprintf(f, "%d\n", i);
	fclose(f);
	assert_int_equal(rclone_rc_start(&o, NULL, &rc, err, sizeof(err)), 0);
	assert_int_equal(rclone_rc_upload(rc, src, remote, "ID.tar.gz", NULL, err, sizeof(err)), 0);
	assert_int_equal(rclone_rc_upload(rc, src, remote, "ID.manifest", NULL, err, sizeof(err)), 0);
	snprintf(final, sizeof(final), "%s/remote/game/ID.tar.gz", dir);
	snprintf(partial, sizeof(partial), "%s%s", final, RCLONE_PARTIAL_SUFFIX);
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s' && cmp -s '%s' '%s/remote/game/ID.manifest'", src, final,
		 src, dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(access(partial, F_OK), -1);
	snprintf(src, sizeof(src), "%s/missing.tar.gz", dir);
	assert_int_equal(rclone_rc_upload(rc, src, remote, "X.tar.gz", NULL, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "rclone operations/copyfile failed (HTTP 404): object not found"));
	assert_int_equal(rclone_rc_upload(rc, src, remote, "X.tar.gz", NULL, err, sizeof(err)), -ENODATA);
	rclone_rc_stop(rc);
}

/* Credentials a user exported for their own rcd do not reach savekeeper's: the upload still
 * authenticates, and the user's variables are as they were. */
static void
test_rc_ignores_inherited_credentials(void **state)
{
	struct rclone_opts o = {0};
	struct rclone_rc *rc = NULL;
	char src[300], remote[300], err[512] = "";
	FILE *f;

	(void)state;
	if (system("command -v rclone >/dev/null") != 0)
		skip_because("rclone is not installed (apt-get install rclone)");
	snprintf(src, sizeof(src), "%s/b.tar.gz", dir);
	snprintf(remote, sizeof(remote), ":local:%s/remote/game", dir);
	f = fopen(src, "w");
	assert_non_null(f);
	fputs("archive\n", f);
	fclose(f);
	assert_int_equal(setenv("RCLONE_RC_USER", "someone", 1), 0);
	assert_int_equal(setenv("RCLONE_RC_PASS", "theirs", 1), 0);
	assert_int_equal(rclone_rc_start(&o, NULL, &rc, err, sizeof(err)), 0);
	assert_int_equal(rclone_rc_upload(rc, src, remote, "B.tar.gz", NULL, err, sizeof(err)), 0);
	rclone_rc_stop(rc);
	assert_string_equal(getenv("RCLONE_RC_USER"), "someone");
	assert_string_equal(getenv("RCLONE_RC_PASS"), "theirs");
	unsetenv("RCLONE_RC_USER");
	unsetenv("RCLONE_RC_PASS");
}

/* rcd that cannot start says why, as any rclone command does. */
static void
test_rc_missing_program(void **state)
{
	struct rclone_opts o = {.binary = "/nonexistent/rclone"};
	struct rclone_rc *rc = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(rclone_rc_start(&o, NULL, &rc, err, sizeof(err)), -ENOENT);
	assert_null(rc);
	assert_non_null(strstr(err, "cannot run /nonexistent/rclone: No such file or directory"));
}

/* rcd that exits before it listens: its last error line is the message. */
static void
test_rc_dies_early(void **state)
{
	struct rclone_opts o = {.binary = script};
	struct rclone_rc *rc = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(rclone_rc_start(&o, NULL, &rc, err, sizeof(err)), -EIO);
	assert_null(rc);
	assert_non_null(strstr(err, "rclone rcd failed (exit 7): Attempt 1/1 failed: 401 Unauthorized"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arguments),
	    cmocka_unit_test(test_failure_message),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_missing_program),
	    cmocka_unit_test(test_dies_with_parent),
	    cmocka_unit_test(test_upload_local_backend),
	    cmocka_unit_test(test_rc_ignores_inherited_credentials),
	    cmocka_unit_test(test_rc_missing_program),
	    cmocka_unit_test(test_rc_dies_early),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

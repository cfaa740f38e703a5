/* rclone as a bounded child: the options every command gets, the tail of stderr in the message,
 * the time bound, a missing program, and a real upload through the local backend that never
 * leaves a partial file under the final name. The mechanics use a stand-in script as the
 * program (it prints its arguments, fails or hangs on request); the upload uses real rclone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "rclone.h"
#include "util.h"

static char dir[128];
static char script[256];

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	if (!mkdtemp(scratch_template(dir, sizeof(dir), "sk-rclone")))
		return -1;
	snprintf(script, sizeof(script), "%s/fake-rclone", dir);
	f = fopen(script, "w");
	if (!f)
		return -1;
	fputs("#!/bin/sh\n"
	      "case \"$1\" in\n"
	      "fail) echo '2026/12/01 05:00:00 NOTICE: starting' >&2;"
	      " echo '2026/12/01 05:00:01 ERROR : Attempt 1/1 failed: 401 Unauthorized' >&2; exit 7;;\n"
	      "hang) exec sleep 30;;\n"
	      "esac\n"
	      "echo \"$@\"\n",
	      f);
	fclose(f);
	return chmod(script, 0755);
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

static void
test_upload_local_backend(void **state)
{
	struct rclone_opts o = {0};
	char src[300], remote[300], final[400], partial[420], err[512] = "", cmd[1024];
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
	assert_int_equal(rclone_upload(&o, src, remote, "ID.tar.gz", NULL, err, sizeof(err)), 0);
	snprintf(final, sizeof(final), "%s/remote/game/ID.tar.gz", dir);
	snprintf(partial, sizeof(partial), "%s%s", final, RCLONE_PARTIAL_SUFFIX);
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", src, final);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(access(partial, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arguments),
	    cmocka_unit_test(test_failure_message),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_missing_program),
	    cmocka_unit_test(test_upload_local_backend),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

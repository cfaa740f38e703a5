/* rclone as a bounded child: the options every command gets, the tail of stderr in the message,
 * the time bound, a missing program, and real uploads through one rclone rcd to the local
 * backend that never leave a partial file under the final name: one file, an archive with its
 * manifest (uploaded twice, and to each form of remote path, as the archive's rename goes
 * through the folder's parent), through an rcd borrowed by address and credentials, and through
 * a borrowed one that is gone (the handle starts its own). The mechanics use a stand-in script as the
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

/* Writes n lines into dir/name; returns its path in path. */
static void
make_file(const char *name, int n, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s %d\n", name, i);
	fclose(f);
}

/* An archive and its manifest go up together, each whole under its final name, no .partial
 * left; a second upload of the same pair (a job stopped after the renames) replaces them. */
static void
test_upload_pair(void **state)
{
	struct rclone_opts o = {0};
	struct rclone_rc *rc = NULL;
	char a[300], m[300], remote[300], err[512] = "", cmd[2048];
	const char *local[2] = {a, m}, *names[2] = {"P.tar.gz", "P.manifest"};

	(void)state;
	if (system("command -v rclone >/dev/null") != 0)
		skip_because("rclone is not installed (apt-get install rclone)");
	make_file("p.tar.gz", 200000, a, sizeof(a));
	make_file("p.manifest", 10, m, sizeof(m));
	snprintf(remote, sizeof(remote), ":local:%s/pair/game", dir);
	assert_int_equal(rclone_rc_start(&o, NULL, &rc, err, sizeof(err)), 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(rclone_rc_upload_files(rc, local, remote, names, 2, NULL, err, sizeof(err)),
				 0);
		snprintf(cmd, sizeof(cmd),
			 "cmp -s '%s' %s/pair/game/P.tar.gz && cmp -s '%s' %s/pair/game/P.manifest && "
			 "test \"$(ls %s/pair/game | wc -l)\" = 2",
			 a, dir, m, dir, dir);
		assert_int_equal(system(cmd), 0);
	}
	rclone_rc_stop(rc);
}

/* The archive's rename goes through the folder's parent (another rclone Fs), whatever form the
 * remote's path has: NAME:PATH/game, a plain path, and NAME:game (the parent is NAME:, here the
 * local backend's working folder, rcd's, which is dir). Each pair lands whole, nothing else. */
static void
test_upload_remote_forms(void **state)
{
	struct rclone_opts o = {0};
	struct rclone_rc *rc = NULL;
	char a[300], m[300], remote[3][300], where[3][300], err[512] = "", cmd[4096], cwd[4096];
	const char *local[2] = {a, m}, *names[2] = {"F.tar.gz", "F.manifest"};

	(void)state;
	if (system("command -v rclone >/dev/null") != 0)
		skip_because("rclone is not installed (apt-get install rclone)");
	make_file("f.tar.gz", 50000, a, sizeof(a));
	make_file("f.manifest", 10, m, sizeof(m));
	snprintf(remote[0], sizeof(remote[0]), ":local:%s/forms/named/game", dir);
	snprintf(remote[1], sizeof(remote[1]), "%s/forms/plain/game", dir);
	snprintf(remote[2], sizeof(remote[2]), ":local:relgame");
	snprintf(where[0], sizeof(where[0]), "%s/forms/named/game", dir);
	snprintf(where[1], sizeof(where[1]), "%s/forms/plain/game", dir);
	snprintf(where[2], sizeof(where[2]), "%s/relgame", dir);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(rclone_rc_start(&o, NULL, &rc, err, sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    rclone_rc_upload_files(rc, local, remote[i], names, 2, NULL, err, sizeof(err)), 0);
		snprintf(cmd, sizeof(cmd),
			 "cmp -s '%s' '%s/F.tar.gz' && cmp -s '%s' '%s/F.manifest' && test \"$(ls '%s')\" = "
			 "\"$(printf 'F.manifest\\nF.tar.gz')\"",
			 a, where[i], m, where[i], where[i]);
		assert_int_equal(system(cmd), 0);
	}
	rclone_rc_stop(rc);
}

/* A job borrows the daemon's rcd by address and credentials: its uploads go through it, and
 * letting go of the handle leaves that rcd serving its owner. Wrong credentials are refused. */
static void
test_attach_borrows(void **state)
{
	struct rclone_opts o = {0};
	struct rclone_rc *owner = NULL, *job = NULL;
	char src[300], remote[300], err[512] = "";

	(void)state;
	if (system("command -v rclone >/dev/null") != 0)
		skip_because("rclone is not installed (apt-get install rclone)");
	make_file("c.tar.gz", 1000, src, sizeof(src));
	snprintf(remote, sizeof(remote), ":local:%s/borrowed/game", dir);
	assert_int_equal(rclone_rc_start(&o, NULL, &owner, err, sizeof(err)), 0);
	assert_int_equal(rclone_rc_attach(&o, rclone_rc_addr(owner), rclone_rc_auth(owner), &job), 0);
	assert_int_equal(rclone_rc_upload(job, src, remote, "C1.tar.gz", NULL, err, sizeof(err)), 0);
	rclone_rc_stop(job);
	assert_int_equal(rclone_rc_upload(owner, src, remote, "C2.tar.gz", NULL, err, sizeof(err)), 0);
	assert_int_equal(rclone_rc_attach(&o, rclone_rc_addr(owner), "c2F2ZWtlZXBlcjp3cm9uZw==", &job), 0);
	assert_int_equal(rclone_rc_upload(job, src, remote, "C3.tar.gz", NULL, err, sizeof(err)), -EACCES);
	rclone_rc_stop(job);
	rclone_rc_stop(owner);
	snprintf(src, sizeof(src), "%s/borrowed/game/C3.tar.gz.partial", dir);
	assert_int_equal(access(src, F_OK), -1);
}

/* A borrowed rcd that is gone (the daemon's stopped) is replaced by one of the job's own:
 * the upload still lands. */
static void
test_attach_takes_over(void **state)
{
	struct rclone_opts o = {0};
	struct rclone_rc *gone = NULL, *job = NULL;
	char src[300], remote[300], addr[64], auth[128], final[400], err[512] = "";

	(void)state;
	if (system("command -v rclone >/dev/null") != 0)
		skip_because("rclone is not installed (apt-get install rclone)");
	make_file("d.tar.gz", 1000, src, sizeof(src));
	snprintf(remote, sizeof(remote), ":local:%s/taken/game", dir);
	assert_int_equal(rclone_rc_start(&o, NULL, &gone, err, sizeof(err)), 0);
	snprintf(addr, sizeof(addr), "%s", rclone_rc_addr(gone));
	snprintf(auth, sizeof(auth), "%s", rclone_rc_auth(gone));
	rclone_rc_stop(gone);
	assert_int_equal(rclone_rc_attach(&o, addr, auth, &job), 0);
	assert_int_equal(rclone_rc_upload(job, src, remote, "D.tar.gz", NULL, err, sizeof(err)), 0);
	rclone_rc_stop(job);
	snprintf(final, sizeof(final), "%s/taken/game/D.tar.gz", dir);
	assert_int_equal(access(final, F_OK), 0);
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
	    cmocka_unit_test(test_upload_pair),
	    cmocka_unit_test(test_upload_remote_forms),
	    cmocka_unit_test(test_attach_borrows),
	    cmocka_unit_test(test_attach_takes_over),
	    cmocka_unit_test(test_rc_ignores_inherited_credentials),
	    cmocka_unit_test(test_rc_missing_program),
	    cmocka_unit_test(test_rc_dies_early),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

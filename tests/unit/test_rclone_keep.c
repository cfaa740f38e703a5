/* The daemon's rclone rcd on a real loop with the real rclone (started through a wrapper that
 * records each rcd's pid): it starts without blocking and says when it listens, is lent to jobs
 * that upload through it, serves every want and loan with one process, stops after its linger
 * once nobody uses it (and not while a job does), is started again after it died, and is
 * stopped when the keeper is freed. A missing program is an error at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop.h"
#include "rclone.h"
#include "rclone_keep.h"
#include "util.h"

#define LINGER_USEC (400 * USEC_PER_MSEC)

static char dir[128];
static char wrapper[256];
static char pids[256];
static struct loop *loop;
static unsigned settles;

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	if (scratch_dir_make(dir, sizeof(dir), "sk-rclone-keep") < 0)
		return -1;
	snprintf(wrapper, sizeof(wrapper), "%s/rclone-wrapper", dir);
	snprintf(pids, sizeof(pids), "%s/rcd.pids", dir);
	f = fopen(wrapper, "w");
	if (!f)
		return -1;
	fprintf(f, "#!/bin/sh\n[ \"$1\" = rcd ] && echo $$ >>'%s'\nexec rclone \"$@\"\n", pids);
	fclose(f);
	return chmod(wrapper, 0755);
}

static int
teardown(void **state)
{
	(void)state;
	return scratch_dir_remove(dir);
}

static int
each_setup(void **state)
{
	(void)state;
	unlink(pids);
	settles = 0;
	loop = loop_new();
	return loop ? 0 : -1;
}

static int
each_teardown(void **state)
{
	(void)state;
	loop_free(loop);
	return 0;
}

static void
on_settled(void *data)
{
	(void)data;
	settles++;
	loop_stop(loop);
}

static void
on_timeout(struct loop *l, struct loop_timer *t, void *data)
{
	(void)t;
	(void)data;
	loop_stop(l);
}

/* Runs the loop until it is stopped (a settle) or usec pass. */
static void
run_for(uint64_t usec)
{
	struct loop_timer *t = loop_timer_new(loop, on_timeout, NULL);

	assert_non_null(t);
	loop_timer_arm(t, usec);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_free(t);
}

/* How many rcd the wrapper started, and the last one's pid. */
static unsigned
rcd_starts(pid_t *ret_last)
{
	FILE *f = fopen(pids, "r");
	unsigned n = 0;
	int pid;

	while (f && fscanf(f, "%d", &pid) == 1) {
		n++;
		*ret_last = pid;
	}
	if (f)
		fclose(f);
	return n;
}

static bool
alive(pid_t pid)
{
	return kill(pid, 0) == 0;
}

/* An upload through a loan, as a copy job makes it. */
static int
upload_through(const char *addr, const char *auth, const char *name)
{
	struct rclone_opts o = {.binary = wrapper};
	struct rclone_rc *rc = NULL;
	char src[300], remote[300], err[512];
	FILE *f;
	int r;

	snprintf(src, sizeof(src), "%s/%s", dir, name);
	snprintf(remote, sizeof(remote), ":local:%s/remote", dir);
	f = fopen(src, "w");
	assert_non_null(f);
	fputs("archive\n", f);
	fclose(f);
	assert_int_equal(rclone_rc_attach(&o, addr, auth, &rc), 0);
	r = rclone_rc_upload(rc, src, remote, name, NULL, err, sizeof(err));
	rclone_rc_stop(rc);
	return r;
}

/* A keeper with rcd listening, started through the wrapper; skips the test without rclone. */
static struct rclone_keep *
keep_listening(const struct rclone_opts *o)
{
	struct rclone_keep *k;

	if (system("command -v rclone >/dev/null") != 0)
		skip_because("rclone is not installed (apt-get install rclone)");
	k = rclone_keep_new(loop, LINGER_USEC, on_settled, NULL);
	assert_non_null(k);
	assert_int_equal(rclone_keep_want(k, o), 0);
	run_for(30 * USEC_PER_SEC);
	assert_int_equal(settles, 1);
	assert_int_equal(rclone_keep_want(k, o), 1);
	return k;
}

/* Two loans and a want share one rcd; it lingers while a job holds it, and is stopped once
 * the last job is done and the linger passed. */
static void
test_lend_share_linger(void **state)
{
	struct rclone_opts o = {.binary = wrapper};
	struct rclone_keep *k;
	char *addr = NULL, *auth = NULL, *addr2 = NULL, *auth2 = NULL;
	pid_t pid = 0;

	(void)state;
	k = keep_listening(&o);
	assert_int_equal(rclone_keep_lend(k, &o, &addr, &auth), 0);
	assert_int_equal(rclone_keep_lend(k, &o, &addr2, &auth2), 0);
	assert_string_equal(addr, addr2);
	assert_int_equal(upload_through(addr, auth, "A.tar.gz"), 0);
	assert_int_equal(upload_through(addr2, auth2, "B.tar.gz"), 0);
	assert_int_equal(rcd_starts(&pid), 1);
	rclone_keep_return(k);
	run_for(2 * LINGER_USEC);
	assert_true(alive(pid));
	rclone_keep_return(k);
	run_for(2 * LINGER_USEC);
	assert_false(alive(pid));
	assert_int_not_equal(upload_through(addr, auth, "C.tar.gz"), -EACCES);
	assert_int_equal(rcd_starts(&pid), 2); /* the upload above took over with its own */
	free(addr);
	free(auth);
	free(addr2);
	free(auth2);
	rclone_keep_free(k);
}

/* An rcd that died is noticed on the loop and started again by the next want. */
static void
test_restart_after_death(void **state)
{
	struct rclone_opts o = {.binary = wrapper};
	struct rclone_keep *k;
	char *addr = NULL, *auth = NULL;
	pid_t pid = 0, first;

	(void)state;
	k = keep_listening(&o);
	assert_int_equal(rcd_starts(&first), 1);
	kill(first, SIGKILL);
	run_for(LINGER_USEC / 2);
	assert_int_equal(rclone_keep_want(k, &o), 0);
	run_for(30 * USEC_PER_SEC);
	assert_int_equal(settles, 2);
	assert_int_equal(rcd_starts(&pid), 2);
	assert_int_not_equal(pid, first);
	assert_int_equal(rclone_keep_lend(k, &o, &addr, &auth), 0);
	assert_int_equal(upload_through(addr, auth, "D.tar.gz"), 0);
	rclone_keep_return(k);
	free(addr);
	free(auth);
	rclone_keep_free(k);
	assert_false(alive(pid));
}

/* Other options (a reload changed the bandwidth limit) get an rcd of their own once nobody
 * uses the old one; freeing the keeper stops it. */
static void
test_new_options_and_free(void **state)
{
	struct rclone_opts o = {.binary = wrapper}, slow = {.binary = wrapper, .bwlimit = "1M"};
	struct rclone_keep *k;
	char *addr = NULL, *auth = NULL;
	pid_t pid = 0;

	(void)state;
	k = keep_listening(&o);
	assert_int_equal(rclone_keep_lend(k, &o, &addr, &auth), 0);
	assert_int_equal(rclone_keep_want(k, &slow), -EBUSY);
	rclone_keep_return(k);
	assert_int_equal(rclone_keep_want(k, &slow), 0);
	run_for(30 * USEC_PER_SEC);
	assert_int_equal(rclone_keep_want(k, &slow), 1);
	assert_int_equal(rcd_starts(&pid), 2);
	rclone_keep_free(k);
	assert_false(alive(pid));
	free(addr);
	free(auth);
}

/* A program that is not there fails the want at once; nothing is lent. */
static void
test_missing_program(void **state)
{
	struct rclone_opts o = {.binary = "/nonexistent/rclone"};
	struct rclone_keep *k = rclone_keep_new(loop, LINGER_USEC, on_settled, NULL);
	char *addr = NULL, *auth = NULL;

	(void)state;
	assert_non_null(k);
	assert_int_equal(rclone_keep_want(k, &o), -ENOENT);
	assert_int_equal(rclone_keep_lend(k, &o, &addr, &auth), -ENOENT);
	assert_null(addr);
	rclone_keep_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lend_share_linger, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_restart_after_death, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_new_options_and_free, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_program, each_setup, each_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* Change detection on a real loop and real inotify: a save folder that is a symlink (saves kept on
 * another drive) is watched through the link, while a symlink inside the folder is not followed. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../helpers/nested.h"
#include "harness.h"

#include "loop.h"
#include "util.h"
#include "watch.h"

static char T[64];

static int
setup(void **state)
{
	(void)state;
	scratch_template(T, sizeof(T), "sk-watch");
	return mkdtemp(T) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T);
	return system(cmd);
}

struct seen {
	struct loop *loop;
	unsigned changes;
};

static void
on_change(struct watch *w, void *data)
{
	struct seen *s = data;

	(void)w;
	s->changes++;
	loop_stop(s->loop);
}

static void
on_timeout(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)t, (void)data;
	loop_stop(loop);
}

/* Writes a file at path (relative to the folder dirfd), then runs the loop until a change is
 * reported or wait_usec passes. */
static unsigned
changes_after_writing(struct seen *s, struct loop_timer *timeout, int dirfd, const char *path,
		      uint64_t wait_usec)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, "saved", 5), 0);
	close(fd);
	s->changes = 0;
	loop_timer_arm(timeout, wait_usec);
	assert_int_equal(loop_run(s->loop), 0);
	return s->changes;
}

static void
test_symlinked_save_folder(void **state)
{
	char drive[96], link[96], outside[96], path[160];
	struct seen s = {0};
	struct watch *w = NULL;
	struct loop_timer *timeout;

	(void)state;
	snprintf(drive, sizeof(drive), "%s/drive", T);
	snprintf(link, sizeof(link), "%s/saves", T);
	snprintf(outside, sizeof(outside), "%s/outside", T);
	assert_int_equal(mkdir(drive, 0700), 0);
	assert_int_equal(mkdir(outside, 0700), 0);
	assert_int_equal(symlink("drive", link), 0);
	snprintf(path, sizeof(path), "%s/drive/elsewhere", T);
	assert_int_equal(symlink("../outside", path), 0);
	s.loop = loop_new();
	assert_non_null(s.loop);
	timeout = loop_timer_new(s.loop, on_timeout, NULL);
	assert_non_null(timeout);

	assert_int_equal(watch_new(s.loop, link, on_change, &s, &w), 0);
	snprintf(path, sizeof(path), "%s/slot1.sav", drive);
	assert_int_equal(changes_after_writing(&s, timeout, AT_FDCWD, path, 10 * USEC_PER_SEC), 1);
	assert_true(watch_reliable(w));
	/* The symlink inside is data: what happens behind it is no change of the save. */
	snprintf(path, sizeof(path), "%s/not-a-save", outside);
	assert_int_equal(changes_after_writing(&s, timeout, AT_FDCWD, path, 300 * USEC_PER_MSEC), 0);

	watch_free(w);
	loop_timer_free(timeout);
	loop_free(s.loop);
}

/* A save folder deeper than any path can name is watched to its bottom, without recursion. */
static void
test_deep_tree(void **state)
{
	char save[96];
	struct seen s = {0};
	struct watch *w = NULL;
	struct loop_timer *timeout;
	int deepest;

	(void)state;
	snprintf(save, sizeof(save), "%s/save", T);
	assert_int_equal(mkdir(save, 0700), 0);
	/* 3,000 levels of 24-byte names: a path of 75,000 bytes. */
	deepest =
	    nested_dirs(open(save, O_RDONLY | O_DIRECTORY | O_CLOEXEC), "level-of-a-deep-save-dir", 3000);
	assert_true(deepest >= 0);
	s.loop = loop_new();
	assert_non_null(s.loop);
	timeout = loop_timer_new(s.loop, on_timeout, NULL);
	assert_non_null(timeout);

	assert_int_equal(watch_new(s.loop, save, on_change, &s, &w), 0);
	assert_int_equal(changes_after_writing(&s, timeout, deepest, "slot1.sav", 10 * USEC_PER_SEC), 1);
	assert_true(watch_reliable(w));

	close(deepest);
	watch_free(w);
	loop_timer_free(timeout);
	loop_free(s.loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_symlinked_save_folder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deep_tree, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

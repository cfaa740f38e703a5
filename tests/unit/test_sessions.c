/* Steam sessions: which command lines are Steam's game launches, a scan of a /proc-like folder
 * that keeps the user's own processes and each app once, and Steam itself told from a stale pid. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include "sessions.h"
#include "util.h"

#define CMD(s) s, sizeof(s) - 1

static void
test_cmdline(void **state)
{
	(void)state;
	assert_int_equal(
	    sessions_app_of_cmdline(CMD("/home/p/.local/share/Steam/ubuntu12_32/reaper\0SteamLaunch\0"
					"AppId=489830\0--\0/x/steam-launch-wrapper\0--\0game.exe\0")),
	    489830);
	assert_int_equal(sessions_app_of_cmdline(CMD("reaper\0SteamLaunch\0AppId=7\0")), 7);
	/* Not reaper, no SteamLaunch, the id after "--" (the game's own arguments), a bad id. */
	assert_int_equal(sessions_app_of_cmdline(CMD("/usr/bin/reaperx\0SteamLaunch\0AppId=7\0")), 0);
	assert_int_equal(sessions_app_of_cmdline(CMD("reaper\0AppId=7\0")), 0);
	assert_int_equal(sessions_app_of_cmdline(CMD("reaper\0SteamLaunch\0--\0AppId=7\0")), 0);
	assert_int_equal(sessions_app_of_cmdline(CMD("reaper\0SteamLaunch\0AppId=7x\0")), 0);
	assert_int_equal(sessions_app_of_cmdline(CMD("reaper\0SteamLaunch\0AppId=99999999999\0")), 0);
	assert_int_equal(sessions_app_of_cmdline(CMD("reaper")), 0);
	assert_int_equal(sessions_app_of_cmdline("", 0), 0);
	/* A command line cut at the read limit has no final NUL. */
	assert_int_equal(sessions_app_of_cmdline(CMD("reaper\0SteamLaunch\0AppId=12")), 12);
}

static void
put(const char *dir, const char *pid, const char *cmdline, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, pid);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/cmdline", dir, pid);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, cmdline, len), (ssize_t)len);
	close(fd);
}

static void
test_scan(void **state)
{
	char dir[256], cmd[300];
	unsigned ids[4];
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(scratch_template(dir, sizeof(dir), "sk-proc")));
	put(dir, "100", CMD("/s/ubuntu12_32/steam\0-silent\0"));
	put(dir, "101", CMD("/usr/bin/steamx\0"));
	put(dir, "102", CMD("/s/steam/reaper\0"));
	put(dir, "200", CMD("/s/ubuntu12_32/reaper\0SteamLaunch\0AppId=900001\0--\0game\0"));
	put(dir, "201", CMD("/s/ubuntu12_32/reaper\0SteamLaunch\0AppId=900001\0--\0helper\0"));
	put(dir, "300", CMD("/s/ubuntu12_32/reaper\0SteamLaunch\0AppId=900003\0--\0game\0"));
	put(dir, "self", CMD("/s/ubuntu12_32/reaper\0SteamLaunch\0AppId=5\0"));
	n = sessions_scan(dir, getuid(), ids, ARRAY_SIZE(ids));
	assert_int_equal(n, 2);
	assert_true((ids[0] == 900001 && ids[1] == 900003) || (ids[0] == 900003 && ids[1] == 900001));
	assert_int_equal(sessions_scan(dir, getuid() + 1, ids, ARRAY_SIZE(ids)), 0);
	assert_int_equal(sessions_scan(dir, getuid(), ids, 1), 1);
	assert_true(sessions_is_steam(dir, 100));
	assert_false(sessions_is_steam(dir, 200));
	assert_false(sessions_is_steam(dir, 999));
	assert_int_equal(sessions_find_steam(dir, getuid()), 100);
	assert_int_equal(sessions_find_steam(dir, getuid() + 1), 0);
	assert_int_equal(sessions_scan("/nonexistent", getuid(), ids, 4), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmdline),
	    cmocka_unit_test(test_scan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* What the unit tests share with tests/run.sh: where their scratch files go, and how a test
 * that cannot run here says why. Include after <cmocka.h>. */
#ifndef SK_TEST_HARNESS_H
#define SK_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Writes the mkdtemp/mkstemp template "$TMPDIR/NAME.XXXXXX" (TMPDIR defaults to /tmp) into buf
 * and returns buf. tests/run.sh gives each test program a TMPDIR of its own and fails it for
 * anything it leaves there. A template that does not fit fails the test. */
static inline char *
scratch_template(char *buf, size_t size, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(buf, size, "%s/%s.XXXXXX", tmp, name) >= size)
		fail_msg("TMPDIR '%s' is too long for this test's %zu-byte buffer", tmp, size);
	return buf;
}

/* A scratch folder of a test group: made (mkdtemp of scratch_template) into buf by setup,
 * removed with all it holds by teardown. Each returns 0, or -1 as a cmocka group fixture. */
static inline int
scratch_dir_make(char *buf, size_t size, const char *name)
{
	return mkdtemp(scratch_template(buf, size, name)) ? 0 : -1;
}

static inline int
scratch_dir_remove(const char *dir)
{
	char cmd[4200];

	if ((size_t)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= sizeof(cmd))
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

/* Skips the running test; the reason, printed as a `# ` line right before cmocka's
 * `not ok N # SKIP name`, is what tests/run.sh shows as the skip's reason. */
#define skip_because(...)                                                                                    \
	do {                                                                                                 \
		print_message("# " __VA_ARGS__);                                                             \
		print_message("\n");                                                                         \
		skip();                                                                                      \
	} while (0)

/* Skips the running test unless it runs as root; WHY names what needs root. */
#define skip_unless_root(why)                                                                                \
	do {                                                                                                 \
		if (geteuid() != 0)                                                                          \
			skip_because("needs root (%s)", why);                                                \
	} while (0)

#endif

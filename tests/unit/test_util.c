/* The shared helpers that shape messages: counts, durations, and messages too long for their
 * buffer, which must keep their cause. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "util.h"

static void
test_counts(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(fmt_count(0, "file", NULL, buf, sizeof(buf)), "0 files");
	assert_string_equal(fmt_count(1, "file", NULL, buf, sizeof(buf)), "1 file");
	assert_string_equal(fmt_count(2, "file", NULL, buf, sizeof(buf)), "2 files");
	assert_string_equal(fmt_count(1, "entry", "entries", buf, sizeof(buf)), "1 entry");
	assert_string_equal(fmt_count(7, "entry", "entries", buf, sizeof(buf)), "7 entries");
}

static void
test_durations(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(fmt_duration(1, buf, sizeof(buf)), "1 ms");
	assert_string_equal(fmt_duration(250000, buf, sizeof(buf)), "250 ms");
	assert_string_equal(fmt_duration(999000, buf, sizeof(buf)), "999 ms");
	assert_string_equal(fmt_duration(1500000, buf, sizeof(buf)), "1.5 s");
	assert_string_equal(fmt_duration(200000000, buf, sizeof(buf)), "3 min 20 s");
}

/* A message longer than its buffer loses its middle: the start and the cause stay. */
static void
test_msg_fit(void **state)
{
	char path[5000], msg[6000], out[1024], small[16];

	(void)state;
	memset(path, 'd', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	snprintf(msg, sizeof(msg), "cannot read '%s': Permission denied", path);
	msg_fit(out, sizeof(out), msg);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_true(strncmp(out, "cannot read 'ddd", 16) == 0);
	assert_non_null(strstr(out, "d...d"));
	assert_string_equal(out + strlen(out) - strlen("': Permission denied"), "': Permission denied");
	msg_fit(out, sizeof(out), "short");
	assert_string_equal(out, "short");
	/* Never in the middle of a UTF-8 character. */
	snprintf(msg, sizeof(msg), "%s", "");
	for (int i = 0; i < 600; i++)
		strcat(msg, "\xc3\xa9");
	msg_fit(out, sizeof(out), msg);
	for (const char *p = out; *p; p++)
		if (p[0] == '.')
			assert_true(((unsigned char)p[-1] & 0xc0) != 0xc0 &&
				    ((unsigned char)p[1] & 0xc0) != 0x80);
	msg_fit(small, sizeof(small), "a message far longer than sixteen bytes");
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_msg_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

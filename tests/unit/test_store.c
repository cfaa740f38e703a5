/* The archive folder: listing, pinning, the sweep, retention (table-driven against a
 * hand-computed expectation), prune, and verify catching damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../helpers/craft.h"
#include "harness.h"
#include "store.h"
#include "util.h"

static char tmp[64];

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(scratch_template(tmp, sizeof(tmp), "sk-store")) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd);
}

static void
touch(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool
present(const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	return lstat(path, &st) == 0;
}

/* Times are UTC in the IDs; local time is CET-1 (UTC+1, no DST), so some archives fall on
 * another day, week or month locally than in UTC. */
static const char *const history[] = {
    "20240101T100000Z",	    /*  0: local Mon 01-01 11:00, ISO week 1 */
    "20240115T090000Z",	    /*  1: local Mon 01-15 10:00, week 3 */
    "20240131T233000Z",	    /*  2: local Thu 02-01 00:30, week 5: February locally */
    "20240201T120000Z",	    /*  3: local Thu 02-01 13:00, week 5 */
    "20240205T080000Z",	    /*  4: local Mon 02-05 09:00, week 6 */
    "20240210T100000Z",	    /*  5: local Sat 02-10 11:00, week 6 */
    "20240211T225959Z",	    /*  6: local Sun 02-11 23:59:59, week 6 */
    "20240211T230000Z",	    /*  7: local Mon 02-12 00:00, week 7 */
    "20240212T100000.250Z", /*  8: local Mon 02-12 11:00, week 7 */
    "20240212T101500Z",	    /*  9: 11:15 */
    "20240212T104500Z",	    /* 10: 11:45 */
    "20240212T110500Z",	    /* 11: 12:05 */
};
#define N_HISTORY ARRAY_SIZE(history)

struct retention_case {
	const char *name;
	struct sk_keep keep;
	int pinned;	    /* -1: none */
	const char *expect; /* a character per archive, oldest first: '.' goes, 'K' stays */
	int probe;	    /* an archive whose reasons are checked */
	const char *probe_why;
};

static const struct retention_case cases[] = {
    {"last 3", {.last = 3}, -1, ".........KKK", 9, "last"},
    {"hourly 3", {.hourly = 3}, -1, ".......K..KK", 11, "hourly, newest"},
    {"daily 3", {.daily = 3}, -1, ".....KK....K", 6, "daily"},
    {"weekly 2", {.weekly = 2}, -1, "......K....K", 6, "weekly"},
    {"monthly 2", {.monthly = 2}, -1, ".K.........K", 1, "monthly"},
    {"daily 2 + weekly 3 + pinned",
     {.daily = 2, .weekly = 3},
     0,
     "K..K..K....K",
     11,
     "daily, weekly, newest"},
    {"last 1 + pinned", {.last = 1}, 4, "....K......K", 4, "pinned"},
    {"empty policy", {0}, -1, "KKKKKKKKKKKK", 0, "no policy"},
    {"monthly 5 (more than there are)", {.monthly = 5}, -1, ".K.........K", 11, "monthly, newest"},
};

static void
test_retention_table(void **state)
{
	struct job_archive e[N_HISTORY];

	(void)state;
	setenv("TZ", "CET-1", 1);
	tzset();
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		unsigned why[N_HISTORY];
		char got[N_HISTORY + 1], reasons[128];

		memset(e, 0, sizeof(e));
		for (size_t i = 0; i < N_HISTORY; i++) {
			snprintf(e[i].id, sizeof(e[i].id), "%s", history[i]);
			assert_int_equal(store_id_time(e[i].id, &e[i].time_usec), 0);
			e[i].pinned = (int)i == cases[c].pinned;
		}
		store_retention(e, N_HISTORY, &cases[c].keep, why);
		for (size_t i = 0; i < N_HISTORY; i++)
			got[i] = why[i] ? 'K' : '.';
		got[N_HISTORY] = '\0';
		if (strcmp(got, cases[c].expect) != 0)
			fail_msg("%s: kept %s, expected %s", cases[c].name, got, cases[c].expect);
		store_why_str(why[cases[c].probe], reasons, sizeof(reasons));
		if (strcmp(reasons, cases[c].probe_why) != 0)
			fail_msg("%s: archive %d kept for '%s', expected '%s'", cases[c].name, cases[c].probe,
				 reasons, cases[c].probe_why);
	}
}

static void
test_id_time(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(store_id_time("19700101T000001.500Z", &t), 0);
	assert_int_equal(t, 1500000);
	assert_int_equal(store_id_time("19700101T000001Z", &t), 0);
	assert_int_equal(t, 1000000);
	assert_int_equal(store_id_time("1970010T000001Z", &t), -EINVAL);
	assert_int_equal(store_id_time("19700101T000001.Z", &t), -EINVAL);
	assert_int_equal(store_id_time("../19700101T000001Z", &t), -EINVAL);
	assert_int_equal(store_id_time("19701301T000001Z", &t), -EINVAL);
}

static void
write_manifest(const char *id, const char *tag, uint64_t files, uint64_t bytes)
{
	char path[256];
	struct manifest *m = manifest_new(id, tag);
	int fd;

	m->files = files;
	m->bytes = bytes;
	snprintf(path, sizeof(path), "%s/%s.manifest", tmp, id);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(manifest_write(m, fd), 0);
	close(fd);
	manifest_free(m);
}

static void
test_list_pin_latest(void **state)
{
	struct job_archive *v;
	size_t n;
	char id[64];

	(void)state;
	assert_int_equal(store_latest(tmp, id, sizeof(id)), -ENOENT);
	touch("20240102T000000Z.tar.gz", "bb");
	touch("20240101T000000.500Z.tar.gz", "a");
	touch("20240103T000000Z.tar.gz", "ccc");
	write_manifest("20240101T000000.500Z", "", 3, 300);
	write_manifest("20240102T000000Z", "pre-restore", 2, 20);
	touch("20240103T000000Z.manifest", "not a manifest\n");
	touch("20240104T000000Z.tar.gz.partial", "x");
	touch("notes.tar.gz", "x");
	assert_int_equal(store_pin(tmp, "20240102T000000Z", true), 0);
	assert_int_equal(store_pin(tmp, "20240109T000000Z", true), -ENOENT);
	assert_int_equal(store_pin(tmp, "../x", true), -ENOENT);

	assert_int_equal(store_list(tmp, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].id, "20240101T000000.500Z");
	assert_int_equal(v[0].files, 3);
	assert_int_equal(v[0].bytes, 300);
	assert_int_equal(v[0].size, 1);
	assert_false(v[0].pinned);
	assert_string_equal(v[1].tag, "pre-restore");
	assert_true(v[1].pinned);
	assert_int_equal(v[2].files, 0); /* its manifest is corrupt: listed all the same */
	assert_int_equal(v[2].size, 3);
	free(v);
	assert_int_equal(store_latest(tmp, id, sizeof(id)), 0);
	assert_string_equal(id, "20240103T000000Z");

	assert_int_equal(store_pin(tmp, "20240102T000000Z", false), 0);
	assert_false(present("20240102T000000Z.pin"));
	assert_int_equal(store_list("/nonexistent/sk", &v, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_sweep(void **state)
{
	char path[256], target[256];

	(void)state;
	touch("20240101T000000Z.tar.gz", "a");
	touch("20240101T000000Z.manifest", "m");
	touch("20240102T000000Z.manifest", "orphan");
	touch("20240103T000000Z.tar.gz.partial", "p");
	touch("last-restore.partial", "p");
	touch("outside", "keep me");
	touch("README", "keep me");
	snprintf(target, sizeof(target), "%s/outside", tmp);
	snprintf(path, sizeof(path), "%s/link.partial", tmp);
	assert_int_equal(symlink(target, path), 0);
	snprintf(path, sizeof(path), "%s/dir.partial", tmp);
	assert_int_equal(mkdir(path, 0755), 0);

	assert_int_equal(store_sweep(tmp), 0);
	assert_true(present("20240101T000000Z.tar.gz"));
	assert_true(present("20240101T000000Z.manifest"));
	assert_false(present("20240102T000000Z.manifest"));
	assert_false(present("20240103T000000Z.tar.gz.partial"));
	assert_false(present("last-restore.partial"));
	assert_false(present("link.partial"));
	assert_true(present("outside"));
	assert_true(present("README"));
	assert_true(present("dir.partial"));
	assert_int_equal(store_sweep("/nonexistent/sk"), 0);
}

static void
test_prune(void **state)
{
	struct sk_keep keep = {.last = 2};
	struct job_archive *report = NULL;
	size_t n = 0;

	(void)state;
	setenv("TZ", "CET-1", 1);
	tzset();
	for (int i = 1; i <= 4; i++) {
		char name[64], id[32];
		snprintf(id, sizeof(id), "2024010%dT000000Z", i);
		snprintf(name, sizeof(name), "%s.tar.gz", id);
		touch(name, "x");
		write_manifest(id, "", 1, 1);
	}
	assert_int_equal(store_pin(tmp, "20240101T000000Z", true), 0);

	assert_int_equal(store_prune(tmp, &keep, true, &report, &n), 1);
	assert_int_equal(n, 4);
	assert_string_equal(report[1].id, "20240102T000000Z");
	assert_int_equal(report[0].keep, KEEP_PINNED);
	assert_int_equal(report[1].keep, 0);
	assert_int_equal(report[2].keep, KEEP_LAST);
	assert_int_equal(report[3].keep, KEEP_LAST | KEEP_NEWEST);
	free(report);
	assert_true(present("20240102T000000Z.tar.gz"));

	assert_int_equal(store_prune(tmp, &keep, false, NULL, NULL), 1);
	assert_false(present("20240102T000000Z.tar.gz"));
	assert_false(present("20240102T000000Z.manifest"));
	assert_true(present("20240101T000000Z.tar.gz"));
	assert_true(present("20240104T000000Z.manifest"));
	assert_int_equal(store_prune(tmp, &keep, false, NULL, NULL), 0);
}

static const struct craft good[] = {
    {'d', "saves", NULL, 0, 0755, false},
    {'f', "saves/slot1.sav", "first slot", 0, 0644, false},
    {'f', "saves/big.bin", NULL, 300000, 0600, true},
    {'h', "saves/slot1.bak", "saves/slot1.sav", 0, 0644, false},
    {'l', "current", "saves/slot1.sav", 0, 0777, false},
};

static int
verify(const char *id, struct job_result *r)
{
	struct job_spec spec = {.kind = JOB_VERIFY, .game_dir = tmp, .id = (char *)(uintptr_t)id};

	memset(r, 0, sizeof(*r));
	return store_verify(&spec, NULL, r);
}

static void
break_hash(struct manifest *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		if (strcmp(m->entries[i].path, "saves/slot1.sav") == 0)
			m->entries[i].sha256[3] ^= 1;
}

static void
test_verify(void **state)
{
	const char *id = "20240101T000000Z";
	struct job_result r;
	char path[256];

	(void)state;
	assert_int_equal(craft_archive(tmp, id, good, ARRAY_SIZE(good)), 0);
	assert_int_equal(verify(NULL, &r), 0);
	assert_string_equal(r.id, id);
	assert_int_equal(r.files, 3);

	/* A flipped byte inside big.bin's data, with a manifest that matches the damaged file. */
	assert_int_equal(craft_flip(tmp, id, 150000), 0);
	assert_int_equal(craft_rewrite_manifest(tmp, id, NULL), 0);
	assert_true(verify(id, &r) < 0);
	assert_non_null(strstr(r.message, "20240101T000000Z.tar.gz"));
	assert_non_null(strstr(r.message, "saves/big.bin"));

	/* The same with the manifest as it was: still refused. */
	assert_int_equal(craft_archive(tmp, id, good, ARRAY_SIZE(good)), 0);
	assert_int_equal(craft_flip(tmp, id, 150000), 0);
	assert_true(verify(id, &r) < 0);

	/* A manifest that disagrees about one file. */
	assert_int_equal(craft_archive(tmp, id, good, ARRAY_SIZE(good)), 0);
	assert_int_equal(craft_rewrite_manifest(tmp, id, break_hash), 0);
	assert_int_equal(verify(id, &r), -EBADMSG);
	assert_non_null(strstr(r.message, "'saves/slot1.sav' does not match the manifest"));

	/* Truncated. */
	assert_int_equal(craft_archive(tmp, id, good, ARRAY_SIZE(good)), 0);
	snprintf(path, sizeof(path), "%s/%s.tar.gz", tmp, id);
	assert_int_equal(truncate(path, 100000), 0);
	assert_int_equal(craft_rewrite_manifest(tmp, id, NULL), 0);
	assert_true(verify(id, &r) < 0);
	assert_non_null(strstr(r.message, "saves/big.bin"));
}

static void
cancel_yield(void *ctx)
{
	(*(int *)ctx)++;
}

static void
test_verify_cancel(void **state)
{
	atomic_bool cancel = true;
	int yields = 0;
	struct job_hooks hooks = {.yield = cancel_yield, .ctx = &yields, .cancel = &cancel};
	struct job_spec spec = {.kind = JOB_VERIFY, .game_dir = tmp};
	struct job_result r = {0};

	(void)state;
	assert_int_equal(craft_archive(tmp, "20240101T000000Z", good, ARRAY_SIZE(good)), 0);
	assert_int_equal(store_verify(&spec, &hooks, &r), -ECANCELED);
	assert_true(yields > 0);
}

/* A crash between removing an archive and its pin, or before an archive was published, leaves
 * a pin alone: the sweep removes it, and store_remove takes all three. */
static void
test_sweep_orphan_pin(void **state)
{
	(void)state;
	touch("20240101T000000Z.tar.gz", "a");
	touch("20240101T000000Z.pin", "");
	touch("20240102T000000Z.pin", "");
	touch("20240102T000000Z.manifest", "m");
	touch("notes.pin", "not an archive's");
	assert_int_equal(store_sweep(tmp), 0);
	assert_true(present("20240101T000000Z.pin"));
	assert_false(present("20240102T000000Z.pin"));
	assert_false(present("20240102T000000Z.manifest"));
	assert_true(present("notes.pin"));

	touch("20240101T000000Z.manifest", "m");
	assert_int_equal(store_remove(tmp, "20240101T000000Z"), 0);
	assert_false(present("20240101T000000Z.tar.gz"));
	assert_false(present("20240101T000000Z.manifest"));
	assert_false(present("20240101T000000Z.pin"));
	assert_int_equal(store_remove(tmp, "../etc"), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retention_table),
	    cmocka_unit_test(test_id_time),
	    cmocka_unit_test_setup_teardown(test_list_pin_latest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_orphan_pin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_cancel, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

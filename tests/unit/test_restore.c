/* Restore: the round trip of a tricky tree, stale files, the dry run, undo, crash leftovers,
 * hostile and damaged archives refused with everything untouched, and a full disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../helpers/craft.h"
#include "harness.h"
#include "restore.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

static char T[64], save[128], games[128], small[128];

static int
setup(void **state)
{
	(void)state;
	if (!mkdtemp(scratch_template(T, sizeof(T), "sk-restore")))
		return -1;
	snprintf(save, sizeof(save), "%s/save", T);
	snprintf(games, sizeof(games), "%s/archives", T);
	return mkdir(save, 0750) | mkdir(games, 0700);
}

static int
teardown(void **state)
{
	char cmd[192];

	(void)state;
	if (small[0]) {
		umount2(small, MNT_DETACH);
		small[0] = '\0';
	}
	/* u+rwX first: a folder a test made read-only cannot be emptied by a user otherwise. */
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwX '%s' 2>/dev/null; rm -rf '%s'", T, T);
	return system(cmd);
}

static void
put(const char *rel, const char *text, mode_t mode, long nsec)
{
	char path[256];
	struct timespec ts[2] = { { 1700000000, nsec }, { 1700000000, nsec } };
	int fd;

	snprintf(path, sizeof(path), "%s/%s", save, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static void
in_save(int (*fn)(const char *, const char *), const char *a, const char *b)
{
	char pa[256], pb[256];

	snprintf(pa, sizeof(pa), "%s/%s", save, a);
	snprintf(pb, sizeof(pb), "%s/%s", save, b);
	assert_int_equal(fn(fn == symlink ? a : pa, pb), 0);
}

static void
mkdir_in(const char *rel, mode_t mode)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", save, rel);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Files of several modes and sub-second mtimes, an empty folder, nested folders, symlinks to a
 * file, a folder and nowhere, and a hard-linked pair. */
static void
make_tricky_tree(void)
{
	mkdir_in("profile", 0755);
	mkdir_in("empty", 0700);
	mkdir_in("profile/deep", 0750);
	put("slot1.sav", "the first slot", 0644, 123456789);
	put("profile/settings.ini", "[video]\nfull=1\n", 0600, 1);
	put("profile/deep/readonly.dat", "do not touch", 0444, 999999999);
	mkdir_in("profile/locked", 0500);
	put("profile/run.sh", "#!/bin/sh\n", 0755, 500000000);
	put("empty-file", "", 0640, 0);
	in_save(link, "slot1.sav", "slot1.hardlink");
	in_save(symlink, "slot1.sav", "current");
	in_save(symlink, "profile/deep", "deep-link");
	in_save(symlink, "no/such/file", "dangling");
}

static FILE *listing_out;

static int
list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char target[256] = "-", hex[65] = "-";
	unsigned char sum[32];
	uint64_t size;
	ssize_t n;

	(void)flag;
	if (ftw->level == 0)
		return 0;
	if (S_ISLNK(st->st_mode) && (n = readlink(path, target, sizeof(target) - 1)) >= 0)
		target[n] = '\0';
	if (S_ISREG(st->st_mode) && craft_file_sha256(path, sum, &size) == 0)
		sha256_hex(sum, hex);
	fprintf(listing_out, "%s %o %lld.%09ld %lld %lu %s %s\n", path + strlen(T), st->st_mode,
		(long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long)st->st_size,
		(unsigned long)st->st_nlink, target, hex);
	return 0;
}

/* Everything below root: names, types, modes, mtimes, sizes, link counts and targets, contents. */
static char *
listing(const char *root)
{
	char *text = NULL, cmd[300];
	size_t len = 0;

	listing_out = open_memstream(&text, &len);
	nftw(root, list_one, 32, FTW_PHYS);
	fclose(listing_out);
	/* nftw's order follows readdir; sort so two listings compare. */
	char path[128];
	snprintf(path, sizeof(path), "%s.listing", T);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	free(text);
	snprintf(cmd, sizeof(cmd), "LC_ALL=C sort -o '%s' '%s'", path, path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "r");
	text = calloc(1, 1 << 20);
	len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	unlink(path);
	return text;
}

static int
snapshot(char *id)
{
	struct job_spec spec = { .kind = JOB_SNAPSHOT, .game = "demo", .save_dir = save, .game_dir = games,
				 .level = 1, .threads = 1 };
	struct job_result r = { 0 };
	int k = snap_create(&spec, NULL, &r);

	if (k < 0)
		fail_msg("snapshot: %s", r.message);
	strcpy(id, r.id);
	job_result_clear(&r);
	return k;
}

static int
restore(char *id, bool dry_run, bool undo, struct job_result *r)
{
	struct job_spec spec = { .kind = JOB_RESTORE, .game = "demo", .save_dir = save, .game_dir = games,
				 .id = id, .dry_run = dry_run, .undo = undo, .level = 1, .threads = 1 };

	memset(r, 0, sizeof(*r));
	return restore_run(&spec, NULL, r);
}

static void
assert_no_leftovers(void)
{
	char path[256];
	int parent = (int)(strrchr(save, '/') - save);

	snprintf(path, sizeof(path), "%.*s/.save%s", parent, save, RESTORE_STAGING_SUFFIX);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%.*s/.save%s", parent, save, RESTORE_OLD_SUFFIX);
	assert_int_equal(access(path, F_OK), -1);
}

/* Changes the tree: new content, a stale file and folder, a removed file, a new mode. */
static void
mess_up(void)
{
	char path[256];

	put("slot1.sav", "a worse slot", 0644, 5);
	put("stale.sav", "from a later game", 0644, 7);
	mkdir_in("stale-dir", 0755);
	snprintf(path, sizeof(path), "%s/profile/run.sh", save);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/profile/settings.ini", save);
	assert_int_equal(chmod(path, 0644), 0);
}

static void
test_round_trip_and_undo(void **state)
{
	char id[64], pre[64], last[128], path[256];
	_cleanup_free_ char *before = NULL, *messed = NULL, *after = NULL, *undone = NULL, *redone = NULL;
	struct job_result r;
	struct store_entry *v;
	size_t n;
	FILE *f;

	(void)state;
	make_tricky_tree();
	before = listing(save);
	assert_int_equal(snapshot(id), 0);
	mess_up();
	messed = listing(save);

	assert_int_equal(restore(id, false, false, &r), 0);
	after = listing(save);
	assert_string_equal(after, before);
	assert_no_leftovers();
	assert_string_equal(r.id, id);
	assert_true(r.pre_id[0] != '\0');
	strcpy(pre, r.pre_id);
	snprintf(path, sizeof(path), "%s/%s", games, RESTORE_LAST_FILE);
	f = fopen(path, "r");
	assert_non_null(fgets(last, sizeof(last), f));
	fclose(f);
	last[strcspn(last, "\n")] = '\0';
	assert_string_equal(last, pre);
	assert_int_equal(store_list(games, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1].id, pre);
	assert_true(v[1].pinned);
	assert_string_equal(v[1].tag, "pre-restore");
	free(v);

	/* Undo puts back the messed-up state, and is itself undoable. */
	assert_int_equal(restore(NULL, false, true, &r), 0);
	assert_string_equal(r.id, pre);
	undone = listing(save);
	assert_string_equal(undone, messed);
	assert_int_equal(restore(NULL, false, true, &r), 0);
	redone = listing(save);
	assert_string_equal(redone, before);
	assert_no_leftovers();
}

static void
test_dry_run(void **state)
{
	char id[64];
	_cleanup_free_ char *messed = NULL, *archives = NULL, *after = NULL, *archives_after = NULL;
	struct job_result r;
	char path[256];
	struct timespec ts[2] = { { 1600000000, 0 }, { 1600000000, 0 } };

	(void)state;
	make_tricky_tree();
	assert_int_equal(snapshot(id), 0);
	mess_up();
	/* Same size and content, other mtime: hashed, and found unchanged. */
	snprintf(path, sizeof(path), "%s/empty-file", save);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	messed = listing(save);
	archives = listing(games);

	assert_int_equal(restore(id, true, false, &r), 0);
	assert_string_equal(r.detail, "added\t10\tprofile/run.sh\n"
				      "changed\t15\tprofile/settings.ini\n"
				      "changed\t14\tslot1.hardlink\n"
				      "changed\t14\tslot1.sav\n"
				      "removed\t0\tstale-dir\n"
				      "removed\t17\tstale.sav\n");
	free(r.detail);
	after = listing(save);
	archives_after = listing(games);
	assert_string_equal(after, messed);
	assert_string_equal(archives_after, archives);
	assert_no_leftovers();
}

static void
test_sweep_after_crash(void **state)
{
	char old[256], staging[256], file[300];

	(void)state;
	/* A crash between the fallback's two renames: the save folder is missing. */
	snprintf(old, sizeof(old), "%s/.save%s", T, RESTORE_OLD_SUFFIX);
	snprintf(staging, sizeof(staging), "%s/.save%s", T, RESTORE_STAGING_SUFFIX);
	put("slot1.sav", "kept", 0644, 0);
	assert_int_equal(rename(save, old), 0);
	assert_int_equal(mkdir(staging, 0700), 0);
	snprintf(file, sizeof(file), "%s/half", staging);
	assert_int_equal(mkdir(file, 0500), 0);
	assert_int_equal(restore_sweep(save), 0);
	snprintf(file, sizeof(file), "%s/slot1.sav", save);
	assert_int_equal(access(file, F_OK), 0);
	assert_no_leftovers();

	/* A crash after the exchange: the old tree sits under the staging name. */
	assert_int_equal(mkdir(staging, 0700), 0);
	assert_int_equal(restore_sweep(save), 0);
	assert_int_equal(access(file, F_OK), 0);
	assert_no_leftovers();
}

struct hostile {
	const char *name;
	struct craft e[4];
	size_t n;
	const char *expect; /* in the message */
};

static char abs_path[128];

static const struct hostile hostiles[] = {
	{ "dot-dot", { { 'f', "ok.sav", "fine", 0, 0644, 0 }, { 'f', "../x", "pwned", 0, 0644, 0 } }, 2,
	  "entry '../x' has an unsafe path" },
	{ "absolute", { { 'f', "ok.sav", "fine", 0, 0644, 0 }, { 'f', abs_path, "pwned", 0, 0644, 0 } }, 2,
	  "has an unsafe path" },
	{ "symlink out then through",
	  { { 'l', "esc", "../outside", 0, 0777, 0 }, { 'f', "esc/secret", "pwned", 0, 0644, 0 } }, 2,
	  "symlink 'esc' points outside" },
	{ "symlink in then through",
	  { { 'd', "sub", NULL, 0, 0755, 0 }, { 'l', "in", "sub", 0, 0777, 0 }, { 'f', "in/x", "x", 0, 0644, 0 } }, 3,
	  "entry 'in/x' lies under 'in'" },
	{ "symlink chain out",
	  { { 'd', "a", NULL, 0, 0755, 0 }, { 'l', "a/up", "..", 0, 0777, 0 }, { 'l', "b", "a/up/..", 0, 0777, 0 } }, 3,
	  "symlink 'b' points outside" },
	{ "hard link out",
	  { { 'f', "ok.sav", "fine", 0, 0644, 0 }, { 'h', "hl", "../outside/secret", 0, 0644, 0 } }, 2,
	  "entry 'hl' is a hard link to '../outside/secret', outside the tree" },
	{ "hard link absolute", { { 'f', "ok.sav", "fine", 0, 0644, 0 }, { 'h', "hl", "/etc/passwd", 0, 0644, 0 } }, 2,
	  "entry 'hl' is a hard link to '/etc/passwd'" },
	{ "device", { { 'f', "ok.sav", "fine", 0, 0644, 0 }, { 'c', "null", NULL, 0, 0666, 0 } }, 2,
	  "entry 'null' is a device" },
	{ "fifo", { { 'f', "ok.sav", "fine", 0, 0644, 0 }, { 'p', "pipe", NULL, 0, 0644, 0 } }, 2,
	  "entry 'pipe' is a device, FIFO" },
	{ "twice", { { 'f', "ok.sav", "fine", 0, 0644, 0 }, { 'f', "ok.sav", "fine", 0, 0644, 0 } }, 2,
	  "entry 'ok.sav' appears twice" },
};

static void
put_outside(void)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/outside", T);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/outside/secret", T);
	f = fopen(path, "w");
	fputs("secret", f);
	fclose(f);
}

/* Restoring id must fail with expect in the message and change nothing anywhere under T. */
static void
assert_refused(const char *id, const char *expect, const char *what)
{
	_cleanup_free_ char *before = listing(T), *after = NULL;
	struct job_result r;
	char name[96];

	if (restore((char *)(uintptr_t)id, false, false, &r) >= 0)
		fail_msg("%s: restored", what);
	snprintf(name, sizeof(name), "'%s.tar.gz'", id);
	if (!strstr(r.message, expect) || !strstr(r.message, name))
		fail_msg("%s: message '%s' lacks \"%s\"", what, r.message, expect);
	print_message("# %s: %s\n", what, r.message);
	after = listing(T);
	if (strcmp(before, after) != 0)
		fail_msg("%s: the tree changed:\n%s\n---\n%s", what, before, after);
}

static void
test_hostile_archives(void **state)
{
	(void)state;
	snprintf(abs_path, sizeof(abs_path), "%s/abs-x", T);
	put("slot1.sav", "live", 0644, 0);
	put_outside();
	for (size_t i = 0; i < ARRAY_SIZE(hostiles); i++) {
		char id[32];
		snprintf(id, sizeof(id), "202401%02zuT000000Z", i + 1);
		assert_int_equal(craft_archive(games, id, hostiles[i].e, hostiles[i].n), 0);
		assert_refused(id, hostiles[i].expect, hostiles[i].name);
	}
}

static const struct craft damaged[] = {
	{ 'f', "ok.sav", "fine", 0, 0644, false },
	{ 'f', "big.bin", NULL, 400000, 0600, true },
};

static void
drop_ok(struct manifest *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		if (strcmp(m->entries[i].path, "ok.sav") == 0)
			m->entries[i].sha256[0] ^= 0xff;
}

static void
test_damaged_archives(void **state)
{
	const char *id = "20240201T000000Z";
	char path[256];

	(void)state;
	put("slot1.sav", "live", 0644, 0);
	snprintf(path, sizeof(path), "%s/%s.tar.gz", games, id);

	assert_int_equal(craft_archive(games, id, damaged, ARRAY_SIZE(damaged)), 0);
	assert_int_equal(truncate(path, 200000), 0);
	assert_int_equal(craft_rewrite_manifest(games, id, NULL), 0);
	assert_refused(id, "big.bin", "truncated, manifest matching");

	assert_int_equal(craft_archive(games, id, damaged, ARRAY_SIZE(damaged)), 0);
	assert_int_equal(truncate(path, 200000), 0);
	assert_refused(id, "big.bin", "truncated");

	assert_int_equal(craft_archive(games, id, damaged, ARRAY_SIZE(damaged)), 0);
	assert_int_equal(craft_flip(games, id, 250000), 0);
	assert_int_equal(craft_rewrite_manifest(games, id, NULL), 0);
	assert_refused(id, "big.bin", "flipped byte, manifest matching");

	assert_int_equal(craft_archive(games, id, damaged, ARRAY_SIZE(damaged)), 0);
	assert_int_equal(craft_flip(games, id, 250000), 0);
	assert_refused(id, "big.bin", "flipped byte");

	assert_int_equal(craft_archive(games, id, damaged, ARRAY_SIZE(damaged)), 0);
	assert_int_equal(craft_rewrite_manifest(games, id, drop_ok), 0);
	assert_refused(id, "entry 'ok.sav' does not match the manifest", "manifest disagrees");
}

static int
setup_small(void **state)
{
	if (setup(state) < 0)
		return -1;
	snprintf(small, sizeof(small), "%s/small", T);
	if (mkdir(small, 0755) < 0 || mount("tmpfs", small, "tmpfs", 0, "size=1m") < 0) {
		small[0] = '\0';
		return 0;
	}
	snprintf(save, sizeof(save), "%s/small/save", T);
	return mkdir(save, 0750);
}

static void
test_enospc_while_staging(void **state)
{
	static const struct craft huge[] = {
		{ 'f', "ok.sav", "fine", 0, 0644, false },
		{ 'f', "zeros.bin", NULL, 3 << 20, 0644, false },
	};
	const char *id = "20240301T000000Z";
	_cleanup_free_ char *before = NULL, *after = NULL;
	struct job_result r;

	(void)state;
	if (!small[0]) {
		skip_unless_root("mounts a tmpfs");
		skip_because("no tmpfs could be mounted here");
	}
	put("slot1.sav", "live", 0644, 0);
	before = listing(small);
	assert_int_equal(craft_archive(games, id, huge, ARRAY_SIZE(huge)), 0);
	assert_int_equal(restore((char *)(uintptr_t)id, false, false, &r), -ENOSPC);
	print_message("# %s\n", r.message);
	assert_non_null(strstr(r.message, "zeros.bin"));
	after = listing(small);
	assert_string_equal(after, before);
	assert_no_leftovers();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_and_undo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_archives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_archives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_while_staging, setup_small, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

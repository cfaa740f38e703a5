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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "../helpers/craft.h"
#include "../helpers/nested.h"
#include "coro.h"
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
	struct timespec ts[2] = {{1700000000, nsec}, {1700000000, nsec}};
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
	struct job_spec spec = {.kind = JOB_SNAPSHOT,
				.game = "demo",
				.save_dir = save,
				.game_dir = games,
				.level = 1,
				.threads = 1};
	struct job_result r = {0};
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
	struct job_spec spec = {.kind = JOB_RESTORE,
				.game = "demo",
				.save_dir = save,
				.game_dir = games,
				.id = id,
				.dry_run = dry_run,
				.undo = undo,
				.level = 1,
				.threads = 1};

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
	struct job_archive *v;
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

/* A dry run's changes as lines "change\tsize\tpath", for comparing in one assertion. */
static const char *
changes_text(const struct job_result *r)
{
	static char text[4096];
	size_t o = 0;

	text[0] = '\0';
	for (unsigned i = 0; i < r->n_changes && o < sizeof(text); i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s\t%llu\t%s\n", r->changes[i].change,
				      (unsigned long long)r->changes[i].size, r->changes[i].path);
	return text;
}

static void
test_dry_run(void **state)
{
	char id[64];
	_cleanup_free_ char *messed = NULL, *archives = NULL, *after = NULL, *archives_after = NULL;
	struct job_result r;
	char path[256];
	struct timespec ts[2] = {{1600000000, 0}, {1600000000, 0}};

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
	assert_true(r.dry_run);
	assert_string_equal(changes_text(&r), "added\t10\tprofile/run.sh\n"
					      "changed\t15\tprofile/settings.ini\n"
					      "changed\t14\tslot1.hardlink\n"
					      "changed\t14\tslot1.sav\n"
					      "removed\t0\tstale-dir\n"
					      "removed\t17\tstale.sav\n");
	job_result_clear(&r);
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
    {"dot-dot",
     {{'f', "ok.sav", "fine", 0, 0644, 0}, {'f', "../x", "pwned", 0, 0644, 0}},
     2,
     "entry '../x' has an unsafe path"},
    {"absolute",
     {{'f', "ok.sav", "fine", 0, 0644, 0}, {'f', abs_path, "pwned", 0, 0644, 0}},
     2,
     "has an unsafe path"},
    {"symlink out then through",
     {{'l', "esc", "../outside", 0, 0777, 0}, {'f', "esc/secret", "pwned", 0, 0644, 0}},
     2,
     "entry 'esc/secret' lies under 'esc', which is not a directory"},
    {"symlink in then through",
     {{'d', "sub", NULL, 0, 0755, 0}, {'l', "in", "sub", 0, 0777, 0}, {'f', "in/x", "x", 0, 0644, 0}},
     3,
     "entry 'in/x' lies under 'in'"},
    {"symlink chain out, then through",
     {{'d', "a", NULL, 0, 0755, 0},
      {'l', "a/up", "..", 0, 0777, 0},
      {'l', "b", "a/up/..", 0, 0777, 0},
      {'f', "b/x", "pwned", 0, 0644, 0}},
     4,
     "entry 'b/x' lies under 'b'"},
    {"a file before its folder",
     {{'f', "ok.sav", "fine", 0, 0644, 0},
      {'f', "later/x", "x", 0, 0644, 0},
      {'d', "later", NULL, 0, 0755, 0}},
     3,
     "entry 'later/x' lies under 'later', which is not a directory before it"},
    {"hard link out",
     {{'f', "ok.sav", "fine", 0, 0644, 0}, {'h', "hl", "../outside/secret", 0, 0644, 0}},
     2,
     "entry 'hl' is a hard link to '../outside/secret', outside the tree"},
    {"hard link absolute",
     {{'f', "ok.sav", "fine", 0, 0644, 0}, {'h', "hl", "/etc/passwd", 0, 0644, 0}},
     2,
     "entry 'hl' is a hard link to '/etc/passwd'"},
    {"device",
     {{'f', "ok.sav", "fine", 0, 0644, 0}, {'c', "null", NULL, 0, 0666, 0}},
     2,
     "entry 'null' is a device"},
    {"fifo",
     {{'f', "ok.sav", "fine", 0, 0644, 0}, {'p', "pipe", NULL, 0, 0644, 0}},
     2,
     "entry 'pipe' is a device, FIFO"},
    {"twice",
     {{'f', "ok.sav", "fine", 0, 0644, 0}, {'f', "ok.sav", "fine", 0, 0644, 0}},
     2,
     "entry 'ok.sav' appears twice"},
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
    {'f', "ok.sav", "fine", 0, 0644, false},
    {'f', "big.bin", NULL, 400000, 0600, true},
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
	    {'f', "ok.sav", "fine", 0, 0644, false},
	    {'f', "zeros.bin", NULL, 3 << 20, 0644, true},
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

/* Fault injection for the swap: with fail_exchange set, renameat2(RENAME_EXCHANGE) fails as on
 * a failing disk. This definition stands in for libc's in this binary only. */
static bool fail_exchange;

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

int
renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
	if (fail_exchange && (flags & RENAME_EXCHANGE)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

/* The first line of <games>/<file> into buf ("" if there is none). */
static void
read_record(const char *file, char *buf, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", games, file);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (f && fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* The archive folder's names, sorted, one per line. */
static char *
archive_names(void)
{
	return listing(games);
}

/* A restore that fails at the swap, after its pre-restore snapshot: no pin, no archive, no
 * record is left of it, and undo still undoes the last restore that succeeded. */
static void
test_failed_restore_leaves_no_trace(void **state)
{
	char id[64], pre[64], last[128];
	_cleanup_free_ char *archives = NULL, *archives_after = NULL, *live = NULL, *live_after = NULL;
	_cleanup_free_ char *before = NULL, *undone = NULL;
	struct job_result r;

	(void)state;
	put("slot1.sav", "the first slot", 0644, 0);
	assert_int_equal(snapshot(id), 0);
	put("slot1.sav", "a worse slot", 0644, 0);
	before = listing(save);
	assert_int_equal(restore(id, false, false, &r), 0);
	strcpy(pre, r.pre_id);
	put("slot1.sav", "played on", 0644, 0);

	archives = archive_names();
	live = listing(save);
	fail_exchange = true;
	assert_int_equal(restore(id, false, false, &r), -EIO);
	fail_exchange = false;
	print_message("# %s\n", r.message);
	assert_non_null(strstr(r.message, "cannot swap"));
	assert_string_equal(r.pre_id, "");
	archives_after = archive_names();
	assert_string_equal(archives_after, archives);
	live_after = listing(save);
	assert_string_equal(live_after, live);
	read_record(RESTORE_LAST_FILE, last, sizeof(last));
	assert_string_equal(last, pre);
	read_record(RESTORE_PENDING_FILE, last, sizeof(last));
	assert_string_equal(last, "");
	assert_no_leftovers();

	/* Undo goes back to before the restore that succeeded. */
	assert_int_equal(restore(NULL, false, true, &r), 0);
	assert_string_equal(r.id, pre);
	undone = listing(save);
	assert_string_equal(undone, before);
}

/* The archive folder fills up during the pre-restore snapshot (a 1 MiB tmpfs, root only): the
 * restore fails with the disk's error and leaves no temporary, archive or record behind. */
static void
test_full_disk_at_pre_restore(void **state)
{
	char id[64], last[128], noise[256];
	_cleanup_free_ char *archives = NULL, *archives_after = NULL, *live = NULL, *live_after = NULL;
	struct job_result r;

	(void)state;
	skip_unless_root("mounts a tmpfs");
	snprintf(small, sizeof(small), "%s", games); /* the teardown unmounts it */
	if (mount("tmpfs", games, "tmpfs", 0, "size=1m,mode=0700") < 0) {
		small[0] = '\0';
		skip_because("no tmpfs can be mounted here: %s", strerror(errno));
	}
	put("slot1.sav", "the first slot", 0644, 0);
	assert_int_equal(snapshot(id), 0);
	assert_int_equal(restore(id, false, false, &r), 0); /* an undo record to keep */
	read_record(RESTORE_LAST_FILE, last, sizeof(last));
	/* 2 MiB that do not compress: the pre-restore snapshot cannot fit. */
	snprintf(noise, sizeof(noise), "head -c 2M /dev/urandom >'%s/noise.bin'", save);
	assert_int_equal(system(noise), 0);
	archives = archive_names();
	live = listing(save);
	assert_int_equal(restore(id, false, false, &r), -ENOSPC);
	print_message("# %s\n", r.message);
	assert_non_null(strstr(r.message, "pre-restore snapshot failed"));
	archives_after = archive_names();
	assert_string_equal(archives_after, archives);
	live_after = listing(save);
	assert_string_equal(live_after, live);
	read_record(RESTORE_LAST_FILE, noise, sizeof(noise));
	assert_string_equal(noise, last);
	assert_no_leftovers();
}

/* What a crash between the pre-restore snapshot and the end of a restore leaves: restore-pending
 * names the snapshot and the staging root's inode. The sweep finishes the restore when that
 * inode is the save folder (the swap happened), and removes the snapshot when not. */
static void
test_sweep_pending_restore(void **state)
{
	char id[64], pre[64], last[128], path[256], text[128];
	struct job_archive *v;
	struct stat st;
	size_t n;
	FILE *f;

	(void)state;
	put("slot1.sav", "the first slot", 0644, 0);
	assert_int_equal(snapshot(id), 0);
	put("slot1.sav", "played on", 0644, 0);
	assert_int_equal(snapshot(pre), 0);
	snprintf(path, sizeof(path), "%s/%s", games, RESTORE_PENDING_FILE);

	/* Killed before the swap: the staging folder is not the save folder. */
	snprintf(text, sizeof(text), "%s/.save%s", T, RESTORE_STAGING_SUFFIX);
	assert_int_equal(mkdir(text, 0700), 0);
	assert_int_equal(stat(text, &st), 0);
	f = fopen(path, "we");
	fprintf(f, "%s\n%u:%u %llu\n", pre, major(st.st_dev), minor(st.st_dev),
		(unsigned long long)st.st_ino);
	fclose(f);
	assert_int_equal(restore_sweep_game(games, save), 0);
	assert_no_leftovers();
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(store_list(games, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, id);
	free(v);
	read_record(RESTORE_LAST_FILE, last, sizeof(last));
	assert_string_equal(last, "");

	/* Killed after the swap: the save folder is the staging root. */
	assert_int_equal(snapshot(pre), 0);
	assert_int_equal(stat(save, &st), 0);
	f = fopen(path, "we");
	fprintf(f, "%s\n%u:%u %llu\n", pre, major(st.st_dev), minor(st.st_dev),
		(unsigned long long)st.st_ino);
	fclose(f);
	assert_int_equal(restore_sweep_game(games, save), 0);
	assert_int_equal(access(path, F_OK), -1);
	read_record(RESTORE_LAST_FILE, last, sizeof(last));
	assert_string_equal(last, pre);
	assert_int_equal(store_list(games, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_true(v[1].pinned);
	free(v);
}

/* A save folder that is a symlink (saves on another drive) is followed: the restore swaps beside
 * the link's target, the link stays a link, and undo does the same. */
static void
test_symlinked_save_folder(void **state)
{
	char id[64], drive[96], link[128], target[128], staging[256];
	_cleanup_free_ char *before = NULL, *messed = NULL, *after = NULL, *undone = NULL;
	struct job_result r;
	struct stat st;
	ssize_t k;

	(void)state;
	snprintf(drive, sizeof(drive), "%s/drive", T);
	snprintf(link, sizeof(link), "%s/link", T);
	assert_int_equal(mkdir(drive, 0755), 0);
	snprintf(target, sizeof(target), "%s/save", drive);
	assert_int_equal(rename(save, target), 0);
	assert_int_equal(symlink("drive/save", link), 0);
	snprintf(save, sizeof(save), "%s", link);
	make_tricky_tree();
	before = listing(target);
	assert_int_equal(snapshot(id), 0);
	mess_up();
	messed = listing(target);

	assert_int_equal(restore(id, false, false, &r), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	k = readlink(link, staging, sizeof(staging) - 1);
	assert_int_equal(k, (ssize_t)strlen("drive/save"));
	after = listing(target);
	assert_string_equal(after, before);
	snprintf(staging, sizeof(staging), "%s/.link%s", T, RESTORE_STAGING_SUFFIX);
	assert_int_equal(access(staging, F_OK), -1);
	snprintf(staging, sizeof(staging), "%s/.save%s", drive, RESTORE_STAGING_SUFFIX);
	assert_int_equal(access(staging, F_OK), -1);

	assert_int_equal(restore(NULL, false, true, &r), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	undone = listing(target);
	assert_string_equal(undone, messed);

	/* A link to a folder that is not there (a drive not mounted): refused, the link kept. */
	snprintf(staging, sizeof(staging), "%s/gone", drive);
	assert_int_equal(rename(target, staging), 0);
	assert_int_equal(restore(id, false, false, &r), -ENOENT);
	print_message("# %s\n", r.message);
	assert_non_null(strstr(r.message, "is a symlink to a folder that does not exist"));
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(access(target, F_OK), -1);
	snprintf(save, sizeof(save), "%s/save", T);
}

/* The archive folder inside the save folder (a config the loader refuses, or a symlink made
 * later): a restore would take the archives with the old tree, so it refuses first. */
static void
test_archives_inside_refused(void **state)
{
	char id[64], inside[128];
	_cleanup_free_ char *before = NULL, *after = NULL;
	struct job_result r;

	(void)state;
	put("slot1.sav", "the first slot", 0644, 0);
	snprintf(inside, sizeof(inside), "%s/save/archives", T);
	assert_int_equal(rename(games, inside), 0);
	snprintf(games, sizeof(games), "%s", inside);
	assert_int_equal(snapshot(id), 0);
	put("slot1.sav", "played on", 0644, 0);
	before = listing(T);
	assert_int_equal(restore(id, false, false, &r), -EINVAL);
	print_message("# %s\n", r.message);
	assert_non_null(strstr(r.message, "lies inside save folder"));
	after = listing(T);
	assert_string_equal(after, before);
	snprintf(games, sizeof(games), "%s/archives", T);
}

/* A mounted filesystem inside the save folder, or the save folder itself a mount point: a
 * restore would empty the mount or cannot rename it, so it refuses, naming the mount point,
 * before anything changes. Needs root for the tmpfs. */
static void
test_mount_points_refused(void **state)
{
	char id[64], mnt[128];
	_cleanup_free_ char *before = NULL, *after = NULL;
	struct job_result r;

	(void)state;
	skip_unless_root("mounts a tmpfs");
	put("slot1.sav", "the first slot", 0644, 0);
	assert_int_equal(snapshot(id), 0);
	snprintf(mnt, sizeof(mnt), "%s/save/mnt", T);
	assert_int_equal(mkdir(mnt, 0755), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
		skip_because("no tmpfs can be mounted here: %s", strerror(errno));
	}
	snprintf(small, sizeof(small), "%s", mnt); /* the teardown unmounts it */
	put("mnt/other-drive.dat", "not ours", 0644, 0);
	put("slot1.sav", "played on", 0644, 0);
	before = listing(T);
	assert_int_equal(restore(id, false, false, &r), -EXDEV);
	print_message("# %s\n", r.message);
	assert_non_null(strstr(r.message, mnt));
	after = listing(T);
	assert_string_equal(after, before);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);

	assert_int_equal(mount("tmpfs", save, "tmpfs", 0, "size=1m"), 0);
	snprintf(small, sizeof(small), "%s", save);
	put("slot1.sav", "on its own filesystem", 0644, 0);
	free(before);
	before = listing(T);
	assert_int_equal(restore(id, false, false, &r), -EBUSY);
	print_message("# %s\n", r.message);
	assert_non_null(strstr(r.message, "is a mount point"));
	free(after);
	after = listing(T);
	assert_string_equal(after, before);
}

static int
verify(const char *id, struct job_result *r)
{
	struct job_spec spec = {.kind = JOB_VERIFY,
				.game = "demo",
				.save_dir = save,
				.game_dir = games,
				.id = (char *)(uintptr_t)id};

	memset(r, 0, sizeof(*r));
	return store_verify(&spec, NULL, r);
}

/* A Wine/Proton prefix keeps symlinks that leave it: dosdevices/z: -> /, a config shared with
 * the folder beside it, absolute targets. They are data: archived, verified and restored as
 * they are, undo included, and nothing is written through them. */
static void
test_symlinks_leaving_the_tree(void **state)
{
	char id[64], path[256], outside[160];
	_cleanup_free_ char *before = NULL, *outside_before = NULL, *after = NULL, *undone = NULL;
	struct job_result r;

	(void)state;
	put_outside();
	snprintf(outside, sizeof(outside), "%s/outside", T);
	outside_before = listing(outside);
	mkdir_in("dosdevices", 0755);
	mkdir_in("drive_c", 0755);
	put("drive_c/slot.sav", "in the prefix", 0644, 0);
	in_save(symlink, "/", "dosdevices/z:");
	in_save(symlink, "../drive_c", "dosdevices/c:");
	in_save(symlink, "../shared.cfg", "shared.cfg");
	snprintf(path, sizeof(path), "%s/outside/secret", T);
	in_save(symlink, path, "abs-secret");
	in_save(symlink, outside, "abs-dir");
	before = listing(save);
	assert_int_equal(snapshot(id), 0);
	assert_int_equal(verify(id, &r), 0);
	print_message("# %s\n", r.message);

	put("drive_c/slot.sav", "a worse slot", 0644, 5);
	snprintf(path, sizeof(path), "%s/dosdevices/z:", save);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(restore(id, false, false, &r), 0);
	after = listing(save);
	assert_string_equal(after, before);
	/* The pre-restore snapshot holds the same links: undo restores it, and undoes that. */
	assert_int_equal(restore(NULL, false, true, &r), 0);
	undone = listing(save);
	assert_null(strstr(undone, "/save/dosdevices/z:"));
	assert_int_equal(restore(NULL, false, true, &r), 0);
	free(after);
	after = listing(save);
	assert_string_equal(after, before);
	free(after);
	after = listing(outside);
	assert_string_equal(after, outside_before);
	assert_no_leftovers();
}

/* Creates levels nested folders of names of len bytes below save, a file "end.sav" in the
 * deepest; returns the length of its path relative to save. */
static size_t
make_long_path(char c, unsigned levels, size_t len)
{
	char name[256];
	int fd = open(save, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(len < sizeof(name));
	memset(name, c, len);
	name[len] = '\0';
	fd = nested_dirs(fd, name, levels);
	assert_true(fd >= 0);
	int f = openat(fd, "end.sav", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(f >= 0);
	assert_int_equal(write_all(f, "deep", 4), 0);
	close(f);
	close(fd);
	return levels * (len + 1) + strlen("end.sav");
}

/* The content of end.sav below levels folders of names of len bytes; "" if it is missing. */
static const char *
read_long_path(char c, unsigned levels, size_t len)
{
	static char buf[16];
	char name[256];
	int fd = open(save, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ssize_t n;

	memset(name, c, len);
	name[len] = '\0';
	for (unsigned i = 0; i < levels && fd >= 0; i++) {
		int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = sub;
	}
	int f = fd >= 0 ? openat(fd, "end.sav", O_RDONLY | O_CLOEXEC) : -1;
	n = f >= 0 ? read(f, buf, sizeof(buf) - 1) : 0;
	buf[n > 0 ? n : 0] = '\0';
	if (f >= 0)
		close(f);
	if (fd >= 0)
		close(fd);
	return buf;
}

/* A path longer than PATH_MAX that the snapshot accepts verifies and restores. */
static void
test_path_longer_than_path_max(void **state)
{
	char id[64], path[160];
	struct job_result r;
	size_t len = make_long_path('n', 40, 200);

	(void)state;
	print_message("# a path of %zu bytes\n", len);
	assert_true(len > 4096);
	assert_int_equal(snapshot(id), 0);
	assert_int_equal(verify(id, &r), 0);
	snprintf(path, sizeof(path), "rm -rf '%s'/n*", save);
	assert_int_equal(system(path), 0);
	assert_string_equal(read_long_path('n', 40, 200), "");
	assert_int_equal(restore(id, false, false, &r), 0);
	print_message("# %s\n", r.message);
	assert_string_equal(read_long_path('n', 40, 200), "deep");
	/* The dry run reads it too: nothing to change. */
	assert_int_equal(restore(id, true, false, &r), 0);
	assert_string_equal(changes_text(&r), "");
	job_result_clear(&r);
	assert_no_leftovers();
}

/* A job run as the coroutine core runs it: on a coroutine's stack, yielding to the caller. */
struct coro_job {
	job_work_fn *fn;
	struct job_spec spec;
	struct job_result r;
	int ret;
};

static void
coro_job_yield(void *ctx)
{
	(void)ctx;
	coro_yield();
}

static void
coro_job_body(void *arg)
{
	struct coro_job *j = arg;
	const struct job_hooks hooks = {.yield = coro_job_yield};

	j->ret = j->fn(&j->spec, &hooks, &j->r);
}

static int
on_coro(job_work_fn *fn, const char *id, bool dry_run, struct job_result *ret)
{
	struct coro_job j = {.fn = fn,
			     .spec = {.game = "demo",
				      .save_dir = save,
				      .game_dir = games,
				      .id = (char *)(uintptr_t)id,
				      .dry_run = dry_run,
				      .level = 1,
				      .threads = 1}};
	struct coro *c = coro_new(coro_job_body, &j, CORO_STACK_DEFAULT);

	assert_non_null(c);
	while (coro_resume(c))
		;
	print_message("# %s: %s (stack used: %zu bytes)\n", id ? id : "snapshot", j.r.message,
		      coro_stack_used(c));
	coro_free(c);
	*ret = j.r;
	return j.ret;
}

/* A tree 10,000 folders deep, on the coroutine core's stack: snapshot, verify, dry run and
 * restore walk it without recursion, and the restore removes a junk tree as deep. */
static void
test_deep_tree_on_a_coroutine_stack(void **state)
{
	struct job_result r;
	char id[64];

	(void)state;
	make_long_path('d', 10000, 1);
	assert_int_equal(on_coro(snap_create, NULL, false, &r), 0);
	strcpy(id, r.id);
	job_result_clear(&r);
	assert_int_equal(on_coro(store_verify, id, false, &r), 0);
	make_long_path('j', 10000, 1);
	assert_int_equal(on_coro(restore_run, id, true, &r), 0);
	assert_non_null(strstr(r.message, "would add 0 entries, change 0 entries and remove 10001 entries"));
	job_result_clear(&r);
	assert_int_equal(on_coro(restore_run, id, false, &r), 0);
	job_result_clear(&r);
	assert_string_equal(read_long_path('d', 10000, 1), "deep");
	assert_string_equal(read_long_path('j', 1, 1), "");
	assert_no_leftovers();
}

/* A FIFO and a socket in the save folder are in no archive; restore and undo leave them. */
static void
test_fifo_and_socket_kept(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char id[64], fifo[256], sock[256];
	struct stat fst, sst, st;
	struct job_result r;
	int sfd;

	(void)state;
	put("slot1.sav", "the first slot", 0644, 0);
	mkdir_in("run", 0755);
	snprintf(fifo, sizeof(fifo), "%s/game.fifo", save);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(sock, sizeof(sock), "%s/run/game.sock", save);
	assert_true(strlen(sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(lstat(fifo, &fst), 0);
	assert_int_equal(lstat(sock, &sst), 0);
	assert_int_equal(snapshot(id), 0);
	put("slot1.sav", "a worse slot", 0644, 5);

	assert_int_equal(restore(id, true, false, &r), 0);
	assert_null(strstr(changes_text(&r), "fifo"));
	assert_null(strstr(changes_text(&r), "sock"));
	job_result_clear(&r);
	assert_int_equal(restore(id, false, false, &r), 0);
	print_message("# %s\n", r.message);
	assert_int_equal(lstat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode) && st.st_ino == fst.st_ino);
	assert_int_equal(lstat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode) && st.st_ino == sst.st_ino);
	assert_int_equal(restore(NULL, false, true, &r), 0);
	assert_int_equal(lstat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode) && st.st_ino == fst.st_ino);
	assert_int_equal(lstat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode) && st.st_ino == sst.st_ino);
	close(sfd);
	assert_no_leftovers();
}

/* A sparse save comes back sparse, with every byte as it was. */
static void
test_sparse_file_stays_sparse(void **state)
{
	char id[64], path[256];
	unsigned char before[32], after[32];
	uint64_t size;
	struct stat st;
	struct job_result r;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/world.sparse", save);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "head", 4, 0), 4);
	assert_int_equal(pwrite(fd, "middle", 6, 20 << 20), 6);
	assert_int_equal(ftruncate(fd, 48 << 20), 0);
	close(fd);
	assert_int_equal(craft_file_sha256(path, before, &size), 0);
	assert_int_equal(snapshot(id), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(restore(id, false, false, &r), 0);
	assert_int_equal(stat(path, &st), 0);
	print_message("# %lld bytes restored in %lld blocks\n", (long long)st.st_size,
		      (long long)st.st_blocks);
	assert_int_equal(st.st_size, 48 << 20);
	assert_true(st.st_blocks * 512 < 1 << 20);
	assert_int_equal(craft_file_sha256(path, after, &size), 0);
	assert_memory_equal(before, after, sizeof(before));
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
	    cmocka_unit_test_setup_teardown(test_failed_restore_leaves_no_trace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_disk_at_pre_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_pending_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlinked_save_folder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_archives_inside_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mount_points_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_leaving_the_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_path_longer_than_path_max, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_and_socket_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deep_tree_on_a_coroutine_stack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sparse_file_stays_sparse, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

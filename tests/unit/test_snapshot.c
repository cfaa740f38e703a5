/* The snapshot engine against real files: the tricky tree comes back exactly through GNU tar,
 * other readers read the archive, IDs only grow, exclude globs apply, and every failure (a
 * missing or wrong save folder, a symlinked, read-only or full archive folder, an unreadable
 * file, a file that keeps changing, a cancel) says what and where and changes nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../helpers/nested.h"
#include "harness.h"
#include "manifest.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

struct fx {
	char root[64];
	char save[96];
	char game[128];
	char out[96];
	char mnt[96];
	bool mounted;
};

static int __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	pid_t pid;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	pid = fork();
	if (pid == 0) {
		execl("/bin/bash", "bash", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return 128;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const char *
mktree_script(void)
{
	static char path[4200];
	char exe[4096];
	ssize_t n;

	if (access("tests/mktree.sh", X_OK) == 0)
		return "tests/mktree.sh";
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(path, sizeof(path), "%s/../tests/mktree.sh", exe);
	return path;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(mkdtemp(scratch_template(f->root, sizeof(f->root), "sk-snap")));
	snprintf(f->save, sizeof(f->save), "%s/save", f->root);
	snprintf(f->game, sizeof(f->game), "%s/archives/demo", f->root);
	snprintf(f->out, sizeof(f->out), "%s/out", f->root);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->root);
	assert_int_equal(mkdir(f->save, 0755), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->mounted)
		umount2(f->mnt, MNT_DETACH);
	sh("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", f->root, f->root);
	free(f);
	return 0;
}

static struct job_spec
spec_of(struct fx *f)
{
	return (struct job_spec){
	    .kind = JOB_SNAPSHOT,
	    .game = "demo",
	    .save_dir = f->save,
	    .game_dir = f->game,
	    .level = 6,
	    .threads = 1,
	};
}

static int
snap(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *res)
{
	memset(res, 0, sizeof(*res));
	return snap_create(spec, hooks, res);
}

/* Takes a snapshot that must succeed; returns its result. */
static struct job_result
snap_ok(const struct job_spec *spec)
{
	struct job_result res;

	if (snap(spec, NULL, &res) != 0)
		fail_msg("snapshot failed: %s", res.message);
	assert_int_equal(res.err, 0);
	return res;
}

/* The names, sizes, modes and mtimes in dir, as one string. */
static char *
listing(const char *dir)
{
	char cmd[512], *buf = NULL;
	size_t len = 0;
	FILE *p, *m = open_memstream(&buf, &len);
	int c;

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' 2>/dev/null && find . -mindepth 1 -printf '%%p %%s %%m %%T@\\n' | sort", dir);
	p = popen(cmd, "r");
	while ((c = fgetc(p)) != EOF)
		fputc(c, m);
	pclose(p);
	fclose(m);
	return buf;
}

static struct manifest *
read_manifest(const struct fx *f, const char *id)
{
	char path[256], err[512];
	struct manifest *m = NULL;

	snprintf(path, sizeof(path), "%s/%s" SNAP_MANIFEST_SUFFIX, f->game, id);
	if (manifest_read(path, &m, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	manifest_sort(m);
	return m;
}

static void
write_file(const char *dir, const char *name, const char *content)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, content, strlen(content)), 0);
	close(fd);
}

static void
assert_contains(const char *s, const char *want)
{
	if (!strstr(s, want))
		fail_msg("'%s' does not contain '%s'", s, want);
}

static void
test_tricky_tree_round_trip(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result res;
	struct manifest *m;
	const struct mf_entry *e;
	unsigned char sum[32];
	char tar[256], game_list[1024];

	assert_int_equal(sh("%s '%s'", mktree_script(), f->save), 0);
	res = snap_ok(&spec);
	assert_int_equal(strlen(res.id), SNAP_ID_LEN);
	assert_int_equal(res.files, 16);
	assert_contains(res.message, "16 files, ");
	assert_contains(res.message, "skipped 1 special file");
	assert_contains(res.message, "'fifo'");
	snprintf(tar, sizeof(tar), "%s/%s.tar.gz", f->game, res.id);

	/* Exactly the archive and its manifest, private. */
	snprintf(game_list, sizeof(game_list), "%s.manifest 600\n%s.tar.gz 600\n", res.id, res.id);
	assert_int_equal(sh("cd '%s' && [ \"$(stat -c %%a .)\" = 700 ] && "
			    "[ \"$(stat -c '%%n %%a' * | sort)\" = \"$(printf '%s')\" ]",
			    f->game, game_list),
			 0);

	/* GNU tar reproduces the tree: types, modes, mtimes, link targets, contents. */
	assert_int_equal(mkdir(f->out, 0755), 0);
	assert_int_equal(sh("tar -xzf '%s' -C '%s'", tar, f->out), 0);
	assert_int_equal(
	    sh("diff <(cd '%s' && find . -mindepth 1 ! -type p -printf '%%y %%m %%T@ %%l %%p\\n' | LC_ALL=C "
	       "sort) "
	       "<(cd '%s' && find . -mindepth 1 -printf '%%y %%m %%T@ %%l %%p\\n' | LC_ALL=C sort) >&2 && "
	       "diff -r --no-dereference -x fifo '%s' '%s' >&2",
	       f->save, f->out, f->save, f->out),
	    0);
	assert_int_equal(
	    sh("[ $(stat -c %%i '%s/hard-a') = $(stat -c %%i '%s/sub/hard-b') ]", f->out, f->out), 0);

	/* Other readers of multi-member gzip. */
	assert_int_equal(sh("gzip -t '%s'", tar), 0);
	assert_int_equal(sh("[ \"$(bsdtar -tzf '%s' | wc -l)\" = 29 ]", tar), 0);
	assert_int_equal(sh("python3 -c 'import sys, tarfile; "
			    "sys.exit(len(tarfile.open(sys.argv[1]).getnames()) != 29)' '%s'",
			    tar),
			 0);

	/* The manifest. */
	m = read_manifest(f, res.id);
	assert_int_equal(m->n_entries, 29);
	assert_int_equal(m->files, 16);
	assert_string_equal(m->id, res.id);
	EVP_Digest("slot one\n", 9, sum, NULL, EVP_sha256(), NULL);
	e = manifest_find(m, "slot1.sav");
	assert_non_null(e);
	assert_int_equal(e->type, MF_FILE);
	assert_int_equal(e->mode, 0600);
	assert_int_equal(e->mtime_ns % 1000000000 % 1000000, 456789);
	assert_memory_equal(e->sha256, sum, 32);
	assert_string_equal(manifest_find(m, "link-to-dir")->target, "sub");
	assert_int_equal(manifest_find(m, "dangling")->type, MF_SYMLINK);
	assert_int_equal(manifest_find(m, "sub/hard-b")->type, MF_HARDLINK);
	assert_string_equal(manifest_find(m, "sub/hard-b")->target, "hard-a");
	assert_non_null(manifest_find(m, "new\nline.sav"));
	assert_non_null(manifest_find(m, "empty"));
	assert_null(manifest_find(m, "fifo"));
	assert_int_equal(m->archive_size, res.bytes_out);
	manifest_free(m);
}

/* Two archives of the same tree are the same byte for byte (their manifests' checksums). */
static void
assert_same_archive(const struct fx *f, const struct job_result *a, const struct job_result *b)
{
	struct manifest *ma = read_manifest(f, a->id), *mb = read_manifest(f, b->id);

	assert_memory_equal(ma->archive_sha256, mb->archive_sha256, 32);
	assert_int_equal(a->bytes_out, b->bytes_out);
	manifest_free(ma);
	manifest_free(mb);
}

static void
test_same_output_any_threads(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b;

	assert_int_equal(sh("%s --no-fifo '%s' && head -c 3000000 /dev/urandom >'%s/more.bin'",
			    mktree_script(), f->save, f->save),
			 0);
	a = snap_ok(&spec);
	spec.threads = 3;
	b = snap_ok(&spec);
	assert_same_archive(f, &a, &b);
}

/* The gzip members of archive id, counted as gzip reads them. */
static size_t
archive_members(const struct fx *f, const char *id)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	size_t out_cap = (size_t)64 << 20, pos = 0, n = 0;
	unsigned char *out = malloc(out_cap), *in;
	char path[256];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s.tar.gz", f->game, id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	in = malloc((size_t)st.st_size);
	assert_true(in && out && d);
	assert_int_equal(read(fd, in, (size_t)st.st_size), st.st_size);
	close(fd);
	while (pos < (size_t)st.st_size) {
		size_t used = 0, got = 0;
		assert_int_equal(libdeflate_gzip_decompress_ex(d, in + pos, (size_t)st.st_size - pos, out,
							       out_cap, &used, &got),
				 LIBDEFLATE_SUCCESS);
		pos += used;
		n++;
	}
	libdeflate_free_decompressor(d);
	free(in);
	free(out);
	return n;
}

/* A tree of a few MiB is cut into 256 KiB gzip members, not 1 MiB ones, so that two compression
 * threads share even its largest file (counted, not timed): a 3 MiB save is 12 members. The
 * archive is the same with one thread or two, and GNU tar reads the file back. */
static void
test_small_tree_split_for_threads(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b;

	assert_int_equal(sh("yes 'slot=1 hp=100 name=player' | head -c 3145728 >'%s/big.sav'", f->save), 0);
	spec.threads = 2;
	a = snap_ok(&spec);
	assert_true(archive_members(f, a.id) >= (3u << 20) / (256u << 10));
	spec.threads = 1;
	b = snap_ok(&spec);
	assert_same_archive(f, &a, &b);
	assert_int_equal(sh("tar -xzOf '%s/%s.tar.gz' big.sav | cmp - '%s/big.sav'", f->game, a.id, f->save),
			 0);
}

static void
test_ids_grow(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b, c;
	char id[64];

	write_file(f->save, "slot1.sav", "one");
	assert_int_equal(snap_new_id(f->game, id, sizeof(id)), 0); /* no folder yet: fine */
	assert_int_equal(strlen(id), SNAP_ID_LEN);
	a = snap_ok(&spec);
	b = snap_ok(&spec);
	assert_true(strcmp(a.id, b.id) < 0);
	/* An archive from the future (a clock that went back): the next ID still sorts after it. */
	write_file(f->game, "29991231T235959.999Z.tar.gz", "");
	c = snap_ok(&spec);
	assert_string_equal(c.id, "30000101T000000.000Z");
	assert_int_equal(snap_new_id(f->game, id, sizeof(id)), 0);
	assert_string_equal(id, "30000101T000000.001Z");
	assert_int_equal(snap_new_id(f->game, id, 8), -ENOSPC);
}

static void
test_exclude(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	char *globs[] = {"*.tmp", "sub/*.log", "/cache"};
	struct job_result res;
	struct manifest *m;

	assert_int_equal(
	    sh("cd '%s' && mkdir -p sub/deeper cache other/cache && touch a.tmp sub/b.tmp "
	       "sub/deeper/c.tmp sub/c.log sub/deeper/d.log d.log cache/x other/cache/y keep.sav",
	       f->save),
	    0);
	spec.exclude = globs;
	spec.n_exclude = 3;
	res = snap_ok(&spec);
	m = read_manifest(f, res.id);
	for (size_t i = 0; i < m->n_entries; i++)
		assert_null(strstr(m->entries[i].path, ".tmp"));
	assert_null(manifest_find(m, "sub/c.log"));
	assert_null(manifest_find(m, "cache"));
	assert_null(manifest_find(m, "cache/x"));
	/* A glob with a slash is anchored at the save folder; '*' does not cross a slash. */
	assert_non_null(manifest_find(m, "sub/deeper/d.log"));
	assert_non_null(manifest_find(m, "other/cache/y"));
	assert_non_null(manifest_find(m, "d.log"));
	assert_non_null(manifest_find(m, "keep.sav"));
	manifest_free(m);
}

static void
test_pin_tag_and_if_changed(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b, c;
	struct manifest *m;
	char *before, *after;

	write_file(f->save, "slot1.sav", "one");
	spec.pin = true;
	spec.tag = "pre-restore";
	a = snap_ok(&spec);
	assert_int_equal(sh("test -f '%s/%s.pin'", f->game, a.id), 0);
	m = read_manifest(f, a.id);
	assert_string_equal(m->tag, "pre-restore");
	manifest_free(m);

	spec.pin = false;
	spec.tag = NULL;
	spec.if_changed = true;
	before = listing(f->game);
	b = snap_ok(&spec);
	assert_true(b.unchanged);
	assert_string_equal(b.id, a.id);
	assert_contains(b.message, "no change since");
	after = listing(f->game);
	assert_string_equal(after, before);
	free(before);
	free(after);

	write_file(f->save, "slot1.sav", "two");
	c = snap_ok(&spec);
	assert_false(c.unchanged);
	assert_true(strcmp(c.id, a.id) > 0);
}

static void
test_archive_folder_inside_save_is_skipped(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b;
	struct manifest *m;

	snprintf(f->game, sizeof(f->game), "%s/.archives", f->save);
	spec = spec_of(f);
	write_file(f->save, "slot1.sav", "one");
	a = snap_ok(&spec);
	b = snap_ok(&spec);
	m = read_manifest(f, b.id);
	assert_int_equal(m->n_entries, 1);
	assert_string_equal(m->entries[0].path, "slot1.sav");
	manifest_free(m);
	(void)a;
}

/* Runs a snapshot that must fail with err and a message containing want, and leave the
 * archive folder as it was. */
static void
snap_fails(struct fx *f, const struct job_spec *spec, const struct job_hooks *hooks, int err,
	   const char *want)
{
	char *before = listing(f->game), *after;
	struct job_result res;

	if (snap(spec, hooks, &res) != err)
		fail_msg("snapshot returned %d: %s", res.err, res.message);
	assert_int_equal(res.err, err);
	assert_contains(res.message, want);
	assert_null(strchr(res.message, '\n'));
	after = listing(f->game);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void
test_bad_save_folder(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	char want[256];

	write_file(f->save, "slot1.sav", "one");
	snap_ok(&spec);
	snprintf(f->save, sizeof(f->save), "%s/missing", f->root);
	spec = spec_of(f);
	snprintf(want, sizeof(want), "save folder '%s' does not exist", f->save);
	snap_fails(f, &spec, NULL, -ENOENT, want);

	snprintf(f->save, sizeof(f->save), "%s/save/slot1.sav", f->root);
	spec = spec_of(f);
	snprintf(want, sizeof(want), "save folder '%s' is not a folder", f->save);
	snap_fails(f, &spec, NULL, -ENOTDIR, want);
}

static void
test_symlink_at_archive_folder(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	char want[256], elsewhere[128];

	write_file(f->save, "slot1.sav", "one");
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", f->root);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	assert_int_equal(sh("mkdir -p '%s/archives' && ln -s '%s' '%s'", f->root, elsewhere, f->game), 0);
	snprintf(want, sizeof(want), "archive folder '%s' is a symlink; refusing to follow it", f->game);
	snap_fails(f, &spec, NULL, -ELOOP, want);
	assert_int_equal(sh("[ -z \"$(ls -A '%s')\" ]", elsewhere), 0);
}

/* Puts the game's archive folder on a tmpfs of its own; skips the test where none can be mounted. */
static void
mount_tmpfs(struct fx *f, const char *opts)
{
	skip_unless_root("mounts a tmpfs");
	assert_int_equal(mkdir(f->mnt, 0755), 0);
	if (mount("tmpfs", f->mnt, "tmpfs", 0, opts) < 0)
		skip_because("cannot mount a tmpfs: %s", strerror(errno));
	f->mounted = true;
	snprintf(f->game, sizeof(f->game), "%s/demo", f->mnt);
}

static void
test_read_only_archive_folder(void **state)
{
	struct fx *f = *state;
	struct job_spec spec;
	char want[256];
	struct job_result a;

	mount_tmpfs(f, "size=1m");
	spec = spec_of(f);
	write_file(f->save, "slot1.sav", "one");
	a = snap_ok(&spec);
	assert_int_equal(mount(NULL, f->mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
	snprintf(want, sizeof(want), "cannot create '%s/", f->game);
	snap_fails(f, &spec, NULL, -EROFS, want);
	snap_fails(f, &spec, NULL, -EROFS, ".tar.gz.partial': Read-only file system");

	/* A game folder that does not exist yet cannot be made either. */
	snprintf(f->game, sizeof(f->game), "%s/other", f->mnt);
	spec = spec_of(f);
	snprintf(want, sizeof(want), "cannot create archive folder '%s': Read-only file system", f->game);
	snap_fails(f, &spec, NULL, -EROFS, want);
	(void)a;
}

static void
test_full_disk(void **state)
{
	struct fx *f = *state;
	struct job_spec spec;
	char want[256], *before, *after;
	struct job_result a, res;

	mount_tmpfs(f, "size=1m");
	spec = spec_of(f);
	write_file(f->save, "slot1.sav", "one");
	a = snap_ok(&spec);
	before = listing(f->game);
	for (unsigned t = 1; t <= 2; t++) {
		/* Small enough to reach the end, too big to fit: close or finish meets ENOSPC. */
		assert_int_equal(
		    sh("head -c %u /dev/urandom >'%s/big.bin'", t == 1 ? 3000000 : 1100000, f->save), 0);
		spec.threads = t;
		assert_int_equal(snap(&spec, NULL, &res), -ENOSPC);
		snprintf(want, sizeof(want), "cannot write '%s/", f->game);
		assert_contains(res.message, want);
		assert_contains(res.message, ".tar.gz': No space left on device");
		after = listing(f->game);
		assert_string_equal(after, before);
		free(after);
	}
	assert_int_equal(sh("gzip -t '%s/%s.tar.gz'", f->game, a.id), 0);
	free(before);
}

static void
test_unreadable_file(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result res;
	int pfd[2];
	pid_t pid;

	write_file(f->save, "a.sav", "a");
	write_file(f->save, "slot1.sav", "secret");
	assert_int_equal(sh("chmod 0755 '%s' && chmod 0000 '%s/slot1.sav' && mkdir -p '%s/archives'", f->root,
			    f->save, f->root),
			 0);
	/* Root reads everything: its child drops to nobody, where permissions apply. */
	if (geteuid() == 0)
		assert_int_equal(sh("chown 65534:65534 '%s/archives'", f->root), 0);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
				       setresuid(65534, 65534, 65534) < 0))
			_exit(99);
		snap(&spec, NULL, &res);
		_exit(write_all(pfd[1], &res, sizeof(res)) == 0 ? 0 : 98);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &res, sizeof(res)), (ssize_t)sizeof(res));
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	assert_int_equal(res.err, -EACCES);
	assert_string_equal(res.message, "cannot read 'slot1.sav': Permission denied");
	assert_int_equal(sh("[ -z \"$(ls -A '%s')\" ]", f->game), 0);
}

/* Disturbs a file from the yield hook, which runs between chunks while the file is read. */
struct disturb {
	char path[256];
	unsigned calls, from, to;
	bool shrink;
	atomic_bool cancel;
};

static void
disturb_yield(void *ctx)
{
	struct disturb *d = ctx;

	d->calls++;
	if (d->calls < d->from || d->calls > d->to)
		return;
	if (d->shrink)
		assert_int_equal(truncate(d->path, 5000000), 0);
	else
		assert_int_equal(sh("printf more >>'%s'", d->path), 0);
}

static void
big_file(struct fx *f, struct disturb *d)
{
	snprintf(d->path, sizeof(d->path), "%s/big.sav", f->save);
	assert_int_equal(sh("head -c 7000000 /dev/urandom >'%s'", d->path), 0);
	write_file(f->save, "slot1.sav", "one");
	/* Let them settle (snapshots wait for files changed in the last 50 ms), so that the
	 * disturbance comes while big.sav is streamed, not before. */
	usleep(120000);
}

/* Changes the file (so the next snapshot reads it instead of taking it from the previous
 * archive) and lets it settle. */
static void
touch_settled(const char *path)
{
	assert_int_equal(sh("printf x >>'%s'", path), 0);
	usleep(120000);
}

static void
assert_archived_equals_file(struct fx *f, const char *id, const char *name)
{
	assert_int_equal(sh("mkdir -p '%s' && tar -xzf '%s/%s.tar.gz' -C '%s' && cmp '%s/%s' '%s/%s'", f->out,
			    f->game, id, f->out, f->out, name, f->save, name),
			 0);
}

static void
test_large_file_changes_then_settles(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct disturb d = {.from = 3, .to = 5};
	struct job_hooks hooks = {.yield = disturb_yield, .ctx = &d, .cancel = &d.cancel};
	struct job_result res;
	struct manifest *m;

	big_file(f, &d);
	assert_int_equal(snap(&spec, &hooks, &res), 0);
	assert_contains(res.message, "2 files");
	assert_archived_equals_file(f, res.id, "big.sav");
	m = read_manifest(f, res.id);
	assert_int_equal(manifest_find(m, "big.sav")->size, 7000000 + 3 * 4);
	manifest_free(m);
	/* The void attempts left nothing behind. */
	assert_int_equal(sh("[ \"$(ls '%s' | wc -l)\" = 2 ]", f->game), 0);
}

static void
test_large_file_shrinks(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct disturb d = {.from = 4, .to = 4, .shrink = true};
	struct job_hooks hooks = {.yield = disturb_yield, .ctx = &d, .cancel = &d.cancel};
	struct job_result res;

	big_file(f, &d);
	assert_int_equal(snap(&spec, &hooks, &res), 0);
	assert_archived_equals_file(f, res.id, "big.sav");
	assert_int_equal(sh("[ $(stat -c %%s '%s/big.sav') = 5000000 ]", f->out), 0);
}

static void
test_large_file_keeps_changing(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct disturb d = {.from = 1, .to = 1000000};
	struct job_hooks hooks = {.yield = disturb_yield, .ctx = &d, .cancel = &d.cancel};
	struct job_result first;

	big_file(f, &d);
	first = snap_ok(&spec);
	touch_settled(d.path);
	snap_fails(f, &spec, &hooks, -EAGAIN, "'big.sav' kept changing while it was read");
	(void)first;
}

/* Rewrites a small file from the sleep hook, which runs while a snapshot waits for a file
 * changed moments ago to settle; a core's sleep hands the thread to other work, here a game. */
struct rewriter {
	char dir[128];
	unsigned calls, last;
	atomic_bool cancel;
};

static void
rewrite_sleep(uint64_t usec, void *ctx)
{
	struct rewriter *rw = ctx;
	char version[32];

	if (++rw->calls <= rw->last) {
		snprintf(version, sizeof(version), "version %u", rw->calls);
		write_file(rw->dir, "slot1.sav", version);
	}
	usleep((useconds_t)usec);
}

/* Writes "version 0" and snapshots with hooks until a snapshot returns want after sleeping at
 * least want_sleeps times. Each sleep happens only when the snapshot sees the file younger than
 * the settle time, and on a loaded machine the write and the snapshot's look (or a sleep and the
 * next look) may be further apart than that; a snapshot that never waits never passes. *before
 * gets the archive folder's listing just before the snapshot that counted (the caller frees it). */
static void
snap_young(struct fx *f, const struct job_spec *spec, const struct job_hooks *hooks, struct rewriter *rw,
	   int want, unsigned want_sleeps, struct job_result *res, char **before)
{
	for (int tries = 0; tries < 50; tries++) {
		free(*before);
		*before = listing(f->game);
		rw->calls = 0;
		write_file(f->save, "slot1.sav", "version 0");
		if (snap(spec, hooks, res) == want && rw->calls >= want_sleeps)
			return;
	}
	fail_msg(
	    "50 snapshots of a file rewritten while they waited: none returned %d after %u sleeps (last: %s)",
	    want, want_sleeps, res->message);
}

static void
test_small_file_settles(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct rewriter rw = {.last = 3};
	struct job_hooks hooks = {.sleep = rewrite_sleep, .ctx = &rw, .cancel = &rw.cancel};
	struct job_result res;
	char *before = NULL, *after;

	snprintf(rw.dir, sizeof(rw.dir), "%s", f->save);
	/* Just written: the snapshot waits for it, meanwhile it changes three times. */
	snap_young(f, &spec, &hooks, &rw, 0, 4, &res, &before);
	assert_int_equal(
	    sh("mkdir '%s' && tar -xzf '%s/%s.tar.gz' -C '%s' && [ \"$(cat '%s/slot1.sav')\" = 'version 3' ]",
	       f->out, f->game, res.id, f->out, f->out),
	    0);

	/* Changing all the time: refused, naming the file, and nothing published. */
	rw.last = 1000000;
	snap_young(f, &spec, &hooks, &rw, -EAGAIN, 1, &res, &before);
	assert_contains(res.message, "'slot1.sav' kept changing while it was read");
	after = listing(f->game);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void
cancel_yield(void *ctx)
{
	struct disturb *d = ctx;

	if (++d->calls == 3)
		atomic_store(&d->cancel, true);
}

static void
test_cancel(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct disturb d = {0};
	struct job_hooks hooks = {.yield = cancel_yield, .ctx = &d, .cancel = &d.cancel};

	big_file(f, &d);
	snap_ok(&spec);
	touch_settled(d.path);
	snap_fails(f, &spec, &hooks, -ECANCELED, "snapshot cancelled");
	spec.threads = 2;
	d.calls = 0;
	atomic_store(&d.cancel, false);
	snap_fails(f, &spec, &hooks, -ECANCELED, "snapshot cancelled");
}

/* Bytes this process has read so far (rchar of /proc/self/io). */
static uint64_t
bytes_read(void)
{
	unsigned long long v = 0;
	FILE *fp = fopen("/proc/self/io", "r");

	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "rchar: %llu", &v), 1);
	fclose(fp);
	return v;
}

struct piece_watch {
	unsigned calls;
	uint64_t last, max_between;
	atomic_bool cancel;
};

static void
watch_yield(void *ctx)
{
	struct piece_watch *w = ctx;
	uint64_t now = bytes_read();

	w->calls++;
	if (now - w->last > w->max_between)
		w->max_between = now - w->last;
	w->last = bytes_read(); /* after this look, whose own bytes are not the snapshot's */
}

/* A save file of 4 MiB (read whole, then hashed) is read and hashed in 256 KiB pieces with a
 * yield point after each, so a coroutine gives its loop back during the file, not only after
 * it: the bytes read between two yields stay far below the file's size, and there are at least
 * as many yields as pieces read and hashed (the gzip stream adds its own, one per 1 MiB chunk
 * here). */
static void
test_large_read_yields_in_pieces(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct piece_watch w = {0};
	struct job_hooks hooks = {.yield = watch_yield, .ctx = &w, .cancel = &w.cancel};
	const unsigned size = 4u << 20, piece = 256u << 10;
	struct job_result res;

	assert_int_equal(sh("head -c %u /dev/urandom >'%s/big.sav'", size, f->save), 0);
	usleep(120000); /* older than the settle time: read at once */
	w.last = bytes_read();
	assert_int_equal(snap(&spec, &hooks, &res), 0);
	assert_int_equal(res.files_read, 1);
	if (w.max_between > 2 * piece)
		fail_msg("%llu bytes read between two yields", (unsigned long long)w.max_between);
	assert_true(w.calls >= 2 * size / piece);
	job_result_clear(&res);
}

/* A path longer than a manifest line holds fails the snapshot (verify and restore could not
 * take it), and the message keeps its start and its cause: the middle of the path goes. */
static void
test_path_too_long_for_a_manifest(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result res;
	char name[251];
	int fd = open(f->save, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *cause = "longer than a manifest line holds (65536 bytes)";

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	fd = nested_dirs(fd, name, 270); /* 67,770 bytes of path */
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(snap(&spec, NULL, &res), -ENAMETOOLONG);
	print_message("# %s\n", res.message);
	assert_true(strncmp(res.message, "cannot archive 'nnn", 19) == 0);
	assert_non_null(strstr(res.message, "..."));
	assert_true(strlen(res.message) > strlen(cause));
	assert_string_equal(res.message + strlen(res.message) - strlen(cause), cause);
	_cleanup_free_ char *left = listing(f->game);
	assert_null(strstr(left, ".tar.gz"));
}

/* Incremental snapshots. */

/* n files of about 1.2 MiB (each one group of its own), half compressible text, half random;
 * then waits until they are settled. */
static void
big_files(struct fx *f, unsigned n)
{
	assert_int_equal(sh("cd '%s' && for i in $(seq 1 %u); do if [ $((i %% 2)) = 0 ]; then "
			    "head -c 1200000 /dev/urandom >f$i.sav; else yes \"save $i line\" | head -c "
			    "1200000 >f$i.sav; fi; done",
			    f->save, n),
			 0);
	usleep(120000);
}

/* Rewrites a file with new content of the same size, keeping its mtime to the nanosecond (as a
 * write within the same clock tick would); only the ctime moves. */
static void
rewrite_same_size_same_mtime(struct fx *f, const char *name)
{
	char path[256];
	struct stat st;
	struct timespec ts[2];

	snprintf(path, sizeof(path), "%s/%s", f->save, name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(sh("head -c %lld /dev/urandom | dd of='%s' conv=notrunc status=none",
			    (long long)st.st_size, path),
			 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	usleep(120000);
}

/* The archive alone restores the save folder exactly, every reader reads it, and its
 * manifest's hash is the file's. */
static void
assert_standalone(struct fx *f, const char *id)
{
	char path[256];
	struct manifest *m = read_manifest(f, id);
	char hex[65];

	snprintf(path, sizeof(path), "%s/%s.tar.gz", f->game, id);
	sha256_hex(m->archive_sha256, hex);
	assert_int_equal(sh("[ \"$(sha256sum <'%s' | cut -c1-64)\" = %s ]", path, hex), 0);
	assert_int_equal(sh("[ $(stat -c %%s '%s') = %llu ]", path, (unsigned long long)m->archive_size), 0);
	manifest_free(m);
	assert_int_equal(
	    sh("rm -rf '%s' && mkdir '%s' && tar -xzf '%s' -C '%s' && diff -r --no-dereference '%s' '%s'",
	       f->out, f->out, path, f->out, f->save, f->out),
	    0);
	assert_int_equal(sh("gzip -t '%s' && bsdtar -tzf '%s' >/dev/null", path, path), 0);
	assert_int_equal(sh("python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1]); "
			    "[t.extractfile(m).read() for m in t if m.isfile()]' '%s'",
			    path),
			 0);
}

static void
test_incremental_reads_only_changed(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b, c, d;
	char full[128];

	big_files(f, 12);
	a = snap_ok(&spec);
	assert_int_equal(a.files_read, 12);
	assert_int_equal(a.files_reused, 0);
	assert_int_equal(sh("printf new >'%s/f3.sav'", f->save), 0);
	rewrite_same_size_same_mtime(f, "f4.sav");
	usleep(120000);
	b = snap_ok(&spec);
	assert_int_equal(b.files_read, 2);
	assert_int_equal(b.files_reused, 10);
	assert_int_equal(b.groups_damaged, 0);
	assert_standalone(f, b.id);
	/* Nothing changed: nothing read, and the tar stream is the one a full snapshot makes. */
	spec.threads = 2;
	c = snap_ok(&spec);
	assert_int_equal(c.files_read, 0);
	assert_int_equal(c.files_reused, 12);
	assert_standalone(f, c.id);
	snprintf(full, sizeof(full), "%s/full", f->root);
	spec.game_dir = full;
	d = snap_ok(&spec);
	assert_int_equal(d.files_read, 12);
	assert_int_equal(
	    sh("[ \"$(gzip -dc '%s/%s.tar.gz' | sha256sum)\" = \"$(gzip -dc '%s/%s.tar.gz' | sha256sum)\" ]",
	       f->game, c.id, full, d.id),
	    0);
}

/* Snapshots with if_changed as a scheduled tick does, and counts the opens of the manifest of
 * archive id (inotify, so the count is the kernel's) while it runs. */
static struct job_result
snap_counting_opens(struct fx *f, const struct job_spec *spec, const char *id, unsigned *ret_opens)
{
	char path[256], buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	struct job_result res;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s.manifest", f->game, id);
	assert_true(in >= 0);
	/* Closes are watched too: inotify merges an event with the unread one before it when
	 * both are the same, so two opens in a row would count as one. */
	assert_true(inotify_add_watch(in, path, IN_OPEN | IN_CLOSE) >= 0);
	res = snap_ok(spec);
	*ret_opens = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;
		     p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len)
			*ret_opens += (((struct inotify_event *)p)->mask & IN_OPEN) != 0;
	close(in);
	return res;
}

/* The newest manifest serves both the unchanged check and the reuse of groups, read once. */
static void
test_incremental_reads_base_manifest_once(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b, c;
	unsigned opens;

	big_files(f, 4);
	a = snap_ok(&spec);
	spec.if_changed = true;
	b = snap_counting_opens(f, &spec, a.id, &opens);
	assert_true(b.unchanged);
	assert_int_equal(opens, 1);
	assert_int_equal(sh("printf new >'%s/f3.sav'", f->save), 0);
	usleep(120000);
	c = snap_counting_opens(f, &spec, a.id, &opens);
	assert_false(c.unchanged);
	assert_int_equal(c.files_read, 1);
	assert_int_equal(c.files_reused, 3);
	assert_int_equal(opens, 1);
	assert_standalone(f, c.id);
}

static void
test_incremental_same_tick_rewrite_is_caught(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b;

	write_file(f->save, "slot1.sav", "AAAAAAAAAAAAAAAA");
	write_file(f->save, "slot2.sav", "unchanged");
	usleep(120000);
	a = snap_ok(&spec);
	rewrite_same_size_same_mtime(f, "slot1.sav");
	b = snap_ok(&spec);
	/* Both small files share a group: the whole group is written afresh. */
	assert_int_equal(b.files_read, 2);
	assert_int_equal(b.files_reused, 0);
	assert_standalone(f, b.id);
	(void)a;
}

/* The member group of archive id that holds path: its entry count in *ret_count. */
static void
group_of(struct fx *f, const char *id, const char *path, uint64_t *ret_count)
{
	char mpath[256];
	struct manifest *m = NULL;

	snprintf(mpath, sizeof(mpath), "%s/%s" SNAP_MANIFEST_SUFFIX, f->game, id);
	assert_int_equal(manifest_read(mpath, &m, NULL, 0), 0);
	*ret_count = 0;
	for (size_t i = 0; i < m->n_members; i++)
		for (uint64_t e = m->members[i].first; e < m->members[i].first + m->members[i].count; e++)
			if (strcmp(m->entries[e].path, path) == 0)
				*ret_count = m->members[i].count;
	manifest_free(m);
	assert_true(*ret_count > 0);
}

/* A change to a small file next to a large one rereads neither the large file nor more than a
 * small group: a large file is a group of its own, small files form groups of about 16 KiB. */
static void
test_incremental_small_change_small_group(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b;
	uint64_t n;

	assert_int_equal(
	    sh("cd '%s' && for i in $(seq 10 99); do yes \"line $i\" | head -c 3000 >a$i.txt; done && "
	       "head -c 1200000 /dev/urandom >b.sav && for i in 1 2 3; do echo $i >c$i.txt; done",
	       f->save),
	    0);
	usleep(120000);
	a = snap_ok(&spec);
	group_of(f, a.id, "b.sav", &n);
	assert_int_equal(n, 1);
	group_of(f, a.id, "a99.txt", &n);
	/* 90 files of 3 KB: groups of a few, and the one of a99.txt ends before b.sav. */
	assert_true(n <= 8);
	rewrite_same_size_same_mtime(f, "a99.txt");
	b = snap_ok(&spec);
	assert_int_equal(b.files_read, n);
	assert_int_equal(b.files_reused, 94 - n);
	assert_standalone(f, b.id);
	group_of(f, a.id, "a55.txt", &n);
	rewrite_same_size_same_mtime(f, "a55.txt");
	b = snap_ok(&spec);
	assert_int_equal(b.files_read, n);
	assert_standalone(f, b.id);
}

/* Gives the n-th group's record in manifest m the SHA-256 of its bytes as they are now in the
 * archive fd, and writes the manifest back to path. */
static void
resum_group(struct manifest *m, size_t n, int fd, const char *path)
{
	unsigned char *buf = malloc(m->members[n].length);
	int mfd;

	assert_int_equal(pread(fd, buf, m->members[n].length, (off_t)m->members[n].offset),
			 (ssize_t)m->members[n].length);
	EVP_Digest(buf, m->members[n].length, m->members[n].sha256, NULL, EVP_sha256(), NULL);
	free(buf);
	mfd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(manifest_write(m, mfd), 0);
	close(mfd);
}

/* Flips one byte inside the n-th member group of an archive; with resum, the group's SHA-256
 * in the manifest is made to match the damage, so that only its CRC-32 can tell. */
static void
damage_group(struct fx *f, const char *id, size_t n, bool resum)
{
	char path[256], mpath[256];
	struct manifest *m = NULL;
	unsigned char c;
	int fd;

	snprintf(mpath, sizeof(mpath), "%s/%s" SNAP_MANIFEST_SUFFIX, f->game, id);
	assert_int_equal(manifest_read(mpath, &m, NULL, 0), 0);
	assert_true(m->n_members > n && (!resum || m->members[n].has_crc32));
	snprintf(path, sizeof(path), "%s/%s.tar.gz", f->game, id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	off_t at = (off_t)(m->members[n].offset + m->members[n].length / 2);
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	if (resum)
		resum_group(m, n, fd, mpath);
	close(fd);
	manifest_free(m);
}

/* The snapshot after one group of the newest of archives of six big files was damaged: that
 * group is written afresh from its file, the other five are taken. */
static void
assert_damage_caught(struct fx *f, const struct job_spec *spec)
{
	struct job_result b = snap_ok(spec);

	assert_int_equal(b.groups_damaged, 1);
	assert_int_equal(b.files_read, 1);
	assert_int_equal(b.files_reused, 5);
	assert_standalone(f, b.id);
}

static void
test_incremental_damaged_base_not_propagated(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a;

	big_files(f, 6);
	a = snap_ok(&spec);
	damage_group(f, a.id, 2, false);
	assert_int_not_equal(sh("gzip -t '%s/%s.tar.gz' 2>/dev/null", f->game, a.id), 0);
	assert_damage_caught(f, &spec);
}

/* A flipped byte in a taken group is caught by the group's CRC-32 as it is taken, even when
 * the group's SHA-256 in the manifest matches the damage. */
static void
test_incremental_damage_caught_by_crc(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a;

	big_files(f, 6);
	a = snap_ok(&spec);
	damage_group(f, a.id, 3, true);
	/* With the hasher thread taking the archive's SHA-256 beside the copy. */
	spec.threads = 2;
	assert_damage_caught(f, &spec);
}

/* Makes archive ID's manifest one from before group CRC-32s (the game folder, ID twice). */
#define DROP_CRCS "grep -q '^group-crc32 ' '%s/%s.manifest' && sed -i '/^group-crc32 /d' '%s/%s.manifest'"

/* A base whose manifest has no group CRC-32s (written before them) is still taken, checked by
 * the groups' SHA-256: the new manifest has CRC-32s, and damage to such a base is caught. */
static void
test_incremental_base_without_crcs(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	struct job_result a, b;

	big_files(f, 6);
	a = snap_ok(&spec);
	assert_int_equal(sh(DROP_CRCS, f->game, a.id, f->game, a.id), 0);
	b = snap_ok(&spec);
	assert_int_equal(b.files_read, 0);
	assert_int_equal(b.files_reused, 6);
	assert_standalone(f, b.id);
	assert_int_equal(sh(DROP_CRCS, f->game, b.id, f->game, b.id), 0);
	damage_group(f, b.id, 1, false);
	assert_damage_caught(f, &spec);
}

static void
test_incremental_series_with_deletions(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = spec_of(f);
	char prev[64] = "";

	big_files(f, 4);
	assert_int_equal(sh("cd '%s' && mkdir -p d/e && for i in $(seq 1 60); do echo small $i >d/e/s$i.txt; "
			    "done && ln -s f1.sav link",
			    f->save),
			 0);
	usleep(120000);
	for (unsigned i = 0; i < 6; i++) {
		struct job_result r;
		assert_int_equal(sh("cd '%s' && case %u in 1) printf x >>f2.sav;; 2) rm d/e/s7.txt;; "
				    "3) echo new >d/new.txt;; 4) rm -r d;; 5) mv f1.sav f9.sav;; esac",
				    f->save, i),
				 0);
		usleep(120000);
		r = snap_ok(&spec);
		assert_standalone(f, r.id);
		/* Older archives go, by hand: none of the later ones needs them. */
		if (prev[0])
			assert_int_equal(sh("cd '%s' && rm %s.tar.gz %s.manifest", f->game, prev, prev), 0);
		snprintf(prev, sizeof(prev), "%s", r.id);
		if (i > 0)
			assert_true(r.files_reused > 0);
	}
	assert_int_equal(sh("[ $(ls '%s' | wc -l) = 2 ]", f->game), 0);
}

/* On a file system that shares extents (XFS, loop-mounted: root only), an incremental
 * snapshot costs the disk only what changed. */
static void
test_incremental_reflink_xfs(void **state)
{
	struct fx *f = *state;
	struct job_spec spec;
	struct job_result a, b;
	struct statfs before, after;
	uint64_t used, changed;
	struct manifest *m;

	skip_unless_root("mounts an XFS image");
	if (sh("command -v mkfs.xfs >/dev/null") != 0)
		skip_because("no mkfs.xfs (xfsprogs; scripts/deps.sh test installs it)");
	assert_int_equal(sh("mkdir -p '%s' && truncate -s 512M '%s/xfs.img' && mkfs.xfs -q '%s/xfs.img' && "
			    "mount -o loop '%s/xfs.img' '%s'",
			    f->mnt, f->root, f->root, f->root, f->mnt),
			 0);
	f->mounted = true;
	snprintf(f->game, sizeof(f->game), "%s/archives", f->mnt);
	spec = spec_of(f);
	big_files(f, 40);
	a = snap_ok(&spec);
	rewrite_same_size_same_mtime(f, "f2.sav"); /* random data: stored as it is */
	sync();
	assert_int_equal(statfs(f->mnt, &before), 0);
	b = snap_ok(&spec);
	sync();
	assert_int_equal(statfs(f->mnt, &after), 0);
	assert_int_equal(b.files_read, 1);
	assert_int_equal(b.files_reused, 39);
	assert_standalone(f, b.id);
	m = read_manifest(f, b.id);
	changed = 1200000 + 64 * 1024; /* the changed file, stored, plus its group's framing */
	used = (uint64_t)(before.f_bfree - after.f_bfree) * (uint64_t)before.f_bsize;
	print_message("# XFS: archive %llu bytes, used space grew by %llu bytes\n",
		      (unsigned long long)m->archive_size, (unsigned long long)used);
	/* The manifest and directory blocks are the +5% and a few blocks of metadata. */
	assert_true(used <= changed + changed / 20 + 64 * 1024);
	/* list tells the same: the new archive's own bytes are about the changed file. */
	struct job_archive *v = NULL;
	size_t n = 0;
	assert_int_equal(store_list(f->game, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_fill_shared(f->game, v, n), 0);
	assert_string_equal(v[1].id, b.id);
	assert_int_equal(v[1].size, m->archive_size);
	assert_true(v[1].size - v[1].shared <= changed + changed / 20);
	assert_true(v[0].shared >= v[0].size - changed - changed / 20);
	free(v);
	manifest_free(m);
	(void)a;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_tricky_tree_round_trip),
	    T(test_same_output_any_threads),
	    T(test_small_tree_split_for_threads),
	    T(test_ids_grow),
	    T(test_exclude),
	    T(test_pin_tag_and_if_changed),
	    T(test_archive_folder_inside_save_is_skipped),
	    T(test_bad_save_folder),
	    T(test_symlink_at_archive_folder),
	    T(test_read_only_archive_folder),
	    T(test_full_disk),
	    T(test_unreadable_file),
	    T(test_large_file_changes_then_settles),
	    T(test_large_file_shrinks),
	    T(test_large_file_keeps_changing),
	    T(test_small_file_settles),
	    T(test_cancel),
	    T(test_large_read_yields_in_pieces),
	    T(test_path_too_long_for_a_manifest),
	    T(test_incremental_reads_only_changed),
	    T(test_incremental_reads_base_manifest_once),
	    T(test_incremental_same_tick_rewrite_is_caught),
	    T(test_incremental_small_change_small_group),
	    T(test_incremental_damaged_base_not_propagated),
	    T(test_incremental_damage_caught_by_crc),
	    T(test_incremental_base_without_crcs),
	    T(test_incremental_series_with_deletions),
	    T(test_incremental_reflink_xfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

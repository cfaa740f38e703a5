/* The snapshot engine, part two: the walk over directory fds (no path-length limit, never
 * following a symlink, names sorted so the same tree gives the same archive), each entry's
 * header and manifest line, and stable reads.
 *
 * Stable reads. A file is opened, fstat'ed, read, fstat'ed again, and its name looked up
 * again; if the size, mtime, ctime or inode moved, or the bytes read differ from the size,
 * the read is torn. libarchive pads or cuts a member to the size in its header, and a gzip
 * stream cannot be rewound, so the header must carry the size of bytes that are already
 * known to be stable:
 *  - a file of at most SNAP_BUFFER_MAX bytes (nearly every save file) is read whole into one
 *    reused buffer, checked, and read again on a change (SNAP_READ_TRIES times); only a
 *    stable copy is written, with its header built from the bytes actually read;
 *  - a larger file is streamed (memory stays bounded for a 2 GiB save) with the header from
 *    fstat; if it changes while read, this archive attempt is void: it is deleted and the
 *    whole snapshot starts again (SNAP_ATTEMPTS times) under a new ID.
 * Either way a file that keeps changing fails the snapshot with a message naming it, and a
 * torn member is never published.
 *
 * A writer that pauses between two write() calls leaves a file whose stat does not move while
 * it is read, yet holds half a save. A file changed less than SNAP_SETTLE_NSEC ago is
 * therefore taken to be still in writing: the read waits until it is that old and starts
 * again (one of its tries). A pause longer than that cannot be told from a finished save. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "manifest.h"
#include "snapshot_int.h"
#include "tree.h"
#include "util.h"

#define SNAP_BUFFER_MAX ((size_t)4 << 20)
#define SNAP_IO ((size_t)256 << 10)
#define SNAP_READ_TRIES 5
#define SNAP_SETTLE_NSEC (50 * 1000000LL)
#define PROGRESS_USEC (200 * USEC_PER_MSEC)

static int
fail_read(struct snap *s, int r)
{
	return snap_fail(s, r, "cannot read '%s': %s", s->path, strerror(-r));
}

/* The walk. */

static bool
excluded(const struct snap *s, const char *name)
{
	for (unsigned i = 0; i < s->spec->n_exclude; i++) {
		const char *g = s->spec->exclude[i];
		if (!strchr(g, '/')) {
			if (fnmatch(g, name, 0) == 0)
				return true;
			continue;
		}
		while (*g == '/')
			g++;
		if (fnmatch(g, s->path, FNM_PATHNAME) == 0)
			return true;
	}
	return false;
}

struct snap_walker {
	struct snap *s;
	visit_fn *fn;
};

static int
walk_visit(void *ctx, int dirfd, const char *name, const char *path, const struct stat *st)
{
	struct snap_walker *w = ctx;
	struct snap *s = w->s;
	int r;

	s->path = path;
	if (excluded(s, name))
		return 0;
	/* An archive folder inside the save folder is not part of the save. */
	if (st->st_dev == s->game_st.st_dev && st->st_ino == s->game_st.st_ino)
		return 0;
	r = w->fn(s, dirfd, name, st);
	return r < 0 ? r : S_ISDIR(st->st_mode);
}

static int
walk_error(void *ctx, const char *path, int err)
{
	struct snap *s = ((struct snap_walker *)ctx)->s;

	s->path = path;
	if (!path[0])
		return snap_fail(s, err, "cannot read save folder '%s': %s", s->spec->save_dir,
				 strerror(-err));
	if (err == -ESTALE)
		return snap_fail(s, err, "'%s' was moved while it was read", path);
	return fail_read(s, err);
}

int
snap_walk(struct snap *s, int dirfd, visit_fn *fn)
{
	static const struct tree_ops ops = {.visit = walk_visit, .error = walk_error};
	struct snap_walker w = {.s = s, .fn = fn};
	int r = tree_walk(dirfd, &ops, &w);

	s->path = "";
	return r == -ENOMEM ? snap_fail(s, r, "out of memory") : r;
}

/* The counting pass: totals for progress, and whether anything changed since the newest
 * manifest (if_changed). */

/* The manifest type of what the walk found; 0 for what is skipped. */
static int
mf_type_of(const struct stat *st)
{
	return S_ISREG(st->st_mode)   ? MF_FILE
	       : S_ISDIR(st->st_mode) ? MF_DIR
	       : S_ISLNK(st->st_mode) ? MF_SYMLINK
				      : 0;
}

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static bool
same_as_before(const struct snap *s, const struct stat *st)
{
	const struct mf_entry *e = manifest_by_path_find(s->prev, s->base->n_entries, s->path);

	return e && snap_entry_matches(e, st);
}

int
snap_count_entry(struct snap *s, int dirfd, const char *name, const struct stat *st)
{
	(void)dirfd;
	(void)name;
	if (S_ISREG(st->st_mode)) {
		s->prog.files_total++;
		s->prog.bytes_total += (uint64_t)st->st_size;
	}
	if (s->prev && mf_type_of(st)) {
		if (same_as_before(s, st))
			s->matched++;
		else
			s->changed = true;
	}
	return 0;
}

static struct archive_entry *
entry_new(const struct snap *s, const struct stat *st, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();

	if (!e)
		return NULL;
	archive_entry_copy_pathname(e, s->path);
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	archive_entry_set_size(e, (la_int64_t)size);
	return e;
}

static void
mf_entry_of(const struct snap *s, const struct stat *st, enum mf_type type, struct mf_entry *e)
{
	*e = (struct mf_entry){
	    .type = type,
	    .path = (char *)(uintptr_t)s->path,
	    .mode = st->st_mode & 07777,
	    .mtime_ns = ts_ns(&st->st_mtim),
	    .ino = st->st_ino,
	    .dev = st->st_dev,
	    .ctime_ns = ts_ns(&st->st_ctim),
	};
}

/* Adds e to the manifest, if verify and restore will take it: the one definition of a valid
 * entry is manifest_entry_check's, so no archive is published that restore would refuse. */
static int
mf_add(struct snap *s, const struct mf_entry *e)
{
	const char *why = manifest_entry_check(e);
	int r;

	if (why)
		return snap_fail(s, -ENAMETOOLONG, "cannot archive '%s': %s", s->path, why);
	r = manifest_add(s->mf, e);

	return r < 0 ? snap_fail(s, r, "out of memory") : 0;
}

/* Directories and symlinks: a header, no data. */
static int
add_plain(struct snap *s, const struct stat *st, enum mf_type type, char *target)
{
	struct archive_entry *e = entry_new(s, st, 0);
	struct mf_entry me;
	int r;

	if (!e)
		return snap_fail(s, -ENOMEM, "out of memory");
	if (target)
		archive_entry_copy_symlink(e, target);
	r = snap_write_header(s, e);
	archive_entry_free(e);
	if (r < 0)
		return r;
	mf_entry_of(s, st, type, &me);
	me.target = target;
	return mf_add(s, &me);
}

static int
add_symlink(struct snap *s, int dirfd, const char *name, const struct stat *st)
{
	size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;

	for (;;) {
		_cleanup_free_ char *target = malloc(cap);
		ssize_t n;
		if (!target)
			return snap_fail(s, -ENOMEM, "out of memory");
		n = readlinkat(dirfd, name, target, cap);
		if (n < 0)
			return errno == ENOENT ? 0 : fail_read(s, -errno);
		if ((size_t)n < cap) {
			target[n] = '\0';
			return add_plain(s, st, MF_SYMLINK, target);
		}
		cap *= 2;
	}
}

/* Reads up to len bytes; fewer only at end of file. Returns the count or -errno. */
static ssize_t
read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* read_full in SNAP_IO pieces with a yield point after each, so that reading a file of
 * SNAP_BUFFER_MAX bytes does not hold a coroutine's loop either. Returns the count, -ECANCELED
 * (the snapshot failed with its message) or -errno. */
static ssize_t
read_pieces(struct snap *s, int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		size_t want = len - got < SNAP_IO ? len - got : SNAP_IO;
		ssize_t n = read_full(fd, buf + got, want);
		if (n < 0)
			return n;
		got += (size_t)n;
		if ((size_t)n < want)
			break;
		if (job_yield(s->hooks))
			return snap_fail(s, -ECANCELED, "snapshot cancelled");
	}
	return (ssize_t)got;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       ts_ns(&a->st_mtim) == ts_ns(&b->st_mtim) && ts_ns(&a->st_ctim) == ts_ns(&b->st_ctim);
}

/* After a read of nread bytes from fd (whose stat was before): true if the file is unchanged
 * and its name still leads to it. */
static int
read_was_stable(struct snap *s, int dirfd, const char *name, int fd, const struct stat *before,
		uint64_t nread)
{
	struct stat after, named;

	if (fstat(fd, &after) < 0)
		return fail_read(s, -errno);
	if (fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail_read(s, -errno);
	return same_file(before, &after) && same_file(before, &named) && nread == (uint64_t)before->st_size;
}

static int
open_file(struct snap *s, int dirfd, const char *name, struct stat *ret_st)
{
	/* O_NONBLOCK: if a FIFO took the file's place, opening must not hang. */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? -ENOENT : fail_read(s, -errno);
	if (fstat(fd, ret_st) < 0) {
		int r = fail_read(s, -errno);
		safe_close(fd);
		return r;
	}
	return fd;
}

static int
grow_buffer(struct snap *s, size_t need)
{
	unsigned char *b;

	if (need <= s->buf_cap)
		return 0;
	if (!(b = realloc(s->buf, need)))
		return snap_fail(s, -ENOMEM, "out of memory");
	s->buf = b;
	s->buf_cap = need;
	return 0;
}

/* Hashes len bytes in SNAP_IO pieces with a yield point after each: the SHA-256 of a 4 MiB
 * file takes milliseconds, more than a coroutine may hold its loop. */
static int
hash(struct snap *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	do {
		size_t n = len < SNAP_IO ? len : SNAP_IO;
		if (EVP_DigestUpdate(s->sha, p, n) != 1)
			return snap_fail(s, -ENOMEM, "SHA-256 failed");
		p += n;
		len -= n;
		if (job_yield(s->hooks))
			return snap_fail(s, -ECANCELED, "snapshot cancelled");
	} while (len > 0);
	return 0;
}

/* Starts a file's manifest entry and its hash. */
static int
file_begin(struct snap *s, const struct stat *st, uint64_t size, struct mf_entry *me)
{
	mf_entry_of(s, st, MF_FILE, me);
	me->size = size;
	if (EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		return snap_fail(s, -ENOMEM, "SHA-256 failed");
	return 0;
}

/* A small file: read whole, then written only if the read was stable. Returns 1 when
 * written, 0 when it changed while read, -ENOENT when it is gone, or an error. */
static int
add_small_file(struct snap *s, int dirfd, const char *name, int fd, const struct stat *st)
{
	struct archive_entry *e;
	struct mf_entry me;
	ssize_t n;
	int r;

	if ((r = grow_buffer(s, (size_t)st->st_size + 1)) < 0)
		return r;
	n = read_pieces(s, fd, s->buf, (size_t)st->st_size + 1); /* one more: did it grow? */
	if (n == -ECANCELED)
		return (int)n;
	if (n < 0)
		return fail_read(s, (int)n);
	r = read_was_stable(s, dirfd, name, fd, st, (uint64_t)n);
	if (r <= 0)
		return r;
	if ((r = file_begin(s, st, (uint64_t)n, &me)) < 0 || (r = hash(s, s->buf, (size_t)n)) < 0)
		return r;
	if (!(e = entry_new(s, st, (uint64_t)n)))
		return snap_fail(s, -ENOMEM, "out of memory");
	r = snap_write_header(s, e);
	archive_entry_free(e);
	if (r < 0 || (r = snap_write_data(s, s->buf, (size_t)n)) < 0)
		return r;
	EVP_DigestFinal_ex(s->sha, me.sha256, NULL);
	s->res->files_read++;
	return mf_add(s, &me) < 0 ? -ENOMEM : 1;
}

/* A large file: streamed under a header from fstat. A change voids this archive attempt.
 * Returns 1 when written, or an error. */
static int
add_large_file(struct snap *s, int dirfd, const char *name, int fd, const struct stat *st)
{
	struct archive_entry *e = entry_new(s, st, (uint64_t)st->st_size);
	uint64_t done = 0;
	struct mf_entry me;
	int r;

	if (!e)
		return snap_fail(s, -ENOMEM, "out of memory");
	r = snap_write_header(s, e);
	archive_entry_free(e);
	if (r < 0 || (r = file_begin(s, st, (uint64_t)st->st_size, &me)) < 0 ||
	    (r = grow_buffer(s, SNAP_IO)) < 0)
		return r;
	while (done < (uint64_t)st->st_size) {
		size_t want = (uint64_t)st->st_size - done < SNAP_IO ? (size_t)(st->st_size - done) : SNAP_IO;
		ssize_t n = read_full(fd, s->buf, want);
		if (n < 0)
			return fail_read(s, (int)n);
		if (n == 0)
			break; /* shrank: caught below, never padded into the archive */
		if ((r = hash(s, s->buf, (size_t)n)) < 0 || (r = snap_write_data(s, s->buf, (size_t)n)) < 0)
			return r;
		done += (uint64_t)n;
	}
	r = read_was_stable(s, dirfd, name, fd, st, done);
	if (r < 0)
		return r;
	if (r == 0 || read_full(fd, s->buf, 1) != 0) {
		s->unstable = true;
		return snap_fail(s, -EAGAIN, "'%s' kept changing while it was read", s->path);
	}
	EVP_DigestFinal_ex(s->sha, me.sha256, NULL);
	s->res->files_read++;
	return mf_add(s, &me) < 0 ? -ENOMEM : 1;
}

/* How long until the file's last change is SNAP_SETTLE_NSEC old; 0 if it is already (or if
 * its times lie in the future, where waiting would not help). */
static int64_t
settle_left_ns(const struct stat *st)
{
	int64_t now = (int64_t)realtime_usec() * 1000, changed = ts_ns(&st->st_ctim);

	if (ts_ns(&st->st_mtim) > changed)
		changed = ts_ns(&st->st_mtim);
	if (changed > now || now - changed >= SNAP_SETTLE_NSEC)
		return 0;
	return SNAP_SETTLE_NSEC - (now - changed);
}

/* Waits ns in the core's way (a coroutine parks on a loop timer). */
static int
wait_ns(struct snap *s, int64_t ns)
{
	return job_sleep(s->hooks, (uint64_t)ns / 1000 + 1) ? snap_fail(s, -ECANCELED, "snapshot cancelled")
							    : 0;
}

static int
add_file_data(struct snap *s, int dirfd, const char *name)
{
	for (int try = 0; try < SNAP_READ_TRIES; try++) {
		struct stat st;
		int64_t settle;
		int r, fd = open_file(s, dirfd, name, &st);

		if (fd < 0)
			return fd == -ENOENT ? 0 : fd;
		settle = settle_left_ns(&st);
		if (settle > 0)
			r = 0;
		else if (!S_ISREG(st.st_mode))
			r = 1; /* no longer a file: left out like one that vanished */
		else if ((uint64_t)st.st_size > SNAP_BUFFER_MAX)
			r = add_large_file(s, dirfd, name, fd, &st);
		else
			r = add_small_file(s, dirfd, name, fd, &st);
		safe_close(fd);
		if (r != 0)
			return r == -ENOENT || r > 0 ? 0 : r;
		if ((r = wait_ns(s, settle)) < 0)
			return r;
	}
	return snap_fail(s, -EAGAIN, "'%s' kept changing while it was read", s->path);
}

/* The manifest entry of the file a hard link points to (an earlier entry). */
static const struct mf_entry *
mf_lookup(const struct manifest *m, const char *path)
{
	for (size_t i = m->n_entries; i-- > 0;)
		if (strcmp(m->entries[i].path, path) == 0)
			return &m->entries[i];
	return NULL;
}

/* A second name of a file already stored: a hard link entry with no data. */
static int
add_hardlink(struct snap *s, struct archive_entry *e, const struct stat *st)
{
	const struct mf_entry *first = mf_lookup(s->mf, archive_entry_hardlink(e));
	struct mf_entry me;
	int r;

	if (!first) /* the first name vanished while read: store this one in full */
		return 1;
	if ((r = snap_write_header(s, e)) < 0)
		return r;
	mf_entry_of(s, st, MF_HARDLINK, &me);
	me.target = first->path;
	me.size = first->size;
	memcpy(me.sha256, first->sha256, sizeof(me.sha256));
	return mf_add(s, &me);
}

static int
add_file(struct snap *s, int dirfd, const char *name, const struct stat *st)
{
	struct archive_entry *e, *spare = NULL;
	int r = 1;

	if (st->st_nlink > 1) {
		if (!(e = entry_new(s, st, (uint64_t)st->st_size)))
			return snap_fail(s, -ENOMEM, "out of memory");
		archive_entry_set_dev(e, st->st_dev);
		archive_entry_set_ino64(e, (la_int64_t)st->st_ino);
		archive_entry_set_nlink(e, (unsigned)st->st_nlink);
		archive_entry_linkify(s->links, &e, &spare);
		if (e && archive_entry_hardlink(e))
			r = add_hardlink(s, e, st);
		archive_entry_free(e);
		archive_entry_free(spare);
	}
	if (r == 1)
		r = add_file_data(s, dirfd, name);
	if (r >= 0)
		s->prog.files_done++;
	return r;
}

static int
skip_special(struct snap *s)
{
	if (s->skipped++ == 0 && !(s->skipped_first = strdup(s->path)))
		return snap_fail(s, -ENOMEM, "out of memory");
	return 0;
}

void
snap_progress(struct snap *s, bool force)
{
	uint64_t now;

	now = now_usec();
	if (!force && now - s->prog_usec < PROGRESS_USEC)
		return;
	s->prog_usec = now;
	job_report(s->hooks, &s->prog);
}

int
snap_add_entry(struct snap *s, int dirfd, const char *name, const struct stat *st)
{
	int r = snap_reuse_entry(s, st);

	if (r != 0)
		return r < 0 ? r : job_yield(s->hooks) ? snap_fail(s, -ECANCELED, "snapshot cancelled") : 0;
	if ((r = snap_group_before(s, st)) < 0)
		return r;
	if (S_ISREG(st->st_mode))
		r = add_file(s, dirfd, name, st);
	else if (S_ISDIR(st->st_mode))
		r = add_plain(s, st, MF_DIR, NULL);
	else if (S_ISLNK(st->st_mode))
		r = add_symlink(s, dirfd, name, st);
	else
		r = skip_special(s);
	if (r < 0 || (r = snap_entry_done(s)) < 0)
		return r;
	snap_progress(s, false);
	return job_yield(s->hooks) ? snap_fail(s, -ECANCELED, "snapshot cancelled") : 0;
}

/* The archive folder of one game: listing, pinning, the crash sweep and retention. The checked
 * walk over an archive (verify, restore) is in store_walk.c. */
#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "manifest.h"
#include "snapshot.h"
#include "util.h"

#define FIEMAP_BATCH 64

char *
store_game_dir(const char *archive_dir, const char *game)
{
	return path_join(archive_dir, game);
}

int
store_id_time(const char *id, int64_t *ret_usec)
{
	int64_t usec;
	int len = snap_id_parse(id, &usec);

	if (len < 0 || id[len] != '\0')
		return -EINVAL;
	*ret_usec = usec;
	return 0;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Copies name without suffix into id; false if it is no archive ID. */
static bool
name_to_id(const char *name, const char *suffix, char *id, size_t len)
{
	size_t n = strlen(name), k = strlen(suffix);
	int64_t t;

	if (!ends_with(name, suffix) || n - k >= len)
		return false;
	memcpy(id, name, n - k);
	id[n - k] = '\0';
	return store_id_time(id, &t) == 0;
}

static bool
exists_at(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Bytes of fd's extents that the file system shares with other files (FIEMAP_EXTENT_SHARED:
 * reflinked or deduplicated blocks, which du counts in every file); 0 where nothing is shared.
 * Returns 0, or -errno (-EOPNOTSUPP where the file system has no FIEMAP). */
static int
shared_bytes(int fd, uint64_t *ret)
{
	_cleanup_free_ struct fiemap *fm = malloc(sizeof(*fm) + FIEMAP_BATCH * sizeof(struct fiemap_extent));
	uint64_t start = 0, shared = 0;

	if (!fm)
		return -ENOMEM;
	for (;;) {
		/* All of it: valgrind does not see the kernel fill the extents. */
		memset(fm, 0, sizeof(*fm) + FIEMAP_BATCH * sizeof(struct fiemap_extent));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_extent_count = FIEMAP_BATCH;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0)
			return -errno;
		if (fm->fm_mapped_extents == 0)
			break;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *x = &fm->fm_extents[i];
			if (x->fe_flags & FIEMAP_EXTENT_SHARED)
				shared += x->fe_length;
			start = x->fe_logical + x->fe_length;
			if (x->fe_flags & FIEMAP_EXTENT_LAST)
				goto done;
		}
	}
done:
	*ret = shared;
	return 0;
}

/* Bytes of the archive that share blocks with other files (incremental snapshots clone
 * unchanged member groups from the archive before); 0 when unknown. */
static uint64_t
archive_shared(int dfd, const char *id, uint64_t size)
{
	char name[128];
	_cleanup_close_ int fd = -EBADF;
	uint64_t shared = 0;

	snprintf(name, sizeof(name), "%s%s", id, SNAP_SUFFIX);
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || shared_bytes(fd, &shared) < 0)
		return 0;
	return shared < size ? shared : size;
}

/* Fills e from the archive file's stat, its manifest and its pin marker. */
static void
entry_fill(const char *game_dir, int dfd, const struct stat *st, struct job_archive *e)
{
	char name[128], err[256];
	_cleanup_free_ char *path = NULL;
	struct manifest *m = NULL;

	e->size = (uint64_t)st->st_size;
	store_id_time(e->id, &e->time_usec);
	snprintf(name, sizeof(name), "%s%s", e->id, SNAP_PIN_SUFFIX);
	e->pinned = exists_at(dfd, name);
	if (asprintf(&path, "%s/%s%s", game_dir, e->id, SNAP_MANIFEST_SUFFIX) < 0) {
		path = NULL;
		return;
	}
	if (manifest_read_header(path, &m, err, sizeof(err)) < 0)
		return;
	e->files = m->files;
	e->bytes = m->bytes;
	snprintf(e->tag, sizeof(e->tag), "%s", m->tag ? m->tag : "");
	manifest_free(m);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct job_archive *x = a, *y = b;

	if (x->time_usec != y->time_usec)
		return x->time_usec < y->time_usec ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Appends one slot to *v (grown by doubling); NULL on ENOMEM. */
static struct job_archive *
entries_grow(struct job_archive **v, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct job_archive *nv = reallocarray(*v, c, sizeof(**v));
		if (!nv)
			return NULL;
		*v = nv;
		*cap = c;
	}
	memset(&(*v)[*n], 0, sizeof(**v));
	return &(*v)[(*n)++];
}

int
store_list(const char *game_dir, struct job_archive **ret, size_t *ret_n)
{
	struct job_archive *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(game_dir);

	if (!d) {
		if (errno != ENOENT)
			return -errno;
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;
		char id[64];

		if (!name_to_id(de->d_name, SNAP_SUFFIX, id, sizeof(id)))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		struct job_archive *e = entries_grow(&v, &n, &cap);
		if (!e) {
			closedir(d);
			free(v);
			return -ENOMEM;
		}
		memcpy(e->id, id, sizeof(id));
		entry_fill(game_dir, dirfd(d), &st, e);
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), entry_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}

int
store_fill_shared(const char *game_dir, struct job_archive *v, size_t n)
{
	_cleanup_close_ int dfd = open(game_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	for (size_t i = 0; i < n; i++)
		v[i].shared = archive_shared(dfd, v[i].id, v[i].size);
	return 0;
}

void
store_sum_disk(const struct job_archive *v, size_t n, struct job_result *ret)
{
	ret->disk_known = true;
	ret->disk_archives = n;
	ret->disk_size = ret->disk_shared = 0;
	for (size_t i = 0; i < n; i++) {
		ret->disk_size += v[i].size;
		ret->disk_shared += v[i].shared;
	}
}

int
store_disk_usage(const char *game_dir, struct job_result *ret)
{
	_cleanup_free_ struct job_archive *v = NULL;
	size_t n = 0;
	int r = store_list(game_dir, &v, &n);

	if (r >= 0)
		r = store_fill_shared(game_dir, v, n);
	if (r >= 0)
		store_sum_disk(v, n, ret);
	return r;
}

int
store_latest(const char *game_dir, char *buf, size_t len)
{
	_cleanup_free_ struct job_archive *v = NULL;
	size_t n;
	int r = store_list(game_dir, &v, &n);

	if (r < 0)
		return r;
	if (n == 0)
		return -ENOENT;
	if (strlen(v[n - 1].id) >= len)
		return -ENOBUFS;
	strcpy(buf, v[n - 1].id);
	return 0;
}

bool
store_pinned(const char *game_dir, const char *id)
{
	char path[4096];

	return (size_t)snprintf(path, sizeof(path), "%s/%s%s", game_dir, id, SNAP_PIN_SUFFIX) <
		   sizeof(path) &&
	       access(path, F_OK) == 0;
}

int
store_pin(const char *game_dir, const char *id, bool pin)
{
	char name[128];
	int64_t t;
	_cleanup_close_ int dfd = open(game_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -errno;
	if (store_id_time(id, &t) < 0 || strlen(id) > 64)
		return -ENOENT;
	snprintf(name, sizeof(name), "%s%s", id, SNAP_SUFFIX);
	if (!exists_at(dfd, name))
		return -ENOENT;
	snprintf(name, sizeof(name), "%s%s", id, SNAP_PIN_SUFFIX);
	if (pin) {
		_cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || fsync(fd) < 0)
			return -errno;
	} else if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
		return -errno;
	}
	return fsync(dfd) < 0 ? -errno : 0;
}

/* What the sweep removes: temporaries, and an archive's manifest or pin when the archive is gone. */
static bool
is_leftover(int dfd, const char *name)
{
	static const char *const companions[] = {SNAP_MANIFEST_SUFFIX, SNAP_PIN_SUFFIX};
	char id[64], arch[128];

	if (ends_with(name, SNAP_TMP_SUFFIX))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(companions); i++) {
		if (!name_to_id(name, companions[i], id, sizeof(id)))
			continue;
		snprintf(arch, sizeof(arch), "%s%s", id, SNAP_SUFFIX);
		return !exists_at(dfd, arch);
	}
	return false;
}

int
store_sweep(const char *game_dir)
{
	struct dirent *de;
	bool removed = false;
	int r = 0;
	DIR *d = opendir(game_dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct stat st;

		/* Directories are never ours to remove; unlinkat on a symlink removes the link. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (!is_leftover(dirfd(d), de->d_name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
			r = -errno;
		else
			removed = true;
	}
	if (removed && fsync(dirfd(d)) < 0 && r == 0)
		r = -errno;
	closedir(d);
	return r;
}

enum bucket { B_HOUR, B_DAY, B_WEEK, B_MONTH };

/* The calendar bucket of a time, in local time; equal keys mean the same bucket. */
static long
bucket_key(int64_t usec, enum bucket b)
{
	time_t t = (time_t)(usec / (int64_t)USEC_PER_SEC);
	struct tm tm;
	char buf[16];

	localtime_r(&t, &tm);
	switch (b) {
	case B_HOUR:
		return ((tm.tm_year * 1000L) + tm.tm_yday) * 100 + tm.tm_hour;
	case B_DAY:
		return tm.tm_year * 1000L + tm.tm_yday;
	case B_WEEK:
		strftime(buf, sizeof(buf), "%G%V", &tm);
		return atol(buf);
	case B_MONTH:
	default:
		return tm.tm_year * 100L + tm.tm_mon;
	}
}

/* Keeps the newest archive of each of the count most recent buckets that have any. */
static void
keep_buckets(const struct job_archive *e, size_t n, unsigned count, enum bucket b, unsigned bit,
	     unsigned *why)
{
	bool have = false;
	long prev = 0;

	for (size_t i = n; i-- > 0 && count > 0;) {
		long k = bucket_key(e[i].time_usec, b);
		if (have && k == prev)
			continue;
		why[i] |= bit;
		count--;
		prev = k;
		have = true;
	}
}

void
store_retention(const struct job_archive *e, size_t n, const struct sk_keep *keep, unsigned *why)
{
	bool none = !keep->last && !keep->hourly && !keep->daily && !keep->weekly && !keep->monthly;

	for (size_t i = 0; i < n; i++)
		why[i] = (e[i].pinned ? KEEP_PINNED : 0) | (none ? KEEP_NO_POLICY : 0) |
			 (i + keep->last >= n ? KEEP_LAST : 0);
	if (n == 0)
		return;
	why[n - 1] |= KEEP_NEWEST;
	keep_buckets(e, n, keep->hourly, B_HOUR, KEEP_HOURLY, why);
	keep_buckets(e, n, keep->daily, B_DAY, KEEP_DAILY, why);
	keep_buckets(e, n, keep->weekly, B_WEEK, KEEP_WEEKLY, why);
	keep_buckets(e, n, keep->monthly, B_MONTH, KEEP_MONTHLY, why);
}

const char *
store_why_str(unsigned why, char *buf, size_t len)
{
	static const char *const names[] = {"last",   "hourly", "daily",     "weekly",		"monthly",
					    "pinned", "newest", "no policy", "another device's"};
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(why & (1u << i)) || o >= len)
			continue;
		int k = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", names[i]);
		o += k > 0 ? (size_t)k : 0;
	}
	return buf;
}

/* Removes one archive: the archive first, so a crash leaves a manifest the sweep removes. */
static int
remove_archive(int dfd, const char *id)
{
	static const char *const suffixes[] = {SNAP_SUFFIX, SNAP_MANIFEST_SUFFIX, SNAP_PIN_SUFFIX};
	char name[128];

	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		snprintf(name, sizeof(name), "%s%s", id, suffixes[i]);
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			return -errno;
	}
	return 0;
}

int
store_remove(const char *game_dir, const char *id)
{
	_cleanup_close_ int dfd = open(game_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t t;
	int r;

	if (dfd < 0)
		return -errno;
	if (strlen(id) > 64 || store_id_time(id, &t) < 0)
		return -ENOENT;
	r = remove_archive(dfd, id);
	return r < 0 ? r : fsync(dfd) < 0 ? -errno : 0;
}

/* Removes (unless dry_run) each archive retention lets go; the count or -errno. */
static int
prune_apply(int dfd, const struct job_archive *v, size_t n, bool dry_run)
{
	int removed = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].keep)
			continue;
		if (!dry_run) {
			int r = remove_archive(dfd, v[i].id);
			if (r < 0)
				return r;
		}
		removed++;
	}
	if (removed && !dry_run && fsync(dfd) < 0)
		return -errno;
	return removed;
}

int
store_prune(const char *game_dir, const struct sk_keep *keep, bool dry_run, struct job_archive **ret,
	    size_t *ret_n)
{
	_cleanup_free_ struct job_archive *v = NULL;
	_cleanup_free_ unsigned *why = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t n;
	int r = store_list(game_dir, &v, &n);

	if (r < 0)
		return r;
	why = calloc(n ? n : 1, sizeof(*why));
	if (!why)
		return -ENOMEM;
	store_retention(v, n, keep, why);
	for (size_t i = 0; i < n; i++)
		v[i].keep = why[i];
	dfd = n ? open(game_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -EBADF;
	r = n && dfd < 0 ? -errno : prune_apply(dfd, v, n, dry_run);
	if (r >= 0 && ret) {
		*ret = TAKE_PTR(v);
		*ret_n = n;
	}
	return r;
}

/* The snapshot engine, part three: incremental snapshots. The archive is cut into groups of
 * whole gzip members holding whole tar entries, recorded in the manifest: a file of at least
 * SNAP_GROUP bytes is a group of its own, smaller entries are gathered into groups of about
 * SNAP_GROUP bytes of tar, so a changed save file drags at most about SNAP_GROUP bytes of
 * unchanged neighbours to be read and compressed again. The next snapshot takes a group of the
 * newest archive as it is (cloned by FICLONERANGE where the archive folder shares extents, else
 * copied), without reading its files, when every entry it holds is unchanged: same type, mode,
 * size, mtime and ctime in nanoseconds, device and inode. ctime moves on every write, chmod and
 * chown and cannot be set back, so a file rewritten within the same mtime tick and set back by
 * utimensat is still caught; the header bytes inside the group (name, mode, owner, mtime, size,
 * link target) are then exactly those a fresh write would give.
 *
 * The taken bytes pass through the new archive's SHA-256 (a clone is read back) and are
 * checked against the group's CRC-32 from the manifest (its SHA-256 for a manifest without
 * CRC-32s); a group that differs is written afresh from the files, so a damaged archive is
 * never propagated. Whatever does not go as planned (an entry of a taken group that the walk
 * then finds changed, or never finds) voids the attempt, which runs again without reuse. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>

#include "gz.h"
#include "manifest.h"
#include "snapshot_int.h"
#include "util.h"

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

bool
snap_entry_matches(const struct mf_entry *e, const struct stat *st)
{
	int t = S_ISREG(st->st_mode)   ? MF_FILE
		: S_ISDIR(st->st_mode) ? MF_DIR
		: S_ISLNK(st->st_mode) ? MF_SYMLINK
				       : 0;

	return ((int)e->type == t || (t == MF_FILE && e->type == MF_HARDLINK)) &&
	       e->mode == (st->st_mode & 07777) && e->mtime_ns == ts_ns(&st->st_mtim) &&
	       e->ctime_ns == ts_ns(&st->st_ctim) && e->ino == st->st_ino && e->dev == st->st_dev &&
	       (t != MF_FILE || e->size == (uint64_t)st->st_size);
}

/* Loading the newest archive's manifest (in archive order) and opening the archive. */

static int
member_cmp(const void *a, const void *b, void *base)
{
	const struct mf_member *x = a, *y = b;
	const struct manifest *m = base;

	return strcmp(m->entries[x->first].path, m->entries[y->first].path);
}

/* True when the archive is the one the manifest describes, as far as its size tells. */
static bool
base_usable(const struct manifest *m, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != m->archive_size)
		return false;
	for (size_t i = 0; i < m->n_members; i++)
		if (m->members[i].count == 0)
			return false;
	return true;
}

void
snap_load_base(struct snap *s)
{
	char name[64];

	/* The index by path served the counting pass; it points into base, which may go now. */
	free(s->prev);
	s->prev = NULL;
	if (!s->base)
		return;
	snprintf(name, sizeof(name), "%s" SNAP_SUFFIX, s->latest);
	s->base_fd = openat(s->game_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (s->base_fd < 0 || s->base->n_members == 0 || !base_usable(s->base, s->base_fd)) {
		manifest_free(s->base);
		s->base = NULL;
		s->base_fd = safe_close(s->base_fd);
		return;
	}
	/* Members sorted by their first entry's path, to find the one a walked entry starts. */
	s->base_sorted = malloc(s->base->n_members * sizeof(*s->base_sorted));
	if (!s->base_sorted)
		return;
	memcpy(s->base_sorted, s->base->members, s->base->n_members * sizeof(*s->base_sorted));
	/* qsort_r: snapshots of several games may sort at once, on several threads. */
	qsort_r(s->base_sorted, s->base->n_members, sizeof(*s->base_sorted), member_cmp, s->base);
}

/* Whether the archive folder shares extents: one block cloned between two unnamed files. */
size_t
snap_reflink_block(struct snap *s)
{
	unsigned char block[4096] = {0};
	struct file_clone_range fcr = {.src_length = sizeof(block)};
	_cleanup_close_ int a = openat(s->game_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	_cleanup_close_ int b = openat(s->game_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	size_t blk = (size_t)s->game_st.st_blksize;

	if (a < 0 || b < 0 || blk < sizeof(block) || blk > ((size_t)64 << 10) || blk % sizeof(block))
		return 0;
	if (write_all(a, block, sizeof(block)) < 0)
		return 0;
	fcr.src_fd = a;
	return ioctl(b, FICLONERANGE, &fcr) == 0 ? blk : 0;
}

/* Groups: the one being written afresh is ended, and its entries recorded. */

static int
add_group(struct snap *s, uint64_t first, uint64_t count)
{
	struct mf_member *g;

	if (array_grow(&s->groups, &s->cap_groups, s->n_groups, sizeof(*s->groups)) < 0)
		return snap_fail(s, -ENOMEM, "out of memory");
	g = &s->groups[s->n_groups++];
	*g = (struct mf_member){.first = first, .count = count};
	return 0;
}

int
snap_end_group(struct snap *s)
{
	int r;

	if (s->group_ulen == 0)
		return 0;
	s->group_ulen = 0;
	if ((r = gz_group_end(s->gz)) < 0)
		return snap_fail(s, r, "cannot write '%s/%s': %s", s->spec->game_dir, s->fin_tar,
				 strerror(-r));
	r = add_group(s, s->group_first, s->mf->n_entries - s->group_first);
	s->group_first = s->mf->n_entries;
	return r;
}

int
snap_group_before(struct snap *s, const struct stat *st)
{
	/* A large file alone in its group: a change to a small neighbour never drags it to be
	 * read and compressed again, nor does its change drag the neighbours. */
	return S_ISREG(st->st_mode) && (uint64_t)st->st_size >= SNAP_GROUP ? snap_end_group(s) : 0;
}

int
snap_entry_done(struct snap *s)
{
	if (archive_write_finish_entry(s->ar) != ARCHIVE_OK)
		return snap_fail(s, -EIO, "cannot add '%s' to the archive: %s", s->path,
				 archive_error_string(s->ar) ? archive_error_string(s->ar) : "unknown error");
	return s->group_ulen >= SNAP_GROUP ? snap_end_group(s) : 0;
}

int
snap_groups_to_manifest(struct snap *s)
{
	size_t n;
	const struct gz_group *gg = gz_groups(s->gz, &n);

	/* Each group end made exactly one record on both sides; if not, record none. */
	if (n != s->n_groups)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct mf_member mb = s->groups[i];
		if (mb.count == 0)
			return 0;
		mb.offset = gg[i].offset;
		mb.length = gg[i].length;
		memcpy(mb.sha256, gg[i].sha256, sizeof(mb.sha256));
		mb.crc32 = gg[i].crc32;
		mb.has_crc32 = gg[i].has_crc32;
		if (manifest_add_member(s->mf, &mb) < 0)
			return snap_fail(s, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Reuse. */

/* Voids the attempt: it runs again, writing everything afresh. */
static int
reuse_went_wrong(struct snap *s, const char *path)
{
	s->unstable = true;
	s->no_reuse = true;
	return snap_fail(s, -EAGAIN, "'%s' changed while the snapshot was taken", path);
}

/* True when every entry of the group is still what the manifest says, looked up by path. */
static bool
group_unchanged(const struct snap *s, const struct mf_member *g)
{
	for (uint64_t i = g->first; i < g->first + g->count; i++) {
		const struct mf_entry *e = &s->base->entries[i];
		struct stat st;
		if (e->type == MF_HARDLINK || fstatat(s->save_fd, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return false;
		if (!snap_entry_matches(e, &st) || (S_ISREG(st.st_mode) && st.st_nlink > 1))
			return false;
	}
	return true;
}

static int
take_entries(struct snap *s, const struct mf_member *g)
{
	for (uint64_t i = g->first; i < g->first + g->count; i++) {
		const struct mf_entry *e = &s->base->entries[i];
		int r = manifest_add(s->mf, e);
		if (r < 0)
			return snap_fail(s, r, "out of memory");
		if (e->type == MF_FILE) {
			s->res->files_reused++;
			s->prog.files_done++;
			s->prog.bytes_done += e->size;
		}
	}
	return 0;
}

/* Takes group g whole; 1 when taken, 0 when it must be written afresh, or an error. */
static int
take_group(struct snap *s, const struct mf_member *g)
{
	struct gz_group from = {
	    .offset = g->offset, .length = g->length, .crc32 = g->crc32, .has_crc32 = g->has_crc32};
	int r;

	memcpy(from.sha256, g->sha256, sizeof(from.sha256));
	if ((r = snap_end_group(s)) < 0)
		return r;
	r = gz_copy(s->gz, s->base_fd, &from, NULL);
	if (r == -EBADMSG) {
		s->res->groups_damaged++;
		return 0;
	}
	if (r == -ECANCELED)
		return snap_fail(s, r, "snapshot cancelled");
	if (r < 0)
		return snap_fail(s, r, "cannot write '%s/%s': %s", s->spec->game_dir, s->fin_tar,
				 strerror(-r));
	if ((r = add_group(s, s->mf->n_entries, g->count)) < 0 || (r = take_entries(s, g)) < 0)
		return r;
	s->group_first = s->mf->n_entries;
	s->take_next = g->first + 1;
	s->take = s->take_next < g->first + g->count ? g : NULL;
	return 1;
}

/* An entry the walk visits while a taken group still expects some: 1 when it is the next of
 * them, 0 when it is new (written afresh after the group), or an error. */
static int
follow_take(struct snap *s, const struct stat *st)
{
	const struct mf_member *g = s->take;

	for (uint64_t i = s->take_next; i < g->first + g->count; i++) {
		const struct mf_entry *e = &s->base->entries[i];
		if (strcmp(e->path, s->path) != 0)
			continue;
		if (i != s->take_next || !snap_entry_matches(e, st))
			return reuse_went_wrong(s, s->path);
		if (++s->take_next == g->first + g->count)
			s->take = NULL;
		return 1;
	}
	return 0;
}

/* The member of the base whose first entry is path; NULL if none. */
static const struct mf_member *
find_member(const struct snap *s, const char *path)
{
	size_t lo = 0, hi = s->base->n_members;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, s->base->entries[s->base_sorted[mid].first].path);
		if (c == 0)
			return &s->base_sorted[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
snap_reuse_entry(struct snap *s, const struct stat *st)
{
	const struct mf_member *g;

	if (!s->base || s->no_reuse || !s->base_sorted)
		return 0;
	if (s->take)
		return follow_take(s, st);
	g = find_member(s, s->path);
	if (!g || !snap_entry_matches(&s->base->entries[g->first], st) || !group_unchanged(s, g))
		return 0;
	return take_group(s, g);
}

int
snap_reuse_end(struct snap *s)
{
	return s->take ? reuse_went_wrong(s, s->base->entries[s->take_next].path) : 0;
}

/* Writing the staging tree of a restore. store_walk hands over each entry once it passed every
 * check; it is created here with mkdirat, openat, symlinkat and linkat relative to the fd of
 * its folder. That fd comes from a cursor that walks down from the staging folder one
 * component at a time with O_NOFOLLOW (and back up through "..", checked against the folder it
 * came from), so no component of the staged tree is ever a followed symlink, whatever the
 * archive's symlinks point at. A symlink is data: created as it is, never followed.
 *
 * Folders are made 0700 and get their own mode, owner and times only at the end, deepest
 * first, once nothing more is written into them. A block of zeros is not written but skipped,
 * so a sparse save comes back sparse. */
#include "restore_int.h"

#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "snapshot.h"
#include "store.h"
#include "tree.h"
#include "util.h"

#define HOLE_BLOCK 4096

/* A folder of the staged tree, as a path and an fd opened component by component. */
struct cursor {
	int root; /* the staging folder (not owned) */
	int fd;	  /* the folder at path */
	char *path;
	size_t depth;
	struct stat *ids; /* ids[d]: the folder at depth d (0: the root) */
	size_t cap;
	bool make; /* create missing folders (0700) on the way */
};

static void
cursor_free(struct cursor *c)
{
	safe_close(c->fd);
	free(c->path);
	free(c->ids);
}

static int
cursor_init(struct cursor *c, int root, bool make)
{
	*c = (struct cursor){.root = root, .fd = -EBADF, .make = make};
	c->fd = fcntl(root, F_DUPFD_CLOEXEC, 3);
	c->path = strdup("");
	c->ids = malloc(sizeof(*c->ids));
	if (c->fd < 0 || !c->path || !c->ids)
		return c->fd < 0 ? -errno : -ENOMEM;
	c->cap = 1;
	return fstat(c->fd, &c->ids[0]) < 0 ? -errno : 0;
}

/* Replaces the cursor's fd by fd. */
static void
cursor_move(struct cursor *c, int fd)
{
	safe_close(c->fd);
	c->fd = fd;
}

static int
cursor_up(struct cursor *c)
{
	int fd = openat(c->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	char *slash;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != c->ids[c->depth - 1].st_dev ||
	    st.st_ino != c->ids[c->depth - 1].st_ino) {
		safe_close(fd);
		return -ESTALE;
	}
	cursor_move(c, fd);
	c->depth--;
	slash = strrchr(c->path, '/');
	*(slash ? slash : c->path) = '\0';
	return 0;
}

/* Enters the folder name (k bytes) below the cursor, never through a symlink. */
static int
cursor_down(struct cursor *c, const char *name, size_t k)
{
	_cleanup_free_ char *comp = strndup(name, k);
	size_t len = strlen(c->path);
	struct stat st;
	char *p;
	int fd;

	if (!comp)
		return -ENOMEM;
	fd = openat(c->fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && c->make && mkdirat(c->fd, comp, 0700) == 0)
		fd = openat(c->fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		safe_close(fd);
		return -ENOTDIR;
	}
	if (c->depth + 1 == c->cap) {
		struct stat *v = reallocarray(c->ids, c->cap * 2, sizeof(*v));
		if (!v) {
			safe_close(fd);
			return -ENOMEM;
		}
		c->ids = v;
		c->cap *= 2;
	}
	if (!(p = realloc(c->path, len + k + 2))) {
		safe_close(fd);
		return -ENOMEM;
	}
	c->path = p;
	snprintf(p + len, k + 2, "%s%s", len ? "/" : "", comp);
	c->ids[++c->depth] = st;
	cursor_move(c, fd);
	return 0;
}

/* How many leading components of dir the cursor's path shares, and their length in bytes. */
static size_t
shared_depth(const char *cur, const char *dir, size_t *ret_len)
{
	size_t i = 0, depth = 0;

	*ret_len = 0;
	for (;;) {
		bool ce = cur[i] == '\0' || cur[i] == '/', de = dir[i] == '\0' || dir[i] == '/';
		if (ce || de) {
			if (!(ce && de) || i == 0)
				return depth;
			depth++;
			*ret_len = i;
			if (cur[i] == '\0' || dir[i] == '\0')
				return depth;
			i++;
			continue;
		}
		if (cur[i] != dir[i])
			return depth;
		i++;
	}
}

/* Moves the cursor to the folder dir ("" for the root), the shortest way. */
static int
cursor_goto(struct cursor *c, const char *dir)
{
	size_t len, shared = shared_depth(c->path, dir, &len);
	int r = 0;

	if (c->depth - shared > shared) { /* nearer from the root */
		int fd = fcntl(c->root, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		cursor_move(c, fd);
		c->depth = shared = len = 0;
		c->path[0] = '\0';
	}
	while (r >= 0 && c->depth > shared)
		r = cursor_up(c);
	for (const char *p = dir + len; r >= 0 && *p;) {
		p += strspn(p, "/");
		size_t k = strcspn(p, "/");
		if (k > 0)
			r = cursor_down(c, p, k);
		p += k;
	}
	return r;
}

/* Splits path into its folder (malloc'd into *ret_dir) and its last component. */
static const char *
split_path(const char *path, char **ret_dir)
{
	const char *slash = strrchr(path, '/');

	*ret_dir = slash ? strndup(path, (size_t)(slash - path)) : strdup("");
	return slash ? slash + 1 : path;
}

struct extract {
	const struct extract_opts *o;
	struct cursor cur;
	const struct mf_entry *me; /* the entry being written */
	int fd;			   /* its file */
	uint64_t off;
	const struct mf_entry **dirs; /* folders, for their modes and times at the end */
	size_t n_dirs, cap_dirs;
	char name[96]; /* the archive, for messages */
	struct job_result *ret;
};

static int
ex_fail(struct extract *x, const char *path, int r)
{
	_cleanup_free_ char *msg = NULL;

	if (asprintf(&msg, "archive '%s': cannot write '%s' into the staging folder: %s", x->name, path,
		     strerror(-r)) < 0)
		msg = NULL;
	msg_fit(x->ret->message, sizeof(x->ret->message), msg ? msg : "out of memory");
	return x->ret->err = r;
}

static struct timespec
ts_of(int64_t ns)
{
	return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

static int
add_dir(struct extract *x, const struct mf_entry *me)
{
	if (x->n_dirs == x->cap_dirs) {
		size_t cap = x->cap_dirs ? x->cap_dirs * 2 : 64;
		const struct mf_entry **v = reallocarray(x->dirs, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		x->dirs = v;
		x->cap_dirs = cap;
	}
	x->dirs[x->n_dirs++] = me;
	return 0;
}

/* A symlink as it is, with its own times and owner. */
static int
make_symlink(struct extract *x, const char *name, const struct mf_entry *me)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, ts_of(me->mtime_ns)};

	if (symlinkat(me->target, x->cur.fd, name) < 0)
		return -errno;
	if (x->o->chown && fchownat(x->cur.fd, name, x->o->uid, x->o->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return utimensat(x->cur.fd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* A second name of an earlier file: its folder is reached by a cursor of its own. */
static int
make_hardlink(struct extract *x, const char *name, const struct mf_entry *me)
{
	_cleanup_(cursor_free) struct cursor t = {.fd = -EBADF};
	_cleanup_free_ char *dir = NULL;
	const char *base = split_path(me->target, &dir);
	int r;

	if (!dir)
		return -ENOMEM;
	if ((r = cursor_init(&t, x->cur.root, false)) < 0 || (r = cursor_goto(&t, dir)) < 0)
		return r;
	return linkat(t.fd, base, x->cur.fd, name, 0) < 0 ? -errno : 0;
}

static int
ex_begin(struct archive_entry *ae, const struct mf_entry *me, void *data)
{
	struct extract *x = data;
	_cleanup_free_ char *dir = NULL;
	const char *name = split_path(me->path, &dir);
	int r;

	(void)ae;
	x->me = me;
	if (!dir)
		return ex_fail(x, me->path, -ENOMEM);
	if ((r = cursor_goto(&x->cur, dir)) >= 0) {
		switch (me->type) {
		case MF_DIR:
			r = mkdirat(x->cur.fd, name, 0700) < 0 ? -errno : add_dir(x, me);
			break;
		case MF_FILE:
			x->off = 0;
			x->fd = openat(x->cur.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				       0600);
			r = x->fd < 0 ? -errno : 0;
			break;
		case MF_SYMLINK:
			r = make_symlink(x, name, me);
			break;
		case MF_HARDLINK:
			r = make_hardlink(x, name, me);
			break;
		}
	}
	return r < 0 ? ex_fail(x, me->path, r) : 0;
}

static bool
all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int
pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* Writes a block of the file, leaving its runs of zero blocks as holes. */
static int
ex_block(const void *buf, size_t len, void *data)
{
	struct extract *x = data;
	const unsigned char *p = buf;
	size_t i = 0;

	while (i < len) {
		size_t k = len - i < HOLE_BLOCK ? len - i : HOLE_BLOCK, j = i + k;
		bool zero = all_zero(p + i, k);
		int r;

		while (j < len) {
			size_t m = len - j < HOLE_BLOCK ? len - j : HOLE_BLOCK;
			if (all_zero(p + j, m) != zero)
				break;
			j += m;
		}
		if (!zero && (r = pwrite_all(x->fd, p + i, j - i, x->off)) < 0)
			return ex_fail(x, x->me->path, r);
		x->off += j - i;
		i = j;
	}
	return 0;
}

/* A file's end: its size (a trailing hole), mode, owner and times. */
static int
ex_end(void *data)
{
	struct extract *x = data;
	const struct mf_entry *me = x->me;
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, ts_of(me->mtime_ns)};
	int r = 0;

	if (me->type != MF_FILE)
		return 0;
	if (ftruncate(x->fd, (off_t)me->size) < 0 || fchmod(x->fd, me->mode & 0777) < 0 ||
	    (x->o->chown && fchown(x->fd, x->o->uid, x->o->gid) < 0) || futimens(x->fd, ts) < 0)
		r = -errno;
	x->fd = safe_close(x->fd);
	return r < 0 ? ex_fail(x, me->path, r) : 0;
}

static int
dir_cmp_deepest_first(const void *a, const void *b)
{
	return -strcmp((*(const struct mf_entry *const *)a)->path,
		       (*(const struct mf_entry *const *)b)->path);
}

/* Gives each folder its mode, owner and times, deepest first: a folder's descendants sort
 * after it, so all of them are done (and its search bit still ours) before it. */
static int
finish_dirs(struct extract *x)
{
	if (x->n_dirs > 1)
		qsort(x->dirs, x->n_dirs, sizeof(*x->dirs), dir_cmp_deepest_first);
	for (size_t i = 0; i < x->n_dirs; i++) {
		const struct mf_entry *me = x->dirs[i];
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, ts_of(me->mtime_ns)};
		_cleanup_free_ char *dir = NULL;
		_cleanup_close_ int fd = -EBADF;
		const char *name = split_path(me->path, &dir);
		int r = dir ? cursor_goto(&x->cur, dir) : -ENOMEM;

		if (r >= 0 &&
		    (fd = openat(x->cur.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			r = -errno;
		if (r >= 0 && (fchmod(fd, me->mode & 0777) < 0 ||
			       (x->o->chown && fchown(fd, x->o->uid, x->o->gid) < 0) || futimens(fd, ts) < 0))
			r = -errno;
		if (r < 0)
			return ex_fail(x, me->path, r);
	}
	return 0;
}

/* Keeping what no archive holds: FIFOs, sockets and devices of the live folder. */

struct keep {
	struct cursor cur; /* in the staging tree, making missing folders */
	struct job_result *ret;
};

static int
keep_visit(void *ctx, int dirfd, const char *name, const char *path, const struct stat *st)
{
	struct keep *k = ctx;
	_cleanup_free_ char *dir = NULL;
	int r;

	if (restore_archivable(st->st_mode))
		return S_ISDIR(st->st_mode);
	split_path(path, &dir);
	if (!dir)
		return -ENOMEM;
	r = cursor_goto(&k->cur, dir);
	if (r >= 0 && linkat(dirfd, name, k->cur.fd, name, 0) < 0)
		r = -errno;
	/* The archive has this name, or something other than a folder on the way: it wins. */
	if (r == -EEXIST || r == -ENOTDIR || r == -ELOOP)
		return 0;
	if (r < 0) {
		_cleanup_free_ char *msg = NULL;
		if (asprintf(&msg, "cannot keep '%s' (no archive holds a FIFO, socket or device): %s", path,
			     strerror(-r)) < 0)
			msg = NULL;
		msg_fit(k->ret->message, sizeof(k->ret->message), msg ? msg : "out of memory");
		return k->ret->err = r;
	}
	return 0;
}

/* A part of the live folder that cannot be read holds nothing this can keep. */
static int
keep_error(void *ctx, const char *path, int err)
{
	(void)ctx;
	(void)path;
	(void)err;
	return 0;
}

/* Gives the staging tree a second name of every FIFO, socket and device of the live folder
 * live_fd at the same path (see restore_extract). */
static int
keep_special(int live_fd, int staging_fd, struct job_result *ret)
{
	static const struct tree_ops ops = {.visit = keep_visit, .error = keep_error};
	struct keep k = {.ret = ret};
	int r = cursor_init(&k.cur, staging_fd, true);

	if (r >= 0)
		r = tree_walk(live_fd, &ops, &k);
	cursor_free(&k.cur);
	if (r < 0 && !ret->message[0]) {
		snprintf(ret->message, sizeof(ret->message),
			 "cannot keep the FIFOs and sockets of the save folder: %s", strerror(-r));
		ret->err = r;
	}
	return r;
}

int
restore_extract(int staging_fd, int live_fd, const char *game_dir, const struct manifest *m,
		const struct extract_opts *o, const struct job_hooks *hooks, struct job_result *ret)
{
	struct extract x = {.o = o, .fd = -EBADF, .ret = ret};
	const struct store_sink sink = {.begin = ex_begin, .block = ex_block, .end = ex_end, .data = &x};
	int r;

	snprintf(x.name, sizeof(x.name), "%s%s", m->id, SNAP_SUFFIX);
	r = cursor_init(&x.cur, staging_fd, false);
	if (r < 0)
		r = ex_fail(&x, "", r);
	else if ((r = store_walk(game_dir, m, &sink, hooks, ret)) >= 0 &&
		 (live_fd < 0 || (r = keep_special(live_fd, staging_fd, ret)) >= 0))
		r = finish_dirs(&x); /* last: linking the FIFOs in moved their folders' times */
	safe_close(x.fd);
	cursor_free(&x.cur);
	free(x.dirs);
	return r;
}

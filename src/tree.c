/* The iterative tree walk. Each folder on the way down is a frame holding its sorted names
 * and its identity; only the deepest folder's fd is open. Going back up opens ".." and checks
 * that it is the folder recorded on the way down, so a folder moved during the walk stops it
 * (-ESTALE) rather than leading it somewhere else. */
#include "tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>

#include "util.h"

struct frame {
	char **names;
	size_t n, next;
	size_t path_len; /* of this folder's path */
	dev_t dev;
	ino_t ino;
};

struct walker {
	const struct tree_ops *ops;
	void *ctx;
	int fd; /* the deepest folder */
	struct frame *frames;
	size_t depth, cap;
	char *path;
	size_t path_len, path_cap;
};

static void
frame_free(struct frame *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->names[i]);
	free(f->names);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
names_add(struct frame *f, size_t *cap, const char *name)
{
	if (f->n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **v = reallocarray(f->names, c, sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->names = v;
		*cap = c;
	}
	if (!(f->names[f->n] = strdup(name)))
		return -ENOMEM;
	f->n++;
	return 0;
}

/* Reads the sorted names of the folder fd (not closed) into f. */
static int
read_names(int fd, struct frame *f)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	size_t cap = 0;
	int r = 0;

	if (!d) {
		r = -errno;
		safe_close(dfd);
		return r;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			r = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    (r = names_add(f, &cap, de->d_name)) < 0)
			break;
	}
	closedir(d);
	if (f->n > 1)
		qsort(f->names, f->n, sizeof(*f->names), name_cmp);
	return r;
}

static int
path_set(struct walker *w, size_t len, const char *name)
{
	size_t n = strlen(name), need = len + 1 + n + 1;

	if (need > w->path_cap) {
		char *p = realloc(w->path, need * 2);
		if (!p)
			return -ENOMEM;
		w->path = p;
		w->path_cap = need * 2;
	}
	if (len > 0)
		w->path[len++] = '/';
	memcpy(w->path + len, name, n + 1);
	w->path_len = len + n;
	return 0;
}

static void
path_cut(struct walker *w, size_t len)
{
	w->path_len = len;
	w->path[len] = '\0';
}

static int
walk_error(struct walker *w, int err)
{
	return w->ops->error ? w->ops->error(w->ctx, w->path, err) : err;
}

/* Makes fd (a folder, taken over) the new deepest frame. */
static int
push(struct walker *w, int fd)
{
	struct frame f = {.path_len = w->path_len};
	struct stat st;
	int r;

	if (w->depth == w->cap) {
		size_t c = w->cap ? w->cap * 2 : 16;
		struct frame *v = reallocarray(w->frames, c, sizeof(*v));
		if (!v) {
			safe_close(fd);
			return -ENOMEM;
		}
		w->frames = v;
		w->cap = c;
	}
	r = fstat(fd, &st) < 0 ? -errno : read_names(fd, &f);
	if (r < 0) {
		frame_free(&f);
		safe_close(fd);
		return walk_error(w, r);
	}
	f.dev = st.st_dev;
	f.ino = st.st_ino;
	w->frames[w->depth++] = f;
	safe_close(w->fd);
	w->fd = fd;
	return 0;
}

/* Opens the folder name under the deepest one and walks into it; 0 when it vanished or was
 * replaced by something else since st was taken. */
static int
descend(struct walker *w, const char *name, const struct stat *st)
{
	int fd = w->ops->open_dir ? w->ops->open_dir(w->ctx, w->fd, name)
				  : openat(w->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat now;

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : walk_error(w, -errno);
	if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		safe_close(fd);
		return 0;
	}
	return push(w, fd);
}

/* Leaves the deepest folder for its parent, checking the parent is the one it came from. */
static int
ascend(struct walker *w)
{
	struct frame *parent = &w->frames[w->depth - 2];
	int fd = openat(w->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
		int r = fd < 0 ? -errno : -ESTALE, k;
		safe_close(fd);
		path_cut(w, parent->path_len);
		k = walk_error(w, r);
		return k < 0 ? k : r;
	}
	frame_free(&w->frames[--w->depth]);
	safe_close(w->fd);
	w->fd = fd;
	return 0;
}

/* The folder whose names are all visited: back to its parent, then its leave callback. */
static int
finish_folder(struct walker *w)
{
	size_t len = w->frames[w->depth - 1].path_len;
	struct frame *parent = &w->frames[w->depth - 2];
	const char *name = parent->names[parent->next - 1];
	int r = ascend(w);

	if (r < 0)
		return r;
	path_cut(w, len);
	if (w->ops->leave && (r = w->ops->leave(w->ctx, w->fd, name, w->path)) < 0)
		return r;
	path_cut(w, parent->path_len);
	return 0;
}

/* Visits the next name of the deepest folder. */
static int
step(struct walker *w)
{
	struct frame *f = &w->frames[w->depth - 1];
	const char *name = f->names[f->next++];
	size_t depth = w->depth, len = f->path_len;
	struct stat st;
	int r = path_set(w, len, name);

	if (r < 0)
		return r;
	if (fstatat(w->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = errno == ENOENT ? 0 : walk_error(w, -errno);
	else if ((r = w->ops->visit(w->ctx, w->fd, name, w->path, &st)) > 0)
		r = S_ISDIR(st.st_mode) ? descend(w, name, &st) : 0;
	/* Walked into a folder: its path stays until it is finished. */
	if (r >= 0 && w->depth == depth)
		path_cut(w, len);
	return r;
}

int
tree_walk(int rootfd, const struct tree_ops *ops, void *ctx)
{
	struct walker w = {.ops = ops, .ctx = ctx, .fd = -EBADF};
	int r = path_set(&w, 0, "");
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		r = -errno;
	if (r >= 0)
		r = push(&w, fd);
	else
		safe_close(fd);
	while (r >= 0 && w.depth > 0) {
		struct frame *f = &w.frames[w.depth - 1];
		if (f->next < f->n)
			r = step(&w);
		else if (w.depth > 1)
			r = finish_folder(&w);
		else
			break;
	}
	while (w.depth > 0)
		frame_free(&w.frames[--w.depth]);
	free(w.frames);
	free(w.path);
	safe_close(w.fd);
	return r < 0 ? r : 0;
}

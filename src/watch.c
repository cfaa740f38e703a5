/* Change detection with inotify: one instance per save folder, a watch per sub-folder. Like the
 * snapshot, it follows the save folder's own path when that is a symlink, and no other. */
#include "watch.h"

#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "loop.h"
#include "tree.h"
#include "util.h"

#define WATCH_MASK                                                                                           \
	(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |      \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK | IN_ONLYDIR)

struct watch {
	struct loop *loop;
	int fd;
	int root_wd;
	bool reliable;
	watch_fn *fn;
	void *data;
};

/* Watches the folder open as fd through its /proc name, so that no path length limits how deep
 * a watched folder lies. fd was opened without following a symlink, and the /proc name is a link
 * to it that inotify must follow. */
static int
watch_fd(struct watch *w, int fd)
{
	char proc[64];
	int wd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(w->fd, proc, WATCH_MASK);
	if (wd < 0)
		return -errno;
	if (w->root_wd < 0)
		w->root_wd = wd;
	return 0;
}

/* A folder below the save folder: watched, then walked into. Symlinks inside the save folder
 * are data and are not followed (tree_walk reports them as links). */
static int
watch_visit(void *ctx, int dirfd, const char *name, const char *path, const struct stat *st)
{
	struct watch *w = ctx;
	int fd, r;

	(void)path;
	if (!S_ISDIR(st->st_mode))
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0; /* vanished or unreadable: the snapshot will say so */
	r = watch_fd(w, fd);
	close(fd);
	return r < 0 ? r : 1;
}

/* A folder that cannot be read is left unwatched, as the snapshot will name it. */
static int
watch_skip(void *ctx, const char *path, int err)
{
	(void)ctx;
	(void)path;
	(void)err;
	return 0;
}

/* Adds a watch on the folder open as dirfd and every folder below it, without recursion. */
static int
watch_tree(struct watch *w, int dirfd)
{
	static const struct tree_ops ops = {.visit = watch_visit, .error = watch_skip};
	int r = watch_fd(w, dirfd);

	return r < 0 ? r : tree_walk(dirfd, &ops, w);
}

static void
on_events(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct watch *w = data;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	(void)loop;
	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			changed = true;
			if (ev->mask & IN_Q_OVERFLOW)
				w->reliable = false;
			if (ev->wd == w->root_wd && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)))
				w->reliable = false;
			/* A new folder: watch it and whatever was created in it before the watch. */
			if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR) && w->reliable)
				w->reliable = false;
		}
	}
	if (changed)
		w->fn(w, w->data);
}

int
watch_new(struct loop *loop, const char *path, watch_fn *fn, void *data, struct watch **ret)
{
	struct watch *w = calloc(1, sizeof(*w));
	int dirfd, r;

	if (!w)
		return -ENOMEM;
	*w = (struct watch){.loop = loop, .root_wd = -1, .reliable = true, .fn = fn, .data = data};
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		goto fail_errno;
	/* The save folder itself may be a symlink (saves kept on another drive) and is followed. */
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		goto fail_errno;
	r = watch_tree(w, dirfd);
	close(dirfd);
	if (r == 0)
		r = loop_add_fd(loop, w->fd, EPOLLIN, on_events, w);
	if (r < 0)
		goto fail;
	*ret = w;
	return 0;
fail_errno:
	r = -errno;
fail:
	safe_close(w->fd);
	free(w);
	return r;
}

bool
watch_reliable(const struct watch *w)
{
	return w->reliable;
}

void
watch_free(struct watch *w)
{
	if (!w)
		return;
	loop_del_fd(w->loop, w->fd);
	safe_close(w->fd);
	free(w);
}

/* Change detection with inotify: one instance per save folder, a watch per sub-folder. Like the
 * snapshot, it follows the save folder's own path when that is a symlink, and no other. */
#include "watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "loop.h"
#include "util.h"

#define WATCH_MASK                                                                                   \
	(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_ONLYDIR)

struct watch {
	struct loop *loop;
	int fd;
	int root_wd;
	bool reliable;
	watch_fn *fn;
	void *data;
};

/* Adds a watch on dir and every folder below it. The save folder itself may be a symlink (saves
 * kept on another drive) and is followed; symlinks inside it are data and are not. */
static int
watch_tree(struct watch *w, int dirfd, const char *path)
{
	DIR *d;
	struct dirent *de;
	int r = 0, wd;

	wd = inotify_add_watch(w->fd, path, w->root_wd < 0 ? WATCH_MASK & ~IN_DONT_FOLLOW : WATCH_MASK);
	if (wd < 0) {
		r = -errno;
		close(dirfd);
		return r;
	}
	if (w->root_wd < 0)
		w->root_wd = wd;
	d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return -errno;
	}
	while (r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *sub = NULL;
		int fd;

		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		sub = path_join(path, de->d_name);
		if (fd < 0 || !sub) {
			safe_close(fd);
			continue; /* vanished or unreadable: the snapshot will say so */
		}
		r = watch_tree(w, fd, sub);
	}
	closedir(d);
	return r;
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
	*w = (struct watch){ .loop = loop, .root_wd = -1, .reliable = true, .fn = fn, .data = data };
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		goto fail_errno;
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		goto fail_errno;
	r = watch_tree(w, dirfd, path); /* takes dirfd */
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

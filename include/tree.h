/* An iterative walk over a folder tree through directory fds: no recursion and no path
 * buffer of fixed size, so a tree of any depth is walked on a small stack (the coroutine
 * core's) with one directory fd open at a time. Symlinks are never followed. */
#ifndef SK_TREE_H
#define SK_TREE_H

#include <sys/stat.h>

struct tree_ops {
	/* Called for every entry below the root, names sorted bytewise within a folder, with
	 * dirfd its folder, name its name there and path its path relative to the root.
	 * Returns > 0 to walk into a directory, 0 not to, < 0 to stop the walk with that error. */
	int (*visit)(void *ctx, int dirfd, const char *name, const char *path, const struct stat *st);
	/* Called after a directory's contents, with dirfd its parent; may be NULL. */
	int (*leave)(void *ctx, int dirfd, const char *name, const char *path);
	/* Opens a directory to read it; NULL: openat(O_RDONLY | O_DIRECTORY | O_NOFOLLOW). */
	int (*open_dir)(void *ctx, int dirfd, const char *name);
	/* Called when path ("" for the root) cannot be read; returns the error to stop the walk,
	 * or 0 to go on without it. NULL: stop. An entry that vanished is skipped silently. */
	int (*error)(void *ctx, const char *path, int err);
};

/* Walks the tree below the directory rootfd (not closed). Returns 0, or the first error a
 * callback returned; -ESTALE when a folder moved out of its place during the walk. */
int tree_walk(int rootfd, const struct tree_ops *ops, void *ctx);

#endif

/* Folder trees deeper than PATH_MAX for the tests: made one level at a time with mkdirat, as
 * no path could name them whole. */
#ifndef SK_TEST_NESTED_H
#define SK_TEST_NESTED_H

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes levels folders called name, each inside the last, below the folder fd (taken over).
 * Returns the deepest one's fd, or -1 (every fd closed). */
static inline int
nested_dirs(int fd, const char *name, unsigned levels)
{
	for (unsigned i = 0; fd >= 0 && i < levels; i++) {
		int sub = mkdirat(fd, name, 0755) == 0 ? openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		close(fd);
		fd = sub;
	}
	return fd;
}

#endif

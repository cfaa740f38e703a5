/* Small helpers shared by every module: cleanup attributes, fd and path utilities, time. */
#ifndef SK_UTIL_H
#define SK_UTIL_H

#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL
#define NSEC_PER_USEC 1000ULL

static inline void
freep(void *p)
{
	free(*(void **)p);
}
static inline void
closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand a local resource to the caller: the cleanup attribute then sees an empty value. */
#define TAKE_FD(fd)                                                                                          \
	({                                                                                                   \
		int _fd = (fd);                                                                              \
		(fd) = -EBADF;                                                                               \
		_fd;                                                                                         \
	})
#define TAKE_PTR(p)                                                                                          \
	({                                                                                                   \
		__typeof__(p) _p = (p);                                                                      \
		(p) = NULL;                                                                                  \
		_p;                                                                                          \
	})

/* Close fd if it is open; returns -EBADF so that `fd = safe_close(fd);` resets it. */
int safe_close(int fd);

/* Monotonic and wall clocks in microseconds. */
uint64_t now_usec(void);
uint64_t realtime_usec(void);

/* Writes all of buf, retrying on EINTR and short writes; returns 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/* Creates dir and its missing parents with mode; returns 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/* Returns a malloc'd "a/b"; NULL when out of memory. */
char *path_join(const char *a, const char *b);

/* $HOME when it is absolute, else the passwd entry, else "/". */
const char *home_dir(void);
/* Expands a leading "~" or "~/" with $HOME (the passwd entry when HOME is unset); other paths
 * are copied. malloc'd, NULL on ENOMEM. */
char *expand_home(const char *path);

/* Makes room in the array *pv of *cap items of size bytes for item n, doubling it (from 64);
 * returns 0 or -ENOMEM (the array is then unchanged). */
int array_grow(void *pv, size_t *cap, size_t n, size_t size);

/* True if path is outer or lies below it; both absolute and in the same form (no "//", "." or
 * "..", no trailing slash; "/" holds everything). Compares names only. */
bool path_within(const char *path, const char *outer);

/* The absolute path with its symlinks resolved as far as it exists, the missing rest appended
 * as written: what realpath gives, also for a folder not made yet (a path that cannot be
 * looked at stays as written). malloc'd; NULL on ENOMEM. */
char *path_resolve(const char *path);

/* Opens path for reading (close-on-exec) into *ret; on failure fills err with "cannot read
 * 'PATH': reason" and returns -errno. */
int fopen_read(const char *path, FILE **ret, char *err, size_t errlen);

/* fsyncs the directory at path; returns 0 or -errno. */
int fsync_path_dir(const char *path);

/* Formats bytes as "512 B", "3.2 KiB", "1.5 MiB" into buf; returns buf. */
const char *fmt_size(uint64_t bytes, char *buf, size_t len);

/* "1 file", "3 files": n with the noun, singular (one) or plural (many; NULL: one + "s"). */
const char *fmt_count(int64_t n, const char *one, const char *many, char *buf, size_t len);

/* "4 ms", "2.5 s", "3 min 20 s" for a duration in microseconds: under a second in ms. */
const char *fmt_duration(int64_t usec, char *buf, size_t len);

/* Copies the message src into dst of len bytes; one that does not fit loses its middle
 * ("cannot read 'a/b/...z/slot.sav': Permission denied"), so both what it is about and the
 * cause survive. */
void msg_fit(char *dst, size_t len, const char *src);

/* Lowers the CPU priority of process or thread who to nice (0: unchanged) and, with io_idle,
 * its I/O class to idle. Failures leave it where it was, which is slower for the game but
 * correct: raising a priority back needs privileges the daemon does not have. */
void lower_priority(pid_t who, int nice, bool io_idle);

/* Starts path (looked up in PATH when search is set) with argv and the file actions fa (may be
 * NULL), with default signal dispositions and an empty signal mask: the daemon blocks its
 * signals for signalfd, and a child must be stoppable with SIGTERM. Returns 0 with *ret_pid
 * set, or -errno. */
int spawn_clean(pid_t *ret_pid, const char *path, bool search, const posix_spawn_file_actions_t *fa,
		char *const argv[]);

/* True if name is a valid game name: [A-Za-z0-9._-]+, not "." or "..". */
bool game_name_valid(const char *name);

#endif

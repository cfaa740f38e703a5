/* Small helpers shared by every module. */
#include "util.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

int
safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -EBADF;
}

static uint64_t
clock_usec(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

uint64_t
now_usec(void)
{
	return clock_usec(CLOCK_MONOTONIC);
}

uint64_t
realtime_usec(void)
{
	return clock_usec(CLOCK_REALTIME);
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

char *
path_join(const char *a, const char *b)
{
	char *s;
	size_t la = strlen(a);
	bool slash = la > 0 && a[la - 1] == '/';

	if (asprintf(&s, "%s%s%s", a, slash ? "" : "/", b) < 0)
		return NULL;
	return s;
}

bool
path_within(const char *path, const char *outer)
{
	size_t n = strlen(outer);

	if (strcmp(outer, "/") == 0)
		return path[0] == '/';
	return strncmp(path, outer, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

char *
path_resolve(const char *path)
{
	_cleanup_free_ char *head = strdup(path);
	char *slash, *real;

	if (!head)
		return NULL;
	/* Cut components off the end until what is left exists. */
	while (!(real = realpath(head, NULL))) {
		if (errno != ENOENT && errno != ENOTDIR)
			return strdup(path); /* unreadable: the names as written are all there is */
		slash = strrchr(head, '/');
		if (!slash || slash == head)
			return strdup(path);
		*slash = '\0';
	}
	if (strlen(head) == strlen(path))
		return real;
	const char *rest = path + strlen(head);
	char *s = NULL;
	if (asprintf(&s, "%s%s", strcmp(real, "/") == 0 ? "" : real, rest) < 0)
		s = NULL;
	free(real);
	return s;
}

int
fopen_read(const char *path, FILE **ret, char *err, size_t errlen)
{
	int r;

	*ret = fopen(path, "re");
	if (*ret)
		return 0;
	r = -errno;
	snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-r));
	return r;
}

int
fsync_path_dir(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

const char *
fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

bool
game_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 128 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int
array_grow(void *pv, size_t *cap, size_t n, size_t size)
{
	void **v = pv;
	size_t c = *cap ? *cap * 2 : 64;
	void *nv;

	if (n < *cap)
		return 0;
	nv = reallocarray(*v, c, size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

/* Moves a cut at p back to the start of a UTF-8 character. */
static size_t
utf8_start(const char *s, size_t p)
{
	while (p > 0 && ((unsigned char)s[p] & 0xc0) == 0x80)
		p--;
	return p;
}

void
msg_fit(char *dst, size_t len, const char *src)
{
	static const char gap[] = "...";
	size_t n = strlen(src), head, from;

	if (len == 0)
		return;
	if (n < len || len < 2 * sizeof(gap)) {
		snprintf(dst, len, "%s", src);
		return;
	}
	/* A third for the start, the rest for the end, where the cause is. */
	head = utf8_start(src, (len - sizeof(gap)) / 3);
	from = n - (len - sizeof(gap) - head);
	while (from < n && ((unsigned char)src[from] & 0xc0) == 0x80)
		from++;
	memcpy(dst, src, head);
	memcpy(dst + head, gap, sizeof(gap) - 1);
	memcpy(dst + head + sizeof(gap) - 1, src + from, n - from + 1);
}

const char *
fmt_count(int64_t n, const char *one, const char *many, char *buf, size_t len)
{
	if (n == 1 || many)
		snprintf(buf, len, "%lld %s", (long long)n, n == 1 ? one : many);
	else
		snprintf(buf, len, "%lld %ss", (long long)n, one);
	return buf;
}

const char *
fmt_duration(int64_t usec, char *buf, size_t len)
{
	if (usec < 1000000)
		snprintf(buf, len, "%lld ms", (long long)((usec + 999) / 1000));
	else if (usec < 60000000)
		snprintf(buf, len, "%.1f s", (double)usec / 1e6);
	else
		snprintf(buf, len, "%lld min %lld s", (long long)(usec / 60000000),
			 (long long)(usec / 1000000 % 60));
	return buf;
}

#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_WHO_PROCESS 1

void
lower_priority(pid_t who, int nice, bool io_idle)
{
	if (nice)
		(void)setpriority(PRIO_PROCESS, (id_t)who, nice);
	if (io_idle)
		(void)syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, (int)who,
			      IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);
}

const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && h[0] == '/')
		return h;
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
		return pw->pw_dir;
	return "/";
}

char *
expand_home(const char *path)
{
	char *s;

	if (path[0] != '~' || (path[1] != '\0' && path[1] != '/'))
		return strdup(path);
	if (asprintf(&s, "%s%s", home_dir(), path + 1) < 0)
		return NULL;
	return s;
}

int
spawn_clean(pid_t *ret_pid, const char *path, bool search, const posix_spawn_file_actions_t *fa,
	    char *const argv[])
{
	extern char **environ;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	r = search ? posix_spawnp(ret_pid, path, fa, &attr, argv, environ)
		   : posix_spawn(ret_pid, path, fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	return -r;
}

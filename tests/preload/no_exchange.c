/* LD_PRELOAD shim for tests: renameat2 with RENAME_EXCHANGE fails with EINVAL, as on a
 * filesystem without the exchange, so restore takes its two-rename fallback. Each refusal is
 * noted in the file $NO_EXCHANGE_LOG names, so a test can tell the fallback really ran. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

int
renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
	if (flags & RENAME_EXCHANGE) {
		const char *log = getenv("NO_EXCHANGE_LOG");
		int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
		if (fd >= 0) {
			(void)!write(fd, newpath, strlen(newpath));
			(void)!write(fd, "\n", 1);
			close(fd);
		}
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

/* timeit: runs a command and writes its wall time, user and system CPU time (seconds, to the
 * microsecond) and peak RSS (KiB, the largest of it and its waited-for children) to FILE as
 * "wall user sys maxrss". /usr/bin/time rounds to 10 ms, too coarse for a 5 MiB snapshot.
 *
 *   timeit FILE COMMAND [ARG...]     exits with COMMAND's status */
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

static double
tv_sec(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	struct rusage ru;
	uint64_t t0;
	int status;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: timeit FILE COMMAND [ARG...]\n");
		return 2;
	}
	t0 = now_usec();
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "timeit: cannot run '%s': %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			return 1;
	FILE *f = fopen(argv[1], "we");
	if (!f)
		return 1;
	fprintf(f, "%.6f %.6f %.6f %ld\n", (double)(now_usec() - t0) / 1e6, tv_sec(ru.ru_utime),
		tv_sec(ru.ru_stime), ru.ru_maxrss);
	fclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* bench_sessions: the cost of one look at /proc for Steam's games, as the daemon makes every 3 s while
 * Steam runs. Prints the processes looked at and the wall and CPU time per look.
 *
 *   sessions [ROUNDS]     (default 200) */
#include "sessions.h"
#include "util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static double
cpu_sec(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static unsigned
processes(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
	if (d)
		closedir(d);
	return n;
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	unsigned ids[SESSIONS_MAX];
	uint64_t t0;
	double c0;

	if (rounds <= 0)
		return 2;
	t0 = now_usec();
	c0 = cpu_sec();
	for (int i = 0; i < rounds; i++)
		(void)sessions_scan("/proc", getuid(), ids, SESSIONS_MAX);
	printf("processes %u rounds %d wall_us %.1f cpu_us %.1f\n", processes(), rounds,
	       (double)(now_usec() - t0) / rounds, (cpu_sec() - c0) * 1e6 / rounds);
	return 0;
}

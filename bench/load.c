/* load: the benchmark's client. N connections to a Unix socket, one thread each; every
 * thread sends "ping\n", reads the whole reply line, and does it again, blocking, for a
 * fixed time. Reports the aggregate requests per second, p50/p99/max latency from per-thread
 * histograms merged at the end, and the server's CPU time per request: with --cpu-file, read
 * from a nanosecond counter such as a cgroup's cpuacct.usage (exact, and it keeps the time of
 * threads and children that have exited); with --pid, utime+stime of the process, its reaped
 * children and its live children from /proc (in clock ticks).
 *
 *   load --socket PATH [--conns N] [--duration SEC] [--warmup SEC] [--pid PID]
 *        [--cpu-file FILE] [--tsv]
 *
 * Bounded: every read and write times out after 2 s, and a thread that meets a timeout or
 * a closed connection stops and is counted as an error. */
#include "util.h"

#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define N_BUCKETS ((64 - SUB_BITS + 1) * SUB)
#define IO_TIMEOUT_SEC 2
#define CONNECT_TRIES 40

struct worker {
	pthread_t thread;
	int fd;
	bool failed;
	uint64_t count, max_ns;
	uint64_t hist[N_BUCKETS];
};

static const char *sock_path, *cpu_file;
static pid_t server_pid;
static pthread_barrier_t start_barrier;
static _Atomic uint64_t window_start = UINT64_MAX, window_end = UINT64_MAX;
static atomic_bool stopping;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Log-linear buckets: exact below 64 ns, then 64 per power of two (1.6% wide). */
static unsigned
bucket_of(uint64_t v)
{
	if (v < SUB)
		return (unsigned)v;
	int shift = 63 - __builtin_clzll(v) - SUB_BITS;
	return (unsigned)(shift + 1) * SUB + (unsigned)((v >> shift) - SUB);
}

/* The middle of bucket i, in ns. */
static uint64_t
bucket_value(unsigned i)
{
	if (i < SUB)
		return i;
	unsigned shift = i / SUB - 1;
	return (((uint64_t)(i % SUB + SUB)) << shift) + ((1ULL << shift) >> 1);
}

static int
connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = IO_TIMEOUT_SEC};

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	for (int i = 0;; i++) {
		_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			return TAKE_FD(fd);
		}
		/* The server may still be starting: retry for a moment. */
		if ((errno != ENOENT && errno != ECONNREFUSED) || i == CONNECT_TRIES)
			return -errno;
		usleep(50000);
	}
}

/* True when the reply line says "ok": true (with or without spaces). */
static bool
reply_ok(const char *buf, size_t len)
{
	const char *p = memmem(buf, len, "\"ok\"", 4), *end = buf + len;

	if (!p)
		return false;
	for (p += 4; p < end && (*p == ' ' || *p == ':'); p++)
		;
	return end - p >= 4 && memcmp(p, "true", 4) == 0;
}

/* One request: write the line, read until the reply's newline. 0 or -errno (-EPROTO when
 * the server closed the connection or answered with an error). */
static int
ping_once(int fd)
{
	static const char req[] = "ping\n";
	char buf[4096];
	size_t len = 0;

	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		return errno ? -errno : -EIO;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n <= 0)
			return n < 0 ? -errno : -EPROTO;
		len += (size_t)n;
		if (buf[len - 1] == '\n')
			return reply_ok(buf, len) ? 0 : -EPROTO;
		if (len == sizeof(buf))
			return -EPROTO;
	}
}

/* Counts only requests that start and end inside the measured window. */
static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start_barrier);
	while (!atomic_load(&stopping)) {
		uint64_t t0 = now_ns(), t1;
		if (ping_once(w->fd) < 0) {
			w->failed = true;
			break;
		}
		t1 = now_ns();
		if (t0 >= atomic_load(&window_start) && t1 <= atomic_load(&window_end)) {
			w->hist[bucket_of(t1 - t0)]++;
			w->count++;
			w->max_ns = t1 - t0 > w->max_ns ? t1 - t0 : w->max_ns;
		}
	}
	return NULL;
}

/* utime+stime+cutime+cstime of pid in clock ticks; with ret_ppid its parent. */
static int
proc_ticks(pid_t pid, uint64_t *ret_ticks, pid_t *ret_ppid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, cut, cst;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -EINVAL;
	if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &ppid, &ut, &st,
		   &cut, &cst) != 5)
		return -EINVAL;
	*ret_ticks = ut + st + cut + cst;
	if (ret_ppid)
		*ret_ppid = ppid;
	return 0;
}

/* The server's CPU time in microseconds: the counter in cpu_file (ns), or the time of
 * server_pid and of its children, reaped or alive. */
static uint64_t
server_cpu_usec(void)
{
	uint64_t total = 0, t;
	struct dirent *de;
	pid_t pid = server_pid, ppid;
	DIR *d;

	if (cpu_file) {
		unsigned long long ns = 0;
		FILE *f = fopen(cpu_file, "re");
		if (f && fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		if (f)
			fclose(f);
		return ns / NSEC_PER_USEC;
	}
	if (proc_ticks(pid, &total, NULL) < 0 || !(d = opendir("/proc")))
		return 0;
	while ((de = readdir(d))) {
		pid_t child = atoi(de->d_name);
		if (child > 0 && proc_ticks(child, &t, &ppid) == 0 && ppid == pid)
			total += t;
	}
	closedir(d);
	return total * USEC_PER_SEC / (uint64_t)sysconf(_SC_CLK_TCK);
}

static uint64_t
percentile(const uint64_t *hist, uint64_t total, double q)
{
	uint64_t want = (uint64_t)(q * (double)total + 0.999999), seen = 0;

	for (unsigned i = 0; i < N_BUCKETS; i++)
		if ((seen += hist[i]) >= want && seen > 0)
			return bucket_value(i);
	return 0;
}

struct result {
	uint64_t count, max_ns, errors, cpu_usec, window_ns;
	uint64_t hist[N_BUCKETS];
};

static void
merge(struct worker *w, unsigned n, struct result *res)
{
	for (unsigned i = 0; i < n; i++) {
		for (unsigned b = 0; b < N_BUCKETS; b++)
			res->hist[b] += w[i].hist[b];
		res->count += w[i].count;
		res->errors += w[i].failed;
		res->max_ns = w[i].max_ns > res->max_ns ? w[i].max_ns : res->max_ns;
	}
}

static void
report(const struct result *res, unsigned conns, bool measured, bool tsv)
{
	double rps = (double)res->count * 1e9 / (double)res->window_ns;
	double p50 = (double)percentile(res->hist, res->count, 0.50) / 1e3;
	double p99 = (double)percentile(res->hist, res->count, 0.99) / 1e3;
	double max = (double)res->max_ns / 1e3;
	char cpu[32] = "-";

	if (measured && res->count > 0)
		snprintf(cpu, sizeof(cpu), "%.2f", (double)res->cpu_usec / (double)res->count);
	if (tsv)
		printf("%u\t%llu\t%.0f\t%.1f\t%.1f\t%.1f\t%s\t%llu\n", conns, (unsigned long long)res->count,
		       rps, p50, p99, max, cpu, (unsigned long long)res->errors);
	else
		printf("conns %u: %llu requests, %.0f req/s, p50 %.1f us, p99 %.1f us, max %.1f us, "
		       "server cpu %s us/req, %llu errors\n",
		       conns, (unsigned long long)res->count, rps, p50, p99, max, cpu,
		       (unsigned long long)res->errors);
}

static void
sleep_sec(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Connects every worker, runs the window, joins. Returns 0 or -errno. */
static int
run(struct worker *w, unsigned n, double warmup, double duration, bool measure, struct result *res)
{
	uint64_t cpu0 = 0;
	unsigned started = 0;
	int r = 0;

	for (unsigned i = 0; i < n; i++)
		if ((w[i].fd = connect_unix(sock_path)) < 0) {
			fprintf(stderr, "load: cannot connect to '%s': %s\n", sock_path, strerror(-w[i].fd));
			return w[i].fd;
		}
	pthread_barrier_init(&start_barrier, NULL, n + 1);
	for (; started < n; started++)
		if ((r = -pthread_create(&w[started].thread, NULL, worker_run, &w[started])) < 0)
			break;
	/* Threads already started wait on the barrier; main returns and exit() ends them. */
	if (r < 0) {
		fprintf(stderr, "load: cannot start thread: %s\n", strerror(-r));
		return r;
	}
	pthread_barrier_wait(&start_barrier);
	sleep_sec(warmup);
	cpu0 = measure ? server_cpu_usec() : 0;
	atomic_store(&window_start, now_ns());
	sleep_sec(duration);
	atomic_store(&window_end, now_ns());
	res->cpu_usec = measure ? server_cpu_usec() - cpu0 : 0;
	res->window_ns = atomic_load(&window_end) - atomic_load(&window_start);
	atomic_store(&stopping, true);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: load --socket PATH [--conns N] [--duration SEC] [--warmup SEC] "
			"[--pid PID] [--cpu-file FILE] [--tsv]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
					     {"conns", required_argument, NULL, 'c'},
					     {"duration", required_argument, NULL, 'd'},
					     {"warmup", required_argument, NULL, 'w'},
					     {"pid", required_argument, NULL, 'p'},
					     {"cpu-file", required_argument, NULL, 'f'},
					     {"tsv", no_argument, NULL, 't'},
					     {0}};
	double duration = 1.0, warmup = 0.2;
	unsigned conns = 1;
	bool tsv = false;
	int c;

	while ((c = getopt_long(argc, argv, "s:c:d:w:p:f:t", opts, NULL)) >= 0)
		switch (c) {
		case 's':
			sock_path = optarg;
			break;
		case 'c':
			conns = (unsigned)atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'w':
			warmup = atof(optarg);
			break;
		case 'p':
			server_pid = atoi(optarg);
			break;
		case 'f':
			cpu_file = optarg;
			break;
		case 't':
			tsv = true;
			break;
		default:
			return usage();
		}
	if (!sock_path || conns < 1 || conns > 1024 || duration <= 0 || duration > 600 || warmup < 0)
		return usage();
	_cleanup_free_ struct worker *w = calloc(conns, sizeof(*w));
	_cleanup_free_ struct result *res = calloc(1, sizeof(*res));
	bool measure = server_pid > 0 || cpu_file;
	if (!w || !res || run(w, conns, warmup, duration, measure, res) < 0)
		return 1;
	merge(w, conns, res);
	report(res, conns, measure, tsv);
	for (unsigned i = 0; i < conns; i++)
		close(w[i].fd);
	return res->errors > 0 ? 1 : 0;
}

/* sk-load: hostile and numerous control clients for the load test (tests/integration/87-load.sh).
 *
 *   sk-load SOCKET many N        N clients connected at once, each sends "ping" and must get a
 *                                reply; prints how many were answered, exits 0 when all were
 *   sk-load SOCKET idle N        N clients that connect and send nothing; holds them until
 *                                stdin closes (or the process is killed); prints "held N"
 *   sk-load SOCKET noread MB     one client that floods "ping" lines for up to MB MiB and never
 *                                reads; exits 0 once the daemon drops it, 1 if it never does
 *   sk-load SOCKET hangup N      N clients that send 20 "status" requests each and close at
 *                                once with a reset, before (or while) the replies come
 *   sk-load SOCKET flood N GAME  N clients at once, each sends "backup GAME"; prints how many
 *                                replies said "joined":false (each started a snapshot)
 *
 * Sockets are blocking with a 30 s timeout: a daemon that stops answering fails the test
 * instead of hanging it. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static const char *sock_path;

static int
dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 30 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Opens n clients; exits on the first failure since every test needs all of them. */
static int *
dial_all(int n)
{
	int *fds = calloc((size_t)n, sizeof(*fds));

	if (!fds) {
		perror("sk-load");
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		fds[i] = dial();
		if (fds[i] < 0) {
			fprintf(stderr, "sk-load: connection %d: %s\n", i, strerror(-fds[i]));
			exit(1);
		}
	}
	return fds;
}

static int
send_str(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one reply line into buf; -1 on EOF, error or timeout. */
static int
read_line(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got + 1 < len) {
		ssize_t n = recv(fd, buf + got, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (buf[got++] == '\n')
			break;
	}
	buf[got] = '\0';
	return 0;
}

static int
run_many(int n)
{
	int *fds = dial_all(n), answered = 0;
	char line[4096];

	/* Every client is connected before the first request goes out. */
	for (int i = 0; i < n; i++)
		if (send_str(fds[i], "ping\n") < 0)
			fprintf(stderr, "sk-load: send %d failed\n", i);
	for (int i = 0; i < n; i++) {
		if (read_line(fds[i], line, sizeof(line)) == 0 && strstr(line, "\"ok\":true"))
			answered++;
		close(fds[i]);
	}
	free(fds);
	printf("answered %d of %d\n", answered, n);
	return answered == n ? 0 : 1;
}

static int
run_idle(int n)
{
	int *fds = dial_all(n);
	char c;

	printf("held %d\n", n);
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

static int
run_noread(long mib)
{
	static char chunk[64 * 1024];
	int fd = dial();
	long sent = 0;

	if (fd < 0)
		return fprintf(stderr, "sk-load: %s\n", strerror(-fd)), 2;
	for (size_t i = 0; i + 5 <= sizeof(chunk); i += 5)
		memcpy(chunk + i, "ping\n", 5);
	while (sent < mib << 20) {
		ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			printf("dropped after %ld KiB\n", sent >> 10);
			return 0;
		}
		if (n < 0)
			return fprintf(stderr, "sk-load: send: %s\n", strerror(errno)), 1;
		sent += n;
	}
	printf("still connected after %ld MiB\n", mib);
	return 1;
}

static int
run_hangup(int n)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	for (int i = 0; i < n; i++) {
		int fd = dial();
		if (fd < 0)
			return fprintf(stderr, "sk-load: %s\n", strerror(-fd)), 1;
		for (int k = 0; k < 20; k++)
			(void)send_str(fd, "status\n");
		/* A zero linger makes close() reset the connection. */
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (i % 2) {
			char buf[64];
			(void)recv(fd, buf, sizeof(buf), 0); /* the start of a reply, then gone */
		}
		close(fd);
	}
	printf("hung up %d\n", n);
	return 0;
}

static int
run_flood(int n, const char *game)
{
	int *fds = dial_all(n), started = 0, answered = 0;
	char req[256], line[4096];

	snprintf(req, sizeof(req), "backup %s\n", game);
	for (int i = 0; i < n; i++)
		(void)send_str(fds[i], req);
	for (int i = 0; i < n; i++) {
		if (read_line(fds[i], line, sizeof(line)) == 0 && strstr(line, "\"ok\":true")) {
			answered++;
			started += strstr(line, "\"joined\":false") != NULL;
		}
		close(fds[i]);
	}
	free(fds);
	printf("answered %d of %d, started %d\n", answered, n, started);
	return answered == n ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: sk-load SOCKET many|idle|noread|hangup|flood N [GAME]\n");
		return 2;
	}
	sock_path = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[2], "many") == 0)
		return run_many(atoi(argv[3]));
	if (strcmp(argv[2], "idle") == 0)
		return run_idle(atoi(argv[3]));
	if (strcmp(argv[2], "noread") == 0)
		return run_noread(atol(argv[3]));
	if (strcmp(argv[2], "hangup") == 0)
		return run_hangup(atoi(argv[3]));
	if (strcmp(argv[2], "flood") == 0 && argc == 5)
		return run_flood(atoi(argv[3]), argv[4]);
	fprintf(stderr, "sk-load: unknown mode '%s'\n", argv[2]);
	return 2;
}

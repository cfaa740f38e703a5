/* echo: the benchmark's limit. A minimal single-threaded epoll server on a Unix socket that
 * answers each request line with a reply shaped like savekeeperd's ping reply,
 * {"re":"N","cmd":"ping","ok":true,"version":"0.1.0"}, so the bytes moved are the same and
 * savekeeperd's figures can be given as a ratio to it.
 *
 *   echo SOCKET     serves until SIGTERM or SIGINT, then removes SOCKET */
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#define MAX_EVENTS 64
#define BUF_SIZE 4096

struct conn {
	int fd;
	unsigned seq;
	bool want_out;
	size_t in_len, out_len;
	char in[BUF_SIZE], out[BUF_SIZE];
};

static int
listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static void
conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Turns every complete line in c->in into a reply in c->out. */
static void
conn_parse(struct conn *c)
{
	char *start = c->in, *nl;

	while ((nl = memchr(start, '\n', c->in_len - (size_t)(start - c->in)))) {
		int n = snprintf(c->out + c->out_len, sizeof(c->out) - c->out_len,
				 "{\"re\":\"%u\",\"cmd\":\"ping\",\"ok\":true,\"version\":\"0.1.0\"}\n",
				 ++c->seq);
		if (n < 0 || (size_t)n >= sizeof(c->out) - c->out_len)
			break;
		c->out_len += (size_t)n;
		start = nl + 1;
	}
	c->in_len -= (size_t)(start - c->in);
	memmove(c->in, start, c->in_len);
}

/* Writes what it can; asks for EPOLLOUT only while the socket is full. */
static int
conn_flush(int ep, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	ssize_t n = c->out_len ? write(c->fd, c->out, c->out_len) : 0;

	if (n < 0 && errno != EAGAIN)
		return -errno;
	if (n > 0) {
		c->out_len -= (size_t)n;
		memmove(c->out, c->out + n, c->out_len);
	}
	if ((c->out_len > 0) == c->want_out)
		return 0;
	c->want_out = c->out_len > 0;
	if (c->want_out)
		ev.events |= EPOLLOUT;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
}

static void
conn_event(int ep, struct conn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			conn_close(ep, c);
			return;
		}
		if (n > 0) {
			c->in_len += (size_t)n;
			conn_parse(c);
		}
		/* A line longer than the buffer is not a request. */
		if (c->in_len == sizeof(c->in)) {
			conn_close(ep, c);
			return;
		}
	}
	if (conn_flush(ep, c) < 0)
		conn_close(ep, c);
}

static void
accept_all(int ep, int lfd)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		struct conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = {.events = EPOLLIN};
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_close(ep, c);
	}
}

static int
signal_fd(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

/* Events carry a connection, or one of these two tags. */
static char listen_tag, signal_tag;

static int
serve(int ep, int lfd)
{
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &listen_tag)
				accept_all(ep, lfd);
			else if (evs[i].data.ptr == &signal_tag)
				return 0;
			else
				conn_event(ep, evs[i].data.ptr, evs[i].events);
		}
	}
}

int
main(int argc, char **argv)
{
	_cleanup_close_ int lfd = -EBADF, sfd = signal_fd();
	_cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: echo SOCKET\n");
		return 2;
	}
	lfd = listen_unix(argv[1]);
	if (lfd < 0 || sfd < 0 || ep < 0) {
		fprintf(stderr, "echo: cannot listen on '%s': %s\n", argv[1],
			strerror(lfd < 0 ? -lfd : errno));
		return 1;
	}
	ev.data.ptr = &listen_tag;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &signal_tag;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	r = serve(ep, lfd);
	unlink(argv[1]);
	return r < 0 ? 1 : 0;
}

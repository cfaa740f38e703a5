/* The control socket: the listener (own or from systemd), the peer check, bounded per-client
 * input and output, and the dispatch of parsed requests. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "loop.h"
#include "util.h"

struct ctl_client {
	struct ctl *ctl; /* NULL once the client is gone */
	int fd;
	unsigned refs;
	bool eof;     /* the peer shut down its side: no more requests */
	uint64_t seq; /* requests seen, for replies to untagged ones */
	uint32_t events;
	struct proto_lines in;
	char *out;
	size_t outlen, outoff; /* queued bytes are out[outoff..outlen) */
	struct ctl_client *prev, *next;
};

struct ctl {
	struct loop *loop;
	int fd;
	int lockfd;
	char *path; /* the socket to remove on close; NULL when systemd passed it */
	bool accept_paused;
	ctl_request_fn *fn;
	void *data;
	struct ctl_client *clients;
	unsigned nclients;
};

static void client_io(struct loop *loop, int fd, uint32_t events, void *data);

static int fail(char *err, size_t errlen, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* Writes one line to a socket that is about to be closed; best effort, never blocks. */
static void
send_refusal(int fd, const char *msg)
{
	char line[512];
	size_t n = proto_reply_fixed(line, sizeof(line) - 1, NULL, NULL, false, "error", msg);

	if (n >= sizeof(line) - 1)
		return;
	line[n++] = '\n';
	(void)send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
client_free(struct ctl_client *c)
{
	free(c->out);
	proto_lines_free(&c->in);
	free(c);
}

static void
client_close(struct ctl_client *c)
{
	struct ctl *ctl = c->ctl;

	if (!ctl)
		return;
	loop_del_fd(ctl->loop, c->fd);
	close(c->fd);
	c->fd = -EBADF;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->nclients--;
	c->ctl = NULL;
	/* A free slot: take the connections that waited while fds ran out. */
	if (ctl->accept_paused && loop_mod_fd(ctl->loop, ctl->fd, EPOLLIN) >= 0)
		ctl->accept_paused = false;
	ctl_client_unref(c);
}

/* A client that sent EOF is closed once its replies are out and nobody holds it for an
 * answer still to come. */
static bool
client_finished(const struct ctl_client *c)
{
	return c->eof && c->outlen == c->outoff && c->refs == 1;
}

static void
client_watch(struct ctl_client *c)
{
	uint32_t ev = (c->eof ? 0 : EPOLLIN) | (c->outlen > c->outoff ? EPOLLOUT : 0);

	if (!c->ctl || ev == c->events)
		return;
	if (loop_mod_fd(c->ctl->loop, c->fd, ev) < 0) {
		client_close(c);
		return;
	}
	c->events = ev;
}

/* Sends what is queued; closes the client on a write error or when it is finished. */
static void
client_flush(struct ctl_client *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n =
		    send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			client_close(c);
			return;
		}
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (client_finished(c))
		client_close(c);
	else
		client_watch(c);
}

/* Queues bytes for c, whatever their number: the bound is checked per reply, in
 * client_send_line. */
static int
client_queue(struct ctl_client *c, const char *s, size_t len)
{
	size_t pending = c->outlen - c->outoff;
	char *p;

	/* Move what is left to the front so the buffer holds only what is still to send. */
	if (c->outoff > 0) {
		memmove(c->out, c->out + c->outoff, pending);
		c->outoff = 0;
		c->outlen = pending;
	}
	p = realloc(c->out, pending + len);
	if (!p) {
		client_close(c);
		return -ENOMEM;
	}
	memcpy(p + pending, s, len);
	c->out = p;
	c->outlen = pending + len;
	return 0;
}

/* Sends s and a newline: straight to the socket when nothing is queued before it, so most
 * replies are never copied; what the socket does not take is queued. One reply of any size
 * is queued whole, so a client that reads gets a `list` or dry run of any length; a client
 * that leaves more than CTL_MAX_OUTPUT of earlier replies unread is dropped (-EPIPE). */
static int
client_send_line(struct ctl_client *c, const char *s, size_t len)
{
	struct iovec iov[2] = {{.iov_base = (void *)(uintptr_t)s, .iov_len = len},
			       {.iov_base = (void *)(uintptr_t) "\n", .iov_len = 1}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	size_t done = 0;
	int r = 0;

	if (c->outlen - c->outoff > CTL_MAX_OUTPUT) {
		client_close(c);
		return -EPIPE;
	}
	if (c->outoff == c->outlen) {
		ssize_t n;
		do
			n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			client_close(c);
			return -EPIPE;
		}
		done = n > 0 ? (size_t)n : 0;
	}
	if (done < len)
		r = client_queue(c, s + done, len - done);
	if (r >= 0 && done <= len)
		r = client_queue(c, "\n", 1);
	if (r >= 0)
		client_flush(c);
	return r;
}

/* True when obj's first member is "re", as in objects from ctl_result_new(). */
static bool
starts_with_re(struct json_object *obj)
{
	struct json_object_iterator it = json_object_iter_begin(obj), end = json_object_iter_end(obj);

	return !json_object_iter_equal(&it, &end) && strcmp(json_object_iter_peek_name(&it), "re") == 0;
}

int
ctl_reply(struct ctl_client *c, const char *re, struct json_object *obj)
{
	struct json_object *msg = obj;
	const char *text;
	size_t len;
	int r;

	if (!c->ctl || !obj) {
		json_object_put(obj);
		return c->ctl ? -ENOMEM : -EPIPE;
	}
	/* "re" first: a reader sees at once which request a line answers. */
	if (starts_with_re(obj)) {
		const char *have = json_object_get_string(json_object_object_get(obj, "re"));
		if (!have || strcmp(have, re) != 0)
			json_object_object_add(obj, "re", json_object_new_string(re));
	} else {
		msg = json_object_new_object();
		if (!msg) {
			json_object_put(obj);
			return -ENOMEM;
		}
		json_object_object_add(msg, "re", json_object_new_string(re));
		for (struct json_object_iterator it = json_object_iter_begin(obj),
						 end = json_object_iter_end(obj);
		     !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
			json_object_object_add(msg, json_object_iter_peek_name(&it),
					       json_object_get(json_object_iter_peek_value(&it)));
		json_object_put(obj);
	}
	text = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
						 &len);
	r = text ? client_send_line(c, text, len) : -ENOMEM;
	json_object_put(msg);
	return r;
}

int
ctl_reply_fixed(struct ctl_client *c, const char *re, const char *cmd, bool ok, const char *key,
		const char *value)
{
	char stack[512];
	_cleanup_free_ char *heap = NULL;
	size_t n;

	if (!c->ctl)
		return -EPIPE;
	n = proto_reply_fixed(stack, sizeof(stack), re, cmd, ok, key, value);
	if (n < sizeof(stack))
		return client_send_line(c, stack, n);
	heap = malloc(n + 1);
	if (!heap)
		return -ENOMEM;
	proto_reply_fixed(heap, n + 1, re, cmd, ok, key, value);
	return client_send_line(c, heap, n);
}

int
ctl_reply_error(struct ctl_client *c, const char *re, const char *msg)
{
	return ctl_reply_fixed(c, re, NULL, false, "error", msg);
}

struct json_object *
ctl_result_new(const struct proto_request *req, bool ok)
{
	const unsigned flags = JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT;
	struct json_object *obj = json_object_new_object();

	if (!obj)
		return NULL;
	json_object_object_add_ex(obj, "re", json_object_new_string(req->tag), flags);
	json_object_object_add_ex(obj, "cmd", json_object_new_string(proto_cmd_name(req->cmd)), flags);
	json_object_object_add_ex(obj, "ok", json_object_new_boolean(ok), flags);
	return obj;
}

/* Writes n in decimal with its NUL into buf (at least 21 bytes): every request needs it, and
 * snprintf cost more than the rest of a ping's parse. */
static void
format_seq(char *buf, uint64_t n)
{
	char digits[20];
	size_t i = 0;

	do
		digits[i++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	for (size_t j = 0; j < i; j++)
		buf[j] = digits[i - 1 - j];
	buf[i] = '\0';
}

/* Parses one line and hands it on, or answers it with the reason it was refused. */
static void
client_line(struct ctl_client *c, const char *line, size_t len)
{
	struct proto_request req;
	char err[256], seq[24];

	c->seq++;
	format_seq(seq, c->seq);
	if (proto_parse(line, len, &req, err, sizeof(err)) < 0) {
		ctl_reply_error(c, seq, err);
		return;
	}
	if (!req.tag[0])
		memcpy(req.tag, seq, strlen(seq) + 1);
	c->ctl->fn(c, &req, c->ctl->data);
}

/* Handles the complete lines read so far, keeping a partial one for later. An overlong line
 * is answered once (the parser names it), then skipped to its end. At end of file a last line
 * without its newline still counts ("echo -n ping | nc -U"). */
static void
client_lines(struct ctl_client *c, bool eof)
{
	char *line;
	size_t len;

	while (c->ctl && proto_lines_next(&c->in, eof, &line, &len) != 0)
		client_line(c, line, len);
}

static void
client_read(struct ctl_client *c)
{
	ssize_t n = proto_lines_read(&c->in, c->fd);

	if (n == -EAGAIN)
		return;
	if (n < 0 && n != -EMSGSIZE) {
		client_close(c);
		return;
	}
	c->eof = n == 0;
	client_lines(c, c->eof);
}

static void
client_io(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct ctl_client *c = ctl_client_ref(data);

	(void)loop, (void)fd;
	if (events & EPOLLIN)
		client_read(c);
	else if (events & (EPOLLHUP | EPOLLERR))
		client_close(c);
	if (c->ctl)
		client_flush(c);
	ctl_client_unref(c);
}

static bool
peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == geteuid();
}

static void
client_add(struct ctl *ctl, int fd)
{
	struct ctl_client *c;

	if (!peer_allowed(fd)) {
		send_refusal(fd, "permission denied: only the daemon's user may connect");
		close(fd);
		return;
	}
	if (ctl->nclients >= CTL_MAX_CLIENTS) {
		send_refusal(fd, "too many clients; try again later");
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || loop_add_fd(ctl->loop, fd, EPOLLIN, client_io, c) < 0) {
		free(c);
		close(fd);
		return;
	}
	*c = (struct ctl_client){
	    .ctl = ctl, .fd = fd, .refs = 1, .events = EPOLLIN, .in = PROTO_LINES(PROTO_MAX_LINE)};
	c->next = ctl->clients;
	if (c->next)
		c->next->prev = c;
	ctl->clients = c;
	ctl->nclients++;
}

static void
listener_io(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct ctl *ctl = data;

	(void)events;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (cfd >= 0) {
			client_add(ctl, cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		/* Out of fds: stop listening until a client leaves rather than spin on the
		 * connection that cannot be accepted. */
		if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
		    loop_mod_fd(loop, fd, 0) >= 0)
			ctl->accept_paused = true;
		return;
	}
}

/* The socket systemd passed, made non-blocking; 0 if none was passed. */
static int
listen_fd_passed(int *ret, char *err, size_t errlen)
{
	int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START;

	if (n <= 0)
		return n;
	if (n > 1)
		return fail(err, errlen, -EINVAL, "expected one socket from systemd, got %d", n);
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
		return fail(err, errlen, -ENOTSOCK,
			    "the socket passed by systemd is not a listening Unix stream socket");
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return fail(err, errlen, -errno, "cannot set up the socket passed by systemd: %m");
	*ret = fd;
	return 1;
}

/* Creates the socket's folder 0700 and checks that nobody else can write to it. */
static int
prepare_dir(const char *path, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(path);
	const char *dir;
	struct stat st;
	int r;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return fail(err, errlen, r, "cannot create '%s': %s", dir, strerror(-r));
	if (stat(dir, &st) < 0)
		return fail(err, errlen, -errno, "cannot stat '%s': %m", dir);
	if (st.st_uid != geteuid())
		return fail(err, errlen, -EPERM, "refusing socket folder '%s': owned by uid %u, not %u", dir,
			    (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return fail(err, errlen, -EPERM,
			    "refusing socket folder '%s': writable by others (mode %04o)", dir,
			    (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Locks "<path>.lock" so that a second daemon on the same socket stops here. */
static int
take_lock(const char *path, int *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *lock = NULL;
	_cleanup_close_ int fd = -EBADF;

	if (asprintf(&lock, "%s.lock", path) < 0)
		return -ENOMEM;
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail(err, errlen, -errno, "cannot open '%s': %m", lock);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return fail(err, errlen, -EADDRINUSE, "another savekeeperd is already running on %s",
				    path);
		return fail(err, errlen, -errno, "cannot lock '%s': %m", lock);
	}
	*ret = TAKE_FD(fd);
	return 0;
}

/* Removes a socket a dead daemon left (we hold the lock, so nobody serves it). */
static int
remove_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : fail(err, errlen, -errno, "cannot stat '%s': %m", path);
	if (S_ISLNK(st.st_mode))
		return fail(err, errlen, -ELOOP, "refusing '%s': it is a symlink, not a socket", path);
	if (!S_ISSOCK(st.st_mode))
		return fail(err, errlen, -EEXIST, "refusing '%s': it exists and is not a socket", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return fail(err, errlen, -errno, "cannot remove stale socket '%s': %m", path);
	return 0;
}

static int
bind_listen(const char *path, int *ret, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -EBADF;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(err, errlen, -ENAMETOOLONG, "socket path too long: '%s'", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(err, errlen, -errno, "cannot create a socket: %m");
	/* The socket is born 0600: there is no moment when others could connect. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return fail(err, errlen, -errno, "cannot bind '%s': %m", path);
	if (chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		unlink(path);
		return fail(err, errlen, r, "cannot listen on '%s': %s", path, strerror(-r));
	}
	*ret = TAKE_FD(fd);
	return 0;
}

/* Sets up our own socket at path: folder, lock, stale socket, bind. */
static int
open_own(struct ctl *ctl, const char *path, char *err, size_t errlen)
{
	int r = prepare_dir(path, err, errlen);

	if (r >= 0)
		r = take_lock(path, &ctl->lockfd, err, errlen);
	if (r >= 0)
		r = remove_stale(path, err, errlen);
	if (r >= 0)
		r = bind_listen(path, &ctl->fd, err, errlen);
	if (r < 0)
		return r;
	ctl->path = strdup(path);
	return ctl->path ? 0 : -ENOMEM;
}

int
ctl_open(struct loop *loop, const char *socket_path, ctl_request_fn *fn, void *data, struct ctl **ret,
	 char *err, size_t errlen)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	int r;

	if (!ctl)
		return -ENOMEM;
	*ctl = (struct ctl){.loop = loop, .fd = -EBADF, .lockfd = -EBADF, .fn = fn, .data = data};
	r = listen_fd_passed(&ctl->fd, err, errlen);
	if (r == 0)
		r = open_own(ctl, socket_path, err, errlen);
	if (r >= 0) {
		r = loop_add_fd(loop, ctl->fd, EPOLLIN, listener_io, ctl);
		if (r < 0)
			fail(err, errlen, r, "cannot watch the control socket: %s", strerror(-r));
	}
	if (r < 0) {
		ctl_close(ctl);
		return r;
	}
	*ret = ctl;
	return 0;
}

void
ctl_close(struct ctl *ctl)
{
	if (!ctl)
		return;
	while (ctl->clients)
		client_close(ctl->clients);
	if (ctl->fd >= 0) {
		loop_del_fd(ctl->loop, ctl->fd);
		close(ctl->fd);
	}
	/* Remove the socket before the lock goes, so a new daemon never finds ours. */
	if (ctl->path)
		unlink(ctl->path);
	safe_close(ctl->lockfd);
	free(ctl->path);
	free(ctl);
}

struct ctl_client *
ctl_client_ref(struct ctl_client *c)
{
	c->refs++;
	return c;
}

void
ctl_client_unref(struct ctl_client *c)
{
	if (!c)
		return;
	if (--c->refs == 0) {
		client_free(c);
		return;
	}
	/* Dropping the last outside reference may finish a client that already sent EOF. */
	if (c->ctl && client_finished(c))
		client_close(c);
}

bool
ctl_client_alive(const struct ctl_client *c)
{
	return c->ctl != NULL;
}

unsigned
ctl_clients(const struct ctl *ctl)
{
	return ctl->nclients;
}

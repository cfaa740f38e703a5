/* savekeeperctl's connection to the daemon: which control socket, the socket, request lines
 * out, reply lines in (one JSON object each, bounded), and the wait for a request's final
 * reply, with its progress events drawn meanwhile. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "proto.h"
#include "savekeeperctl.h"
#include "util.h"

/* The longest reply line read: far beyond any list or dry run a save folder can produce (a
 * folder 10,000 levels deep gives a 100 MB dry run), short of json-c's int-sized lengths. */
#define MAX_REPLY (1u << 30)

int
conn_open(struct conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	*c = (struct conn){.fd = -EBADF, .in = PROTO_LINES(MAX_REPLY)};
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		c->fd = safe_close(c->fd);
		return r;
	}
	return 0;
}

void
conn_close(struct conn *c)
{
	c->fd = safe_close(c->fd);
	proto_lines_free(&c->in);
}

int
conn_send(struct conn *c, const char *line)
{
	_cleanup_free_ char *s = NULL;

	if (asprintf(&s, "%s\n", line) < 0)
		return -ENOMEM;
	c->seq++;
	return write_all(c->fd, s, strlen(s)) < 0 ? -EPIPE : 0;
}

/* Waits (timeout_ms, or -1 for ever) for one reply line and parses it. */
static int
conn_read(struct conn *c, int timeout_ms, struct json_object **ret)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		char *line;
		size_t len;
		ssize_t n;
		int r = proto_lines_next(&c->in, false, &line, &len);

		if (r < 0)
			return -EMSGSIZE;
		if (r > 0) {
			*ret = json_tokener_parse(line);
			return *ret ? 0 : -EBADMSG;
		}
		n = poll(&p, 1, timeout_ms);
		if (n == 0)
			return -ETIMEDOUT;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		n = proto_lines_read(&c->in, c->fd);
		if (n == -EAGAIN)
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
	}
}

int
conn_await_reply(struct conn *c, int timeout_ms, bool quiet, struct json_object **ret)
{
	bool bar = !json_output && !quiet && isatty(STDOUT_FILENO), drawn = false;
	char re[16];

	snprintf(re, sizeof(re), "%u", c->seq);
	for (;;) {
		struct json_object *o = NULL;
		int r = conn_read(c, timeout_ms, &o);
		if (r < 0) {
			if (drawn)
				printf("\r\033[K");
			return r;
		}
		if (json_output && !quiet)
			output_json(o);
		/* A refusal at connect time answers no request in particular: it has no "re". */
		if ((jstr(o, "re") && strcmp(jstr(o, "re"), re) != 0) || !jstr(o, "ok")) {
			if (bar && jstr(o, "event")) {
				output_progress(o);
				drawn = true;
			}
			json_object_put(o);
			continue;
		}
		/* The bar gives way to the result. */
		if (drawn)
			printf("\r\033[K");
		*ret = o;
		return 0;
	}
}

int
conn_request(struct conn *c, const char *line, int timeout_ms, struct json_object **ret)
{
	int r = conn_send(c, line);

	return r < 0 ? r : conn_await_reply(c, timeout_ms, true, ret);
}

const char *
conn_socket_path(const char *fallback, char **ret_def)
{
	const char *env = getenv("SAVEKEEPER_SOCKET");

	if (env && env[0])
		return env;
	return fallback ? fallback : (*ret_def = config_default_socket_path());
}

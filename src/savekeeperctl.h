/* Private to savekeeperctl: savekeeperctl.c (options, the request line, wrap, main),
 * savekeeperctl_conn.c (the connection to the daemon), savekeeperctl_output.c (replies shown as
 * tables and lines) and savekeeperctl_discover.c (discover and add, which need no daemon). */
#ifndef SK_SAVEKEEPERCTL_H
#define SK_SAVEKEEPERCTL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1, /* the daemon refused, or the job failed */
	EXIT_USAGE = 2,
	EXIT_NO_DAEMON = 3,
};

#define SHORT_TIMEOUT_MS 10000

struct conn {
	int fd;
	struct proto_lines in; /* replies: one line each, up to MAX_REPLY */
	unsigned seq;	       /* requests sent: the "re" of the next reply we wait for */
};

/* savekeeperctl.c */
/* The daemon's socket (--socket, else $SAVEKEEPER_SOCKET, else the default) and --json. */
extern const char *socket_path;
extern bool json_output;
/* -c FILE: the config that discover reads and add writes; NULL: the default one. */
extern const char *config_file;
/* Prints "savekeeperctl: " and the message on stderr. */
void complain(const char *fmt, ...);

/* savekeeperctl_conn.c */
/* Connects to the daemon at socket_path; -errno when nobody listens there. */
int conn_open(struct conn *c);
/* Closes the connection and frees its buffer. */
void conn_close(struct conn *c);
/* Sends one request line; 0, -ENOMEM or -EPIPE. */
int conn_send(struct conn *c, const char *line);
/* Waits for the final reply to the last request sent, showing progress events meanwhile. */
int conn_await_reply(struct conn *c, int timeout_ms, bool quiet, struct json_object **ret);
/* The socket when no --socket names one: $SAVEKEEPER_SOCKET unless unset or empty, else
 * fallback (a config's socket_path) unless NULL, else the default, allocated into *ret_def for
 * the caller to free. NULL on ENOMEM. */
const char *conn_socket_path(const char *fallback, char **ret_def);
/* Sends one request line and waits (timeout_ms, or -1 for ever) for its final reply, quietly
 * (no progress, no JSON echoed): 0 with *ret, or conn_send's or conn_await_reply's -errno. */
int conn_request(struct conn *c, const char *line, int timeout_ms, struct json_object **ret);

/* savekeeperctl_output.c */
/* Prints the successful reply o to req for people. */
void output_reply(const struct proto_request *req, struct json_object *o);
/* A failed verify: the results on stdout, and one line on stderr that sums them up (or the
 * daemon's reason when it checked nothing, such as an unknown game). */
void output_verify_failure(struct json_object *o);
/* Draws a progress event as a bar redrawn in place; only on a terminal, where it is
 * erased before the result is printed. A pipe gets the result alone. */
void output_progress(struct json_object *o);
/* Prints o as one JSON line. */
void output_json(struct json_object *o);

/* savekeeperctl_discover.c */
/* discover [--json]: the games installed from Steam and their save folders; no daemon needed.
 * Returns an exit status. */
int cmd_discover(int argc, char **argv);
/* add TITLE|STEAM_APP_ID: finds the game and writes a [game] section per save folder. Returns
 * an exit status. */
int cmd_add(int argc, char **argv);

/* A reply's fields. */
static inline const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

/* jstr for printing: "?" where the reply lacks the field, never a NULL for "%s". */
static inline const char *
jtext(struct json_object *o, const char *key)
{
	const char *s = jstr(o, key);

	return s ? s : "?";
}

static inline int64_t
jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static inline bool
jbool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static inline struct json_object *
jarr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

#endif

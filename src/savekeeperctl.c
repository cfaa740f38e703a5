/* savekeeperctl: sends one request to savekeeperd over its control socket and shows the
 * replies, as tables for people or as the daemon's JSON lines for scripts. `wrap` runs a game
 * between a "session begin" and a "session end". */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "config.h"
#include "config_edit.h"
#include "discover.h"
#include "discover_report.h"
#include "proto.h"
#include "util.h"

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1, /* the daemon refused, or the job failed */
	EXIT_USAGE = 2,
	EXIT_NO_DAEMON = 3,
};

#define SHORT_TIMEOUT_MS 10000
/* The longest reply line read: far beyond any list or dry run a save folder can produce (a
 * folder 10,000 levels deep gives a 100 MB dry run), short of json-c's int-sized lengths. */
#define MAX_REPLY (1u << 30)

struct conn {
	int fd;
	struct proto_lines in; /* replies: one line each, up to MAX_REPLY */
	unsigned seq;	       /* requests sent: the "re" of the next reply we wait for */
};

static const char *socket_path;
static bool json_output;

static void
complain(const char *fmt, ...)
{
	va_list ap;

	fputs("savekeeperctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Connects to the daemon; -errno when nobody listens there. */
static int
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

static void
conn_close(struct conn *c)
{
	c->fd = safe_close(c->fd);
	proto_lines_free(&c->in);
}

static void
no_daemon(int r)
{
	complain("no daemon at %s (%s); start it with: systemctl --user start savekeeper.socket", socket_path,
		 strerror(-r));
}

static int
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

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

/* jstr for printing: "?" where the reply lacks the field, never a NULL for "%s". */
static const char *
jtext(struct json_object *o, const char *key)
{
	const char *s = jstr(o, key);

	return s ? s : "?";
}

static int64_t
jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static bool
jbool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static struct json_object *
jarr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

/* "3 min ago" / "in 5 min" for a unix time t. */
static const char *
fmt_relative(int64_t t, char *buf, size_t len)
{
	int64_t d = t - (int64_t)time(NULL);
	int64_t a = d < 0 ? -d : d;
	char amount[32];

	if (a < 10)
		return snprintf(buf, len, "just now"), buf;
	if (a < 60)
		snprintf(amount, sizeof(amount), "%lld s", (long long)a);
	else if (a < 3600)
		snprintf(amount, sizeof(amount), "%lld min", (long long)(a / 60));
	else if (a < 2 * 86400)
		snprintf(amount, sizeof(amount), "%lld h", (long long)(a / 3600));
	else
		snprintf(amount, sizeof(amount), "%lld days", (long long)(a / 86400));
	snprintf(buf, len, d < 0 ? "%s ago" : "in %s", amount);
	return buf;
}

static const char *
fmt_local(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}

/* A table printed with each column as wide as its widest cell. */
#define TABLE_COLS 9
struct table {
	size_t ncols, nrows;
	char **cells; /* nrows * ncols, malloc'd strings */
};

static void
table_add(struct table *t, ...)
{
	char **cells = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
	va_list ap;

	if (!cells)
		return;
	t->cells = cells;
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		cells[t->nrows * t->ncols + i] = strdup(s ? s : "-");
	}
	va_end(ap);
	t->nrows++;
}

static void
table_print(struct table *t)
{
	size_t w[TABLE_COLS] = {0};

	for (size_t i = 0; i < t->nrows * t->ncols; i++) {
		size_t n = t->cells[i] ? strlen(t->cells[i]) : 0;
		if (n > w[i % t->ncols])
			w[i % t->ncols] = n;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		char line[1024];
		size_t pos = 0;
		for (size_t c = 0; c < t->ncols && pos < sizeof(line); c++) {
			const char *s = t->cells[r * t->ncols + c];
			pos +=
			    (size_t)snprintf(line + pos, sizeof(line) - pos, "%-*s  ", (int)w[c], s ? s : "");
		}
		/* No trailing blanks when the last columns are empty. */
		pos = strlen(line);
		while (pos > 0 && line[pos - 1] == ' ')
			line[--pos] = '\0';
		puts(line);
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

static void
print_status_game(struct table *t, struct json_object *g)
{
	char last[64] = "-", next[64] = "-", state[64], n[32] = "-", size[32] = "-", own[32] = "-";
	const char *result = jstr(g, "last_result");
	struct json_object *d;

	/* What the archives cost on disk, once the daemon knows: SIZE as du counts it (a block
	 * shared by reflinked archives in each of them), OWN what they alone hold. */
	if (json_object_object_get_ex(g, "disk", &d) && json_object_is_type(d, json_type_object)) {
		snprintf(n, sizeof(n), "%lld", (long long)jint(d, "archives"));
		fmt_size((uint64_t)jint(d, "size"), size, sizeof(size));
		fmt_size((uint64_t)(jint(d, "size") - jint(d, "shared")), own, sizeof(own));
	}

	snprintf(state, sizeof(state), "%s%s%s", jtext(g, "state"), jbool(g, "busy") ? ", busy" : "",
		 jbool(g, "playing") ? ", playing" : "");
	if (jstr(g, "last_time"))
		fmt_relative(jint(g, "last_time"), last, sizeof(last));
	if (jstr(g, "next_due"))
		fmt_relative(jint(g, "next_due"), next, sizeof(next));
	table_add(t, jstr(g, "name"), state, result ? result : "none", last, jstr(g, "last_archive"), next, n,
		  size, own);
}

/* One line on a game's copies to its remote, when it has one. */
static void
print_status_remote(struct json_object *g)
{
	struct json_object *r;
	char when[64] = "", old[64] = "";

	if (!json_object_object_get_ex(g, "remote", &r) || !json_object_is_type(r, json_type_object))
		return;
	if (jstr(r, "oldest_time"))
		fmt_relative(jint(r, "oldest_time"), old, sizeof(old));
	if (jstr(r, "failing_since")) {
		fmt_relative(jint(r, "failing_since"), when, sizeof(when));
		printf("%s: copies to %s failing since %s (%lld pending): %s\n", jtext(g, "name"),
		       jtext(r, "remote"), when, (long long)jint(r, "pending"), jtext(r, "error"));
	} else if (jint(r, "pending") > 0) {
		printf("%s: copies to %s: %lld pending, oldest %s (%s)\n", jtext(g, "name"),
		       jtext(r, "remote"), (long long)jint(r, "pending"), jtext(r, "oldest"), old);
	} else {
		printf("%s: copies to %s: in sync\n", jtext(g, "name"), jtext(r, "remote"));
	}
}

static void
print_status(struct json_object *o)
{
	struct json_object *games = jarr(o, "games");
	struct table t = {.ncols = 9};
	int64_t up = jint(o, "uptime_sec");

	printf("savekeeperd %s, pid %lld, up %lldh %02lldm, core %s\n", jtext(o, "version"),
	       (long long)jint(o, "pid"), (long long)(up / 3600), (long long)(up / 60 % 60),
	       jtext(o, "core"));
	if (!games || json_object_array_length(games) == 0) {
		printf("no games configured\n");
		return;
	}
	table_add(&t, "GAME", "STATE", "LAST", "WHEN", "ARCHIVE", "NEXT", "ARCHIVES", "SIZE", "OWN");
	for (size_t i = 0; i < json_object_array_length(games); i++)
		print_status_game(&t, json_object_array_get_idx(games, i));
	table_print(&t);
	for (size_t i = 0; i < json_object_array_length(games); i++) {
		struct json_object *g = json_object_array_get_idx(games, i);
		if (jstr(g, "last_error"))
			printf("%s: last error: %s\n", jtext(g, "name"), jtext(g, "last_error"));
		/* The archive column already names it; say so only when they differ. */
		if (jstr(g, "unchanged_since") &&
		    (!jstr(g, "last_archive") ||
		     strcmp(jstr(g, "unchanged_since"), jstr(g, "last_archive")) != 0))
			printf("%s: unchanged since %s\n", jtext(g, "name"), jtext(g, "unchanged_since"));
		print_status_remote(g);
	}
}

static void
print_list(struct json_object *o)
{
	struct json_object *a = jarr(o, "archives");
	struct table t = {.ncols = 7};
	size_t n = a ? json_object_array_length(a) : 0;

	if (n == 0) {
		printf("%s: no archives%s\n", jtext(o, "game"), jbool(o, "remote") ? " on the remote" : "");
		return;
	}
	/* OWN: what the archive alone costs on disk; the rest of SIZE shares blocks with other
	 * archives (reflinked member groups), so du counts it in each of them. */
	table_add(&t, "ID", "TIME", "AGE", "SIZE", "OWN", "FILES", "NOTE");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		char when[64], age[64], size[32], own[32], files[32], note[96];
		const char *tag = jstr(e, "tag");
		snprintf(files, sizeof(files), "%lld", (long long)jint(e, "files"));
		snprintf(note, sizeof(note), "%s%s%s%s%s", jbool(e, "pinned") ? "pinned" : "",
			 jbool(e, "pinned") && tag && tag[0] ? ", " : "", tag ? tag : "",
			 jstr(e, "device") ? (tag && tag[0] ? ", from " : "from ") : "",
			 jstr(e, "device") ? jstr(e, "device") : "");
		table_add(&t, jstr(e, "id"), fmt_local(jint(e, "time"), when, sizeof(when)),
			  fmt_relative(jint(e, "time"), age, sizeof(age)),
			  fmt_size((uint64_t)jint(e, "size"), size, sizeof(size)),
			  fmt_size((uint64_t)(jint(e, "size") - jint(e, "shared")), own, sizeof(own)), files,
			  note);
	}
	table_print(&t);
}

/* Prints "ID  ok" or "ID  FAILED: why" per archive checked; returns how many failed. */
static size_t
print_verify(struct json_object *o)
{
	struct json_object *a = jarr(o, "results");
	size_t failed = 0;

	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		if (jbool(e, "ok")) {
			printf("%s  ok\n", jtext(e, "id"));
		} else {
			printf("%s  FAILED: %s\n", jtext(e, "id"), jtext(e, "error"));
			failed++;
		}
	}
	return failed;
}

/* A failed verify: the results on stdout, and one line on stderr that sums them up (or the
 * daemon's reason when it checked nothing, such as an unknown game). */
static void
report_verify_failure(struct json_object *o)
{
	struct json_object *a = jarr(o, "results");
	size_t n = a ? json_object_array_length(a) : 0, failed = print_verify(o);
	char what[64];

	if (n == 0 || failed == 0)
		complain("%s", jstr(o, "error") ? jstr(o, "error") : "verify failed");
	else
		complain("%s: %zu of %s failed verification", jtext(o, "game"), failed,
			 fmt_count((int64_t)n, "archive", NULL, what, sizeof(what)));
}

/* Prints "ID  why" for each entry of the array key, under a heading. */
static void
print_ids_why(struct json_object *o, const char *key, const char *heading)
{
	struct json_object *a = jarr(o, key);
	size_t n = a ? json_object_array_length(a) : 0;

	printf("%s: %zu\n", heading, n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		printf("  %s  %s\n", jtext(e, "id"), jstr(e, "why") ? jstr(e, "why") : "");
	}
}

static void
print_prune(struct json_object *o)
{
	bool dry = jbool(o, "dry_run"), remote = jbool(o, "remote");

	print_ids_why(o, "removed",
		      remote ? (dry ? "would remove from the remote" : "removed from the remote")
			     : (dry ? "would remove" : "removed"));
	print_ids_why(o, "kept",
		      remote ? (dry ? "would keep on the remote" : "kept on the remote")
			     : (dry ? "would keep" : "kept"));
}

static void
print_restore(const struct proto_request *req, struct json_object *o)
{
	struct json_object *a = jarr(o, "changes");
	bool undo = req->flags & PF_UNDO;
	char size[32];

	if (req->flags & PF_DRY_RUN) {
		size_t n = a ? json_object_array_length(a) : 0;
		if (n == 0)
			printf("%s: no changes\n", jtext(o, "game"));
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(a, i);
			printf("%-8s %s (%s)\n", jtext(e, "change"), jtext(e, "path"),
			       fmt_size((uint64_t)jint(e, "size"), size, sizeof(size)));
		}
		return;
	}
	printf("%s: %s %s (%s)\n", jtext(o, "game"), undo ? "undone, back to" : "restored", jtext(o, "id"),
	       fmt_count(jint(o, "files"), "file", NULL, size, sizeof(size)));
	if (jstr(o, "pre_restore_id") && !undo)
		printf("the previous state is kept as %s; undo with: savekeeperctl restore %s --undo\n",
		       jtext(o, "pre_restore_id"), jtext(o, "game"));
}

static void
print_backup(struct json_object *o)
{
	char size[32], bytes[32], files[32], took[32];

	if (!jstr(o, "id")) {
		printf("%s: %s\n", jtext(o, "game"),
		       jbool(o, "joined") ? "joined the backup already running" : "backup started");
		return;
	}
	printf("%s: archived %s (%s, %s, %s on disk) in %s\n", jtext(o, "game"), jtext(o, "id"),
	       fmt_count(jint(o, "files"), "file", NULL, files, sizeof(files)),
	       fmt_size((uint64_t)jint(o, "bytes"), bytes, sizeof(bytes)),
	       fmt_size((uint64_t)jint(o, "size"), size, sizeof(size)),
	       fmt_duration(jint(o, "usec"), took, sizeof(took)));
}

static void
print_games(const char *verb, struct json_object *o)
{
	struct json_object *a = jarr(o, "games");

	printf("%s:", verb);
	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		printf(" %s", json_object_get_string(json_object_array_get_idx(a, i)));
	printf("\n");
}

static void
print_reply(const struct proto_request *req, struct json_object *o)
{
	enum proto_cmd cmd = req->cmd;
	char n[32];

	switch (cmd) {
	case CMD_PING:
		printf("savekeeperd %s is running\n", jtext(o, "version"));
		break;
	case CMD_STATUS:
		print_status(o);
		break;
	case CMD_START:
		print_games("started", o);
		break;
	case CMD_STOP:
		print_games("stopped", o);
		break;
	case CMD_BACKUP:
		print_backup(o);
		break;
	case CMD_LIST:
		print_list(o);
		break;
	case CMD_VERIFY:
		print_verify(o);
		break;
	case CMD_RESTORE:
		print_restore(req, o);
		break;
	case CMD_PRUNE:
		print_prune(o);
		break;
	case CMD_PIN:
	case CMD_UNPIN:
		printf("%s: %s %s%s\n", jtext(o, "game"), cmd == CMD_PIN ? "pinned" : "unpinned",
		       jtext(o, "id"), jbool(o, "remote") ? " (the remote follows)" : "");
		if (jstr(o, "message"))
			fprintf(stderr, "savekeeperctl: %s\n", jstr(o, "message"));
		break;
	case CMD_RELOAD:
		printf("reloaded: %s\n", fmt_count(jint(o, "games"), "game", NULL, n, sizeof(n)));
		break;
	case CMD_SESSION:
		printf("%s: %s\n", jtext(o, "game"), jbool(o, "playing") ? "playing" : "not playing");
		break;
	case CMD_PULL:
		printf("%s: %s\n", jtext(o, "game"), jtext(o, "message"));
		break;
	case CMD__COUNT:
		break;
	}
}

/* Draws a progress event as a bar redrawn in place; only on a terminal, where it is
 * erased before the result is printed. A pipe gets the result alone. */
static void
show_progress(struct json_object *o)
{
	int64_t fd = jint(o, "files_done"), ft = jint(o, "files_total");
	int64_t bd = jint(o, "bytes_done"), bt = jint(o, "bytes_total");
	char sd[32], st[32], bar[31];
	int pct = bt > 0 ? (int)(bd * 100 / bt) : ft > 0 ? (int)(fd * 100 / ft) : 0;

	if (pct > 100)
		pct = 100;
	for (int i = 0; i < 30; i++)
		bar[i] = i < pct * 30 / 100 ? '#' : '.';
	bar[30] = '\0';
	printf("\r[%s] %3d%%  %lld/%lld files  %s/%s\033[K", bar, pct, (long long)fd, (long long)ft,
	       fmt_size((uint64_t)bd, sd, sizeof(sd)), fmt_size((uint64_t)bt, st, sizeof(st)));
	fflush(stdout);
}

/* Waits for the final reply to the last request sent, showing progress events meanwhile. */
static int
await_reply(struct conn *c, int timeout_ms, bool quiet, struct json_object **ret)
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
			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
									     JSON_C_TO_STRING_NOSLASHESCAPE));
		/* A refusal at connect time answers no request in particular: it has no "re". */
		if ((jstr(o, "re") && strcmp(jstr(o, "re"), re) != 0) || !jstr(o, "ok")) {
			if (bar && jstr(o, "event")) {
				show_progress(o);
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

/* Sends line and waits for its final reply. Returns an exit status. */
static int
run_request(const char *line, const struct proto_request *req)
{
	enum proto_cmd cmd = req->cmd;
	int timeout = cmd == CMD_PING || cmd == CMD_STATUS ? SHORT_TIMEOUT_MS : -1;
	struct json_object *o = NULL;
	struct conn c;
	int r = conn_open(&c);

	if (r < 0) {
		no_daemon(r);
		return EXIT_NO_DAEMON;
	}
	/* A refused client (another uid, too many clients) finds the reason already waiting and
	 * the connection closed, so a failed send still reads what came back. */
	(void)conn_send(&c, line);
	r = await_reply(&c, timeout, false, &o);
	conn_close(&c);
	if (r < 0) {
		complain("%s", r == -ETIMEDOUT ? "no reply from the daemon within 10 s"
			       : r == -EBADMSG ? "the daemon sent a reply that is not JSON"
					       : "the daemon closed the connection without a reply");
		return EXIT_REFUSED;
	}
	if (jbool(o, "ok")) {
		if (!json_output)
			print_reply(req, o);
	} else if (!json_output) {
		/* verify lists what it found even when an archive failed. */
		if (cmd == CMD_VERIFY)
			report_verify_failure(o);
		else if (jstr(o, "game"))
			/* A job's message names the file and the cause; the game comes from the reply. */
			complain("%s: %s", jtext(o, "game"),
				 jstr(o, "error") ? jstr(o, "error") : "request failed");
		else
			complain("%s", jstr(o, "error") ? jstr(o, "error") : "request failed");
	}
	r = jbool(o, "ok") ? EXIT_OK : EXIT_REFUSED;
	json_object_put(o);
	return r;
}

/* Joins words into a request line and checks it with the daemon's own parser. */
static int
build_line(char **words, int n, char *line, size_t len, struct proto_request *ret)
{
	size_t pos = 0;
	char err[256];

	line[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strpbrk(words[i], " \t\r\n") || pos + strlen(words[i]) + 2 > len) {
			complain("bad argument '%s'", words[i]);
			return -EINVAL;
		}
		pos += (size_t)snprintf(line + pos, len - pos, "%s%s", i ? " " : "", words[i]);
	}
	if (proto_parse(line, pos, ret, err, sizeof(err)) < 0) {
		complain("%s", err);
		return -EINVAL;
	}
	return 0;
}

/* wrap: the child's pid, for the signal handlers that forward to it. */
static volatile pid_t wrapped_pid;

static void
forward_signal(int sig)
{
	if (wrapped_pid > 0)
		kill(wrapped_pid, sig);
}

/* Sends one request of wrap's and waits for its final reply; the reply, or NULL with a
 * message on stderr when the daemon went away. */
static struct json_object *
wrap_request(struct conn *c, const char *verb, const char *game, const char *rest, int timeout_ms)
{
	char line[PROTO_MAX_LINE];
	struct json_object *o = NULL;
	int r;

	snprintf(line, sizeof(line), "%s%s%s %s", verb, game ? " " : "", game ? game : "", rest);
	r = conn_send(c, line);
	if (r >= 0)
		r = await_reply(c, timeout_ms, true, &o);
	if (r < 0) {
		complain("lost the daemon during %s: %s", verb, strerror(-r));
		return NULL;
	}
	return o;
}

/* Tells the daemon a wrapped game begins or ends, with a snapshot before launch. Only warns
 * on failure: the game runs whatever happens. Returns true if the daemon took the session,
 * so that only a session begun is ended. */
static bool
wrap_session(const char *game, bool begin)
{
	struct json_object *o;
	struct conn c;
	bool ok;
	int r = conn_open(&c);

	if (r < 0) {
		complain("no daemon at %s (%s): %s", socket_path, strerror(-r),
			 begin ? "running the game without snapshots" : "no final snapshot");
		return false;
	}
	o = wrap_request(&c, "session", game, begin ? "begin" : "end", SHORT_TIMEOUT_MS);
	ok = o && jbool(o, "ok");
	if (o && !ok)
		complain("%s: %s", jtext(o, "error"),
			 begin ? "running the game without snapshots" : "no final snapshot");
	json_object_put(o);
	if (ok && begin) {
		o = wrap_request(&c, "backup", game, "--wait", -1);
		if (o && !jbool(o, "ok"))
			complain("snapshot before launch failed (%s); launching anyway", jtext(o, "error"));
		json_object_put(o);
	}
	conn_close(&c);
	return ok;
}

/* Runs argv with the termination signals forwarded; returns its exit status (128+signal). */
static int
wrap_run(char **argv)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa = {.sa_handler = forward_signal};
	int status;
	pid_t pid;

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		complain("cannot start '%s': %s", argv[0], strerror(errno));
		return 127;
	}
	if (pid == 0) {
		/* An ignored SIGPIPE would survive exec: give the game the defaults. */
		sa.sa_handler = SIG_DFL;
		for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
			sigaction(sigs[i], &sa, NULL);
		sigaction(SIGPIPE, &sa, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "savekeeperctl: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	wrapped_pid = pid;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	wrapped_pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* wrap [GAME] -- COMMAND...: a snapshot before, the game, a final snapshot after. */
static int
cmd_wrap(int argc, char **argv)
{
	const char *game = NULL;
	int i = 0, status;
	bool begun;

	if (i < argc && strcmp(argv[i], "--") != 0)
		game = argv[i++];
	if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
		complain("usage: savekeeperctl wrap [GAME] -- COMMAND...");
		return EXIT_USAGE;
	}
	if (game && !game_name_valid(game)) {
		complain("bad game name '%s'", game);
		return EXIT_USAGE;
	}
	begun = wrap_session(game, true);
	status = wrap_run(argv + i + 1);
	if (begun)
		wrap_session(game, false);
	return status;
}

/* -c FILE: the config that discover reads and add writes; NULL: the default one. */
static const char *config_file;

/* Loads the player's config for discover and add into *ret_cfg (NULL when the file does not
 * exist yet), its path in *ret_path. A config that does not load is reported and refused. */
static int
load_player_config(char **ret_path, struct sk_config **ret_cfg)
{
	_cleanup_free_ char *path = config_file ? strdup(config_file) : config_default_path();
	char err[1024];
	int r;

	if (!path)
		return -ENOMEM;
	*ret_cfg = NULL;
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		*ret_path = TAKE_PTR(path);
		return 0;
	}
	r = config_load(path, ret_cfg, err, sizeof(err));
	if (r < 0) {
		complain("%s", err);
		return r;
	}
	*ret_path = TAKE_PTR(path);
	return 0;
}

static void
print_json(struct json_object *o)
{
	printf("%s\n",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* discover [--json]: the games installed from Steam and their save folders; no daemon needed. */
static int
cmd_discover(int argc, char **argv)
{
	_cleanup_free_ char *path = NULL;
	struct sk_config *cfg = NULL;
	struct disc_query q = {0};
	struct discovery *d = NULL;
	struct json_object *o;

	(void)argv;
	if (argc > 0) {
		complain("usage: savekeeperctl discover [--json]");
		return EXIT_USAGE;
	}
	if (load_player_config(&path, &cfg) < 0)
		return EXIT_REFUSED;
	q.manifest = cfg ? cfg->manifest : NULL;
	if (discover_run(&q, &d) < 0) {
		complain("out of memory");
		config_free(cfg);
		return EXIT_REFUSED;
	}
	if (json_output && (o = discover_json(d, cfg))) {
		print_json(o);
		json_object_put(o);
	} else if (!json_output) {
		discover_print(stdout, d, cfg);
	}
	discovery_free(d);
	config_free(cfg);
	return EXIT_OK;
}

/* add's answer when the query names no one game: the candidates, or why there are none. */
static void
report_no_pick(const struct discovery *d, const char *query)
{
	if (d->n_games == 0) {
		complain(
		    "no game matches '%s' among the installed Steam games%s (see savekeeperctl discover)",
		    query, d->manifest_read ? " or in the manifest" : " (and no manifest was read)");
		for (size_t i = 0; i < d->n_warnings; i++)
			complain("warning: %s", d->warnings[i]);
		return;
	}
	complain("'%s' matches %zu games; give the full title or the Steam app id:", query, d->n_games);
	for (size_t i = 0; i < d->n_games; i++) {
		const struct disc_game *g = &d->games[i];
		if (g->app)
			fprintf(stderr, "  %s (Steam app %u, installed)\n", g->title, g->app->appid);
		else
			fprintf(stderr, "  %s (not installed from Steam)\n", g->title);
	}
}

/* Why g cannot be added, on stderr; false if it can. */
static bool
report_no_saves(const struct disc_game *g, const struct discovery *d)
{
	if (!g->in_manifest) {
		complain(
		    "'%s' is not in Ludusavi's manifest %s%s: add a [game] section with its path by hand",
		    g->title, d->manifest, d->manifest_read ? "" : " (not read)");
		return true;
	}
	if (g->n_saves > 0)
		return false;
	complain("found no save folder of '%s'; looked for:", g->title);
	for (size_t i = 0; i < g->n_tried; i++)
		fprintf(stderr, "  %s\n", g->tried[i]);
	for (size_t i = 0; i < g->n_notes; i++)
		fprintf(stderr, "  note: %s\n", g->notes[i]);
	return true;
}

/* Asks a running daemon to re-read its config; no daemon is no error. Returns an exit status. */
static int
reload_daemon(const struct sk_config *cfg, bool *ret_reloaded)
{
	_cleanup_free_ char *def = NULL;
	const char *env = getenv("SAVEKEEPER_SOCKET");
	struct json_object *o = NULL;
	struct conn c;
	int r;

	*ret_reloaded = false;
	if (!socket_path)
		socket_path = env && env[0] ? env
			      : cfg	    ? cfg->socket_path
					    : (def = config_default_socket_path());
	if (!socket_path || conn_open(&c) < 0) {
		if (!json_output)
			printf("no daemon at %s: it reads the new games when it starts\n",
			       socket_path ? socket_path : "?");
		return EXIT_OK;
	}
	signal(SIGPIPE, SIG_IGN);
	r = conn_send(&c, "reload");
	if (r >= 0)
		r = await_reply(&c, SHORT_TIMEOUT_MS, true, &o);
	conn_close(&c);
	if (r < 0 || !jbool(o, "ok")) {
		complain("the config is written, but the daemon did not reload it: %s",
			 o && jstr(o, "error") ? jstr(o, "error") : strerror(-r));
		json_object_put(o);
		return EXIT_REFUSED;
	}
	*ret_reloaded = true;
	if (!json_output)
		printf("the daemon at %s reloaded its config: %lld game%s\n", socket_path,
		       (long long)jint(o, "games"), jint(o, "games") == 1 ? "" : "s");
	json_object_put(o);
	return EXIT_OK;
}

/* Writes g's sections into the config at path; returns an exit status. */
static int
add_game(const struct disc_game *g, const struct sk_config *cfg, const char *path)
{
	_cleanup_free_ char *text = NULL;
	char err[1024];
	bool reloaded;
	int n = discover_sections(g, cfg, &text, err, sizeof(err)), status;

	if (n < 0) {
		complain("%s", n == -ENOMEM ? "out of memory" : err);
		return EXIT_REFUSED;
	}
	if (n == 0) {
		if (!json_output)
			printf("'%s' is configured already: each save folder found is in %s, or inside or "
			       "around "
			       "a folder there\n",
			       g->title, path);
		return EXIT_OK;
	}
	if (config_append(path, text, err, sizeof(err)) < 0) {
		complain("%s", err);
		return EXIT_REFUSED;
	}
	if (!json_output)
		printf("added to %s:%s", path, text);
	status = reload_daemon(cfg, &reloaded);
	if (json_output) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(status == EXIT_OK));
		json_object_object_add(o, "title", json_object_new_string(g->title));
		json_object_object_add(o, "config", json_object_new_string(path));
		json_object_object_add(o, "added", json_object_new_int(n));
		json_object_object_add(o, "reloaded", json_object_new_boolean(reloaded));
		print_json(o);
		json_object_put(o);
	}
	return status;
}

/* add TITLE|STEAM_APP_ID: finds the game and writes a [game] section per save folder. */
static int
cmd_add(int argc, char **argv)
{
	_cleanup_free_ char *path = NULL;
	struct sk_config *cfg = NULL;
	struct disc_query q = {0};
	struct discovery *d = NULL;
	const struct disc_game *g;
	int status = EXIT_REFUSED;

	if (argc != 1 || !argv[0][0]) {
		complain("usage: savekeeperctl add TITLE|STEAM_APP_ID");
		return EXIT_USAGE;
	}
	if (load_player_config(&path, &cfg) < 0) {
		complain("fix the config before adding games to it");
		return EXIT_REFUSED;
	}
	if (argv[0][strspn(argv[0], "0123456789")] == '\0' && strlen(argv[0]) < 10)
		q.appid = (unsigned)strtoul(argv[0], NULL, 10);
	else
		q.query = argv[0];
	q.manifest = cfg ? cfg->manifest : NULL;
	if (discover_run(&q, &d) < 0)
		complain("out of memory");
	else if (!(g = discover_pick(d, &q)))
		report_no_pick(d, argv[0]);
	else if (!report_no_saves(g, d))
		status = add_game(g, cfg, path);
	discovery_free(d);
	config_free(cfg);
	return status;
}

static void
usage(FILE *f)
{
	fputs("Usage: savekeeperctl [OPTION...] COMMAND [GAME] [ARG...]\n"
	      "Talks to savekeeperd. GAME may be left out when one game is configured.\n"
	      "Commands:\n"
	      "  ping                              check that the daemon answers\n"
	      "  status [GAME]                     games, last and next snapshots, the core\n"
	      "  start [GAME] | stop [GAME]        resume or pause the schedule\n"
	      "  backup [GAME] [--wait]            take a snapshot now (--wait: until done)\n"
	      "  list [GAME] [--remote]            archives: ID, time, age, size, files\n"
	      "                                    (--remote: what the remote holds)\n"
	      "  pull [GAME] [ID|latest]           download an archive from the remote\n"
	      "  verify [GAME] [ID|all|latest]     check archives against their SHA-256 lists\n"
	      "  restore [GAME] [ID|latest] [--dry-run]\n"
	      "                                    put a snapshot back (undoable)\n"
	      "  restore [GAME] --undo             go back to before the last restore\n"
	      "  prune [GAME] [--remote] [--dry-run]\n"
	      "                                    apply retention (here, or on the remote);\n"
	      "                                    show what goes and why\n"
	      "  pin [GAME] ID | unpin [GAME] ID   keep an archive for ever, or not\n"
	      "  reload                            re-read the configuration\n"
	      "  wrap [GAME] -- COMMAND...         run a game between two snapshots\n"
	      "  session [GAME] begin|end          a game started or exited (what wrap sends)\n"
	      "  discover                          Steam games installed, their save folders\n"
	      "                                    (no daemon needed)\n"
	      "  add TITLE|STEAM_APP_ID            add a [game] section per save folder found\n"
	      "                                    to the config, then reload the daemon\n"
	      "Options (--socket, --json and --help may also follow the command):\n"
	      "  -s, --socket PATH   the daemon's socket (default $SAVEKEEPER_SOCKET, else\n"
	      "                      $XDG_RUNTIME_DIR/savekeeper/control.sock)\n"
	      "  -j, --json          print the daemon's replies as JSON lines\n"
	      "  -c, --config FILE   the config discover reads and add writes (default\n"
	      "                      $XDG_CONFIG_HOME/savekeeper/savekeeper.ini)\n"
	      "  -h, --help          show this help\n"
	      "  -V, --version       show the version\n"
	      "Exit status: 0 done, 1 refused or failed, 2 usage, 3 no daemon at the socket.\n",
	      f);
}

/* Parses the options before the command; returns the index of the command, or -1 with the
 * exit status in *ret_exit (--help, --version, usage errors). */
static int
parse_options(int argc, char **argv, int *ret_exit)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},	      {"version", no_argument, NULL, 'V'},
	    {"config", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
	};
	int ch;

	/* "+": stop at the command, so its own options (--wait) and wrap's command stay put.
	 * ":": report a missing argument ourselves, as every other usage error. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:s:c:jhV", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			socket_path = optarg;
			break;
		case 'j':
			json_output = true;
			break;
		case 'c':
			config_file = optarg;
			break;
		case 'h':
			usage(stdout);
			*ret_exit = EXIT_OK;
			return -1;
		case 'V':
			printf("savekeeperctl %s\n", SK_VERSION);
			*ret_exit = EXIT_OK;
			return -1;
		case ':':
			complain("option '%s' needs an argument (see savekeeperctl --help)",
				 argv[optind - 1]);
			*ret_exit = EXIT_USAGE;
			return -1;
		default:
			complain("unknown option '%s' (see savekeeperctl --help)", argv[optind - 1]);
			*ret_exit = EXIT_USAGE;
			return -1;
		}
	}
	if (optind >= argc) {
		complain("no command given");
		usage(stderr);
		*ret_exit = EXIT_USAGE;
		return -1;
	}
	return optind;
}

/* Takes --json, --socket PATH and --help from among the command's words too ("status --json"),
 * up to wrap's "--". Returns the words left, or -1 with the exit status in *ret_exit. */
static int
take_late_options(int n, char **words, int *ret_exit)
{
	int kept = 0, i;

	for (i = 0; i < n && strcmp(words[i], "--") != 0; i++) {
		if (strcmp(words[i], "--json") == 0) {
			json_output = true;
		} else if (strncmp(words[i], "--socket=", 9) == 0) {
			socket_path = words[i] + 9;
		} else if (strcmp(words[i], "--socket") == 0) {
			if (++i == n) {
				complain("option '--socket' needs an argument (see savekeeperctl --help)");
				*ret_exit = EXIT_USAGE;
				return -1;
			}
			socket_path = words[i];
		} else if (strcmp(words[i], "--help") == 0 || strcmp(words[i], "-h") == 0) {
			usage(stdout);
			*ret_exit = EXIT_OK;
			return -1;
		} else {
			words[kept++] = words[i];
		}
	}
	while (i < n)
		words[kept++] = words[i++];
	return kept;
}

int
main(int argc, char **argv)
{
	_cleanup_free_ char *def = NULL;
	char line[PROTO_MAX_LINE + 1];
	struct proto_request req;
	enum proto_cmd cmd;
	int status = EXIT_USAGE, n, i = parse_options(argc, argv, &status);

	if (i < 0)
		return status;
	n = take_late_options(argc - i - 1, argv + i + 1, &status);
	if (n < 0)
		return status;
	if (strcmp(argv[i], "discover") == 0)
		return cmd_discover(n, argv + i + 1);
	if (strcmp(argv[i], "add") == 0)
		return cmd_add(n, argv + i + 1);
	if (!socket_path)
		socket_path = getenv("SAVEKEEPER_SOCKET");
	if (!socket_path || !socket_path[0])
		socket_path = def = config_default_socket_path();
	if (!socket_path) {
		complain("out of memory");
		return EXIT_REFUSED;
	}
	/* A broken connection is reported from write()'s error, not by dying. */
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[i], "wrap") == 0)
		return cmd_wrap(n, argv + i + 1);
	if (proto_cmd_from_name(argv[i], &cmd) < 0) {
		complain("unknown command '%s' (see savekeeperctl --help)", argv[i]);
		return EXIT_USAGE;
	}
	if (build_line(argv + i, n + 1, line, sizeof(line), &req) < 0)
		return EXIT_USAGE;
	return run_request(line, &req);
}

/* savekeeperctl's output for people: each command's reply as a table or a few lines (times
 * relative and local, sizes and counts in words), and the progress bar. --json prints the
 * daemon's lines as they come instead (savekeeperctl_conn.c). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "savekeeperctl.h"
#include "util.h"

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

void
output_verify_failure(struct json_object *o)
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

void
output_reply(const struct proto_request *req, struct json_object *o)
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

void
output_progress(struct json_object *o)
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

void
output_json(struct json_object *o)
{
	printf("%s\n",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

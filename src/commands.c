/* savekeeperd's control requests: each one answered from the schedule and the store, as JSON
 * replies in the shape docs/protocol.md gives. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "core.h"
#include "daemon.h"
#include "log.h"
#include "schedule.h"
#include "store.h"
#include "util.h"

/* A client waiting for a job: progress events, then the final reply. */
struct waiter {
	struct sched_waiter w;
	struct daemon *d;
	struct ctl_client *client;
	enum proto_cmd cmd;
	unsigned flags;
	char re[32];
	char game[PROTO_MAX_NAME + 1];
	uint64_t last_event_usec;
	struct verify_batch *batch;
};

/* verify all: one job per archive, one reply when the last ends. */
struct verify_batch {
	struct ctl_client *client;
	char re[32];
	char game[PROTO_MAX_NAME + 1];
	unsigned pending;
	bool failed;
	struct json_object *results;
};

/* {"re", "cmd", "ok"} for a reply sent after the request itself is gone. */
static struct json_object *
reply_new(const char *re, enum proto_cmd cmd, bool ok)
{
	struct proto_request req = { .cmd = cmd };

	snprintf(req.tag, sizeof(req.tag), "%s", re);
	return ctl_result_new(&req, ok);
}

/* Keys are string literals, each added once: json-c need not copy or look them up. */
#define ADD_FLAGS (JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT)

static void
add_str(struct json_object *o, const char *key, const char *val)
{
	json_object_object_add_ex(o, key, val ? json_object_new_string(val) : NULL, ADD_FLAGS);
}

static void
add_int(struct json_object *o, const char *key, int64_t val)
{
	json_object_object_add_ex(o, key, json_object_new_int64(val), ADD_FLAGS);
}

static void
reply_fail(struct ctl_client *c, const struct proto_request *req, const char *msg)
{
	struct json_object *o = ctl_result_new(req, false);

	add_str(o, "error", msg);
	ctl_reply(c, req->tag, o);
}

static void
add_progress(struct json_object *o, const struct job_progress *p)
{
	add_int(o, "files_done", (int64_t)p->files_done);
	add_int(o, "files_total", (int64_t)p->files_total);
	add_int(o, "bytes_done", (int64_t)p->bytes_done);
	add_int(o, "bytes_total", (int64_t)p->bytes_total);
}

static void
on_waiter_progress(const struct job_progress *p, void *data)
{
	struct waiter *wt = data;
	struct json_object *o;
	uint64_t now = now_usec();

	/* Ten events a second are plenty for a progress bar. */
	if (!ctl_client_alive(wt->client) || now - wt->last_event_usec < 100 * USEC_PER_MSEC)
		return;
	wt->last_event_usec = now;
	o = json_object_new_object();
	add_str(o, "re", wt->re);
	add_str(o, "event", "progress");
	add_str(o, "game", wt->game);
	add_progress(o, p);
	ctl_reply(wt->client, wt->re, o);
}

/* Adds one dry-run line "change\tsize\tpath" (len bytes, any length) to the array a. */
static void
add_change(struct json_object *a, const char *line, size_t len)
{
	const char *tab1 = memchr(line, '\t', len), *tab2, *end = line + len;
	_cleanup_free_ char *change = NULL, *path = NULL;
	struct json_object *e;
	char *num_end;
	unsigned long long size;

	if (!tab1 || !(tab2 = memchr(tab1 + 1, '\t', (size_t)(end - tab1 - 1))))
		return;
	size = strtoull(tab1 + 1, &num_end, 10);
	if (num_end != tab2 || !(change = strndup(line, (size_t)(tab1 - line))) ||
	    !(path = strndup(tab2 + 1, (size_t)(end - tab2 - 1))))
		return;
	e = json_object_new_object();
	add_str(e, "change", change);
	add_str(e, "path", path);
	add_int(e, "size", (int64_t)size);
	json_object_array_add(a, e);
}

/* Parses a dry-run listing "change\tsize\tpath" per line into an array. */
static struct json_object *
changes_json(const char *detail)
{
	struct json_object *a = json_object_new_array();

	for (const char *line = detail; line && *line;) {
		const char *end = strchr(line, '\n');
		add_change(a, line, end ? (size_t)(end - line) : strlen(line));
		line = end ? end + 1 : NULL;
	}
	return a;
}

/* {"id", "ok", "error"?} for one archive checked. */
static struct json_object *
verify_result(const struct job_result *r)
{
	struct json_object *e = json_object_new_object();

	add_str(e, "id", r->id);
	json_object_object_add(e, "ok", json_object_new_boolean(r->err == 0));
	if (r->err < 0)
		add_str(e, "error", r->message);
	return e;
}

static void
finish_job_reply(struct waiter *wt, const struct job_result *r)
{
	struct json_object *o = reply_new(wt->re, wt->cmd, r->err == 0);

	add_str(o, "game", wt->game);
	if (r->err < 0)
		add_str(o, "error", r->message);
	if (r->id[0])
		add_str(o, "id", r->id);
	add_int(o, "files", (int64_t)r->files);
	add_int(o, "usec", (int64_t)r->usec);
	if (wt->cmd == CMD_BACKUP) {
		add_int(o, "bytes", (int64_t)r->bytes_in);
		add_int(o, "size", (int64_t)r->bytes_out);
		json_object_object_add(o, "unchanged", json_object_new_boolean(r->unchanged));
	} else if (wt->cmd == CMD_VERIFY) {
		/* The same shape as "verify all": one result per archive checked. */
		struct json_object *a = json_object_new_array();
		json_object_array_add(a, verify_result(r));
		json_object_object_add(o, "results", a);
	} else if (wt->cmd == CMD_RESTORE) {
		add_str(o, "pre_restore_id", r->pre_id[0] ? r->pre_id : NULL);
		json_object_object_add(o, "dry_run", json_object_new_boolean(wt->flags & PF_DRY_RUN));
		json_object_object_add(o, "undo", json_object_new_boolean(wt->flags & PF_UNDO));
		if (r->detail)
			json_object_object_add(o, "changes", changes_json(r->detail));
	}
	ctl_reply(wt->client, wt->re, o);
}

/* Drops one hold on the batch; the last one sends the reply. */
static void
batch_release(struct verify_batch *b)
{
	struct json_object *o;

	if (--b->pending > 0)
		return;
	o = reply_new(b->re, CMD_VERIFY, !b->failed);
	add_str(o, "game", b->game);
	json_object_object_add(o, "results", b->results);
	ctl_reply(b->client, b->re, o);
	ctl_client_unref(b->client);
	free(b);
}

static void
on_waiter_done(const struct job_result *r, void *data)
{
	struct waiter *wt = data;
	struct verify_batch *b = wt->batch;

	if (b) {
		json_object_array_add(b->results, verify_result(r));
		b->failed |= r->err < 0;
		batch_release(b);
	} else {
		finish_job_reply(wt, r);
	}
	ctl_client_unref(wt->client);
	free(wt);
}

static struct waiter *
waiter_new(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	struct waiter *wt = calloc(1, sizeof(*wt));

	if (!wt)
		return NULL;
	wt->w.progress = on_waiter_progress;
	wt->w.done = on_waiter_done;
	wt->w.data = wt;
	wt->d = d;
	wt->client = ctl_client_ref(c);
	wt->cmd = req->cmd;
	wt->flags = req->flags;
	snprintf(wt->re, sizeof(wt->re), "%s", req->tag);
	snprintf(wt->game, sizeof(wt->game), "%s", game);
	return wt;
}

/* Queues a job for game; the client gets the final reply (and progress) when wait is set. */
static void
submit(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game,
       const struct job_spec *tmpl, bool wait)
{
	struct waiter *wt = wait ? waiter_new(d, c, req, game) : NULL;
	bool joined = false;
	int r;

	if (wait && !wt) {
		reply_fail(c, req, "out of memory");
		return;
	}
	r = sched_submit(d->sched, game, tmpl, wt ? &wt->w : NULL, &joined);
	if (r < 0) {
		char msg[256];
		snprintf(msg, sizeof(msg), "game '%s': %s", game, strerror(-r));
		reply_fail(c, req, msg);
		if (wt) {
			ctl_client_unref(wt->client);
			free(wt);
		}
		return;
	}
	if (!wait) {
		struct json_object *o = ctl_result_new(req, true);
		add_str(o, "game", game);
		json_object_object_add(o, "joined", json_object_new_boolean(joined));
		ctl_reply(c, req->tag, o);
	}
}

static const char *const last_names[] = { [LAST_NONE] = NULL, [LAST_OK] = "ok",
					  [LAST_FAILED] = "failed", [LAST_UNCHANGED] = "unchanged" };

static struct json_object *
game_status(const struct sched_game_info *gi)
{
	struct json_object *g = json_object_new_object();

	add_str(g, "name", gi->name);
	add_str(g, "path", gi->path);
	add_str(g, "state", gi->started ? "started" : "paused");
	json_object_object_add(g, "busy", json_object_new_boolean(gi->busy));
	json_object_object_add(g, "playing", json_object_new_boolean(gi->playing));
	add_str(g, "last_result", last_names[gi->last]);
	add_str(g, "last_error", gi->last_error);
	add_str(g, "last_archive", gi->last_archive);
	json_object_object_add(g, "last_time",
			       gi->last_time_usec ? json_object_new_int64(gi->last_time_usec / 1000000) : NULL);
	json_object_object_add(g, "next_due",
			       gi->next_due_usec ? json_object_new_int64(gi->next_due_usec / 1000000) : NULL);
	add_str(g, "unchanged_since", gi->unchanged_since);
	if (gi->busy) {
		struct json_object *p = json_object_new_object();
		add_str(p, "job", gi->busy_kind == JOB_SNAPSHOT ? "snapshot"
				  : gi->busy_kind == JOB_VERIFY ? "verify" : "restore");
		add_progress(p, &gi->progress);
		json_object_object_add(g, "progress", p);
	} else {
		json_object_object_add(g, "progress", NULL);
	}
	return g;
}

static void
cmd_status(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	struct json_object *o = ctl_result_new(req, true), *games = json_object_new_array();

	add_str(o, "version", SK_VERSION);
	add_int(o, "pid", getpid());
	add_int(o, "uptime_sec", (int64_t)((now_usec() - d->start_usec) / USEC_PER_SEC));
	add_str(o, "core", core_name(d->cfg->core));
	add_str(o, "config", d->cfg->file);
	add_str(o, "archive_dir", d->cfg->archive_dir);
	for (size_t i = 0; i < sched_games(d->sched); i++) {
		struct sched_game_info gi;
		sched_game_info(d->sched, i, &gi);
		if (!game || strcmp(game, gi.name) == 0)
			json_object_array_add(games, game_status(&gi));
	}
	json_object_object_add(o, "games", games);
	ctl_reply(c, req->tag, o);
}

static void
cmd_start_stop(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	struct json_object *o = ctl_result_new(req, true), *names = json_object_new_array();

	sched_set_started(d->sched, game, req->cmd == CMD_START);
	for (size_t i = 0; i < sched_games(d->sched); i++) {
		struct sched_game_info gi;
		sched_game_info(d->sched, i, &gi);
		if (!game || strcmp(game, gi.name) == 0)
			json_object_array_add(names, json_object_new_string(gi.name));
	}
	json_object_object_add(o, "games", names);
	ctl_reply(c, req->tag, o);
}

static void
cmd_list(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	const char *dir = sched_game_dir(d->sched, game);
	_cleanup_free_ struct store_entry *e = NULL;
	struct json_object *o, *a;
	size_t n = 0;
	char msg[512];
	int r = store_list(dir, &e, &n);

	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot list '%s': %s", dir, strerror(-r));
		reply_fail(c, req, msg);
		return;
	}
	o = ctl_result_new(req, true);
	a = json_object_new_array();
	add_str(o, "game", game);
	for (size_t i = 0; i < n; i++) {
		struct json_object *x = json_object_new_object();
		add_str(x, "id", e[i].id);
		add_int(x, "time", e[i].time_usec / 1000000);
		add_int(x, "size", (int64_t)e[i].size);
		add_int(x, "files", (int64_t)e[i].files);
		add_int(x, "bytes", (int64_t)e[i].bytes);
		json_object_object_add(x, "pinned", json_object_new_boolean(e[i].pinned));
		add_str(x, "tag", e[i].tag);
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "archives", a);
	ctl_reply(c, req->tag, o);
}

static void
cmd_verify_all(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	const char *dir = sched_game_dir(d->sched, game);
	_cleanup_free_ struct store_entry *e = NULL;
	struct verify_batch *b;
	size_t n = 0;
	char msg[512];
	int k = store_list(dir, &e, &n);

	if (k < 0 || n == 0) {
		if (k < 0)
			snprintf(msg, sizeof(msg), "game '%s': cannot list archives in %s: %s", game,
				 dir, strerror(-k));
		else
			snprintf(msg, sizeof(msg), "game '%s' has no archives to verify", game);
		reply_fail(c, req, msg);
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		reply_fail(c, req, "out of memory");
		return;
	}
	b->client = ctl_client_ref(c);
	b->results = json_object_new_array();
	b->pending = 1; /* held until every job is queued */
	snprintf(b->re, sizeof(b->re), "%s", req->tag);
	snprintf(b->game, sizeof(b->game), "%s", game);
	for (size_t i = 0; i < n; i++) {
		struct job_spec tmpl = { .kind = JOB_VERIFY, .id = e[i].id };
		struct waiter *wt = waiter_new(d, c, req, game);
		if (!wt)
			break;
		wt->batch = b;
		b->pending++;
		if (sched_submit(d->sched, game, &tmpl, &wt->w, NULL) < 0) {
			struct job_result r = { .err = -ENOMEM };
			snprintf(r.id, sizeof(r.id), "%s", e[i].id);
			snprintf(r.message, sizeof(r.message), "cannot queue the check of %s", e[i].id);
			on_waiter_done(&r, wt);
		}
	}
	batch_release(b);
}

/* Replies to prune from the store's report: lines "remove ID (why)" and "keep ID (why)". */
static void
cmd_prune(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	const char *dir = sched_game_dir(d->sched, game);
	_cleanup_free_ char *report = NULL;
	struct json_object *o, *removed, *kept;
	bool dry = req->flags & PF_DRY_RUN;
	char msg[512];
	int r = store_prune(dir, &d->cfg->keep, dry, &report);

	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot prune '%s': %s", game, strerror(-r));
		reply_fail(c, req, msg);
		return;
	}
	o = ctl_result_new(req, true);
	removed = json_object_new_array();
	kept = json_object_new_array();
	add_str(o, "game", game);
	json_object_object_add(o, "dry_run", json_object_new_boolean(dry));
	for (char *save = NULL, *line = report ? strtok_r(report, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char verb[16], id[64], why[128] = "";
		if (sscanf(line, "%15s %63s (%127[^)])", verb, id, why) < 2)
			continue;
		struct json_object *e = json_object_new_object();
		add_str(e, "id", id);
		add_str(e, "why", why);
		json_object_array_add(strcmp(verb, "remove") == 0 ? removed : kept, e);
	}
	json_object_object_add(o, "removed", removed);
	json_object_object_add(o, "kept", kept);
	ctl_reply(c, req->tag, o);
}

static void
cmd_pin(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	const char *dir = sched_game_dir(d->sched, game);
	struct json_object *o;
	char msg[512];
	int r = store_pin(dir, req->id, req->cmd == CMD_PIN);

	if (r < 0) {
		snprintf(msg, sizeof(msg), r == -ENOENT ? "game '%s' has no archive %s" : "game '%s': cannot pin %s: %s",
			 game, req->id, strerror(-r));
		reply_fail(c, req, msg);
		return;
	}
	o = ctl_result_new(req, true);
	add_str(o, "game", game);
	add_str(o, "id", req->id);
	ctl_reply(c, req->tag, o);
}

static void
cmd_reload(struct daemon *d, struct ctl_client *c, const struct proto_request *req)
{
	char err[1024];
	struct json_object *o;

	if (daemon_reload(d, err, sizeof(err)) < 0) {
		reply_fail(c, req, err);
		return;
	}
	o = ctl_result_new(req, true);
	add_int(o, "games", (int64_t)sched_games(d->sched));
	ctl_reply(c, req->tag, o);
}

static void
cmd_session(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	bool playing = req->flags & PF_BEGIN;
	struct json_object *o;

	sched_set_playing(d->sched, game, playing);
	o = ctl_result_new(req, true);
	add_str(o, "game", game);
	json_object_object_add(o, "playing", json_object_new_boolean(playing));
	ctl_reply(c, req->tag, o);
}

static void
cmd_job(struct daemon *d, struct ctl_client *c, const struct proto_request *req, const char *game)
{
	struct job_spec tmpl = { 0 };
	char id[sizeof(req->id)];
	bool wait = true;

	switch (req->cmd) {
	case CMD_BACKUP:
		tmpl.kind = JOB_SNAPSHOT;
		wait = req->flags & PF_WAIT;
		break;
	case CMD_VERIFY:
		tmpl.kind = JOB_VERIFY;
		break;
	default:
		tmpl.kind = JOB_RESTORE;
		tmpl.dry_run = req->flags & PF_DRY_RUN;
		tmpl.undo = req->flags & PF_UNDO;
		break;
	}
	memcpy(id, req->id, sizeof(id));
	tmpl.id = id[0] ? id : NULL;
	submit(d, c, req, game, &tmpl, wait);
}

void
daemon_handle_request(struct ctl_client *c, const struct proto_request *req, void *data)
{
	struct daemon *d = data;
	const char *game = NULL;
	char err[256];
	bool needs_game = req->cmd != CMD_PING && req->cmd != CMD_RELOAD;
	bool all_if_none = req->cmd == CMD_STATUS || req->cmd == CMD_START || req->cmd == CMD_STOP;

	if (needs_game && (req->game[0] || !all_if_none) &&
	    sched_resolve(d->sched, req->game, &game, err, sizeof(err)) < 0) {
		reply_fail(c, req, err);
		return;
	}
	switch (req->cmd) {
	case CMD_PING: {
		struct json_object *o = ctl_result_new(req, true);
		add_str(o, "version", SK_VERSION);
		ctl_reply(c, req->tag, o);
		break;
	}
	case CMD_STATUS:
		cmd_status(d, c, req, game);
		break;
	case CMD_START:
	case CMD_STOP:
		cmd_start_stop(d, c, req, game);
		break;
	case CMD_LIST:
		cmd_list(d, c, req, game);
		break;
	case CMD_VERIFY:
		if (req->flags & PF_ALL)
			cmd_verify_all(d, c, req, game);
		else
			cmd_job(d, c, req, game);
		break;
	case CMD_BACKUP:
	case CMD_RESTORE:
		cmd_job(d, c, req, game);
		break;
	case CMD_PRUNE:
		cmd_prune(d, c, req, game);
		break;
	case CMD_PIN:
	case CMD_UNPIN:
		cmd_pin(d, c, req, game);
		break;
	case CMD_RELOAD:
		cmd_reload(d, c, req);
		break;
	case CMD_SESSION:
		cmd_session(d, c, req, game);
		break;
	default:
		reply_fail(c, req, "unknown command");
		break;
	}
}

/* savekeeperd's control requests: each one answered from the schedule, or submitted as a job
 * and answered from its result, as JSON replies in the shape docs/protocol.md gives. */
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
	struct proto_request req = {.cmd = cmd};

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
	ctl_reply_fixed(c, req->tag, proto_cmd_name(req->cmd), false, "error", msg);
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

/* The changes of a restore's dry run: [{"change", "path", "size"}]. */
static struct json_object *
changes_json(const struct job_result *r)
{
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; i < r->n_changes; i++) {
		struct json_object *e = json_object_new_object();
		add_str(e, "change", r->changes[i].change);
		add_str(e, "path", r->changes[i].path);
		add_int(e, "size", (int64_t)r->changes[i].size);
		json_object_array_add(a, e);
	}
	return a;
}

/* {"id", "time", "size", ...} for one archive of a listing. */
static struct json_object *
archive_json(const struct job_archive *e)
{
	struct json_object *x = json_object_new_object();

	add_str(x, "id", e->id);
	add_int(x, "time", e->time_usec / 1000000);
	add_int(x, "size", (int64_t)e->size);
	add_int(x, "shared", (int64_t)e->shared);
	add_int(x, "files", (int64_t)e->files);
	add_int(x, "bytes", (int64_t)e->bytes);
	json_object_object_add(x, "pinned", json_object_new_boolean(e->pinned));
	add_str(x, "tag", e->tag);
	add_str(x, "device", e->device[0] ? e->device : NULL);
	return x;
}

/* The "removed" and "kept" arrays of a prune reply, each entry {"id", "why"}. */
static void
add_prune(struct json_object *o, const struct job_result *r)
{
	struct json_object *removed = json_object_new_array(), *kept = json_object_new_array();

	for (unsigned i = 0; i < r->n_archives; i++) {
		struct json_object *e = json_object_new_object();
		char why[128];
		add_str(e, "id", r->archives[i].id);
		add_str(e, "why",
			r->archives[i].keep ? store_why_str(r->archives[i].keep, why, sizeof(why))
					    : "no rule keeps it");
		json_object_array_add(r->archives[i].keep ? kept : removed, e);
	}
	json_object_object_add(o, "removed", removed);
	json_object_object_add(o, "kept", kept);
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

/* The members a job's kind adds to its reply. */
static void
add_job_detail(struct json_object *o, const struct waiter *wt, const struct job_result *r)
{
	switch (wt->cmd) {
	case CMD_BACKUP:
		add_int(o, "files", (int64_t)r->files);
		add_int(o, "usec", (int64_t)r->usec);
		add_int(o, "bytes", (int64_t)r->bytes_in);
		add_int(o, "size", (int64_t)r->bytes_out);
		add_int(o, "files_read", (int64_t)r->files_read);
		add_int(o, "files_reused", (int64_t)r->files_reused);
		json_object_object_add(o, "unchanged", json_object_new_boolean(r->unchanged));
		break;
	case CMD_VERIFY: {
		/* The same shape as "verify all": one result per archive checked. */
		struct json_object *a = json_object_new_array();
		add_int(o, "files", (int64_t)r->files);
		add_int(o, "usec", (int64_t)r->usec);
		json_object_array_add(a, verify_result(r));
		json_object_object_add(o, "results", a);
		break;
	}
	case CMD_RESTORE:
		add_int(o, "files", (int64_t)r->files);
		add_int(o, "usec", (int64_t)r->usec);
		add_str(o, "pre_restore_id", r->pre_id[0] ? r->pre_id : NULL);
		json_object_object_add(o, "dry_run", json_object_new_boolean(wt->flags & PF_DRY_RUN));
		json_object_object_add(o, "undo", json_object_new_boolean(wt->flags & PF_UNDO));
		if (r->dry_run && r->err == 0)
			json_object_object_add(o, "changes", changes_json(r));
		break;
	case CMD_PULL:
		add_str(o, "message", r->message);
		break;
	case CMD_LIST: {
		struct json_object *a = json_object_new_array();
		for (unsigned i = 0; i < r->n_archives; i++)
			json_object_array_add(a, archive_json(&r->archives[i]));
		json_object_object_add(o, "archives", a);
		json_object_object_add(o, "remote", json_object_new_boolean(wt->flags & PF_REMOTE));
		break;
	}
	case CMD_PRUNE:
		json_object_object_add(o, "dry_run", json_object_new_boolean(wt->flags & PF_DRY_RUN));
		json_object_object_add(o, "remote", json_object_new_boolean(wt->flags & PF_REMOTE));
		add_prune(o, r);
		break;
	case CMD_PIN:
	case CMD_UNPIN:
		/* Whether the remote's marker follows, through the copy queue; a message says why
		 * not when queuing failed. */
		json_object_object_add(o, "remote", json_object_new_boolean(r->pending > 0));
		add_str(o, "message", r->message[0] ? r->message : NULL);
		break;
	default:
		break;
	}
}

static void
finish_job_reply(struct waiter *wt, const struct job_result *r)
{
	struct json_object *o = reply_new(wt->re, wt->cmd, r->err == 0);

	add_str(o, "game", wt->game);
	if (r->err < 0) {
		add_str(o, "error", r->message);
		if (wt->cmd == CMD_LIST || wt->cmd == CMD_PRUNE || wt->cmd == CMD_PIN ||
		    wt->cmd == CMD_UNPIN) {
			ctl_reply(wt->client, wt->re, o);
			return;
		}
	}
	if (r->id[0])
		add_str(o, "id", r->id);
	add_job_detail(o, wt, r);
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

static void verify_listed(const struct waiter *lister, const struct job_result *r);

static void
on_waiter_done(const struct job_result *r, void *data)
{
	struct waiter *wt = data;
	struct verify_batch *b = wt->batch;

	if (b) {
		json_object_array_add(b->results, verify_result(r));
		b->failed |= r->err < 0;
		batch_release(b);
	} else if (wt->cmd == CMD_VERIFY && (wt->flags & PF_ALL)) {
		verify_listed(wt, r);
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
		if (r == -ENOLINK)
			snprintf(msg, sizeof(msg), "game '%s' has no remote (set remote = NAME:PATH)", game);
		else
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

/* verify all, once the list job answered: one verify job per archive, one reply at the end. */
static void
verify_listed(const struct waiter *lister, const struct job_result *r)
{
	struct proto_request req = {.cmd = CMD_VERIFY, .flags = lister->flags};
	struct verify_batch *b;

	snprintf(req.tag, sizeof(req.tag), "%s", lister->re);
	if (r->err < 0 || r->n_archives == 0) {
		struct json_object *o = reply_new(lister->re, CMD_VERIFY, false);
		char msg[1200];
		if (r->err < 0)
			snprintf(msg, sizeof(msg), "game '%s': %s", lister->game, r->message);
		else
			snprintf(msg, sizeof(msg), "game '%s' has no archives to verify", lister->game);
		add_str(o, "error", msg);
		ctl_reply(lister->client, lister->re, o);
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		reply_fail(lister->client, &req, "out of memory");
		return;
	}
	b->client = ctl_client_ref(lister->client);
	b->results = json_object_new_array();
	b->pending = 1; /* held until every job is queued */
	snprintf(b->re, sizeof(b->re), "%s", lister->re);
	snprintf(b->game, sizeof(b->game), "%s", lister->game);
	for (unsigned i = 0; i < r->n_archives; i++) {
		struct job_spec tmpl = {.kind = JOB_VERIFY, .id = r->archives[i].id};
		struct waiter *wt = waiter_new(lister->d, lister->client, &req, lister->game);
		if (!wt)
			break;
		wt->batch = b;
		b->pending++;
		if (sched_submit(lister->d->sched, lister->game, &tmpl, &wt->w, NULL) < 0) {
			struct job_result f = {.err = -ENOMEM};
			snprintf(f.id, sizeof(f.id), "%s", r->archives[i].id);
			snprintf(f.message, sizeof(f.message), "cannot queue the check of %s",
				 r->archives[i].id);
			on_waiter_done(&f, wt);
		}
	}
	batch_release(b);
}

static const char *const last_names[] = {
    [LAST_NONE] = NULL, [LAST_OK] = "ok", [LAST_FAILED] = "failed", [LAST_UNCHANGED] = "unchanged"};

/* A game's copies: "in sync", "pending" (N archives, the oldest's time) or "failing" (since
 * when, with rclone's last message). */
static struct json_object *
remote_status(const struct sched_game_info *gi)
{
	struct json_object *r = json_object_new_object();
	int64_t t = 0;

	add_str(r, "remote", gi->remote);
	add_str(r, "state", gi->copy_failing_since ? "failing" : gi->copy_pending ? "pending" : "in sync");
	add_int(r, "pending", gi->copy_pending);
	add_str(r, "oldest", gi->copy_oldest);
	json_object_object_add(r, "oldest_time",
			       gi->copy_oldest && store_id_time(gi->copy_oldest, &t) == 0
				   ? json_object_new_int64(t / 1000000)
				   : NULL);
	json_object_object_add(
	    r, "failing_since",
	    gi->copy_failing_since ? json_object_new_int64(gi->copy_failing_since / 1000000) : NULL);
	add_str(r, "error", gi->copy_error);
	/* How long the last round of uploads took (make bench reads it). */
	add_int(r, "last_copy_us", (int64_t)gi->copy_last_usec);
	add_int(r, "last_copy_archives", gi->copy_last_files);
	return r;
}

/* What the game's archives cost on disk: size - shared is what they alone hold. */
static struct json_object *
disk_status(const struct sched_game_info *gi)
{
	struct json_object *d = json_object_new_object();

	add_int(d, "archives", (int64_t)gi->disk_archives);
	add_int(d, "size", (int64_t)gi->disk_size);
	add_int(d, "shared", (int64_t)gi->disk_shared);
	return d;
}

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
	json_object_object_add(
	    g, "last_time", gi->last_time_usec ? json_object_new_int64(gi->last_time_usec / 1000000) : NULL);
	json_object_object_add(g, "next_due",
			       gi->next_due_usec ? json_object_new_int64(gi->next_due_usec / 1000000) : NULL);
	add_str(g, "unchanged_since", gi->unchanged_since);
	json_object_object_add(g, "remote", gi->remote ? remote_status(gi) : NULL);
	json_object_object_add(g, "disk", gi->disk_known ? disk_status(gi) : NULL);
	if (gi->busy) {
		struct json_object *p = json_object_new_object();
		add_str(p, "job", job_kind_name(gi->busy_kind));
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
cmd_reload(struct daemon *d, struct ctl_client *c, const struct proto_request *req)
{
	char err[1024];
	struct json_object *o;

	if (d->reload(d, err, sizeof(err)) < 0) {
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
	struct job_spec tmpl = {0};
	char id[sizeof(req->id)];
	bool wait = true;

	switch (req->cmd) {
	case CMD_BACKUP:
		tmpl.kind = JOB_SNAPSHOT;
		wait = req->flags & PF_WAIT;
		break;
	case CMD_VERIFY:
		/* verify all lists the archives first, then checks each. */
		tmpl.kind = req->flags & PF_ALL ? JOB_LIST : JOB_VERIFY;
		break;
	case CMD_LIST:
		tmpl.kind = req->flags & PF_REMOTE ? JOB_REMOTE_LIST : JOB_LIST;
		break;
	case CMD_PULL:
		tmpl.kind = JOB_PULL;
		break;
	case CMD_PRUNE:
		tmpl.kind = req->flags & PF_REMOTE ? JOB_REMOTE_PRUNE : JOB_PRUNE;
		tmpl.dry_run = req->flags & PF_DRY_RUN;
		break;
	case CMD_PIN:
		tmpl.kind = JOB_PIN;
		break;
	case CMD_UNPIN:
		tmpl.kind = JOB_UNPIN;
		break;
	default:
		tmpl.kind = JOB_RESTORE;
		tmpl.dry_run = req->flags & PF_DRY_RUN;
		tmpl.undo = req->flags & PF_UNDO;
		tmpl.force = req->flags & PF_FORCE;
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
	case CMD_PING:
		/* The hottest reply: formatted in place, no object tree. */
		ctl_reply_fixed(c, req->tag, proto_cmd_name(req->cmd), true, "version", SK_VERSION);
		break;
	case CMD_STATUS:
		cmd_status(d, c, req, game);
		break;
	case CMD_START:
	case CMD_STOP:
		cmd_start_stop(d, c, req, game);
		break;
	case CMD_LIST:
	case CMD_VERIFY:
	case CMD_BACKUP:
	case CMD_RESTORE:
	case CMD_PRUNE:
	case CMD_PIN:
	case CMD_UNPIN:
	case CMD_PULL:
		/* Every request that reads or changes the archive folder is a job. */
		cmd_job(d, c, req, game);
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

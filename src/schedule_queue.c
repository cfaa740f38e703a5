/* The schedule's queue of jobs per game: a request joins a waiting snapshot or goes to the end,
 * the head starts on the core when nothing of the game runs (its spec filled from the config,
 * after the free-space guard), and its end answers the waiters and records the result. A
 * listing runs beside the queue. */
#include "schedule.h"
#include "schedule_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core.h"
#include "job.h"
#include "log.h"
#include "rclone.h"
#include "rclone_keep.h"
#include "util.h"

static void game_run_next(struct game *g);

static void
waiters_done(struct sched_waiter *w, const struct job_result *r)
{
	while (w) {
		struct sched_waiter *next = w->next;
		w->next = NULL;
		if (w->done)
			w->done(r, w->data);
		w = next;
	}
}

/* The spec's exclude list is the config's, lent only while core_run copies the spec. */
static void
sched_job_free(struct sched_job *j)
{
	job_spec_clear(&j->spec);
	free(j);
}

void
sched_queue_cancel(struct sched_job **from)
{
	struct job_result r = {.err = -ECANCELED};

	snprintf(r.message, sizeof(r.message), "cancelled");
	while (*from) {
		struct sched_job *j = *from;
		*from = j->next;
		waiters_done(j->waiters, &r);
		sched_job_free(j);
	}
}

static unsigned
compress_threads(const struct sk_config *cfg)
{
	long n;

	if (cfg->compress_threads)
		return cfg->compress_threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* The free-space guard: a snapshot is skipped rather than allowed to fill the disk. Returns 0,
 * or -ENOSPC with the reason in msg. The archive folder may not exist yet: its nearest
 * existing parent is on the same filesystem. */
static int
check_free_space(const struct sk_config *cfg, char *msg, size_t len)
{
	_cleanup_free_ char *dir = strdup(cfg->archive_dir);
	struct statvfs st;
	uint64_t avail, need;
	char a[32], b[32];

	if (!dir)
		return -ENOMEM;
	while (statvfs(dir, &st) < 0) {
		char *slash = strrchr(dir, '/');
		if (errno != ENOENT || !slash || slash == dir)
			return 0; /* the snapshot itself will report what is wrong */
		*slash = '\0';
	}
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	need = cfg->min_free_bytes ? cfg->min_free_bytes
				   : (uint64_t)st.f_blocks * st.f_frsize / 100 * cfg->min_free_percent;
	if (avail >= need)
		return 0;
	snprintf(msg, len, "skipped: only %s free for %s (min_free is %s)", fmt_size(avail, a, sizeof(a)),
		 cfg->archive_dir, fmt_size(need, b, sizeof(b)));
	return -ENOSPC;
}

static void
on_job_progress(struct core_job *cj, const struct job_progress *p, void *data)
{
	struct game *g = data;

	(void)cj;
	g->progress = *p;
	for (struct sched_waiter *w = g->queue ? g->queue->waiters : NULL; w; w = w->next)
		if (w->progress)
			w->progress(p, w->data);
}

static void
game_record(struct game *g, const struct sched_job *j, const struct job_result *r)
{
	if (j->spec.kind != JOB_SNAPSHOT || (r->err == -ECANCELED && g->retired))
		return;
	g->last_time_usec = (int64_t)realtime_usec();
	free(g->last_error);
	g->last_error = NULL;
	g->unchanged_since[0] = '\0';
	if (r->err < 0) {
		g->clean = false;
		g->last = LAST_FAILED;
		g->last_error = strdup(r->message);
	} else if (r->unchanged) {
		g->last = LAST_UNCHANGED;
		snprintf(g->unchanged_since, sizeof(g->unchanged_since), "%s", r->id);
		snprintf(g->last_archive, sizeof(g->last_archive), "%s", r->id);
	} else {
		g->last = LAST_OK;
		snprintf(g->last_archive, sizeof(g->last_archive), "%s", r->id);
	}
}

static void
on_job_done(struct core_job *cj, const struct job_result *r, void *data)
{
	struct game *g = data;
	struct sched *s = g->s;
	struct sched_job *j = g->queue;

	(void)cj;
	g->running = NULL;
	g->queue = j->next;
	memset(&g->progress, 0, sizeof(g->progress));
	game_record(g, j, r);
	if (r->disk_known) {
		g->disk_known = true;
		g->disk_archives = r->disk_archives;
		g->disk_size = r->disk_size;
		g->disk_shared = r->disk_shared;
	}
	if (r->err == 0 && r->pending && !g->retired)
		sched_remote_queued(g, j->spec.kind, r);
	if (j->spec.kind == JOB_REMOTE_PRUNE && r->err < 0)
		log_warn("game '%s': %s", g->name, r->message);
	else if (j->spec.kind == JOB_REMOTE_PRUNE && r->pruned > 0)
		log_info("game '%s': retention removed %d archive(s) from the remote", g->name, r->pruned);
	else if (r->pruned < 0)
		log_errno(LOG_WARNING, r->pruned, "game '%s': cannot apply retention in %s", g->name,
			  g->game_dir);
	else if (r->pruned > 0)
		log_info("game '%s': retention removed %d archive(s)", g->name, r->pruned);
	/* Pins, prunes and listings answer their client; the log and the desktop hear of the
	 * work that makes or uses an archive. */
	if (s->event && !g->retired && j->spec.kind <= JOB_RESTORE)
		s->event(g->name, j->spec.kind, r, s->data);
	waiters_done(j->waiters, r);
	sched_job_free(j);
	if (g->retired && !g->queue && !g->copy_job)
		sched_release_retired(s, g);
	else
		game_run_next(g);
}

/* Forgets what a queued job's spec borrowed from the config for core_run (which copies it),
 * so that freeing the job leaves the config's own. */
static void
spec_unborrow(struct job_spec *spec)
{
	spec->exclude = NULL;
	spec->n_exclude = 0;
	spec->rclone = spec->rclone_config = spec->remote_bwlimit = spec->device = NULL;
}

/* Starts the job at the head of the queue if nothing runs. */
static void
game_run_next(struct game *g)
{
	struct sched *s = g->s;
	struct core_callbacks cb = {on_job_progress, on_job_done, g};
	struct sched_job *j = g->queue;
	char msg[512];
	int r;

	if (g->running || !j || s->stopping || g->retired)
		return;
	j->spec.save_dir = strdup(g->cfg->path);
	j->spec.game_dir = strdup(g->game_dir);
	j->spec.exclude = g->cfg->exclude;
	j->spec.n_exclude = (unsigned)g->cfg->n_exclude;
	j->spec.level = s->cfg->compression;
	j->spec.keep = s->cfg->keep;
	if (j->spec.kind == JOB_REMOTE_PRUNE)
		config_remote_keep(s->cfg, g->cfg, &j->spec.keep);
	j->spec.prune_foreign = s->cfg->remote_prune_foreign;
	j->spec.prune = j->spec.kind == JOB_SNAPSHOT && !j->spec.pin;
	j->spec.threads = compress_threads(s->cfg);
	j->spec.want_disk = !g->disk_known;
	r = j->spec.save_dir && j->spec.game_dir ? 0 : -ENOMEM;
	if (r == 0)
		r = sched_remote_spec(s, g, &j->spec);
	if (r == 0 && j->spec.kind == JOB_SNAPSHOT && check_free_space(s->cfg, msg, sizeof(msg)) < 0) {
		struct job_result res = {.err = -ENOSPC};
		snprintf(res.message, sizeof(res.message), "%s", msg);
		spec_unborrow(&j->spec);
		on_job_done(NULL, &res, g);
		return;
	}
	/* rcd starts while the snapshot runs, so that its copy need not wait for it; not for a
	 * scheduled look at a folder no watch covers, which mostly finds nothing changed, nor for
	 * --once, which copies nothing. */
	if (r == 0 && j->spec.kind == JOB_SNAPSHOT && j->spec.remote && !g->copy_failing_since &&
	    s->mode == SCHED_DAEMON && (!j->spec.if_changed || g->watch)) {
		struct rclone_opts o;
		sched_remote_rclone_opts(s, &o);
		(void)rclone_keep_want(s->rcd, &o);
	}
	if (r == 0 && j->spec.kind == JOB_SNAPSHOT) {
		/* Changes from here on belong to the next snapshot. */
		g->first_change_usec = g->last_change_usec = 0;
		g->clean = g->watch != NULL;
		g->last_snapshot_usec = now_usec();
	}
	if (r == 0)
		r = core_run(s->core, &j->spec, &cb, &g->running);
	spec_unborrow(&j->spec);
	if (r < 0) {
		struct job_result res = {.err = r};
		snprintf(res.message, sizeof(res.message), "cannot start the job: %s", strerror(-r));
		on_job_done(NULL, &res, g);
	}
}

/* A snapshot request joins the last snapshot in the queue unless it must run after it. */
static struct sched_job *
find_joinable(struct game *g, const struct job_spec *tmpl)
{
	struct sched_job *last = NULL;

	if (tmpl->kind != JOB_SNAPSHOT || tmpl->pin || tmpl->tag)
		return NULL;
	for (struct sched_job *j = g->queue; j; j = j->next)
		last = j;
	if (!last || last->spec.kind != JOB_SNAPSHOT || last->spec.pin)
		return NULL;
	if (last->spec.if_changed && !tmpl->if_changed) {
		/* "backup" always snapshots: a running if-changed tick may publish nothing. */
		if (g->running && last == g->queue)
			return NULL;
		last->spec.if_changed = false;
	}
	return last;
}

static void
on_beside_done(struct core_job *cj, const struct job_result *r, void *data)
{
	(void)cj;
	waiters_done(data, r);
}

/* A listing takes no lock and changes nothing, so it runs beside the game's queue instead of
 * waiting for the snapshot at its head. */
static int
run_beside(struct sched *s, struct game *g, enum job_kind kind, struct sched_waiter *w)
{
	struct job_spec spec = {.kind = kind, .game = g->name, .game_dir = g->game_dir};
	struct core_callbacks cb = {.done = on_beside_done, .data = w};
	_cleanup_free_ char *remote = NULL;
	int r = sched_remote_spec(s, g, &spec);

	remote = spec.remote;
	if (r == 0 && kind == JOB_REMOTE_LIST && !remote)
		r = -ENOLINK;
	if (w)
		w->next = NULL;
	if (r < 0)
		return r;
	return s->stopping ? -ESHUTDOWN : core_run(s->core, &spec, &cb, NULL);
}

int
sched_submit(struct sched *s, const char *game, const struct job_spec *tmpl, struct sched_waiter *w,
	     bool *ret_joined)
{
	struct game *g = sched_find(s, game);
	struct sched_job *j, **tail;

	if (!g)
		return -ENOENT;
	if (tmpl->kind == JOB_LIST || tmpl->kind == JOB_REMOTE_LIST) {
		if (ret_joined)
			*ret_joined = false;
		return run_beside(s, g, tmpl->kind, w);
	}
	if ((tmpl->kind == JOB_PULL || tmpl->kind == JOB_REMOTE_PRUNE) && !config_game_remote(s->cfg, g->cfg))
		return -ENOLINK;
	j = find_joinable(g, tmpl);
	if (ret_joined)
		*ret_joined = j != NULL;
	if (!j) {
		j = calloc(1, sizeof(*j));
		if (!j)
			return -ENOMEM;
		j->spec = *tmpl;
		j->spec.game = strdup(g->name);
		j->spec.id = tmpl->id ? strdup(tmpl->id) : NULL;
		j->spec.tag = tmpl->tag ? strdup(tmpl->tag) : NULL;
		j->spec.save_dir = j->spec.game_dir = NULL;
		j->spec.exclude = NULL;
		if (!j->spec.game || (tmpl->id && !j->spec.id) || (tmpl->tag && !j->spec.tag)) {
			sched_job_free(j);
			return -ENOMEM;
		}
		for (tail = &g->queue; *tail; tail = &(*tail)->next)
			;
		*tail = j;
	}
	if (w) {
		w->next = j->waiters;
		j->waiters = w;
	}
	game_run_next(g);
	return 0;
}

static bool
game_forget(struct game *g, struct sched_waiter *w)
{
	for (struct sched_job *j = g->queue; j; j = j->next)
		for (struct sched_waiter **p = &j->waiters; *p; p = &(*p)->next)
			if (*p == w) {
				*p = w->next;
				return true;
			}
	return false;
}

/* Retired games count too: their running job still answers its waiters when it ends. */
void
sched_forget(struct sched *s, struct sched_waiter *w)
{
	for (size_t i = 0; i < s->n_games; i++)
		if (game_forget(s->games[i], w))
			return;
	for (size_t i = 0; i < s->n_retired; i++)
		if (game_forget(s->retired[i], w))
			return;
}

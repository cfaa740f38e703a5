/* The schedule's copies to a game's remote: one copy job per game at a time, beside its queue,
 * with the daemon's rcd lent to it; a failed copy is tried again after a backoff, and copies
 * that uploaded queue the remote's retention. Also the remote's part of any job's spec. */
#include "schedule.h"
#include "schedule_int.h"

#include <stdio.h>
#include <string.h>

#include "core.h"
#include "job.h"
#include "loop.h"
#include "rclone.h"
#include "rclone_keep.h"
#include "remote.h"
#include "util.h"

static void game_copy_start(struct game *g);

int
sched_remote_spec(const struct sched *s, const struct game *g, struct job_spec *spec)
{
	const char *remote = config_game_remote(s->cfg, g->cfg);

	spec->rclone = s->cfg->rclone;
	spec->rclone_config = s->cfg->rclone_config;
	spec->remote_bwlimit = s->cfg->remote_bwlimit;
	spec->device = s->cfg->device;
	spec->remote = NULL;
	return remote && asprintf(&spec->remote, "%s/%s", remote, g->name) < 0 ? -ENOMEM : 0;
}

void
sched_remote_rclone_opts(const struct sched *s, struct rclone_opts *o)
{
	*o = (struct rclone_opts){
	    .binary = s->cfg->rclone, .config = s->cfg->rclone_config, .bwlimit = s->cfg->remote_bwlimit};
}

/* The first wait after a failed copy is remote_retry; each failure in a row doubles it. */
#define COPY_BACKOFF_MAX_USEC (30 * USEC_PER_MINUTE)

static uint64_t
copy_backoff(const struct game *g)
{
	uint64_t d = g->s->cfg->remote_retry_usec ? g->s->cfg->remote_retry_usec : 30 * USEC_PER_SEC;

	for (unsigned i = 1; i < g->copy_failures && d < COPY_BACKOFF_MAX_USEC; i++)
		d *= 2;
	return d < COPY_BACKOFF_MAX_USEC ? d : COPY_BACKOFF_MAX_USEC;
}

/* The desktop and the log hear when copies start failing and when they work again, not of
 * every try. */
static void
copy_failed(struct game *g, const struct job_result *r)
{
	struct sched *s = g->s;

	g->copy_failures++;
	g->copy_pending = r->pending;
	snprintf(g->copy_oldest, sizeof(g->copy_oldest), "%s", r->id);
	free(g->copy_error);
	g->copy_error = strdup(r->message);
	if (!g->copy_failing_since) {
		g->copy_failing_since = (int64_t)realtime_usec();
		if (s->event)
			s->event(g->name, JOB_COPY, r, s->data);
	}
	loop_timer_arm(g->copy_timer, copy_backoff(g));
}

/* After copies, the remote's retention runs as a job of the game's queue, under its lock like
 * a local prune; one already waiting there covers these copies too. */
static void
remote_prune_queue(struct game *g)
{
	struct job_spec tmpl = {.kind = JOB_REMOTE_PRUNE};

	for (struct sched_job *j = g->queue; j; j = j->next)
		if (j->spec.kind == JOB_REMOTE_PRUNE && j != g->queue)
			return;
	(void)sched_submit(g->s, g->name, &tmpl, NULL, NULL);
}

static void
copy_done(struct game *g, const struct job_result *r)
{
	struct sched *s = g->s;
	bool recovered = g->copy_failing_since != 0;

	g->copy_failures = 0;
	g->copy_failing_since = 0;
	g->copy_pending = 0;
	g->copy_oldest[0] = '\0';
	/* Archives queued while this job ran are still to copy: status says so, not "in sync". */
	if (g->copy_again)
		sched_remote_read_queue(g);
	free(g->copy_error);
	g->copy_error = NULL;
	if (recovered && s->event)
		s->event(g->name, JOB_COPY, r, s->data);
	if (r->files > 0) {
		/* What the user waits for: a wait for rcd to listen is part of it. */
		g->copy_last_usec = r->usec + g->copy_waited_usec;
		g->copy_last_files = (unsigned)r->files;
		remote_prune_queue(g);
	}
}

/* Gives the daemon's rcd back, if the game's copy job borrowed it. */
static void
copy_return_rcd(struct game *g)
{
	if (g->copy_lent)
		rclone_keep_return(g->s->rcd);
	g->copy_lent = false;
}

static void
on_copy_done(struct core_job *cj, const struct job_result *r, void *data)
{
	struct game *g = data;

	(void)cj;
	g->copy_job = NULL;
	copy_return_rcd(g);
	if (g->retired) {
		if (!g->queue)
			sched_release_retired(g->s, g);
		return;
	}
	if (r->err == -ECANCELED)
		return;
	if (r->err < 0)
		copy_failed(g, r);
	else
		copy_done(g, r);
	if (g->copy_again && !g->copy_failing_since)
		game_copy_start(g);
}

/* Borrows the daemon's rcd for a copy job's spec. Returns false while rcd starts: the copy
 * waits for it (sched_remote_on_rcd_settled starts it), and that wait counts in the copy's time. */
static bool
copy_lend_rcd(struct game *g, struct job_spec *spec)
{
	struct rclone_opts o;
	int r;

	sched_remote_rclone_opts(g->s, &o);
	r = rclone_keep_lend(g->s->rcd, &o, &spec->rc_addr, &spec->rc_auth);
	if (!g->copy_asked_usec)
		g->copy_asked_usec = now_usec();
	if (r == -EAGAIN) {
		g->copy_waits = true;
		return false;
	}
	/* Without it (rclone cannot start, say), the job starts its own and reports why. */
	g->copy_lent = r == 0;
	g->copy_waited_usec = now_usec() - g->copy_asked_usec;
	g->copy_asked_usec = 0;
	return true;
}

/* Starts a copy job if the game has a remote and none runs; one that runs is asked to look
 * at the queue again when it ends. */
static void
game_copy_start(struct game *g)
{
	struct sched *s = g->s;
	struct core_callbacks cb = {.done = on_copy_done, .data = g};
	struct job_spec spec = {.kind = JOB_COPY, .game = g->name, .game_dir = g->game_dir};
	_cleanup_free_ char *dir = NULL, *rc_addr = NULL, *rc_auth = NULL;
	int r;

	g->copy_again = g->copy_job != NULL;
	g->copy_waits = false;
	/* --once exits after its snapshots: their copies wait in the queue for the daemon. */
	if (!config_game_remote(s->cfg, g->cfg) || g->copy_job || s->stopping || g->retired ||
	    s->mode == SCHED_ONE_SHOT)
		return;
	if (sched_remote_spec(s, g, &spec) < 0)
		return;
	dir = spec.remote;
	loop_timer_arm(g->copy_timer, 0);
	if (!copy_lend_rcd(g, &spec))
		return;
	rc_addr = spec.rc_addr;
	rc_auth = spec.rc_auth;
	r = core_run(s->core, &spec, &cb, &g->copy_job);
	if (r < 0) {
		struct job_result res = {.err = r, .pending = g->copy_pending};
		copy_return_rcd(g);
		snprintf(res.message, sizeof(res.message), "cannot start the copy: %s", strerror(-r));
		snprintf(res.id, sizeof(res.id), "%s", g->copy_oldest);
		copy_failed(g, &res);
	}
}

void
sched_remote_on_rcd_settled(void *data)
{
	struct sched *s = data;

	for (size_t i = 0; i < s->n_games; i++)
		if (s->games[i]->copy_waits)
			game_copy_start(s->games[i]);
}

void
sched_remote_on_copy_timer(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)loop;
	(void)t;
	game_copy_start(data);
}

void
sched_remote_read_queue(struct game *g)
{
	char **ids = NULL;
	const char *id;
	size_t n = 0;

	if (remote_journal_read(g->game_dir, REMOTE_QUEUE_FILE, &ids, &n) < 0 || n == 0)
		return;
	g->copy_pending = (unsigned)n;
	/* A pin entry counts as pending too; the oldest is the archive the first entry names. */
	(void)remote_entry_parse(ids[0], &id);
	snprintf(g->copy_oldest, sizeof(g->copy_oldest), "%s", id);
	remote_journal_free(ids, n);
}

void
sched_remote_queued(struct game *g, enum job_kind kind, const struct job_result *r)
{
	if (kind == JOB_SNAPSHOT)
		g->copy_pending += r->pending;
	else if (kind == JOB_PIN || kind == JOB_UNPIN)
		g->copy_pending = r->pending;
	else
		return;
	if (!g->copy_oldest[0])
		snprintf(g->copy_oldest, sizeof(g->copy_oldest), "%s", r->id);
	/* While copies fail, the new entry waits for the next try of the backoff. */
	if (!g->copy_failing_since)
		game_copy_start(g);
}

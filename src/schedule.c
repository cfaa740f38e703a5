/* The schedule: per-game state and a FIFO of jobs per game, run one at a time on the core. */
#include "schedule.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "rclone.h"
#include "rclone_keep.h"
#include "remote.h"
#include "store.h"
#include "util.h"
#include "watch.h"

/* A queued or running job and everyone waiting for it. */
struct sched_job {
	struct job_spec spec;
	struct sched_waiter *waiters;
	struct sched_job *next;
};

struct game {
	struct sched *s;
	char *name;
	const struct sk_game *cfg;
	char *game_dir;
	bool started, playing, retired;
	struct sched_job *queue; /* head runs while running != NULL */
	struct core_job *running;
	struct loop_timer *timer;
	int64_t next_due_usec;
	enum sched_last last;
	char *last_error;
	char last_archive[64];
	int64_t last_time_usec;
	char unchanged_since[64];
	struct job_progress progress;
	struct watch *watch; /* NULL when inotify is not available for the folder */
	bool final_pending;  /* a wrapped session ended: one snapshot is due even if paused */
	bool clean;	     /* the folder matches the last archive, as far as the watch knows */
	uint64_t first_change_usec, last_change_usec; /* monotonic; 0: no change pending */
	uint64_t last_snapshot_usec;		      /* monotonic start of the last snapshot */
	/* Copies to the remote: one copy job at a time runs beside the queue. */
	struct core_job *copy_job;
	struct loop_timer *copy_timer; /* the next try after a failure */
	bool copy_again;	       /* a new archive came while a copy ran */
	bool copy_waits;	       /* a copy waits for the daemon's rcd to listen */
	bool copy_lent;		       /* the copy job runs with the daemon's rcd */
	uint64_t copy_asked_usec;      /* monotonic: when the waiting copy was asked for */
	uint64_t copy_waited_usec;     /* how long the running copy waited for rcd */
	unsigned copy_pending;	       /* archives queued, as the last job saw */
	uint64_t copy_last_usec;       /* the last copy job that uploaded: its wall time */
	unsigned copy_last_files;      /* and the archives it uploaded */
	char copy_oldest[64];	       /* the oldest of them, "" if none */
	unsigned copy_failures;	       /* failed tries in a row */
	int64_t copy_failing_since;    /* wall clock, 0 while copies work */
	char *copy_error;	       /* rclone's message of the last failure */
	bool disk_known;	       /* the archives' disk use, from the last job that saw it */
	uint64_t disk_archives, disk_size, disk_shared;
};

struct sched {
	struct loop *loop;
	struct core *core;
	const struct sk_config *cfg;
	struct game **games;
	size_t n_games;
	struct game **retired; /* removed by reload, freed when their job ends */
	size_t n_retired;
	sched_event_fn *event;
	void *data;
	enum sched_mode mode;
	struct rclone_keep *rcd; /* the rclone rcd lent to copy jobs */
	bool stopping;		 /* shutting down: start nothing new */
};

static void game_run_next(struct game *g);
static void game_read_queue(struct game *g);
static void game_copy_start(struct game *g);
static void game_release_retired(struct sched *s, struct game *g);

static uint64_t
game_interval(const struct game *g)
{
	const struct sk_config *cfg = g->s->cfg;
	uint64_t iv = g->cfg->interval_usec ? g->cfg->interval_usec : cfg->interval_usec;

	if (g->playing && g->cfg->interval_playing_usec)
		iv = g->cfg->interval_playing_usec;
	return iv;
}

/* Arms the next scheduled tick delay_usec from now, or disarms it when paused. */
static void
game_arm(struct game *g, uint64_t delay_usec)
{
	if (!(g->started || g->final_pending) || g->retired) {
		loop_timer_arm(g->timer, 0);
		g->next_due_usec = 0;
		return;
	}
	if (delay_usec == 0)
		delay_usec = 1;
	loop_timer_arm(g->timer, delay_usec);
	g->next_due_usec = (int64_t)(realtime_usec() + delay_usec);
}

static bool
game_has_kind(const struct game *g, enum job_kind kind)
{
	for (const struct sched_job *j = g->queue; j; j = j->next)
		if (j->spec.kind == kind)
			return true;
	return false;
}

static void
on_change(struct watch *w, void *data)
{
	struct game *g = data;
	const struct sk_config *cfg = g->s->cfg;
	uint64_t now = now_usec(), due;

	(void)w;
	g->clean = false;
	g->last_change_usec = now;
	if (!g->first_change_usec)
		g->first_change_usec = now;
	if (!cfg->snapshot_on_change || !g->started || g->playing)
		return;
	/* Snapshot once the folder is quiet, but not more often than the interval. */
	due = now + cfg->settle_usec;
	if (g->last_snapshot_usec && g->last_snapshot_usec + game_interval(g) > due)
		due = g->last_snapshot_usec + game_interval(g);
	if (!g->next_due_usec || (int64_t)(realtime_usec() + (due - now)) < g->next_due_usec)
		game_arm(g, due - now);
}

/* (Re)creates the folder's watch; without one every tick compares with the last manifest. */
static void
game_watch(struct game *g)
{
	if (g->s->mode == SCHED_ONE_SHOT || (g->watch && watch_reliable(g->watch)))
		return;
	watch_free(g->watch);
	g->watch = NULL;
	g->clean = false;
	if (watch_new(g->s->loop, g->cfg->path, on_change, g, &g->watch) < 0)
		g->watch = NULL;
}

/* Microseconds until the folder has been quiet for settle (capped by settle_max); 0 if now. */
static uint64_t
game_quiet_in(const struct game *g)
{
	const struct sk_config *cfg = g->s->cfg;
	uint64_t now = now_usec();

	if (!g->last_change_usec || now - g->first_change_usec >= cfg->settle_max_usec)
		return 0;
	if (now - g->last_change_usec >= cfg->settle_usec)
		return 0;
	return g->last_change_usec + cfg->settle_usec - now;
}

static void
on_tick(struct loop *loop, struct loop_timer *t, void *data)
{
	struct game *g = data;
	struct job_spec tmpl = {.kind = JOB_SNAPSHOT, .if_changed = true};
	bool final = g->final_pending;
	uint64_t quiet;

	(void)loop;
	(void)t;
	g->final_pending = false;
	game_arm(g, game_interval(g));
	/* A queued restore pauses the schedule; a queued snapshot already serves this tick. */
	if (game_has_kind(g, JOB_RESTORE) || game_has_kind(g, JOB_SNAPSHOT))
		return;
	game_watch(g);
	if (g->clean && g->last_archive[0]) {
		g->last = LAST_UNCHANGED;
		g->last_time_usec = (int64_t)realtime_usec();
		snprintf(g->unchanged_since, sizeof(g->unchanged_since), "%s", g->last_archive);
		return;
	}
	quiet = game_quiet_in(g);
	if (quiet) {
		g->final_pending = final;
		game_arm(g, quiet);
		return;
	}
	sched_submit(g->s, g->name, &tmpl, NULL, NULL);
}

/* Fills the remote's part of a spec: the game's folder on the remote and how to run rclone.
 * Returns 0 or -ENOMEM; spec->remote is malloc'd (NULL when the game has no remote). */
static int
spec_set_remote(const struct sched *s, const struct game *g, struct job_spec *spec)
{
	const char *remote = config_game_remote(s->cfg, g->cfg);

	spec->rclone = s->cfg->rclone;
	spec->rclone_config = s->cfg->rclone_config;
	spec->remote_bwlimit = s->cfg->remote_bwlimit;
	spec->device = s->cfg->device;
	spec->remote = NULL;
	return remote && asprintf(&spec->remote, "%s/%s", remote, g->name) < 0 ? -ENOMEM : 0;
}

static void
sched_rclone_opts(const struct sched *s, struct rclone_opts *o)
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
		game_read_queue(g);
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
			game_release_retired(g->s, g);
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
 * waits for it (on_rcd_settled starts it), and that wait counts in the copy's time. */
static bool
copy_lend_rcd(struct game *g, struct job_spec *spec)
{
	struct rclone_opts o;
	int r;

	sched_rclone_opts(g->s, &o);
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
	if (spec_set_remote(s, g, &spec) < 0)
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

/* The daemon's rcd listens, or could not start: the copies that waited for it go now. */
static void
on_rcd_settled(void *data)
{
	struct sched *s = data;

	for (size_t i = 0; i < s->n_games; i++)
		if (s->games[i]->copy_waits)
			game_copy_start(s->games[i]);
}

static void
on_copy_timer(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)loop;
	(void)t;
	game_copy_start(data);
}

/* Reads the journal's length like store_latest reads the folder: once, when the game starts. */
static void
game_read_queue(struct game *g)
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

static struct game *
game_new(struct sched *s, const struct sk_game *cfg)
{
	struct game *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->s = s;
	g->cfg = cfg;
	g->name = strdup(cfg->name);
	g->game_dir = store_game_dir(s->cfg->archive_dir, cfg->name);
	g->timer = loop_timer_new(s->loop, on_tick, g);
	g->copy_timer = loop_timer_new(s->loop, on_copy_timer, g);
	if (!g->name || !g->game_dir || !g->timer || !g->copy_timer) {
		loop_timer_free(g->timer);
		loop_timer_free(g->copy_timer);
		free(g->game_dir);
		free(g->name);
		free(g);
		return NULL;
	}
	g->started = s->cfg->autostart;
	game_watch(g);
	/* Status shows the newest archive from before a restart too. */
	store_latest(g->game_dir, g->last_archive, sizeof(g->last_archive));
	/* A queue left by the last run shows in status at once and is copied now; the copy
	 * timer fires on the loop, after the game is in place. */
	game_read_queue(g);
	loop_timer_arm(g->copy_timer, 1);
	return g;
}

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

/* Answers and frees the jobs from *from to the end of a queue: they will never run. */
static void
cancel_queued(struct sched_job **from)
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

static void
game_free(struct game *g)
{
	cancel_queued(&g->queue);
	loop_timer_free(g->timer);
	loop_timer_free(g->copy_timer);
	free(g->copy_error);
	watch_free(g->watch);
	free(g->last_error);
	free(g->game_dir);
	free(g->name);
	free(g);
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
game_release_retired(struct sched *s, struct game *g)
{
	for (size_t i = 0; i < s->n_retired; i++) {
		if (s->retired[i] != g)
			continue;
		s->retired[i] = s->retired[--s->n_retired];
		game_free(g);
		return;
	}
}

/* A snapshot queued its archive for the remote, or a pin or unpin its marker (r->pending: the
 * queue's length then, since it may replace a waiting entry). */
static void
copy_queued(struct game *g, enum job_kind kind, const struct job_result *r)
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
		copy_queued(g, j->spec.kind, r);
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
		game_release_retired(s, g);
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
		r = spec_set_remote(s, g, &j->spec);
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
		sched_rclone_opts(s, &o);
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

static struct game *
sched_find(const struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->n_games; i++)
		if (strcmp(s->games[i]->name, name) == 0)
			return s->games[i];
	return NULL;
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
	int r = spec_set_remote(s, g, &spec);

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

/* "more than one game is configured (a, b): name one", cut to fit. */
static void
game_names(const struct sched *s, char *buf, size_t len)
{
	size_t n;

	if (s->n_games == 0) {
		snprintf(buf, len, "no game is configured");
		return;
	}
	n = (size_t)snprintf(buf, len, "more than one game is configured (");
	for (size_t i = 0; i < s->n_games && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", s->games[i]->name);
	if (n < len)
		snprintf(buf + n, len - n, "): name one");
}

int
sched_resolve(struct sched *s, const char *name, const char **ret_name, char *err, size_t errlen)
{
	const struct game *g;

	if (!name || !*name) {
		if (s->n_games == 1) {
			*ret_name = s->games[0]->name;
			return 0;
		}
		game_names(s, err, errlen);
		return -EINVAL;
	}
	g = sched_find(s, name);
	if (!g) {
		snprintf(err, errlen, "no game '%s' is configured", name);
		return -ENOENT;
	}
	*ret_name = g->name;
	return 0;
}

const char *
sched_game_dir(const struct sched *s, const char *name)
{
	const struct game *g = sched_find(s, name);

	return g ? g->game_dir : NULL;
}

int
sched_set_started(struct sched *s, const char *name, bool started)
{
	int n = 0;

	for (size_t i = 0; i < s->n_games; i++) {
		struct game *g = s->games[i];
		if (name && strcmp(g->name, name) != 0)
			continue;
		if (g->started != started) {
			g->started = started;
			game_arm(g, started ? 1 : 0);
		}
		/* Pausing also stops a snapshot in progress; a restore or verify runs to its end. */
		if (!started && g->running && g->queue->spec.kind == JOB_SNAPSHOT)
			core_cancel(g->running);
		n++;
	}
	return n;
}

int
sched_set_playing(struct sched *s, const char *name, bool playing)
{
	struct game *g = sched_find(s, name);

	if (!g)
		return -ENOENT;
	if (g->playing == playing)
		return 0;
	g->playing = playing;
	/* The game exited: take the final snapshot once the folder has had time to settle, also
	 * when the schedule is paused, since the player asked for it by wrapping the game. */
	g->final_pending = !playing;
	game_arm(g, playing ? game_interval(g) : s->cfg->settle_usec);
	return 0;
}

static bool
games_contain(struct game **games, size_t n, const struct game *g)
{
	for (size_t i = 0; i < n; i++)
		if (games[i] == g)
			return true;
	return false;
}

/* Builds the game list for cfg, taking over games of the same name from old (NULL at start). */
static int
games_for_config(struct sched *s, const struct sk_config *cfg, struct game ***ret)
{
	struct game **games = calloc(cfg->n_games + 1, sizeof(*games));

	if (!games)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_games; i++) {
		struct game *g = sched_find(s, cfg->games[i].name);
		if (g && strcmp(g->cfg->path, cfg->games[i].path) == 0) {
			g->cfg = &cfg->games[i];
		} else {
			g = game_new(s, &cfg->games[i]);
			if (!g) {
				/* Only the games made here: a game whose path changed has a namesake in s. */
				for (size_t k = 0; k < i; k++)
					if (!games_contain(s->games, s->n_games, games[k]))
						game_free(games[k]);
				free(games);
				return -ENOMEM;
			}
		}
		games[i] = g;
	}
	*ret = games;
	return 0;
}

/* A game that left the config: cancel its work and free it once that has ended. Its config
 * is freed when the reload returns, so nothing may read g->cfg after this: the watch (whose
 * callback reads the interval) goes now, and the jobs queued behind the running one are
 * answered now instead of being started on a game that no longer exists. */
static void
game_retire(struct sched *s, struct game *g)
{
	struct game **r;

	g->retired = true;
	g->started = false;
	game_arm(g, 0);
	watch_free(g->watch);
	g->watch = NULL;
	loop_timer_arm(g->copy_timer, 0);
	if (!g->running && !g->copy_job) {
		game_free(g);
		return;
	}
	if (g->copy_job)
		core_cancel(g->copy_job);
	if (g->running) {
		cancel_queued(&g->queue->next);
		core_cancel(g->running);
	}
	r = realloc(s->retired, (s->n_retired + 1) * sizeof(*r));
	if (!r)
		return; /* freed never: a small leak beats a use after free */
	s->retired = r;
	s->retired[s->n_retired++] = g;
}

/* After a reload: a new started game ticks now; a shorter interval takes effect now rather
 * than after the tick the old one set. */
static void
game_rearm(struct game *g)
{
	uint64_t iv = game_interval(g), now = realtime_usec();

	if (!g->started)
		return;
	if (g->next_due_usec == 0)
		game_arm(g, 1);
	else if ((uint64_t)g->next_due_usec > now + iv)
		game_arm(g, iv);
}

int
sched_reload(struct sched *s, const struct sk_config *cfg)
{
	struct game **games;
	const struct sk_config *old = s->cfg;
	int r;

	s->cfg = cfg;
	r = games_for_config(s, cfg, &games);
	if (r < 0) {
		s->cfg = old;
		return r;
	}
	for (size_t i = 0; i < s->n_games; i++)
		if (!games_contain(games, cfg->n_games, s->games[i]))
			game_retire(s, s->games[i]);
	free(s->games);
	s->games = games;
	s->n_games = cfg->n_games;
	for (size_t i = 0; i < s->n_games; i++)
		game_rearm(s->games[i]);
	return 0;
}

struct sched *
sched_new(struct loop *loop, struct core *core, const struct sk_config *cfg, enum sched_mode mode,
	  sched_event_fn *event, void *data)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->core = core;
	s->mode = mode;
	s->event = event;
	s->data = data;
	s->rcd = rclone_keep_new(loop, RCLONE_KEEP_LINGER_USEC, on_rcd_settled, s);
	if (!s->rcd || sched_reload(s, cfg) < 0) {
		rclone_keep_free(s->rcd);
		free(s);
		return NULL;
	}
	return s;
}

void
sched_cancel_all(struct sched *s)
{
	s->stopping = true;
	for (size_t i = 0; i < s->n_games; i++) {
		game_arm(s->games[i], 0);
		s->games[i]->started = false;
		loop_timer_arm(s->games[i]->copy_timer, 0);
		if (s->games[i]->running)
			core_cancel(s->games[i]->running);
		if (s->games[i]->copy_job)
			core_cancel(s->games[i]->copy_job);
	}
}

void
sched_free(struct sched *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_games; i++)
		game_free(s->games[i]);
	for (size_t i = 0; i < s->n_retired; i++)
		game_free(s->retired[i]);
	free(s->games);
	free(s->retired);
	rclone_keep_free(s->rcd);
	free(s);
}

size_t
sched_games(const struct sched *s)
{
	return s->n_games;
}

void
sched_game_info(const struct sched *s, size_t i, struct sched_game_info *ret)
{
	const struct game *g = s->games[i];

	*ret = (struct sched_game_info){
	    .name = g->name,
	    .path = g->cfg->path,
	    .started = g->started,
	    .busy = g->running != NULL,
	    .busy_kind = g->queue ? g->queue->spec.kind : JOB_SNAPSHOT,
	    .playing = g->playing,
	    .last = g->last,
	    .last_error = g->last_error,
	    .last_archive = g->last_archive[0] ? g->last_archive : NULL,
	    .last_time_usec = g->last_time_usec,
	    .next_due_usec = g->next_due_usec,
	    .unchanged_since = g->unchanged_since[0] ? g->unchanged_since : NULL,
	    .progress = g->progress,
	    .remote = config_game_remote(s->cfg, g->cfg),
	    .copy_pending = g->copy_pending,
	    .copy_oldest = g->copy_oldest[0] ? g->copy_oldest : NULL,
	    .copy_failing_since = g->copy_failing_since,
	    .copy_error = g->copy_error,
	    .disk_known = g->disk_known,
	    .disk_archives = g->disk_archives,
	    .disk_size = g->disk_size,
	    .disk_shared = g->disk_shared,
	    .copy_last_usec = g->copy_last_usec,
	    .copy_last_files = g->copy_last_files,
	};
}

bool
sched_idle(const struct sched *s)
{
	for (size_t i = 0; i < s->n_games; i++)
		if (s->games[i]->queue)
			return false;
	return s->n_retired == 0;
}

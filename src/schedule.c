/* The schedule: each configured game's state (started or paused, playing, the last result),
 * its watch and the tick that takes a snapshot when one is due, and reload, which carries the
 * games over to a new config. Jobs run through schedule_queue.c; copies, schedule_remote.c. */
#include "schedule.h"
#include "schedule_int.h"

#include <stdio.h>
#include <string.h>

#include "core.h"
#include "job.h"
#include "loop.h"
#include "rclone_keep.h"
#include "store.h"
#include "util.h"
#include "watch.h"

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
	g->copy_timer = loop_timer_new(s->loop, sched_remote_on_copy_timer, g);
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
	sched_remote_read_queue(g);
	loop_timer_arm(g->copy_timer, 1);
	return g;
}

static void
game_free(struct game *g)
{
	sched_queue_cancel(&g->queue);
	loop_timer_free(g->timer);
	loop_timer_free(g->copy_timer);
	free(g->copy_error);
	watch_free(g->watch);
	free(g->last_error);
	free(g->game_dir);
	free(g->name);
	free(g);
}

void
sched_release_retired(struct sched *s, struct game *g)
{
	for (size_t i = 0; i < s->n_retired; i++) {
		if (s->retired[i] != g)
			continue;
		s->retired[i] = s->retired[--s->n_retired];
		game_free(g);
		return;
	}
}

struct game *
sched_find(const struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->n_games; i++)
		if (strcmp(s->games[i]->name, name) == 0)
			return s->games[i];
	return NULL;
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

/* Stops what would start new work for g: its tick and its copy timer; it counts as stopped. */
static void
game_halt(struct game *g)
{
	g->started = false;
	game_arm(g, 0);
	loop_timer_arm(g->copy_timer, 0);
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
	game_halt(g);
	watch_free(g->watch);
	g->watch = NULL;
	if (!g->running && !g->copy_job) {
		game_free(g);
		return;
	}
	if (g->copy_job)
		core_cancel(g->copy_job);
	if (g->running) {
		sched_queue_cancel(&g->queue->next);
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
	s->rcd = rclone_keep_new(loop, RCLONE_KEEP_LINGER_USEC, sched_remote_on_rcd_settled, s);
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
		game_halt(s->games[i]);
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

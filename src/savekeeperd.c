/* savekeeperd: the per-user daemon. Reads the config, opens the control socket, and runs the
 * schedule on one epoll loop until SIGTERM; or, with --once, snapshots every game and exits. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include "control.h"
#include "core.h"
#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "restore.h"
#include "runner.h"
#include "schedule.h"
#include "sessions.h"
#include "store.h"
#include "util.h"

static void
usage(FILE *f)
{
	fprintf(f, "Usage: savekeeperd [OPTION]...\n"
		   "Keeps timestamped tar.gz snapshots of game save folders.\n\n"
		   "  -c, --config FILE      read FILE (default $XDG_CONFIG_HOME/savekeeper/savekeeper.ini)\n"
		   "      --core CORE        run jobs on a thread, coroutine or process core\n"
		   "      --once             snapshot every game once and exit (0 when all succeeded)\n"
		   "      --save-dir DIR     back up DIR with no config file\n"
		   "      --game NAME        the game name for --save-dir (default: DIR's name)\n"
		   "      --archive-dir DIR  keep archives under DIR\n"
		   "      --socket PATH      listen for savekeeperctl on PATH\n"
		   "  -v, --verbose          log debug messages\n"
		   "  -h, --help             show this help and exit\n"
		   "  -V, --version          show the version and exit\n\n"
		   "See savekeeperd(1) and savekeeper.ini(5).\n");
}

static int
replace_str(char **dst, const char *src)
{
	char *s = expand_home(src);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int
daemon_load_config(const struct daemon_opts *o, struct sk_config **ret, char *err, size_t errlen)
{
	struct sk_config *cfg = NULL;
	_cleanup_free_ char *def = NULL;
	int r;

	if (o->save_dir) {
		/* Without --game the name comes from the folder (config_add_game). */
		_cleanup_free_ char *abs = realpath(o->save_dir, NULL);
		r = config_new_default(&cfg);
		if (r >= 0)
			r = config_add_game(cfg, o->game, abs ? abs : o->save_dir, err, errlen);
	} else {
		const char *path = o->config_path ? o->config_path : (def = config_default_path());
		if (!path)
			return -ENOMEM;
		if (!o->config_path && access(path, F_OK) < 0 && errno == ENOENT) {
			snprintf(err, errlen,
				 "no config file at %s: write one (see savekeeper.ini(5)) or use --save-dir",
				 path);
			return -ENOENT;
		}
		r = config_load(path, &cfg, err, errlen);
	}
	if (r >= 0 && o->archive_dir) {
		r = replace_str(&cfg->archive_dir, o->archive_dir);
		cfg->archive_dir_line = 0;
	}
	/* The options may have put the archives in a save folder: checked like the file's. */
	if (r >= 0 && (o->save_dir || o->archive_dir))
		r = config_check_folders(cfg, o->archive_dir ? "--archive-dir" : NULL, err, errlen);
	if (r >= 0 && o->socket_path)
		r = replace_str(&cfg->socket_path, o->socket_path);
	if (r >= 0 && o->core && core_from_name(o->core, &cfg->core) < 0) {
		snprintf(err, errlen, "--core: '%s' is not thread, coroutine or process", o->core);
		r = -EINVAL;
	}
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		config_free(cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}

/* The archive folder, the socket and the core's settings belong to parts that are running: a
 * reload keeps them (saying so when the file changed them) and they change on restart. */
static void
keep_running_settings(const struct sk_config *old, struct sk_config *cfg)
{
	if (strcmp(cfg->archive_dir, old->archive_dir) != 0) {
		log_warn("reload: archive_dir stays %s until restart", old->archive_dir);
		cfg->archive_dir_line = 0; /* the file's line names another folder */
	}
	if (strcmp(cfg->socket_path, old->socket_path) != 0)
		log_warn("reload: socket stays %s until restart", old->socket_path);
	if (cfg->core != old->core)
		log_warn("reload: the %s core stays until restart", core_name(old->core));
	if (cfg->slice_usec != old->slice_usec || cfg->nice != old->nice || cfg->io_idle != old->io_idle)
		log_warn("reload: slice, nice and io_idle keep their values until restart");
	free(cfg->archive_dir);
	free(cfg->socket_path);
	cfg->archive_dir = strdup(old->archive_dir);
	cfg->socket_path = strdup(old->socket_path);
	cfg->core = old->core;
	cfg->slice_usec = old->slice_usec;
	cfg->nice = old->nice;
	cfg->io_idle = old->io_idle;
}

static int
daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	struct sk_config *cfg = NULL;
	int r;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now_usec());
	r = daemon_load_config(&d->opts, &cfg, err, errlen);
	if (r >= 0) {
		bool moved = strcmp(cfg->archive_dir, d->cfg->archive_dir) != 0;
		keep_running_settings(d->cfg, cfg);
		r = cfg->archive_dir && cfg->socket_path ? 0 : -ENOMEM;
		/* The archive folder in use stays: the games are checked against it, not the file's. */
		if (r >= 0 && moved)
			r = config_check_folders(cfg, "in use until restart", err, errlen);
		if (r >= 0 && (r = sched_reload(d->sched, cfg)) < 0)
			snprintf(err, errlen, "reload: %s", strerror(-r));
		else if (r == -ENOMEM)
			snprintf(err, errlen, "reload: %s", strerror(-r));
	}
	if (r < 0) {
		config_free(cfg);
		log_error("%s; the old config stays in force", err);
		sd_notify(0, "READY=1");
		return r;
	}
	sessions_reload(d->sessions, cfg);
	config_free(d->cfg);
	d->cfg = cfg;
	notify_set_mode(cfg->notify);
	log_info("reloaded %s: %zu game(s)", cfg->file ? cfg->file : "settings", cfg->n_games);
	sd_notify(0, "READY=1");
	return 0;
}

/* After every job: the log, the desktop, and systemd's status line. */
static void
on_job_event(const char *game, enum job_kind kind, const struct job_result *r, void *data)
{
	(void)data;
	notify_job(game, kind, r);
	if (r->err < 0)
		log_error("game '%s': %s", game, r->message);
	else if (kind == JOB_SNAPSHOT && r->unchanged)
		log_debug("game '%s': unchanged since %s", game, r->id);
	else if (kind == JOB_SNAPSHOT)
		log_info("game '%s': %s: %s", game, r->id, r->message);
	else if (kind == JOB_RESTORE && !r->dry_run)
		log_info("game '%s': %s", game, r->message);
	else if (kind == JOB_COPY)
		log_info("game '%s': copies to the remote work again", game);
	if (kind == JOB_SNAPSHOT && r->err == 0 && !r->unchanged)
		sd_notifyf(0, "STATUS=Last backup: %s %s", game, r->id);
	/* A job's buffers (compression chunks, libarchive's) are freed by now but stay in malloc's
	 * arenas; the daemon then idles for minutes, so give them back. */
	malloc_trim(0);
}

static void
on_signal(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct daemon *d = data;
	struct signalfd_siginfo si;
	char err[1024];

	(void)events;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			daemon_reload(d, err, sizeof(err));
		} else {
			log_info("%s: stopping", strsignal((int)si.ssi_signo));
			loop_stop(loop);
		}
	}
}

static void
on_watchdog(struct loop *loop, struct loop_timer *t, void *data)
{
	uint64_t *usec = data;

	(void)loop;
	sd_notify(0, "WATCHDOG=1");
	loop_timer_arm(t, *usec / 2);
}

/* Signals arrive through a signalfd on the loop; blocked before any thread starts. */
static int
signals_open(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Removes what a crash may have left: temporaries among the archives, restore staging, a
 * restore that did not finish (restore_sweep_game). A
 * worker of a killed daemon may still be cleaning up: its lock on the game is awaited first. */
static void
sweep_leftovers(const struct sk_config *cfg)
{
	for (size_t i = 0; i < cfg->n_games; i++) {
		const char *game = cfg->games[i].name;
		_cleanup_free_ char *dir = store_game_dir(cfg->archive_dir, game);
		int r = dir ? runner_sweep(dir, cfg->games[i].path, RUNNER_LOCK_WAIT_USEC) : -ENOMEM;

		if (r == -EWOULDBLOCK) {
			log_warn("game '%s': another process still works on %s; not cleaning it", game, dir);
			continue;
		}
		if (r < 0 && r != -ENOENT)
			log_errno(LOG_WARNING, r,
				  "game '%s': cannot clean up after a crash in %s or beside %s", game, dir,
				  cfg->games[i].path);
	}
}

/* --once: one snapshot of every game on the chosen core, then exit. */
struct once {
	struct loop *loop;
	const char *game;
	unsigned pending, failed;
	struct sched_waiter w;
};

static void
on_once_done(const struct job_result *r, void *data)
{
	struct once *o = data;

	if (r->err < 0)
		o->failed++;
	else
		printf("%s: %s %s\n", o->game, r->id, r->message);
	if (--o->pending == 0)
		loop_stop(o->loop);
}

static int
run_once(struct daemon *d)
{
	struct once *runs = calloc(d->cfg->n_games, sizeof(*runs));
	unsigned failed = 0;
	struct job_spec tmpl = {.kind = JOB_SNAPSHOT};

	if (d->cfg->n_games == 0) {
		log_error("--once: no game is configured");
		free(runs);
		return 1;
	}
	if (!runs)
		return log_errno(LOG_ERR, ENOMEM, "--once"), 1;
	for (size_t i = 0; i < d->cfg->n_games; i++) {
		runs[i] = (struct once){.loop = d->loop, .game = d->cfg->games[i].name, .pending = 1};
		runs[i].w = (struct sched_waiter){.done = on_once_done, .data = &runs[i]};
		if (sched_submit(d->sched, runs[i].game, &tmpl, &runs[i].w, NULL) < 0)
			runs[i].failed = 1;
	}
	/* Each waiter stops the loop when its job ends; run until none is left. */
	while (!sched_idle(d->sched))
		loop_run(d->loop);
	for (size_t i = 0; i < d->cfg->n_games; i++)
		failed += runs[i].failed;
	free(runs);
	return failed ? 1 : 0;
}

static int
run_daemon(struct daemon *d, int sigfd)
{
	char err[1024];
	uint64_t wd_usec = 0;
	struct loop_timer *wd = NULL;
	int r;

	notify_start(d->cfg->notify);
	r = ctl_open(d->loop, d->cfg->socket_path, daemon_handle_request, d, &d->ctl, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return 1;
	}
	loop_add_fd(d->loop, sigfd, EPOLLIN, on_signal, d);
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && (wd = loop_timer_new(d->loop, on_watchdog, &wd_usec)))
		loop_timer_arm(wd, wd_usec / 2);
	log_info("listening on %s; %zu game(s), %s core, archives in %s", d->cfg->socket_path,
		 d->cfg->n_games, core_name(d->cfg->core), d->cfg->archive_dir);
	sd_notifyf(0, "READY=1\nSTATUS=Watching %zu game(s)", d->cfg->n_games);
	r = loop_run(d->loop);
	sd_notify(0, "STOPPING=1");
	loop_timer_free(wd);
	loop_del_fd(d->loop, sigfd);
	return r < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"core", required_argument, NULL, 'C'},
	    {"once", no_argument, NULL, 'o'},	      {"save-dir", required_argument, NULL, 's'},
	    {"game", required_argument, NULL, 'g'},   {"archive-dir", required_argument, NULL, 'a'},
	    {"socket", required_argument, NULL, 'S'}, {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},	      {"version", no_argument, NULL, 'V'},
	    {"worker", no_argument, NULL, 'W'},	      {0},
	};
	struct daemon d = {.start_usec = now_usec(), .reload = daemon_reload};
	struct core_settings cs = {0};
	char err[1024];
	int c, sigfd, status;

	log_init("savekeeperd");
	while ((c = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.opts.config_path = optarg;
			break;
		case 'C':
			d.opts.core = optarg;
			break;
		case 'o':
			d.opts.once = true;
			break;
		case 's':
			d.opts.save_dir = optarg;
			break;
		case 'g':
			d.opts.game = optarg;
			break;
		case 'a':
			d.opts.archive_dir = optarg;
			break;
		case 'S':
			d.opts.socket_path = optarg;
			break;
		case 'v':
			log_set_verbose(true);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("savekeeperd %s\n", SK_VERSION);
			return 0;
		case 'W':
			return core_worker_main(CORE_WORKER_FD);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (d.opts.game && !d.opts.save_dir) || (d.opts.save_dir && d.opts.config_path)) {
		fprintf(stderr, "savekeeperd: %s\n",
			optind < argc ? "unexpected argument"
			: d.opts.game ? "--game goes with --save-dir"
				      : "use --save-dir or --config, not both");
		usage(stderr);
		return 2;
	}
	if (daemon_load_config(&d.opts, &d.cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	sigfd = signals_open();
	/* --once starts no thread of its own (no notifier, no sessions), so a worker process may be
	 * a fork of it; the daemon re-executes itself for each (see docs/design.md). */
	cs = (struct core_settings){.slice_usec = d.cfg->slice_usec,
				    .nice = d.cfg->nice,
				    .io_idle = d.cfg->io_idle,
				    .fork_worker = d.opts.once};
	d.loop = loop_new();
	d.core = d.loop ? core_new(d.cfg->core, d.loop, &cs) : NULL;
	if (sigfd < 0 || !d.core) {
		log_errno(LOG_ERR, errno, "cannot start");
		return 1;
	}
	sweep_leftovers(d.cfg);
	if (d.opts.once)
		d.cfg->autostart = false;
	/* --once submits its jobs and exits: nothing ticks, so no folder is watched. */
	d.sched =
	    sched_new(d.loop, d.core, d.cfg, d.opts.once ? SCHED_ONE_SHOT : SCHED_DAEMON, on_job_event, &d);
	if (!d.sched)
		return log_errno(LOG_ERR, ENOMEM, "cannot start"), 1;
	if (!d.opts.once && !(d.sessions = sessions_new(d.loop, d.sched, d.cfg, NULL)))
		return log_errno(LOG_ERR, ENOMEM, "cannot start"), 1;
	status = d.opts.once ? run_once(&d) : run_daemon(&d, sigfd);

	/* Shutdown order: running jobs cancelled and awaited, so that clients waiting for them
	 * are told; queued jobs answered; then the socket closes and the rest goes. */
	sessions_free(d.sessions);
	sched_cancel_all(d.sched);
	core_free(d.core);
	sched_free(d.sched);
	ctl_close(d.ctl);
	notify_stop();
	loop_free(d.loop);
	safe_close(sigfd);
	config_free(d.cfg);
	return status;
}

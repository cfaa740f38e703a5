/* Steam play sessions, from Steam's pid file, a pidfd on Steam, and /proc while Steam runs. */
#include "sessions.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "schedule.h"
#include "steam.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define CMDLINE_MAX 4096

/* Steam writes its pid here when it starts: natively, and inside the Flatpak's home. */
static const char *const pid_dirs[] = {".steam", ".var/app/" STEAM_FLATPAK_ID "/.steam"};

struct sessions {
	struct loop *loop;
	struct sched *sched;
	const struct sk_config *cfg;
	char *home;
	int inotify_fd;
	int pidfd; /* on Steam while it runs, else -EBADF */
	struct loop_timer *poll;
	unsigned playing[SESSIONS_MAX]; /* app ids in a session */
	size_t n_playing;
};

unsigned
sessions_app_of_cmdline(const char *cmdline, size_t len)
{
	const char *end = cmdline + len, *base = memrchr(cmdline, '/', strnlen(cmdline, len));
	bool launch = false;
	unsigned long id = 0;

	base = base ? base + 1 : cmdline;
	if (len == 0 || strncmp(base, "reaper", (size_t)(end - base)) != 0 ||
	    strnlen(base, (size_t)(end - base)) != 6)
		return 0;
	for (const char *a = cmdline; a < end; a += strnlen(a, (size_t)(end - a)) + 1) {
		size_t n = strnlen(a, (size_t)(end - a));
		char *e;
		/* Steam's own arguments end at "--"; what follows is the game's. */
		if (n == 2 && strncmp(a, "--", 2) == 0)
			break;
		if (n == 11 && strncmp(a, "SteamLaunch", 11) == 0)
			launch = true;
		if (n > 6 && n < 20 && strncmp(a, "AppId=", 6) == 0 && a[6] >= '0' && a[6] <= '9') {
			char num[16];
			snprintf(num, sizeof(num), "%.*s", (int)(n - 6), a + 6);
			id = strtoul(num, &e, 10);
			if (*e || id > UINT_MAX)
				id = 0;
		}
	}
	return launch ? (unsigned)id : 0;
}

/* Reads /proc/PID/cmdline (at most CMDLINE_MAX bytes) into buf; its length, or -1. */
static ssize_t
read_cmdline(int procfd, const char *pid, char *buf)
{
	char path[64];
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/cmdline", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, CMDLINE_MAX);
	return n;
}

static bool
has_id(const unsigned *ids, size_t n, unsigned id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Calls fn(pid, cmdline, len, ctx) for each process of uid under proc until it returns true. */
static void
proc_each(const char *proc, uid_t uid, bool (*fn)(pid_t, const char *, size_t, void *), void *ctx)
{
	_cleanup_close_ int procfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[CMDLINE_MAX];
	struct dirent *e;
	DIR *d = procfd >= 0 ? opendir(proc) : NULL;

	while (d && (e = readdir(d))) {
		struct stat st;
		ssize_t len;
		if (e->d_name[0] < '1' || e->d_name[0] > '9' || fstatat(procfd, e->d_name, &st, 0) < 0 ||
		    st.st_uid != uid)
			continue;
		len = read_cmdline(procfd, e->d_name, buf);
		if (len > 0 && fn((pid_t)atoi(e->d_name), buf, (size_t)len, ctx))
			break;
	}
	if (d)
		closedir(d);
}

struct scan {
	unsigned *ids;
	size_t n, max;
};

static bool
scan_one(pid_t pid, const char *cmdline, size_t len, void *ctx)
{
	struct scan *sc = ctx;
	unsigned id = sessions_app_of_cmdline(cmdline, len);

	(void)pid;
	if (id && !has_id(sc->ids, sc->n, id))
		sc->ids[sc->n++] = id;
	return sc->n >= sc->max;
}

size_t
sessions_scan(const char *proc, uid_t uid, unsigned *ids, size_t max)
{
	struct scan sc = {.ids = ids, .max = max};

	if (max > 0)
		proc_each(proc, uid, scan_one, &sc);
	return sc.n;
}

/* True if the command line's argv[0] is a file called "steam", as Steam's own process is. */
static bool
cmdline_is_steam(const char *cmdline, size_t len)
{
	size_t n = strnlen(cmdline, len);
	const char *base = memrchr(cmdline, '/', n);

	base = base ? base + 1 : cmdline;
	return (size_t)(cmdline + n - base) == 5 && strncmp(base, "steam", 5) == 0;
}

bool
sessions_is_steam(const char *proc, pid_t pid)
{
	_cleanup_close_ int procfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[CMDLINE_MAX], name[32];
	ssize_t len;

	snprintf(name, sizeof(name), "%d", (int)pid);
	len = procfd >= 0 ? read_cmdline(procfd, name, buf) : -1;
	return len > 0 && cmdline_is_steam(buf, (size_t)len);
}

static bool
find_steam_one(pid_t pid, const char *cmdline, size_t len, void *ctx)
{
	if (!cmdline_is_steam(cmdline, len))
		return false;
	*(pid_t *)ctx = pid;
	return true;
}

pid_t
sessions_find_steam(const char *proc, uid_t uid)
{
	pid_t pid = 0;

	proc_each(proc, uid, find_steam_one, &pid);
	return pid;
}

/* The configured games with that steam_app begin or end a session, as `wrap` would: a begin is
 * followed by a snapshot (joined if one runs), an end by a final one once the folder is quiet. */
static void
app_session(struct sessions *ss, unsigned appid, bool begin)
{
	for (size_t i = 0; i < ss->cfg->n_games; i++) {
		const struct sk_game *g = &ss->cfg->games[i];
		struct job_spec tmpl = {.kind = JOB_SNAPSHOT};
		bool joined;
		if (g->steam_app != appid)
			continue;
		log_info("%s: Steam app %u %s", g->name, appid, begin ? "started" : "exited");
		sched_set_playing(ss->sched, g->name, begin);
		if (begin && sched_submit(ss->sched, g->name, &tmpl, NULL, &joined) < 0)
			log_warn("%s: no snapshot at the start of the session", g->name);
	}
}

/* Every STEAMS_POLL_USEC while Steam runs: sessions begin and end as games appear and go. */
static void
poll_tick(struct loop *loop, struct loop_timer *t, void *data)
{
	struct sessions *ss = data;
	unsigned ids[SESSIONS_MAX];
	size_t n = sessions_scan("/proc", getuid(), ids, SESSIONS_MAX), kept = 0;

	(void)loop;
	for (size_t i = 0; i < ss->n_playing; i++) {
		if (has_id(ids, n, ss->playing[i]))
			ss->playing[kept++] = ss->playing[i];
		else
			app_session(ss, ss->playing[i], false);
	}
	ss->n_playing = kept;
	for (size_t i = 0; i < n; i++)
		if (!has_id(ss->playing, ss->n_playing, ids[i])) {
			ss->playing[ss->n_playing++] = ids[i];
			app_session(ss, ids[i], true);
		}
	if (ss->pidfd >= 0)
		loop_timer_arm(t, SESSIONS_POLL_USEC);
}

/* Ends every session (Steam went away, or watching stops). */
static void
end_all(struct sessions *ss)
{
	for (size_t i = 0; i < ss->n_playing; i++)
		app_session(ss, ss->playing[i], false);
	ss->n_playing = 0;
}

static void
steam_forget(struct sessions *ss)
{
	if (ss->pidfd < 0)
		return;
	loop_del_fd(ss->loop, ss->pidfd);
	ss->pidfd = safe_close(ss->pidfd);
	loop_timer_arm(ss->poll, 0);
}

/* Steam's pidfd became readable: Steam exited, and with it every game it ran. */
static void
steam_exited(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct sessions *ss = data;

	(void)loop;
	(void)fd;
	(void)events;
	log_info("Steam exited");
	steam_forget(ss);
	end_all(ss);
}

/* Steam's pid: the one in its pid file if that process is Steam; else, when a pid file exists,
 * Steam's process looked for among the user's (the Flatpak's Steam writes the pid it has in
 * its own pid namespace). 0 if Steam is not running. Called only at start, on reload and
 * when a pid file is written, never on a timer. */
static pid_t
steam_pid(const struct sessions *ss)
{
	bool seen = false;

	for (size_t i = 0; i < ARRAY_SIZE(pid_dirs); i++) {
		char path[PATH_MAX];
		FILE *f;
		int pid = 0;
		snprintf(path, sizeof(path), "%s/%s/steam.pid", ss->home, pid_dirs[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		seen = true;
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
		if (pid > 0 && sessions_is_steam("/proc", pid))
			return pid;
	}
	return seen ? sessions_find_steam("/proc", getuid()) : 0;
}

/* Starts following Steam if it runs: a pidfd for its exit, and the first look at /proc now. */
static void
steam_check(struct sessions *ss)
{
	pid_t pid = ss->pidfd < 0 ? steam_pid(ss) : 0;
	int fd;

	if (pid <= 0)
		return;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		log_warn("cannot follow Steam (pid %d): %s", (int)pid, strerror(errno));
		return;
	}
	if (loop_add_fd(ss->loop, fd, EPOLLIN, steam_exited, ss) < 0) {
		close(fd);
		return;
	}
	log_info("Steam runs (pid %d): looking for its games every %llu s", (int)pid,
		 (unsigned long long)(SESSIONS_POLL_USEC / USEC_PER_SEC));
	ss->pidfd = fd;
	loop_timer_arm(ss->poll, 1);
}

/* Something was written into a folder of Steam's pid file: look at it if it was the pid file. */
static void
on_inotify(struct loop *loop, int fd, uint32_t events, void *data)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool pidfile = false;
	ssize_t n;

	(void)loop;
	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;
		     p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			pidfile |= e->len && strcmp(e->name, "steam.pid") == 0;
		}
	if (pidfile)
		steam_check(data);
}

/* Whether cfg asks for sessions: `sessions = steam` and a game with a steam_app. */
static bool
wanted(const struct sk_config *cfg)
{
	if (cfg->sessions != SK_SESSIONS_STEAM)
		return false;
	for (size_t i = 0; i < cfg->n_games; i++)
		if (cfg->games[i].steam_app)
			return true;
	return false;
}

static bool
watching(const struct sessions *ss)
{
	return ss->inotify_fd >= 0;
}

/* Watches the folders of Steam's pid files that exist (a Steam installed later is seen after a
 * reload or a restart), and looks whether Steam runs already. */
static void
watch_start(struct sessions *ss)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), n = 0;

	if (fd < 0 || !ss->poll) {
		log_warn("Steam sessions: cannot watch for Steam: %s", strerror(fd < 0 ? errno : ENOMEM));
		safe_close(fd);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(pid_dirs); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", ss->home, pid_dirs[i]);
		n += inotify_add_watch(fd, path, IN_CLOSE_WRITE | IN_MOVED_TO) >= 0;
	}
	if (n == 0 || loop_add_fd(ss->loop, fd, EPOLLIN, on_inotify, ss) < 0) {
		log_info(
		    "Steam sessions: no ~/.steam folder to watch; Steam games are seen after a reload once "
		    "Steam is installed");
		close(fd);
		return;
	}
	ss->inotify_fd = fd;
	steam_check(ss);
}

static void
watch_stop(struct sessions *ss)
{
	if (!watching(ss))
		return;
	steam_forget(ss);
	loop_del_fd(ss->loop, ss->inotify_fd);
	ss->inotify_fd = safe_close(ss->inotify_fd);
}

struct sessions *
sessions_new(struct loop *loop, struct sched *sched, const struct sk_config *cfg, const char *home)
{
	struct sessions *ss = calloc(1, sizeof(*ss));

	if (!ss)
		return NULL;
	*ss = (struct sessions){
	    .loop = loop, .sched = sched, .cfg = cfg, .inotify_fd = -EBADF, .pidfd = -EBADF};
	ss->home = home ? strdup(home) : expand_home("~");
	ss->poll = loop_timer_new(loop, poll_tick, ss);
	if (!ss->home || !ss->poll) {
		sessions_free(ss);
		return NULL;
	}
	if (wanted(cfg))
		watch_start(ss);
	return ss;
}

void
sessions_reload(struct sessions *ss, const struct sk_config *cfg)
{
	bool want;

	if (!ss)
		return;
	want = wanted(cfg);
	if (!want && watching(ss)) {
		end_all(ss);
		watch_stop(ss);
	}
	ss->cfg = cfg;
	if (want && !watching(ss))
		watch_start(ss);
}

void
sessions_free(struct sessions *ss)
{
	if (!ss)
		return;
	watch_stop(ss);
	loop_timer_free(ss->poll);
	free(ss->home);
	free(ss);
}

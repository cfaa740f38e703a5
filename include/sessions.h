/* Play sessions of Steam games without launch options: while Steam runs, the games it runs are
 * seen in /proc (Steam starts each as `reaper SteamLaunch AppId=<id> -- ...`) and each configured
 * game with that steam_app gets a session, as `savekeeperctl wrap` would give it: a snapshot at
 * the start, snapshots every interval_playing, a final one once the folder is quiet after the
 * end. /proc is read only while Steam runs, every SESSIONS_POLL_USEC; Steam's start is seen
 * through inotify on its pid file and its exit through a pidfd, so an idle daemon with Steam not
 * running has no wake-up at all. */
#ifndef SK_SESSIONS_H
#define SK_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

#define SESSIONS_POLL_USEC (3 * 1000000ULL)
/* The most games seen running at once. */
#define SESSIONS_MAX 32

struct loop;
struct sched;
struct sessions;

/* Starts watching for Steam under home (NULL: $HOME) when cfg says `sessions = steam` and some
 * game has a steam_app; otherwise it only keeps cfg for a later reload. Returns NULL on ENOMEM. */
struct sessions *sessions_new(struct loop *loop, struct sched *sched, const struct sk_config *cfg,
			      const char *home);

/* Takes a new config (the caller keeps it alive): sessions of games no longer configured end,
 * and watching starts or stops as the config asks. Accepts NULL (no sessions: --once). */
void sessions_reload(struct sessions *ss, const struct sk_config *cfg);

/* Ends the watch without ending sessions (shutdown). Accepts NULL. */
void sessions_free(struct sessions *ss);

/* The Steam app id of a process whose command line (NUL-separated, len bytes) is Steam's
 * `reaper SteamLaunch AppId=<id>`; 0 for any other process. */
unsigned sessions_app_of_cmdline(const char *cmdline, size_t len);

/* The app ids of the games Steam runs, from the processes of uid under proc ("/proc"), each
 * once, at most max; returns how many. */
size_t sessions_scan(const char *proc, uid_t uid, unsigned *ids, size_t max);

/* True if the process pid is Steam itself (its argv[0] is a file called "steam"). */
bool sessions_is_steam(const char *proc, pid_t pid);

/* The pid of uid's Steam process under proc, or 0 if there is none. */
pid_t sessions_find_steam(const char *proc, uid_t uid);

#endif

/* The runner: what a core runs. It knows the kinds of job (snapshot, verify, restore, prune,
 * pin, unpin, list), takes the game's lock around each and applies retention after a snapshot.
 * It sits above the engines (snapshot, store, restore) and below the cores. */
#ifndef SK_RUNNER_H
#define SK_RUNNER_H

#include <stdint.h>

#include "jobctx.h"
#include "util.h"

/* How long a job waits for another job (another daemon's worker, or a prune) to release the
 * game's lock before it gives up with -EBUSY. */
#define RUNNER_LOCK_WAIT_USEC (10 * USEC_PER_SEC)

/* Runs the job in the calling thread under the game's lock (waiting for it through hooks),
 * times it into ret->usec; always fills *ret. Returns ret->err. */
int runner_execute(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret);

/* Makes runner_execute run fn for the snapshot, verify and restore kinds instead (NULL: the
 * real work again); for tests and benchmarks that need a job of known length. Set it before
 * any job starts. */
void runner_set_work(job_work_fn *fn);

/* Locks a game's archive folder so that one job at a time works on a game, across threads,
 * worker processes and daemons: a worker left running by a daemon that was killed keeps its
 * lock until it has cleaned up. Waits up to wait_usec through hooks (may be NULL). Returns an
 * fd that releases the lock when closed, -EWOULDBLOCK when someone else still holds it, or
 * -errno when the folder cannot be opened: -ENOENT before the game's first archive, when there
 * is nothing to share yet; the job itself reports any other cause. */
int runner_lock_game(const char *game_dir, const struct job_hooks *hooks, uint64_t wait_usec);

/* Removes what a job that died (a killed worker process, a crash) left among the archives and,
 * with save_dir, beside the save folder (restore_sweep_game; NULL: store_sweep only), under the
 * game's lock, waiting for it up to wait_usec: another job (of a daemon started since, or of a
 * game of the same name made by a reload) may be writing its own temporaries there now.
 * Returns 0, -EWOULDBLOCK when the lock stayed taken, or -errno. */
int runner_sweep(const char *game_dir, const char *save_dir, uint64_t wait_usec);

#endif

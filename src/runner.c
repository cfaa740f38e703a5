/* The runner: one job of any kind, under its game's lock. The engines below it do the work of
 * a kind (snapshot, verify, restore, the store's retention and pins); the cores above it only
 * decide where runner_execute runs. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "restore.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

static job_work_fn *work_override;

void
runner_set_work(job_work_fn *fn)
{
	work_override = fn;
}

int
runner_lock_game(const char *game_dir, const struct job_hooks *hooks, uint64_t wait_usec)
{
	_cleanup_close_ int fd = open(game_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = job_flock(hooks, fd, wait_usec);
	return r < 0 ? r : TAKE_FD(fd);
}

int
runner_sweep(const char *game_dir, const char *save_dir, uint64_t wait_usec)
{
	_cleanup_close_ int lock = runner_lock_game(game_dir, NULL, wait_usec);

	/* No archive folder yet is nothing to share; what a crash left beside the save folder
	 * still goes. */
	if (lock < 0 && lock != -ENOENT)
		return lock;
	return save_dir ? restore_sweep_game(game_dir, save_dir) : store_sweep(game_dir);
}

/* Applies retention (spec->keep) and lists every archive with why it stays. */
static int
run_prune(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	size_t n = 0;
	int r = store_prune(spec->game_dir, &spec->keep, spec->dry_run, &ret->archives, &n);

	(void)hooks;
	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot prune '%s': %s", spec->game,
			 strerror(-r));
		return r;
	}
	ret->pruned = r;
	ret->n_archives = (unsigned)n;
	return 0;
}

static int
run_pin(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	int r = spec->id ? store_pin(spec->game_dir, spec->id, spec->kind == JOB_PIN) : -ENOENT;

	(void)hooks;
	if (r == -ENOENT)
		snprintf(ret->message, sizeof(ret->message), "game '%s' has no archive %s", spec->game,
			 spec->id ? spec->id : "(none)");
	else if (r < 0)
		snprintf(ret->message, sizeof(ret->message), "game '%s': cannot %s %s: %s", spec->game,
			 job_kind_name(spec->kind), spec->id, strerror(-r));
	else
		snprintf(ret->id, sizeof(ret->id), "%s", spec->id);
	return r;
}

/* Reads every archive's manifest header: one job, since a long history is many reads. */
static int
run_list(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	size_t n = 0;
	int r = store_list(spec->game_dir, &ret->archives, &n);

	(void)hooks;
	if (r >= 0)
		r = store_fill_shared(spec->game_dir, ret->archives, n);
	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot list '%s': %s", spec->game_dir,
			 strerror(-r));
		return r;
	}
	ret->n_archives = (unsigned)n;
	return 0;
}

static job_work_fn *
runner_work(enum job_kind kind)
{
	switch (kind) {
	case JOB_SNAPSHOT:
		return work_override ?: snap_create;
	case JOB_VERIFY:
		return work_override ?: store_verify;
	case JOB_RESTORE:
		return work_override ?: restore_run;
	case JOB_PRUNE:
		return run_prune;
	case JOB_PIN:
	case JOB_UNPIN:
		return run_pin;
	case JOB_LIST:
		return run_list;
	}
	return NULL;
}

/* Retention belongs to the snapshot job, under its lock and off the daemon's loop. */
static void
after_snapshot(const struct job_spec *spec, struct job_result *ret)
{
	if (ret->err == 0 && spec->kind == JOB_SNAPSHOT && spec->prune && !ret->unchanged)
		ret->pruned = store_prune(spec->game_dir, &spec->keep, false, NULL, NULL);
}

int
runner_execute(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	job_work_fn *fn = runner_work(spec->kind);
	uint64_t start = now_usec();
	/* A listing reads only; every other kind may change the archive folder. */
	int lock = spec->game_dir && spec->kind != JOB_LIST
		       ? runner_lock_game(spec->game_dir, hooks, RUNNER_LOCK_WAIT_USEC)
		       : -EBADF;

	*ret = (struct job_result){0};
	if (!fn || lock == -EWOULDBLOCK || lock == -ECANCELED) {
		ret->err = !fn ? -EINVAL : lock == -ECANCELED ? -ECANCELED : -EBUSY;
		if (!fn)
			snprintf(ret->message, sizeof(ret->message), "unknown job kind %d", (int)spec->kind);
		else if (lock == -ECANCELED)
			snprintf(ret->message, sizeof(ret->message), "cancelled");
		else
			snprintf(ret->message, sizeof(ret->message),
				 "another savekeeper job is working on %s", spec->game_dir);
		return ret->err;
	}
	ret->err = fn(spec, hooks, ret);
	if (ret->err < 0 && !ret->message[0])
		snprintf(ret->message, sizeof(ret->message), "%s", strerror(-ret->err));
	after_snapshot(spec, ret);
	ret->usec = now_usec() - start;
	safe_close(lock);
	return ret->err;
}

/* The runner: one job of any kind, under its game's lock. The engines below it do the work of
 * a kind (snapshot, verify, restore, the store's retention and pins); the cores above it only
 * decide where runner_execute runs. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "rclone.h"
#include "remote.h"
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
	int r;

	/* No archive folder yet is nothing to share; what a crash left beside the save folder
	 * still goes. */
	if (lock < 0 && lock != -ENOENT)
		return lock;
	r = save_dir ? restore_sweep_game(game_dir, save_dir) : store_sweep(game_dir);
	/* A pull that was killed leaves its staging folder, which store_sweep (files only) keeps. */
	return lock < 0 || r < 0 ? r : remote_sweep(game_dir);
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

/* A pin or unpin here, then its entry in the copy queue when the game has a remote and the
 * archive is this machine's there, so the remote's marker follows (ret->pending: the queue's
 * length then). An ID that only the remote has is not pinned: pin works on archives here. */
static int
run_pin(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	bool pin = spec->kind == JOB_PIN;
	int r = spec->id ? store_pin(spec->game_dir, spec->id, pin) : -ENOENT;

	(void)hooks;
	if (r == -ENOENT)
		snprintf(ret->message, sizeof(ret->message), "game '%s' has no archive %s%s", spec->game,
			 spec->id ? spec->id : "(none)",
			 spec->remote ? " here (pin works on archives here: pull brings one from the remote)"
				      : "");
	else if (r < 0)
		snprintf(ret->message, sizeof(ret->message), "game '%s': cannot %s %s: %s", spec->game,
			 job_kind_name(spec->kind), spec->id, strerror(-r));
	if (r < 0)
		return r;
	snprintf(ret->id, sizeof(ret->id), "%s", spec->id);
	r = spec->remote ? remote_queue_pin(spec->game_dir, spec->id, pin) : 0;
	if (r < 0)
		snprintf(ret->message, sizeof(ret->message),
			 "%s %s here, but it cannot be queued for the remote: %s",
			 pin ? "pinned" : "unpinned", spec->id, strerror(-r));
	ret->pending = r < 0 ? 0 : (unsigned)r;
	return 0;
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

/* The device that made archive id of the game, into dev ("" when its manifest does not say). */
static void
archive_device(const char *game_dir, const char *id, char *dev, size_t len)
{
	struct manifest *m = NULL;
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.manifest", game_dir, id);
	dev[0] = '\0';
	if (manifest_read_header(path, &m, NULL, 0) >= 0)
		snprintf(dev, len, "%s", m->device);
	manifest_free(m);
}

/* True when the save folder matches archive id as a restore's dry run sees it. */
static bool
live_matches(const struct job_spec *spec, const char *id, const struct job_hooks *hooks)
{
	struct job_spec dry = *spec;
	struct job_result r = {0};
	bool same;

	dry.id = (char *)(uintptr_t)id;
	dry.dry_run = true;
	same = restore_run(&dry, hooks, &r) == 0 && r.n_changes == 0;
	job_result_clear(&r);
	return same;
}

/* The archives the save folder may match without holding unarchived progress: this device's
 * newest, and the newest that is not a pre-restore snapshot (what a restore put there). */
static void
known_states(const struct job_spec *spec, char own[64], char newest[64])
{
	struct job_archive *a = NULL;
	size_t n = 0;
	char dev[256];

	own[0] = newest[0] = '\0';
	if (store_list(spec->game_dir, &a, &n) < 0)
		return;
	for (size_t i = n; i-- > 0 && (!own[0] || !newest[0]);) {
		archive_device(spec->game_dir, a[i].id, dev, sizeof(dev));
		if (!own[0] && strcmp(dev, spec->device) == 0)
			snprintf(own, 64, "%s", a[i].id);
		if (!newest[0] && strcmp(a[i].tag, "pre-restore") != 0)
			snprintf(newest, 64, "%s", a[i].id);
	}
	free(a);
}

/* The stale-over-newer guard: an archive another device made does not replace a save folder
 * holding progress that no archive here has, unless forced. Returns 0 or -ESTALE with the
 * message. */
static int
guard_stale(const struct job_spec *spec, const char *id, const struct job_hooks *hooks,
	    struct job_result *ret)
{
	char dev[256], own[64], newest[64];

	if (spec->force || spec->undo || spec->dry_run || !spec->device)
		return 0;
	archive_device(spec->game_dir, id, dev, sizeof(dev));
	if (!dev[0] || strcmp(dev, spec->device) == 0)
		return 0;
	known_states(spec, own, newest);
	if ((own[0] && live_matches(spec, own, hooks)) || (newest[0] && live_matches(spec, newest, hooks)))
		return 0;
	snprintf(ret->message, sizeof(ret->message),
		 "%s was made on %s, and the save folder of '%s' has changes that no archive here holds "
		 "(this device's last archive: %s); see them with restore --dry-run, or replace them "
		 "with restore --force",
		 id, dev, spec->game, own[0] ? own : "none");
	return -ESTALE;
}

/* A restore of an ID that only the remote has pulls it first, under the same lock, so the
 * restore then reads it like any archive here; then the guard looks at where it came from. */
static int
restore_from(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	char local[4096], id[64];
	int r;

	snprintf(local, sizeof(local), "%s/%s.tar.gz", spec->game_dir, spec->id ? spec->id : "");
	if (spec->remote && spec->id && !spec->undo && access(local, F_OK) < 0) {
		r = remote_pull(spec, hooks, ret);
		if (r < 0)
			return r;
		*ret = (struct job_result){0};
	}
	if (!spec->undo && (spec->id || store_latest(spec->game_dir, id, sizeof(id)) == 0) &&
	    (r = guard_stale(spec, spec->id ? spec->id : id, hooks, ret)) < 0)
		return r;
	return restore_run(spec, hooks, ret);
}

/* Under the game's lock, records an uploaded archive as this device's on the remote (when it
 * was uploaded: uploaded is false for one that retention removed here first) and takes it off
 * the copy queue. A crash between the two uploads it again, which changes nothing. */
static int
queue_done(const struct job_spec *spec, const struct job_hooks *hooks, const char *id, bool uploaded)
{
	_cleanup_close_ int lock = runner_lock_game(spec->game_dir, hooks, RUNNER_LOCK_WAIT_USEC);
	int r = lock < 0 ? lock : 0;

	if (r == 0 && uploaded)
		r = remote_journal_add(spec->game_dir, REMOTE_UPLOADED_FILE, id);
	return r < 0 ? r : remote_journal_remove(spec->game_dir, REMOTE_QUEUE_FILE, id);
}

/* Under the game's lock, takes a pin entry off the queue when the pin here is still what the
 * remote got: a pin or unpin made during the copy changed it, and its entry (the same text
 * when it came back to what the entry says) waits for the next copy job. */
static int
pin_done(const struct job_spec *spec, const struct job_hooks *hooks, const char *entry, const char *id,
	 bool pinned)
{
	_cleanup_close_ int lock = runner_lock_game(spec->game_dir, hooks, RUNNER_LOCK_WAIT_USEC);

	if (lock < 0)
		return lock;
	return store_pinned(spec->game_dir, id) == pinned
		   ? remote_journal_remove(spec->game_dir, REMOTE_QUEUE_FILE, entry)
		   : 0;
}

/* Does one entry of the copy queue and takes it off: uploads an archive, or makes its remote
 * pin marker follow the one here. Returns 1 for an archive's entry (0 for a pin's), or -errno
 * with the message. */
static int
copy_entry(const struct job_spec *spec, struct rclone_rc **rc, const char *entry,
	   const struct job_hooks *hooks, struct job_result *ret)
{
	const char *id;
	bool pinned = false;
	int r;

	if (job_cancelled(hooks))
		return -ECANCELED;
	if (remote_entry_parse(entry, &id) == REMOTE_OP_UPLOAD) {
		r = remote_upload(spec, rc, id, hooks, ret->message, sizeof(ret->message));
		if (r >= 0)
			r = queue_done(spec, hooks, id, r == 0);
		return r < 0 ? r : 1;
	}
	r = remote_pin_sync(spec, id, &pinned, hooks, ret->message, sizeof(ret->message));
	return r != 0 ? (r < 0 ? r : 0) : pin_done(spec, hooks, entry, id, pinned);
}

static int
queue_read(const struct job_spec *spec, const struct job_hooks *hooks, char ***ret_ids, size_t *ret_n)
{
	_cleanup_close_ int lock = runner_lock_game(spec->game_dir, hooks, RUNNER_LOCK_WAIT_USEC);

	if (lock == -ENOENT) {
		*ret_ids = NULL;
		*ret_n = 0;
		return 0;
	}
	return lock < 0 ? lock : remote_journal_read(spec->game_dir, REMOTE_QUEUE_FILE, ret_ids, ret_n);
}

/* The copy job drains the game's queue, oldest first. Its lock rule: the game's lock is held
 * only to read the queue and to take an uploaded ID off it, never during an upload, so a
 * snapshot or restore does not wait for the network. The upload needs no lock because a
 * published archive never changes; retention removing it meanwhile leaves rclone reading
 * the file it opened, or (before that) makes it missing here, and it leaves the queue. */
static int
run_copy(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	struct rclone_rc *rc = NULL;
	char **ids = NULL;
	size_t n = 0, i = 0;
	int r = queue_read(spec, hooks, &ids, &n);

	if (r < 0)
		snprintf(ret->message, sizeof(ret->message), "cannot read the copy queue of '%s': %s",
			 spec->game, strerror(-r));
	for (; r >= 0 && i < n; i++) {
		r = copy_entry(spec, &rc, ids[i], hooks, ret);
		if (r < 0)
			break;
		ret->files += r;
	}
	if (r < 0 && i < n) {
		const char *id;

		ret->pending = (unsigned)(n - i);
		(void)remote_entry_parse(ids[i], &id);
		snprintf(ret->id, sizeof(ret->id), "%s", id);
	}
	rclone_rc_stop(rc);
	if (r >= 0)
		ret->message[0] = '\0';
	remote_journal_free(ids, n);
	return r < 0 ? r : 0;
}

/* remote_prune_plan, then remote_prune_forget, under the game's lock: they read and change
 * this machine's record of uploads (which the copy job changes too). */
static int
prune_locked(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret, bool forget)
{
	_cleanup_close_ int lock = runner_lock_game(spec->game_dir, hooks, RUNNER_LOCK_WAIT_USEC);

	if (lock < 0 && lock != -ENOENT) {
		snprintf(ret->message, sizeof(ret->message), "cannot lock '%s': %s", spec->game_dir,
			 strerror(-lock));
		return lock;
	}
	return forget ? remote_prune_forget(spec, ret) : remote_prune_plan(spec, ret);
}

/* The remote's retention. Its lock rule is the copy job's: the game's lock is held to read the
 * record and pins and to change the record, never while rclone talks to the remote, so a slow
 * remote never keeps a snapshot or a copy waiting for the lock. */
static int
run_remote_prune(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	int r = remote_list(spec, hooks, ret), going = 0;

	if (r == 0)
		r = going = prune_locked(spec, hooks, ret, false);
	if (r > 0 && !spec->dry_run)
		r = remote_prune_delete(spec, hooks, ret);
	if (r == 0 && going && !spec->dry_run)
		r = prune_locked(spec, hooks, ret, true);
	ret->pruned = r < 0 ? 0 : going;
	ret->dry_run = spec->dry_run;
	return r < 0 ? r : 0;
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
		return work_override ?: restore_from;
	case JOB_PRUNE:
		return run_prune;
	case JOB_PIN:
	case JOB_UNPIN:
		return run_pin;
	case JOB_LIST:
		return run_list;
	case JOB_COPY:
		return run_copy;
	case JOB_REMOTE_LIST:
		return remote_list;
	case JOB_PULL:
		return remote_pull;
	case JOB_REMOTE_PRUNE:
		return run_remote_prune;
	}
	return NULL;
}

/* Queuing the new archive for the remote and retention belong to the snapshot job, under its
 * lock and off the daemon's loop. The queue entry is written before the job reports, so an
 * archive the daemon announced is copied even if the daemon stops now. */
static void
after_snapshot(const struct job_spec *spec, struct job_result *ret)
{
	if (ret->err != 0 || spec->kind != JOB_SNAPSHOT || ret->unchanged)
		return;
	if (spec->remote) {
		int r = remote_journal_add(spec->game_dir, REMOTE_QUEUE_FILE, ret->id);
		ret->pending = r < 0 ? 0 : 1;
		if (r < 0)
			snprintf(ret->message, sizeof(ret->message),
				 "archive %s made, but it cannot be queued for the remote: %s", ret->id,
				 strerror(-r));
	}
	if (spec->prune)
		ret->pruned = store_prune(spec->game_dir, &spec->keep, false, NULL, NULL);
}

/* What the game's archives cost on disk, after a job that may have changed them (status shows
 * it; an unchanged tick leaves it alone unless the scheduler does not know it yet). */
static void
after_change(const struct job_spec *spec, struct job_result *ret)
{
	bool changed;

	if (ret->err != 0 || !spec->game_dir)
		return;
	switch (spec->kind) {
	case JOB_SNAPSHOT:
		changed = !ret->unchanged || spec->want_disk;
		break;
	case JOB_PRUNE:
	case JOB_RESTORE:
		changed = !spec->dry_run;
		break;
	case JOB_PULL:
		changed = true;
		break;
	case JOB_LIST:
		store_sum_disk(ret->archives, ret->n_archives, ret);
		return;
	default:
		changed = false;
	}
	if (changed)
		(void)store_disk_usage(spec->game_dir, ret);
}

int
runner_execute(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	job_work_fn *fn = runner_work(spec->kind);
	uint64_t start = now_usec();
	bool reads_only = spec->kind == JOB_LIST || spec->kind == JOB_REMOTE_LIST;
	int lock;

	/* A pull may bring a game's first archive: its folder must exist to be locked. The
	 * remote's retention writes its delete list there, on a device with no archive yet too. */
	if (spec->game_dir && (spec->kind == JOB_PULL || spec->kind == JOB_REMOTE_PRUNE ||
			       (spec->kind == JOB_RESTORE && spec->remote)))
		(void)mkdir_p(spec->game_dir, 0700);
	/* A listing reads only; a copy and the remote's retention lock for their journals alone;
	 * every other kind may change the archive folder. */
	lock = spec->game_dir && !reads_only && spec->kind != JOB_COPY && spec->kind != JOB_REMOTE_PRUNE
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
	after_change(spec, ret);
	ret->usec = now_usec() - start;
	safe_close(lock);
	return ret->err;
}

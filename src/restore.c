/* Restore as a transaction. The order of the steps is the point:
 *   1. read the manifest; sweep leftovers of an interrupted restore;
 *   2. walk the archive once, checking every entry (store_walk) while extracting it into
 *      <parent>/.<name>.savekeeper-staging; a bad entry stops it and the staging folder goes;
 *   3. sync the staging tree, give its root the live folder's mode (and owner);
 *   4. take a pre-restore snapshot of the live folder, not yet pinned, and write restore-pending
 *      (its ID and the staging root's inode);
 *   5. swap staging and live with renameat2(RENAME_EXCHANGE), or two renames where the
 *      filesystem cannot; remove the old tree; sync the parent;
 *   6. pin the pre-restore snapshot and rename restore-pending to last-restore.
 * The live folder is only ever touched by step 5. A try that fails before it removes its
 * pre-restore snapshot and leaves last-restore alone; after a crash, restore_sweep_game tells
 * from the inode whether step 5 happened and finishes step 6 or undoes step 4. Before step 1 a
 * restore refuses a save folder that is or holds a mount point, or holds the archives. */
#include "restore.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "restore_int.h"
#include "snapshot.h"
#include "store.h"
#include "tree.h"
#include "util.h"

struct rpaths {
	char *live; /* the save folder, symlinks resolved when it exists */
	char *parent;
	char *staging;
	char *old;
};

static void
rpaths_free(struct rpaths *p)
{
	free(p->live);
	free(p->parent);
	free(p->staging);
	free(p->old);
}

static int
rpaths_init(struct rpaths *p, const char *save_dir)
{
	char *slash;

	p->live = realpath(save_dir, NULL);
	if (!p->live) {
		if (errno != ENOENT)
			return -errno;
		p->live = strdup(save_dir);
		if (!p->live)
			return -ENOMEM;
		for (size_t n = strlen(p->live); n > 1 && p->live[n - 1] == '/'; n--)
			p->live[n - 1] = '\0';
	}
	slash = strrchr(p->live, '/');
	if (slash && slash[1] == '\0')
		return -EINVAL;
	p->parent = !slash	       ? strdup(".")
		    : slash == p->live ? strdup("/")
				       : strndup(p->live, (size_t)(slash - p->live));
	if (!p->parent)
		return -ENOMEM;
	const char *name = slash ? slash + 1 : p->live;
	if (asprintf(&p->staging, "%s/.%s%s", p->parent, name, RESTORE_STAGING_SUFFIX) < 0 ||
	    asprintf(&p->old, "%s/.%s%s", p->parent, name, RESTORE_OLD_SUFFIX) < 0)
		return -ENOMEM;
	return 0;
}

/* Opens a folder to be emptied, making it readable and writable first; never follows a
 * symlink, even one swapped in after the caller looked. The fd, or -1 with errno set. */
static int
rm_open_dir(void *ctx, int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	(void)ctx;
	if (fd < 0 && errno == EACCES) {
		_cleanup_close_ int pfd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		if (pfd >= 0 && chmod(proc, 0700) == 0)
			fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd >= 0)
		(void)fchmod(fd, 0700);
	return fd;
}

/* The walk of rm_tree_at: the first error is kept in ctx, and the walk goes on. */
static int
rm_visit(void *ctx, int dfd, const char *name, const char *path, const struct stat *st)
{
	int *first = ctx;

	(void)path;
	if (S_ISDIR(st->st_mode))
		return 1;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT && *first == 0)
		*first = -errno;
	return 0;
}

static int
rm_leave(void *ctx, int dfd, const char *name, const char *path)
{
	int *first = ctx;

	(void)path;
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && *first == 0)
		*first = -errno;
	return 0;
}

static int
rm_error(void *ctx, const char *path, int err)
{
	int *first = ctx;

	(void)path;
	if (*first == 0)
		*first = err;
	return 0;
}

/* Removes name under dfd and everything below it, without following symlinks, iteratively
 * (a tree of any depth); 0 if it is not there. */
static int
rm_tree_at(int dfd, const char *name)
{
	static const struct tree_ops ops = {
	    .visit = rm_visit, .leave = rm_leave, .open_dir = rm_open_dir, .error = rm_error};
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int first = 0, r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	fd = rm_open_dir(NULL, dfd, name);
	if (fd < 0)
		return -errno;
	r = tree_walk(fd, &ops, &first);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && first == 0)
		first = -errno;
	return first < 0 ? first : r;
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int
restore_sweep(const char *save_dir)
{
	_cleanup_(rpaths_free) struct rpaths p = {0};
	struct stat st;
	int r = rpaths_init(&p, save_dir);
	bool changed = false;

	if (r < 0)
		return r;
	if (is_dir(p.old)) {
		/* Only the fallback swap leaves an old folder with the save folder missing. */
		if (lstat(p.live, &st) < 0 && errno == ENOENT)
			r = rename(p.old, p.live) < 0 ? -errno : 0;
		else
			r = rm_tree_at(AT_FDCWD, p.old);
		changed = true;
	}
	if (is_dir(p.staging)) {
		int k = rm_tree_at(AT_FDCWD, p.staging);
		r = r < 0 ? r : k;
		changed = true;
	}
	if (changed) {
		int k = fsync_path_dir(p.parent);
		r = r < 0 ? r : k;
	}
	return r;
}

/* Extracts m's archive into the staging folder, keeps the live folder's FIFOs and sockets
 * there, then syncs it and gives its root mode and owner from *like. On failure the staging
 * folder is gone. */
static int
extract(const struct rpaths *p, const char *game_dir, const struct manifest *m, const struct stat *like,
	const struct job_hooks *hooks, struct job_result *ret)
{
	const struct extract_opts o = {.chown = geteuid() == 0, .uid = like->st_uid, .gid = like->st_gid};
	_cleanup_close_ int fd = -EBADF, live = -EBADF;
	int r;

	if (mkdir(p->staging, 0700) < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot create '%s': %m", p->staging);
		return ret->err = -errno;
	}
	fd = open(p->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	if (r >= 0) {
		live = open(p->live, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = restore_extract(fd, live, game_dir, m, &o, hooks, ret);
	}
	if (r >= 0 && (syncfs(fd) < 0 || fchmod(fd, like->st_mode & 07777) < 0 ||
		       (o.chown && fchown(fd, like->st_uid, like->st_gid) < 0) || fsync(fd) < 0)) {
		r = ret->err = -errno;
		snprintf(ret->message, sizeof(ret->message), "cannot sync '%s': %m", p->staging);
	} else if (fd < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot open '%s': %s", p->staging,
			 strerror(-r));
		ret->err = r;
	}
	if (r < 0)
		(void)rm_tree_at(AT_FDCWD, p->staging);
	return r;
}

/* Takes the pre-restore snapshot of the live folder; its ID goes into ret->pre_id. It is
 * pinned only once the swap is done (finish_pending), so a failed try leaves no pin. */
static int
pre_restore_snapshot(const struct job_spec *spec, char *live, const struct job_hooks *hooks,
		     struct job_result *ret)
{
	struct job_spec s = {.kind = JOB_SNAPSHOT,
			     .game = spec->game,
			     .save_dir = live,
			     .game_dir = spec->game_dir,
			     .level = spec->level > 0 ? spec->level : 6,
			     .threads = spec->threads > 0 ? spec->threads : 1,
			     .tag = "pre-restore"};
	struct job_result sr = {0};
	int r = snap_create(&s, hooks, &sr);

	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "pre-restore snapshot failed: %.990s",
			 sr.message[0] ? sr.message : strerror(-r));
		ret->err = r;
	} else {
		snprintf(ret->pre_id, sizeof(ret->pre_id), "%s", sr.id);
	}
	job_result_clear(&sr);
	return r;
}

int
restore_sweep_game(const char *game_dir, const char *save_dir)
{
	_cleanup_(rpaths_free) struct rpaths p = {0};
	int r = restore_sweep(save_dir);
	int k = rpaths_init(&p, save_dir);

	if (r == -ENOENT)
		r = 0;
	if (k >= 0)
		k = restore_record_sweep(game_dir, p.live);
	r = r < 0 ? r : k;
	k = store_sweep(game_dir);
	return r < 0 ? r : k;
}

/* Unescapes mountinfo's octal escapes ("\040" for a space) in place. */
static void
unescape_octal(char *s)
{
	char *o = s;

	for (; *s; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 3;
		} else {
			*o = *s;
		}
	}
	*o = '\0';
}

/* The first mount point at or below dir, from /proc/self/mountinfo (bind mounts of the same
 * filesystem included), into *ret (malloc'd). Returns 1 if found, 0 if none, or -errno. */
static int
find_mount(const char *dir, char **ret)
{
	_cleanup_free_ char *line = NULL;
	size_t size = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int r = 0;

	if (!f)
		return -errno;
	while (r == 0 && getline(&line, &size, f) > 0) {
		char *save = NULL, *field = strtok_r(line, " ", &save);
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the fifth field. */
		for (int i = 1; field && i < 5; i++)
			field = strtok_r(NULL, " ", &save);
		if (!field)
			continue;
		unescape_octal(field);
		if (path_within(field, dir))
			r = (*ret = strdup(field)) ? 1 : -ENOMEM;
	}
	fclose(f);
	return r;
}

static int refuse(struct job_result *ret, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fills ret's message and error; returns r. */
static int
refuse(struct job_result *ret, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ret->message, sizeof(ret->message), fmt, ap);
	va_end(ap);
	return ret->err = r;
}

/* What a restore must not touch, checked before anything changes: the save folder cannot be
 * swapped if it is a mount point, the old tree must not take a mounted filesystem or the
 * archives with it, and a symlink to a missing folder (a drive not mounted) is no folder to
 * replace. */
static int
check_bounds(const struct rpaths *p, const char *save_dir, const char *game_dir, struct job_result *ret)
{
	_cleanup_free_ char *mnt = NULL, *archives = path_resolve(game_dir);
	struct stat st;
	int r;

	if (lstat(p->live, &st) == 0 && S_ISLNK(st.st_mode))
		return refuse(ret, -ENOENT,
			      "save folder '%s' is a symlink to a folder that does not exist; create it (or "
			      "mount its drive) first: nothing was changed",
			      save_dir);
	r = find_mount(p->live, &mnt);
	if (r < 0)
		return refuse(ret, r, "cannot read the mount table: %s", strerror(-r));
	if (r > 0 && strcmp(mnt, p->live) == 0)
		return refuse(
		    ret, -EBUSY,
		    "save folder '%s' is a mount point, which a restore cannot swap by rename; make "
		    "the save folder a folder on it (or a symlink to one): nothing was changed",
		    p->live);
	if (r > 0)
		return refuse(ret, -EXDEV,
			      "save folder '%s' holds the mount point '%s'; a restore does not cross into "
			      "another filesystem: unmount it or move it out, nothing was changed",
			      p->live, mnt);
	if (!archives)
		return refuse(ret, -ENOMEM, "out of memory");
	if (path_within(archives, p->live))
		return refuse(ret, -EINVAL,
			      "the archive folder '%s' lies inside save folder '%s'; a restore would replace "
			      "it: nothing was changed",
			      game_dir, p->live);
	return 0;
}

/* Where RENAME_EXCHANGE is missing: two renames, with a moment between them when the save
 * folder is absent; restore_sweep puts the old one back after a crash there. */
static int
swap_fallback(const struct rpaths *p)
{
	if (rename(p->live, p->old) < 0)
		return -errno;
	if (rename(p->staging, p->live) < 0) {
		int r = -errno;
		(void)rename(p->old, p->live);
		return r;
	}
	(void)rm_tree_at(AT_FDCWD, p->old);
	return 0;
}

/* Puts the staging tree in place of the live one; the old tree is removed. */
static int
swap_in(const struct rpaths *p, bool live_exists)
{
	int r = 0;

	if (!live_exists)
		r = rename(p->staging, p->live) < 0 ? -errno : 0;
	else if (renameat2(AT_FDCWD, p->staging, AT_FDCWD, p->live, RENAME_EXCHANGE) == 0)
		(void)rm_tree_at(AT_FDCWD, p->staging); /* now the old tree; the sweep retries */
	else if (errno == EINVAL || errno == ENOSYS)
		r = swap_fallback(p);
	else
		r = -errno;
	/* Once renamed the restore has happened: a failed sync cannot make it a failure. */
	if (r >= 0)
		(void)fsync_path_dir(p->parent);
	return r;
}

/* Step 4's record, then step 5: returns 0 once the staging tree is the save folder. */
static int
record_and_swap(const struct job_spec *spec, const struct rpaths *p, bool live_exists, struct job_result *ret)
{
	struct stat st;
	int r = 0;

	if (live_exists)
		r = stat(p->staging, &st) < 0 ? -errno
					      : restore_record_pending(spec->game_dir, ret->pre_id, &st);
	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot record the restore in '%s': %s",
			 spec->game_dir, strerror(-r));
		return ret->err = r;
	}
	r = swap_in(p, live_exists);
	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot swap '%s' into place: %s", p->live,
			 strerror(-r));
		return ret->err = r;
	}
	return 0;
}

/* Steps 4 to 6, once the staging tree is complete. A failure before the swap leaves no pre-restore
 * snapshot and the undo record as it was. */
static int
restore_commit(const struct job_spec *spec, const struct rpaths *p, bool live_exists,
	       const struct job_hooks *hooks, struct job_result *ret)
{
	int r = 0;

	if (live_exists && (r = pre_restore_snapshot(spec, p->live, hooks, ret)) < 0)
		return r;
	if (job_yield(hooks)) {
		snprintf(ret->message, sizeof(ret->message), "cancelled");
		r = ret->err = -ECANCELED;
	}
	if (r >= 0)
		r = record_and_swap(spec, p, live_exists, ret);
	if (r < 0) {
		(void)restore_record_drop(spec->game_dir, ret->pre_id);
		ret->pre_id[0] = '\0';
		return r;
	}
	r = live_exists ? restore_record_finish(spec->game_dir, ret->pre_id)
			: restore_record_forget(spec->game_dir);
	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message),
			 "restored, but cannot record the undo in '%s' (the next start finishes it): %s",
			 spec->game_dir, strerror(-r));
		return ret->err = r;
	}
	return 0;
}

static int
restore_apply(const struct job_spec *spec, const struct rpaths *p, const struct manifest *m,
	      const struct job_hooks *hooks, struct job_result *ret)
{
	struct stat like;
	char size[32], files[32];
	bool live_exists = stat(p->live, &like) == 0;
	int r;

	if (live_exists && !S_ISDIR(like.st_mode)) {
		snprintf(ret->message, sizeof(ret->message), "'%s' is not a folder", p->live);
		return ret->err = -ENOTDIR;
	}
	/* A new save folder is private and owned like its parent. */
	if (!live_exists && stat(p->parent, &like) == 0)
		like.st_mode = S_IFDIR | 0700;
	else if (!live_exists) {
		snprintf(ret->message, sizeof(ret->message), "cannot use '%s': %m", p->parent);
		return ret->err = -errno;
	}
	if ((r = check_bounds(p, spec->save_dir, spec->game_dir, ret)) < 0)
		return r;
	(void)restore_sweep(p->live);
	r = extract(p, spec->game_dir, m, &like, hooks, ret);
	if (r >= 0 && (r = restore_commit(spec, p, live_exists, hooks, ret)) < 0)
		(void)rm_tree_at(AT_FDCWD, p->staging);
	if (r < 0)
		return r;
	ret->files = m->files;
	ret->bytes_in = m->bytes;
	ret->bytes_out = m->archive_size;
	snprintf(ret->message, sizeof(ret->message), "restored %s: %s, %s%s%s", m->id,
		 fmt_count((int64_t)m->files, "file", NULL, files, sizeof(files)),
		 fmt_size(m->bytes, size, sizeof(size)), ret->pre_id[0] ? "; the state before is " : "",
		 ret->pre_id);
	return 0;
}

static int
restore_dry_run(const struct rpaths *p, const char *game_dir, const struct manifest *m,
		const struct job_hooks *hooks, struct job_result *ret)
{
	unsigned counts[3] = {0};
	char n[3][32];
	int r = store_walk(game_dir, m, NULL, hooks, ret);

	if (r >= 0)
		r = restore_diff(p->live, m, hooks, ret, counts);
	ret->dry_run = true;
	if (r < 0) {
		if (!ret->message[0])
			snprintf(ret->message, sizeof(ret->message), "cannot compare '%s': %s", p->live,
				 strerror(-r));
		return ret->err = r;
	}
	snprintf(ret->message, sizeof(ret->message), "restoring %s would add %s, change %s and remove %s",
		 m->id, fmt_count(counts[0], "entry", "entries", n[0], sizeof(n[0])),
		 fmt_count(counts[1], "entry", "entries", n[1], sizeof(n[1])),
		 fmt_count(counts[2], "entry", "entries", n[2], sizeof(n[2])));
	return 0;
}

int
restore_run(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	_cleanup_(rpaths_free) struct rpaths p = {0};
	struct manifest *m = NULL;
	char want[64], id[64];
	const char *target = spec->id;
	int r;

	if (spec->undo) {
		if ((r = restore_record_last(spec->game_dir, want, sizeof(want), ret)) < 0)
			return r;
		target = want;
	}
	r = rpaths_init(&p, spec->save_dir);
	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot use '%s': %s", spec->save_dir,
			 strerror(-r));
		return ret->err = r;
	}
	r = store_open_manifest(spec->game_dir, target, &m, id, sizeof(id), ret);
	if (r < 0)
		return r;
	if (spec->dry_run)
		r = restore_dry_run(&p, spec->game_dir, m, hooks, ret);
	else
		r = restore_apply(spec, &p, m, hooks, ret);
	manifest_free(m);
	return r;
}

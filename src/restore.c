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

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "restore_int.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

/* libarchive 3.6.2 briefly sets the umask to 0 while it creates a disk writer
 * (CVE-2023-30571): only one extraction runs at a time in this process. */
static pthread_mutex_t extract_lock = PTHREAD_MUTEX_INITIALIZER;

struct rpaths {
	char *live;     /* the save folder, symlinks resolved when it exists */
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
	p->parent = !slash ? strdup(".") : slash == p->live ? strdup("/") : strndup(p->live, (size_t)(slash - p->live));
	if (!p->parent)
		return -ENOMEM;
	const char *name = slash ? slash + 1 : p->live;
	if (asprintf(&p->staging, "%s/.%s%s", p->parent, name, RESTORE_STAGING_SUFFIX) < 0 ||
	    asprintf(&p->old, "%s/.%s%s", p->parent, name, RESTORE_OLD_SUFFIX) < 0)
		return -ENOMEM;
	return 0;
}

/* Opens a folder to be emptied, making it readable and writable first; never follows a
 * symlink, even one swapped in after the caller looked. */
static DIR *
open_dir_to_empty(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == EACCES) {
		_cleanup_close_ int pfd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		if (pfd >= 0 && chmod(proc, 0700) == 0)
			fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return NULL;
	(void)fchmod(fd, 0700);
	DIR *d = fdopendir(fd);
	if (!d)
		safe_close(fd);
	return d;
}

/* Removes name under dfd and everything below it, without following symlinks; 0 if it is
 * not there. */
static int
rm_tree_at(int dfd, const char *name)
{
	struct stat st;
	struct dirent *de;
	int r = 0;
	DIR *d;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	d = open_dir_to_empty(dfd, name);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int k = rm_tree_at(dirfd(d), de->d_name);
		if (k < 0 && r == 0)
			r = k;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
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
	_cleanup_(rpaths_free) struct rpaths p = { 0 };
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

/* What the extraction sink needs: the disk writer and whose files they become. */
struct extract {
	struct archive *disk;
	bool chown;
	uid_t uid;
	gid_t gid;
	const char *path;       /* the entry being written */
	const char *name;       /* the archive, for messages */
	struct job_result *ret;
};

static int
ex_fail(struct extract *x)
{
	int e = archive_errno(x->disk);
	const char *why = archive_error_string(x->disk);

	x->ret->err = e > 0 ? -e : -EPERM;
	snprintf(x->ret->message, sizeof(x->ret->message),
		 "archive '%s': cannot write '%s' into the staging folder: %s%s%s%s", x->name, x->path,
		 why ? why : "", why && e > 0 ? " (" : "", e > 0 ? strerror(e) : "", why && e > 0 ? ")" : "");
	return x->ret->err;
}

static int
ex_begin(struct archive_entry *ae, const struct mf_entry *me, void *data)
{
	struct extract *x = data;

	/* The entry is written under its checked name, never the one the archive spelled. */
	x->path = me->path;
	archive_entry_set_pathname(ae, me->path);
	if (me->type == MF_HARDLINK) {
		archive_entry_set_hardlink(ae, me->target);
		archive_entry_set_size(ae, 0);
	}
	archive_entry_set_perm(ae, archive_entry_perm(ae) & 0777);
	if (x->chown) {
		archive_entry_set_uid(ae, x->uid);
		archive_entry_set_gid(ae, x->gid);
	}
	return archive_write_header(x->disk, ae) == ARCHIVE_OK ? 0 : ex_fail(x);
}

static int
ex_block(const void *buf, size_t len, void *data)
{
	struct extract *x = data;
	la_ssize_t n = archive_write_data(x->disk, buf, len);

	return n >= 0 && (size_t)n == len ? 0 : ex_fail(x);
}

static int
ex_end(void *data)
{
	struct extract *x = data;

	return archive_write_finish_entry(x->disk) == ARCHIVE_OK ? 0 : ex_fail(x);
}

/* The extraction works relative to the staging folder (libarchive's secure flags refuse
 * absolute paths and check every component for symlinks, the staging folder's own parents
 * included). The thread gets a working directory of its own so no other thread sees it move,
 * and leaves it while it yields to the loop. */
struct cwd_hooks {
	struct job_hooks h;
	const struct job_hooks *inner;
	int home_fd, staging_fd;
};

static void
cwd_yield(void *ctx)
{
	struct cwd_hooks *c = ctx;

	(void)fchdir(c->home_fd);
	c->inner->yield(c->inner->ctx);
	(void)fchdir(c->staging_fd);
}

static void
cwd_progress(const struct job_progress *p, void *ctx)
{
	struct cwd_hooks *c = ctx;

	c->inner->progress(p, c->inner->ctx);
}

static int
cwd_enter(struct cwd_hooks *c, const struct job_hooks *inner, const char *staging)
{
	static __thread bool unshared;

	if (!unshared)
		unshared = unshare(CLONE_FS) == 0;
	*c = (struct cwd_hooks){ .inner = inner, .home_fd = -EBADF, .staging_fd = -EBADF };
	if (inner)
		c->h = (struct job_hooks){ .yield = inner->yield ? cwd_yield : NULL,
					   .progress = inner->progress ? cwd_progress : NULL,
					   .ctx = c, .cancel = inner->cancel };
	c->home_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	c->staging_fd = open(staging, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->home_fd < 0 || c->staging_fd < 0 || fchdir(c->staging_fd) < 0)
		return -errno;
	return 0;
}

static void
cwd_leave(struct cwd_hooks *c)
{
	if (c->home_fd >= 0)
		(void)fchdir(c->home_fd);
	c->home_fd = safe_close(c->home_fd);
	c->staging_fd = safe_close(c->staging_fd);
}

/* Takes the extraction lock; a coroutine waits by yielding, so the loop keeps running. */
static int
lock_extraction(const struct job_hooks *hooks)
{
	if (!hooks || !hooks->yield) {
		pthread_mutex_lock(&extract_lock);
		return 0;
	}
	while (pthread_mutex_trylock(&extract_lock) != 0)
		if (job_yield(hooks))
			return -ECANCELED;
	return 0;
}

static int
extract_locked(const char *game_dir, const struct manifest *m, struct extract *x, const char *staging,
	       const struct job_hooks *hooks, struct job_result *ret)
{
	const struct store_sink sink = { .begin = ex_begin, .block = ex_block, .end = ex_end, .data = x };
	int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		    ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
		    ARCHIVE_EXTRACT_NO_OVERWRITE | (x->chown ? ARCHIVE_EXTRACT_OWNER : 0);
	struct cwd_hooks c;
	int r = cwd_enter(&c, hooks, staging);

	if (r >= 0 && !(x->disk = archive_write_disk_new()))
		r = -ENOMEM;
	if (r < 0) {
		cwd_leave(&c);
		snprintf(ret->message, sizeof(ret->message), "cannot enter '%s': %s", staging, strerror(-r));
		return ret->err = r;
	}
	archive_write_disk_set_options(x->disk, flags);
	r = store_walk(game_dir, m, &sink, hooks ? &c.h : NULL, ret);
	/* Closing applies the folders' modes and times, deferred until their contents exist. */
	if (archive_write_close(x->disk) != ARCHIVE_OK && r >= 0) {
		x->path = "(folders)";
		r = ex_fail(x);
	}
	archive_write_free(x->disk);
	cwd_leave(&c);
	return r;
}

/* Extracts m's archive into the staging folder, then syncs it and gives its root mode and
 * owner from *like. On failure the staging folder is gone. */
static int
extract(const struct rpaths *p, const char *game_dir, const struct manifest *m, const struct stat *like,
	const struct job_hooks *hooks, struct job_result *ret)
{
	char name[96];
	struct extract x = { .chown = geteuid() == 0, .uid = like->st_uid, .gid = like->st_gid,
			     .path = "", .name = name, .ret = ret };
	_cleanup_close_ int fd = -EBADF;
	int r;

	snprintf(name, sizeof(name), "%s%s", m->id, SNAP_SUFFIX);
	if (mkdir(p->staging, 0700) < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot create '%s': %m", p->staging);
		return ret->err = -errno;
	}
	r = lock_extraction(hooks);
	if (r >= 0) {
		r = extract_locked(game_dir, m, &x, p->staging, hooks, ret);
		pthread_mutex_unlock(&extract_lock);
	}
	fd = r < 0 ? -EBADF : open(p->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r >= 0 && (fd < 0 || syncfs(fd) < 0 || fchmod(fd, like->st_mode & 07777) < 0 ||
		       (x.chown && fchown(fd, like->st_uid, like->st_gid) < 0) || fsync(fd) < 0)) {
		r = ret->err = -errno;
		snprintf(ret->message, sizeof(ret->message), "cannot sync '%s': %m", p->staging);
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
	struct job_spec s = { .kind = JOB_SNAPSHOT, .game = spec->game, .save_dir = live,
			      .game_dir = spec->game_dir, .level = spec->level > 0 ? spec->level : 6,
			      .threads = spec->threads > 0 ? spec->threads : 1, .tag = "pre-restore" };
	struct job_result sr = { 0 };
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
	_cleanup_(rpaths_free) struct rpaths p = { 0 };
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

static int
refuse(struct job_result *ret, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

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
			      "mount its drive) first: nothing was changed", save_dir);
	r = find_mount(p->live, &mnt);
	if (r < 0)
		return refuse(ret, r, "cannot read the mount table: %s", strerror(-r));
	if (r > 0 && strcmp(mnt, p->live) == 0)
		return refuse(ret, -EBUSY,
			      "save folder '%s' is a mount point, which a restore cannot swap by rename; make "
			      "the save folder a folder on it (or a symlink to one): nothing was changed", p->live);
	if (r > 0)
		return refuse(ret, -EXDEV,
			      "save folder '%s' holds the mount point '%s'; a restore does not cross into "
			      "another filesystem: unmount it or move it out, nothing was changed", p->live, mnt);
	if (!archives)
		return refuse(ret, -ENOMEM, "out of memory");
	if (path_within(archives, p->live))
		return refuse(ret, -EINVAL,
			      "the archive folder '%s' lies inside save folder '%s'; a restore would replace "
			      "it: nothing was changed", game_dir, p->live);
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
record_and_swap(const struct job_spec *spec, const struct rpaths *p, bool live_exists,
		struct job_result *ret)
{
	struct stat st;
	int r = 0;

	if (live_exists)
		r = stat(p->staging, &st) < 0 ? -errno : restore_record_pending(spec->game_dir, ret->pre_id, &st);
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
	char size[32];
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
	snprintf(ret->message, sizeof(ret->message), "restored %s: %llu files, %s%s%s", m->id,
		 (unsigned long long)m->files, fmt_size(m->bytes, size, sizeof(size)),
		 ret->pre_id[0] ? "; the state before is " : "", ret->pre_id);
	return 0;
}

static int
restore_dry_run(const struct rpaths *p, const char *game_dir, const struct manifest *m,
		const struct job_hooks *hooks, struct job_result *ret)
{
	unsigned counts[3] = { 0 };
	int r = store_walk(game_dir, m, NULL, hooks, ret);

	if (r >= 0)
		r = restore_diff(p->live, m, hooks, &ret->detail, counts);
	if (r < 0) {
		if (!ret->message[0])
			snprintf(ret->message, sizeof(ret->message), "cannot compare '%s': %s", p->live,
				 strerror(-r));
		return ret->err = r;
	}
	snprintf(ret->message, sizeof(ret->message), "restoring %s would add %u, change %u and remove %u entries",
		 m->id, counts[0], counts[1], counts[2]);
	return 0;
}

int
restore_run(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	_cleanup_(rpaths_free) struct rpaths p = { 0 };
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
		snprintf(ret->message, sizeof(ret->message), "cannot use '%s': %s", spec->save_dir, strerror(-r));
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

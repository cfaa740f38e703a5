/* The remote's own retention: the game's policy applied to the copies this device uploaded,
 * as the record of uploads (REMOTE_UPLOADED_FILE) names them, so that another device's
 * archives on the same remote are never counted or removed unless the config says so. */
#include "remote.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "rclone.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

/* The list of names one rclone delete removes; a .partial name, so a crash leaves it to the
 * start-up sweep. */
#define REMOTE_DELETE_LIST "remote-delete" SNAP_TMP_SUFFIX

/* Applies spec->keep to the archives that count (this device's, or all with prune_foreign),
 * each pinned here or on the remote kept; the others get KEEP_FOREIGN. */
static int
decide(const struct job_spec *spec, struct job_archive *a, size_t n)
{
	_cleanup_free_ struct job_archive *mine = NULL;
	_cleanup_free_ unsigned *why = NULL;
	_cleanup_free_ size_t *at = NULL;
	char **ids = NULL;
	size_t k = 0, m = 0;
	int r = remote_journal_read(spec->game_dir, REMOTE_UPLOADED_FILE, &ids, &k);

	if (r < 0)
		return r;
	mine = calloc(n + 1, sizeof(*mine));
	why = calloc(n + 1, sizeof(*why));
	at = calloc(n + 1, sizeof(*at));
	for (size_t i = 0; mine && why && at && i < n; i++) {
		a[i].pinned = a[i].pinned || store_pinned(spec->game_dir, a[i].id);
		a[i].keep = KEEP_FOREIGN;
		if (spec->prune_foreign || remote_journal_has(ids, k, a[i].id)) {
			at[m] = i;
			mine[m++] = a[i];
		}
	}
	remote_journal_free(ids, k);
	if (!mine || !why || !at)
		return -ENOMEM;
	store_retention(mine, m, &spec->keep, why);
	for (size_t j = 0; j < m; j++)
		a[at[j]].keep = why[j];
	return 0;
}

int
remote_prune_plan(const struct job_spec *spec, struct job_result *ret)
{
	int r = decide(spec, ret->archives, ret->n_archives), going = 0;

	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot read the record of uploads in '%s': %s",
			 spec->game_dir, strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < ret->n_archives; i++)
		going += !ret->archives[i].keep;
	return going;
}

/* Writes the names "<ID><suffix>" of the archives that go into the list file. */
static int
write_list(const char *path, const struct job_archive *a, size_t n, const char *suffix)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < n; i++)
		if (!a[i].keep && dprintf(fd, "%s%s\n", a[i].id, suffix) < 0)
			return -EIO;
	return 0;
}

/* One rclone delete of the listed names with the suffix. */
static int
delete_listed(const struct job_spec *spec, const char *list, const struct job_archive *a, size_t n,
	      const char *suffix, const struct job_hooks *hooks, struct job_result *ret)
{
	struct rclone_opts o;
	int r = write_list(list, a, n, suffix);

	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot write '%s': %s", list, strerror(-r));
		return r;
	}
	remote_rclone_opts(spec, &o);
	return rclone_run(&o, (const char *const[]){"delete", spec->remote, "--files-from-raw", list, NULL},
			  hooks, NULL, 0, ret->message, sizeof(ret->message));
}

int
remote_prune_delete(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	_cleanup_free_ char *list = path_join(spec->game_dir, REMOTE_DELETE_LIST);
	int r = list ? 0 : -ENOMEM;

	/* Every manifest first, then the archives: a stop between leaves archives without their
	 * manifest, never a manifest without its archive, and they are still in the record. */
	if (r == 0)
		r = delete_listed(spec, list, ret->archives, ret->n_archives, SNAP_MANIFEST_SUFFIX, hooks,
				  ret);
	if (r == 0)
		r = delete_listed(spec, list, ret->archives, ret->n_archives, SNAP_SUFFIX, hooks, ret);
	if (list)
		(void)unlink(list);
	return r;
}

int
remote_prune_forget(const struct job_spec *spec, struct job_result *ret)
{
	int r = 0;

	for (unsigned i = 0; r == 0 && i < ret->n_archives; i++)
		if (!ret->archives[i].keep)
			r = remote_journal_remove(spec->game_dir, REMOTE_UPLOADED_FILE, ret->archives[i].id);
	if (r < 0)
		snprintf(ret->message, sizeof(ret->message),
			 "cannot update the record of uploads in '%s': %s", spec->game_dir, strerror(-r));
	return r;
}

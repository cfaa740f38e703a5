/* The records a restore keeps in the game's archive folder: restore-pending while it swaps,
 * last-restore for undo once it has. A try that fails leaves last-restore as it was. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "restore.h"
#include "restore_int.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

/* Writes text to <game_dir>/<file> atomically (text NULL: removes it). */
static int
write_record(const char *game_dir, const char *file, const char *text)
{
	_cleanup_free_ char *path = path_join(game_dir, file);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (!path || asprintf(&tmp, "%s%s", path, SNAP_TMP_SUFFIX) < 0)
		return -ENOMEM;
	if (!text)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return fsync_path_dir(game_dir);
}

int
restore_record_pending(const char *game_dir, const char *pre_id, const struct stat *staging)
{
	char text[128];

	snprintf(text, sizeof(text), "%s\n%u:%u %llu\n", pre_id, major(staging->st_dev),
		 minor(staging->st_dev), (unsigned long long)staging->st_ino);
	return write_record(game_dir, RESTORE_PENDING_FILE, text);
}

/* Reads restore-pending: -ENOENT when there is none, -EINVAL when it is damaged. */
static int
read_pending(const char *game_dir, char id[64], dev_t *ret_dev, ino_t *ret_ino)
{
	_cleanup_free_ char *path = path_join(game_dir, RESTORE_PENDING_FILE);
	unsigned maj, min;
	unsigned long long ino;
	int64_t t;
	FILE *f = path ? fopen(path, "re") : NULL;
	int n;

	if (!f)
		return path ? -errno : -ENOMEM;
	n = fscanf(f, "%63s %u:%u %llu", id, &maj, &min, &ino);
	fclose(f);
	if (n != 4 || store_id_time(id, &t) < 0)
		return -EINVAL;
	*ret_dev = makedev(maj, min);
	*ret_ino = (ino_t)ino;
	return 0;
}

int
restore_record_finish(const char *game_dir, const char *pre_id)
{
	_cleanup_free_ char *from = path_join(game_dir, RESTORE_PENDING_FILE);
	_cleanup_free_ char *to = path_join(game_dir, RESTORE_LAST_FILE);
	int r;

	if (!from || !to)
		return -ENOMEM;
	r = store_pin(game_dir, pre_id, true);
	if (r >= 0 && rename(from, to) < 0)
		r = -errno;
	return r < 0 ? r : fsync_path_dir(game_dir);
}

int
restore_record_drop(const char *game_dir, const char *pre_id)
{
	int r = pre_id[0] ? store_remove(game_dir, pre_id) : 0;
	int k = write_record(game_dir, RESTORE_PENDING_FILE, NULL);

	return r < 0 ? r : k;
}

int
restore_record_sweep(const char *game_dir, const char *live)
{
	char id[64] = "";
	struct stat st;
	dev_t dev = 0;
	ino_t ino = 0;
	int r = read_pending(game_dir, id, &dev, &ino);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r == -EINVAL ? write_record(game_dir, RESTORE_PENDING_FILE, NULL) : r;
	if (stat(live, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		return restore_record_finish(game_dir, id);
	return restore_record_drop(game_dir, id);
}

int
restore_record_forget(const char *game_dir)
{
	return write_record(game_dir, RESTORE_LAST_FILE, NULL);
}

int
restore_record_last(const char *game_dir, char *buf, size_t len, struct job_result *ret)
{
	_cleanup_free_ char *path = path_join(game_dir, RESTORE_LAST_FILE);
	int64_t t;
	FILE *f = path ? fopen(path, "re") : NULL;
	bool ok = f && fgets(buf, (int)len, f);

	if (f)
		fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	if (!ok || store_id_time(buf, &t) < 0) {
		snprintf(ret->message, sizeof(ret->message),
			 "nothing to undo: no restore was recorded in '%s'", game_dir);
		return ret->err = -ENOENT;
	}
	return 0;
}

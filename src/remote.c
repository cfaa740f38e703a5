/* Off-machine copies: the per-game journal of archives still to upload and the upload of one
 * archive with its manifest. */
#include "remote.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "rclone.h"
#include "snapshot.h"
#include "util.h"

#define REMOTE_QUEUE_MAX (1024 * 1024)

void
remote_queue_free(char **ids, size_t n)
{
	for (size_t i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

/* Splits the journal's text into IDs; lines that are not a plausible ID (a torn write cannot
 * happen, but a hand edit can) are skipped. */
static int
parse_queue(char *text, char ***ret_ids, size_t *ret_n)
{
	char **ids = NULL, *save = NULL;
	size_t n = 0, cap = 0;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!*line || strlen(line) >= 64 || strchr(line, '/') || line[0] == '.')
			continue;
		if (array_grow(&ids, &cap, n, sizeof(*ids)) < 0 || !(ids[n] = strdup(line))) {
			remote_queue_free(ids, n);
			return -ENOMEM;
		}
		n++;
	}
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

int
remote_queue_read(const char *game_dir, char ***ret_ids, size_t *ret_n)
{
	_cleanup_free_ char *path = path_join(game_dir, REMOTE_QUEUE_FILE), *text = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t len = 0;
	ssize_t k;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		*ret_ids = NULL;
		*ret_n = 0;
		return 0;
	}
	if (fd < 0 || !(text = malloc(REMOTE_QUEUE_MAX + 1)))
		return fd < 0 ? -errno : -ENOMEM;
	while (len < REMOTE_QUEUE_MAX && (k = read(fd, text + len, REMOTE_QUEUE_MAX - len)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		len += (size_t)k;
	}
	text[len] = '\0';
	return parse_queue(text, ret_ids, ret_n);
}

/* Replaces the journal with ids (skipping drop), crash-safely. */
static int
write_queue(const char *game_dir, char **ids, size_t n, const char *drop, const char *add)
{
	_cleanup_free_ char *path = path_join(game_dir, REMOTE_QUEUE_FILE), *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r = 0;

	if (!path || asprintf(&tmp, "%s%s", path, SNAP_TMP_SUFFIX) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; r == 0 && i < n; i++)
		if (!drop || strcmp(ids[i], drop) != 0)
			r = dprintf(fd, "%s\n", ids[i]) < 0 ? -EIO : 0;
	if (r == 0 && add)
		r = dprintf(fd, "%s\n", add) < 0 ? -EIO : 0;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return fsync_path_dir(game_dir);
}

/* Reads the queue, then rewrites it without drop and with add at its end. */
static int
change_queue(const char *game_dir, const char *drop, const char *add)
{
	char **ids = NULL;
	size_t n = 0;
	bool found = false;
	int r = remote_queue_read(game_dir, &ids, &n);

	for (size_t i = 0; r == 0 && i < n; i++)
		found = found || strcmp(ids[i], drop ? drop : add) == 0;
	/* Nothing to do: the ID to add is there already, or the one to drop is not. */
	if (r == 0 && (drop ? found : !found))
		r = write_queue(game_dir, ids, n, drop, add);
	remote_queue_free(ids, n);
	return r;
}

int
remote_queue_add(const char *game_dir, const char *id)
{
	return change_queue(game_dir, NULL, id);
}

int
remote_queue_remove(const char *game_dir, const char *id)
{
	return change_queue(game_dir, id, NULL);
}

/* Uploads <id><suffix> from the game's folder; 1 when it is gone here. */
static int
upload_file(const struct rclone_opts *o, const struct job_spec *spec, const char *id, const char *suffix,
	    const struct job_hooks *hooks, char *err, size_t errlen)
{
	char name[128], local[4096];
	struct stat st;

	snprintf(name, sizeof(name), "%s%s", id, suffix);
	if ((size_t)snprintf(local, sizeof(local), "%s/%s", spec->game_dir, name) >= sizeof(local))
		return -ENAMETOOLONG;
	if (stat(local, &st) < 0) {
		snprintf(err, errlen, "cannot copy '%s': %s", local, strerror(errno));
		return errno == ENOENT ? 1 : -errno;
	}
	return rclone_upload(o, local, spec->remote, name, hooks, err, errlen);
}

int
remote_upload(const struct job_spec *spec, const char *id, const struct job_hooks *hooks, char *err,
	      size_t errlen)
{
	struct rclone_opts o = {
		.binary = spec->rclone, .config = spec->rclone_config, .bwlimit = spec->remote_bwlimit,
	};
	int r = upload_file(&o, spec, id, SNAP_SUFFIX, hooks, err, errlen);

	return r != 0 ? r : upload_file(&o, spec, id, SNAP_MANIFEST_SUFFIX, hooks, err, errlen);
}

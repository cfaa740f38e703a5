/* Off-machine copies: the per-game journal of archives still to upload and the upload of one
 * archive with its manifest. */
#include "remote.h"

#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "rclone.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

#define REMOTE_QUEUE_MAX (1024 * 1024)
/* The longest listing read from rclone lsjson: some 50,000 archives. */
#define REMOTE_LIST_MAX (16 * 1024 * 1024)

void
remote_journal_free(char **ids, size_t n)
{
	for (size_t i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

/* The prefixes of the queue's pin entries, by enum remote_op. */
static const char *const op_prefix[] = {
    [REMOTE_OP_UPLOAD] = "",
    [REMOTE_OP_PIN] = "pin ",
    [REMOTE_OP_UNPIN] = "unpin ",
};

enum remote_op
remote_entry_parse(const char *entry, const char **ret_id)
{
	for (enum remote_op op = REMOTE_OP_PIN; op <= REMOTE_OP_UNPIN; op++)
		if (!strncmp(entry, op_prefix[op], strlen(op_prefix[op]))) {
			*ret_id = entry + strlen(op_prefix[op]);
			return op;
		}
	*ret_id = entry;
	return REMOTE_OP_UPLOAD;
}

/* Whether a journal line may be taken in: a torn write cannot happen, but a hand edit can. An
 * archive's line is any plain name, as before pins; a pin entry must name a valid ID. */
static bool
plausible(const char *line)
{
	const char *id;
	int64_t t;

	if (!*line || strlen(line) >= 64 || strchr(line, '/') || line[0] == '.')
		return false;
	return remote_entry_parse(line, &id) == REMOTE_OP_UPLOAD || store_id_time(id, &t) == 0;
}

/* Splits the journal's text into its entries, skipping lines that are not plausible. */
static int
parse_queue(char *text, char ***ret_ids, size_t *ret_n)
{
	char **ids = NULL, *save = NULL;
	size_t n = 0, cap = 0;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!plausible(line))
			continue;
		if (array_grow(&ids, &cap, n, sizeof(*ids)) < 0 || !(ids[n] = strdup(line))) {
			remote_journal_free(ids, n);
			return -ENOMEM;
		}
		n++;
	}
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

int
remote_journal_read(const char *game_dir, const char *file, char ***ret_ids, size_t *ret_n)
{
	_cleanup_free_ char *path = path_join(game_dir, file), *text = NULL;
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

bool
remote_journal_has(char **ids, size_t n, const char *entry)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], entry) == 0)
			return true;
	return false;
}

/* Replaces the journal with ids (skipping those in drop) and add at its end, crash-safely. */
static int
write_journal(const char *game_dir, const char *file, char **ids, size_t n, char **drop, size_t n_drop,
	      const char *add)
{
	_cleanup_free_ char *path = path_join(game_dir, file), *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r = 0;

	if (!path || asprintf(&tmp, "%s%s", path, SNAP_TMP_SUFFIX) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; r == 0 && i < n; i++)
		if (!remote_journal_has(drop, n_drop, ids[i]))
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

/* Reads the journal, then rewrites it without drop and with add at its end. */
static int
change_journal(const char *game_dir, const char *file, const char *drop, const char *add)
{
	char **ids = NULL;
	size_t n = 0, at = 0;
	int r = remote_journal_read(game_dir, file, &ids, &n);

	while (r == 0 && at < n && strcmp(ids[at], drop ? drop : add) != 0)
		at++;
	/* Nothing to do: the ID to add is there already, or the one to drop is not. */
	if (r == 0 && (drop ? at < n : at == n))
		r = write_journal(game_dir, file, ids, n, drop ? ids + at : NULL, drop ? 1 : 0, add);
	remote_journal_free(ids, n);
	return r;
}

int
remote_journal_add(const char *game_dir, const char *file, const char *id)
{
	return change_journal(game_dir, file, NULL, id);
}

int
remote_journal_remove(const char *game_dir, const char *file, const char *id)
{
	return change_journal(game_dir, file, id, NULL);
}

/* Whether the archive is this machine's on the remote: recorded as uploaded, or queued. */
static int
ours_on_remote(const char *game_dir, char **queue, size_t n, const char *id)
{
	char **up = NULL;
	size_t k = 0;
	int r = remote_journal_has(queue, n, id)
		    ? 1
		    : remote_journal_read(game_dir, REMOTE_UPLOADED_FILE, &up, &k);

	if (r == 0)
		r = remote_journal_has(up, k, id);
	remote_journal_free(up, k);
	return r;
}

int
remote_queue_pin(const char *game_dir, const char *id, bool pin)
{
	char entries[2][96], *drop[2] = {entries[0], entries[1]};
	char **ids = NULL;
	size_t n = 0, left = 0;
	int r = remote_journal_read(game_dir, REMOTE_QUEUE_FILE, &ids, &n);

	snprintf(entries[0], sizeof(entries[0]), "%s%s", op_prefix[REMOTE_OP_PIN], id);
	snprintf(entries[1], sizeof(entries[1]), "%s%s", op_prefix[REMOTE_OP_UNPIN], id);
	if (r == 0)
		r = ours_on_remote(game_dir, ids, n, id);
	for (size_t i = 0; r > 0 && i < n; i++)
		left += !remote_journal_has(drop, 2, ids[i]);
	/* A pin or unpin of id still waiting is replaced: the remote needs only the last. */
	if (r > 0 &&
	    (r = write_journal(game_dir, REMOTE_QUEUE_FILE, ids, n, drop, 2, entries[pin ? 0 : 1])) == 0)
		r = (int)left + 1;
	remote_journal_free(ids, n);
	return r;
}

int
remote_pin_sync(const struct job_spec *spec, const char *id, bool *ret_pinned, const struct job_hooks *hooks,
		char *err, size_t errlen)
{
	char local[4096], to[4096], filter[128];
	bool pinned = store_pinned(spec->game_dir, id);
	struct rclone_opts o;
	int r;

	remote_rclone_opts(spec, &o);
	snprintf(local, sizeof(local), "%s/%s%s", spec->game_dir, id, SNAP_PIN_SUFFIX);
	snprintf(to, sizeof(to), "%s/%s%s", spec->remote, id, SNAP_PIN_SUFFIX);
	snprintf(filter, sizeof(filter), "/%s%s", id, SNAP_PIN_SUFFIX);
	/* An empty marker needs no .partial name: it is whole as soon as it exists. */
	if (pinned)
		r = rclone_run(&o, (const char *const[]){"copyto", local, to, NULL}, hooks, NULL, 0, err,
			       errlen);
	else
		r = rclone_run(&o, (const char *const[]){"delete", spec->remote, "--include", filter, NULL},
			       hooks, NULL, 0, err, errlen);
	if (r == -ENODATA) {
		/* copyto creates the remote's folders: its source went, unpinned meanwhile. A
		 * delete found no folder, so no marker either. */
		err[0] = '\0';
		return pinned ? 1 : 0;
	}
	*ret_pinned = pinned;
	return r;
}

void
remote_rclone_opts(const struct job_spec *spec, struct rclone_opts *o)
{
	*o = (struct rclone_opts){
	    .binary = spec->rclone,
	    .config = spec->rclone_config,
	    .bwlimit = spec->remote_bwlimit,
	};
}

/* The job's rcd in *rc: the daemon's, when the spec lends it, else one of its own. */
static int
job_rcd(const struct job_spec *spec, struct rclone_rc **rc, struct rclone_opts *o,
	const struct job_hooks *hooks, char *err, size_t errlen)
{
	int r;

	remote_rclone_opts(spec, o);
	if (*rc)
		return 0;
	if (!spec->rc_addr || !spec->rc_auth)
		return rclone_rc_start(o, hooks, rc, err, errlen);
	r = rclone_rc_attach(o, spec->rc_addr, spec->rc_auth, rc);
	if (r < 0)
		snprintf(err, errlen, "cannot use rclone rcd at %s: %s", spec->rc_addr, strerror(-r));
	return r;
}

/* Uploads <id><suffix[i]> from the game's folder, in order, through the job's rcd; 1 when a
 * file is gone here (nothing is uploaded then). */
static int
upload_files(struct rclone_rc **rc, const struct job_spec *spec, const char *id, const char *const *suffix,
	     size_t n, const struct job_hooks *hooks, char *err, size_t errlen)
{
	char name[2][128], local[2][4096];
	const char *names[2], *locals[2];
	struct rclone_opts o;
	struct stat st;

	for (size_t i = 0; i < n && i < 2; i++) {
		snprintf(name[i], sizeof(name[i]), "%s%s", id, suffix[i]);
		if ((size_t)snprintf(local[i], sizeof(local[i]), "%s/%s", spec->game_dir, name[i]) >=
		    sizeof(local[i]))
			return -ENAMETOOLONG;
		if (stat(local[i], &st) < 0) {
			snprintf(err, errlen, "cannot copy '%s': %s", local[i], strerror(errno));
			return errno == ENOENT ? 1 : -errno;
		}
		names[i] = name[i];
		locals[i] = local[i];
	}
	int r = job_rcd(spec, rc, &o, hooks, err, errlen);
	return r < 0 ? r : rclone_rc_upload_files(*rc, locals, spec->remote, names, n, hooks, err, errlen);
}

int
remote_upload(const struct job_spec *spec, struct rclone_rc **rc, const char *id,
	      const struct job_hooks *hooks, char *err, size_t errlen)
{
	static const char *const pair[] = {SNAP_SUFFIX, SNAP_MANIFEST_SUFFIX};
	static const char *const pin[] = {SNAP_PIN_SUFFIX};
	int r = upload_files(rc, spec, id, pair, 2, hooks, err, errlen);

	/* A pin goes with its archive, so that the remote's retention keeps it wherever it runs;
	 * one that is gone (unpinned meanwhile) is no failure. */
	if (r == 0 && store_pinned(spec->game_dir, id) &&
	    (r = upload_files(rc, spec, id, pin, 1, hooks, err, errlen)) > 0)
		r = 0;
	return r;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(((const struct job_archive *)a)->id, ((const struct job_archive *)b)->id);
}

/* Marks each listed archive whose <ID>.pin the listing holds too. */
static void
mark_pins(struct json_object *a, struct job_result *ret)
{
	size_t n = json_object_array_length(a), k = strlen(SNAP_PIN_SUFFIX);

	for (size_t i = 0; i < n; i++) {
		struct json_object *name;
		const char *nm = json_object_object_get_ex(json_object_array_get_idx(a, i), "Name", &name)
				     ? json_object_get_string(name)
				     : "";
		size_t len = strlen(nm);

		if (len <= k || strcmp(nm + len - k, SNAP_PIN_SUFFIX) != 0)
			continue;
		for (unsigned j = 0; j < ret->n_archives; j++)
			if (strlen(ret->archives[j].id) == len - k &&
			    !strncmp(ret->archives[j].id, nm, len - k))
				ret->archives[j].pinned = true;
	}
}

/* Takes the archives out of rclone lsjson's array: names <ID>.tar.gz with a valid ID. */
static int
parse_listing(const char *json, struct job_result *ret)
{
	struct json_object *a = json_tokener_parse(json);
	size_t n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0, cap = 0;
	int r = a ? 0 : -EBADMSG;

	for (size_t i = 0; r == 0 && i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i), *name, *size;
		const char *nm =
		    json_object_object_get_ex(e, "Name", &name) ? json_object_get_string(name) : "";
		size_t len = strlen(nm), k = strlen(SNAP_SUFFIX);
		struct job_archive ar = {0};

		if (len <= k || len - k >= sizeof(ar.id) || strcmp(nm + len - k, SNAP_SUFFIX) != 0)
			continue;
		snprintf(ar.id, sizeof(ar.id), "%.*s", (int)(len - k), nm);
		if (store_id_time(ar.id, &ar.time_usec) < 0)
			continue;
		ar.size =
		    json_object_object_get_ex(e, "Size", &size) ? (uint64_t)json_object_get_int64(size) : 0;
		r = array_grow(&ret->archives, &cap, ret->n_archives, sizeof(ar));
		if (r == 0)
			ret->archives[ret->n_archives++] = ar;
	}
	if (r == 0 && n)
		mark_pins(a, ret);
	json_object_put(a);
	if (ret->n_archives)
		qsort(ret->archives, ret->n_archives, sizeof(*ret->archives), by_id);
	return r;
}

/* Empties a folder of ours: the pull's staging (left over by a pull that was stopped), or a
 * listing's copy of the remote's manifests. A symlink in its place is not followed. */
static void
clear_staging(const char *staging)
{
	int fd = open(staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (fd >= 0 && !d)
		close(fd);
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
}

/* Fills device, files, bytes and tag of each listed archive from its manifest in dir. */
static void
read_manifests(const char *dir, struct job_result *ret)
{
	for (unsigned i = 0; i < ret->n_archives; i++) {
		struct job_archive *a = &ret->archives[i];
		struct manifest *m = NULL;
		char path[4096 + 128];

		snprintf(path, sizeof(path), "%s/%s%s", dir, a->id, SNAP_MANIFEST_SUFFIX);
		if (manifest_read_header(path, &m, NULL, 0) < 0)
			continue;
		snprintf(a->device, sizeof(a->device), "%s", m->device);
		snprintf(a->tag, sizeof(a->tag), "%s", m->tag);
		a->files = m->files;
		a->bytes = m->bytes;
		manifest_free(m);
	}
}

/* Copies the remote's manifests of the game (one rclone run) into a private folder in the
 * game's folder, where the start-up sweep removes it if the daemon is killed meanwhile (under
 * $TMPDIR nothing would); a failure leaves the listing without them. */
static void
remote_manifests(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	_cleanup_free_ char *dir = path_join(spec->game_dir, REMOTE_LIST_STAGING ".XXXXXX");
	struct rclone_opts o;
	char err[256];

	if (!dir || mkdir_p(spec->game_dir, 0700) < 0 || !mkdtemp(dir))
		return;
	remote_rclone_opts(spec, &o);
	if (rclone_run(
		&o,
		(const char *const[]){"copy", spec->remote, dir, "--include", "*" SNAP_MANIFEST_SUFFIX, NULL},
		hooks, NULL, 0, err, sizeof(err)) == 0)
		read_manifests(dir, ret);
	clear_staging(dir);
	(void)rmdir(dir);
}

int
remote_list(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	struct rclone_opts o;
	_cleanup_free_ char *out = NULL;
	int r;

	remote_rclone_opts(spec, &o);
	r = rclone_run(&o, (const char *const[]){"lsjson", "--files-only", spec->remote, NULL}, hooks, &out,
		       REMOTE_LIST_MAX, ret->message, sizeof(ret->message));
	if (r == -ENODATA) {
		ret->message[0] = '\0';
		return 0;
	}
	if (r == 0 && (r = parse_listing(out, ret)) < 0)
		snprintf(ret->message, sizeof(ret->message), "cannot read the listing of %s: %s",
			 spec->remote, strerror(-r));
	if (r == 0 && ret->n_archives)
		remote_manifests(spec, hooks, ret);
	return r;
}

/* Downloads <id><suffix> from the remote into the staging folder. */
static int
download(const struct job_spec *spec, const char *staging, const char *id, const char *suffix,
	 const struct job_hooks *hooks, struct job_result *ret)
{
	struct rclone_opts o;
	char from[4096], to[4096];

	remote_rclone_opts(spec, &o);
	snprintf(from, sizeof(from), "%s/%s%s", spec->remote, id, suffix);
	snprintf(to, sizeof(to), "%s/%s%s", staging, id, suffix);
	return rclone_run(&o, (const char *const[]){"copyto", from, to, NULL}, hooks, NULL, 0, ret->message,
			  sizeof(ret->message));
}

/* Moves the checked pair from staging into the game's folder, manifest first: the archive's
 * name appearing is the commit point, as for a snapshot. */
static int
publish_pulled(const char *staging, const char *game_dir, const char *id)
{
	static const char *const suffixes[] = {SNAP_MANIFEST_SUFFIX, SNAP_SUFFIX};
	char from[4096], to[4096];

	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		snprintf(from, sizeof(from), "%s/%s%s", staging, id, suffixes[i]);
		snprintf(to, sizeof(to), "%s/%s%s", game_dir, id, suffixes[i]);
		/* As private as the archives a snapshot makes, whatever the backend gave. */
		if (chmod(from, 0600) < 0 || rename(from, to) < 0)
			return -errno;
	}
	return fsync_path_dir(game_dir);
}

/* The newest ID the remote holds, into id. */
static int
newest_remote(const struct job_spec *spec, const struct job_hooks *hooks, char *id, size_t len,
	      struct job_result *ret)
{
	struct job_result l = {0};
	int r = remote_list(spec, hooks, &l);

	if (r == 0 && l.n_archives == 0)
		r = -ENOENT;
	if (r == 0)
		snprintf(id, len, "%s", l.archives[l.n_archives - 1].id);
	else
		snprintf(ret->message, sizeof(ret->message), "%s",
			 r == -ENOENT ? "the remote has no archive of this game" : l.message);
	job_result_clear(&l);
	return r;
}

/* Downloads and checks id in staging; the checked pair stays there. */
static int
fetch_checked(const struct job_spec *spec, const char *staging, const char *id, const struct job_hooks *hooks,
	      struct job_result *ret)
{
	struct manifest *m = NULL;
	char got[64];
	int r = download(spec, staging, id, SNAP_MANIFEST_SUFFIX, hooks, ret);

	if (r == 0)
		r = download(spec, staging, id, SNAP_SUFFIX, hooks, ret);
	if (r == -ENODATA)
		snprintf(ret->message, sizeof(ret->message), "the remote %s has no archive %s", spec->remote,
			 id);
	if (r == 0)
		r = store_open_manifest(staging, id, &m, got, sizeof(got), ret);
	if (r == 0)
		r = store_walk(staging, m, NULL, hooks, ret);
	manifest_free(m);
	return r;
}

/* Removes the staging folder in dir named name, if it is one of ours. */
static int
sweep_staging(const char *dir, const char *name)
{
	_cleanup_free_ char *staging = path_join(dir, name);

	if (!staging)
		return -ENOMEM;
	clear_staging(staging);
	if (rmdir(staging) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int
remote_sweep(const char *game_dir)
{
	static const char list_prefix[] = REMOTE_LIST_STAGING ".";
	DIR *d = opendir(game_dir);
	struct dirent *de;
	int r = sweep_staging(game_dir, REMOTE_STAGING);

	/* A listing does not lock the game: one running now may lose its copy of the manifests
	 * to a sweep after a worker's crash, and shows its archives without devices. */
	while (d && (de = readdir(d)))
		if (strncmp(de->d_name, list_prefix, sizeof(list_prefix) - 1) == 0) {
			int k = sweep_staging(game_dir, de->d_name);
			r = r < 0 ? r : k;
		}
	if (d)
		closedir(d);
	return r;
}

int
remote_pull(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	_cleanup_free_ char *staging = path_join(spec->game_dir, REMOTE_STAGING);
	char id[64], local[4096];
	int r = staging ? 0 : -ENOMEM;

	if (r == 0 && spec->id)
		snprintf(id, sizeof(id), "%s", spec->id);
	else if (r == 0)
		r = newest_remote(spec, hooks, id, sizeof(id), ret);
	if (r < 0)
		return r;
	snprintf(ret->id, sizeof(ret->id), "%s", id);
	snprintf(local, sizeof(local), "%s/%s%s", spec->game_dir, id, SNAP_SUFFIX);
	if (access(local, F_OK) == 0) {
		snprintf(ret->message, sizeof(ret->message), "%s is here already", id);
		return 0;
	}
	if ((r = mkdir_p(staging, 0700)) < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot make '%s': %s", staging, strerror(-r));
		return r;
	}
	clear_staging(staging);
	r = fetch_checked(spec, staging, id, hooks, ret);
	if (r == 0 && (r = publish_pulled(staging, spec->game_dir, id)) < 0)
		snprintf(ret->message, sizeof(ret->message), "cannot publish %s in '%s': %s", id,
			 spec->game_dir, strerror(-r));
	clear_staging(staging);
	(void)rmdir(staging);
	if (r == 0)
		snprintf(ret->message, sizeof(ret->message), "pulled %s from %s", id, spec->remote);
	return r;
}

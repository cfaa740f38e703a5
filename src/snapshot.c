/* The snapshot engine, part one: setup, the archive attempt and the atomic publish. A sorted
 * walk of the save folder (snapshot_tree.c) feeds a pax tar stream from libarchive, written
 * through our own callback into the gzip writer, and a manifest with a SHA-256 per file. The
 * archive and manifest are written as <ID>.tar.gz.partial and <ID>.manifest.partial (0600,
 * O_EXCL|O_NOFOLLOW, relative to the archive folder's fd, so a planted symlink is never
 * followed), fsynced, the manifest renamed into place, then the archive (the commit point),
 * then the folder fsynced. A failure removes only what this attempt created. */
#include "snapshot.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gz.h"
#include "manifest.h"
#include "snapshot_int.h"
#include "util.h"

#define SNAP_ATTEMPTS 3
#define SNAP_ID_TRIES 8

/* A message is one line: control bytes from names are shown as '?'. */
static void
one_line(char *msg)
{
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
}

int
snap_fail(struct snap *s, int r, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	int n;

	if (s->res->message[0])
		return r;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	msg_fit(s->res->message, sizeof(s->res->message), n < 0 ? "out of memory" : msg);
	one_line(s->res->message);
	return r;
}

/* IDs. */

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The digits of a fraction of a second after s[0] == '.', at most 6, then 'Z'; their count. */
static int
id_fraction(const char *s, int64_t *ret_usec)
{
	int n = 0;
	int64_t usec = 0;

	while (n < 6 && s[1 + n] >= '0' && s[1 + n] <= '9')
		usec = usec * 10 + (s[1 + n++] - '0');
	if (n == 0 || s[1 + n] != 'Z')
		return -EINVAL;
	for (int i = n; i < 6; i++)
		usec *= 10;
	*ret_usec = usec;
	return n;
}

int
snap_id_parse(const char *s, int64_t *ret_usec)
{
	struct tm tm = {0};
	int64_t usec = 0;
	int len = 16, frac;

	if (strnlen(s, 16) < 16 || !all_digits(s, 8) || s[8] != 'T' || !all_digits(s + 9, 6))
		return -EINVAL;
	if (s[15] == '.') {
		if ((frac = id_fraction(s + 15, &usec)) < 0)
			return -EINVAL;
		len += frac + 1;
	} else if (s[15] != 'Z') {
		return -EINVAL;
	}
	if (sscanf(s, "%4d%2d%2dT%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec) != 6)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	*ret_usec = (int64_t)timegm(&tm) * (int64_t)USEC_PER_SEC + usec;
	return len;
}

static int
format_id(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return -EOVERFLOW;
	if ((size_t)snprintf(buf, len, "%04d%02d%02dT%02d%02d%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000)) >= len)
		return -ENOSPC;
	return 0;
}

/* The newest ID in the folder (any name that starts with one) into *ret_ms, and the newest
 * published archive's into latest (may be NULL). */
static int
scan_ids(int dirfd, int64_t *ret_ms, char *latest)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int64_t max = -1, best = -1, ms;
	struct dirent *de;

	if (!d) {
		safe_close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int64_t usec;
		int len = snap_id_parse(de->d_name, &usec);
		if (len < 0)
			continue;
		ms = usec / (int64_t)USEC_PER_MSEC;
		if (ms > max)
			max = ms;
		if (latest && ms > best && len == SNAP_ID_LEN && strcmp(de->d_name + len, SNAP_SUFFIX) == 0) {
			best = ms;
			memcpy(latest, de->d_name, SNAP_ID_LEN);
			latest[SNAP_ID_LEN] = '\0';
		}
	}
	closedir(d);
	*ret_ms = max;
	return 0;
}

static int64_t
next_id_ms(int64_t newest)
{
	int64_t now = (int64_t)(realtime_usec() / USEC_PER_MSEC);

	return now > newest ? now : newest + 1;
}

int
snap_new_id(const char *game_dir, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(game_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t newest = -1;
	int r;

	if (fd < 0 && errno != ENOENT)
		return -errno;
	if (fd >= 0 && (r = scan_ids(fd, &newest, NULL)) < 0)
		return r;
	return format_id(next_id_ms(newest), buf, len);
}

/* The output path: libarchive -> gz writer. */

static la_ssize_t
tar_write(struct archive *a, void *data, const void *buf, size_t len)
{
	struct snap *s = data;
	int r;

	if (s->discard)
		return (la_ssize_t)len;
	s->group_ulen += len;
	r = gz_write(s->gz, buf, len);
	if (r < 0) {
		if (!s->out_err)
			s->out_err = r;
		archive_set_error(a, -r, "%s", strerror(-r));
		return -1;
	}
	return (la_ssize_t)len;
}

static int
fail_out(struct snap *s, int r)
{
	if (r == -ECANCELED)
		return snap_fail(s, r, "snapshot cancelled");
	return snap_fail(s, r, "cannot write '%s/%s': %s", s->spec->game_dir, s->fin_tar, strerror(-r));
}

/* An error from libarchive: ours from the output path if there was one, else its own. */
static int
fail_archive(struct snap *s)
{
	if (s->out_err)
		return fail_out(s, s->out_err);
	return snap_fail(s, -EIO, "cannot add '%s' to the archive: %s", s->path,
			 archive_error_string(s->ar) ? archive_error_string(s->ar) : "unknown error");
}

int
snap_write_header(struct snap *s, struct archive_entry *e)
{
	locale_t old = (locale_t)0;
	int r;

	/* Names are bytes; in a C.UTF-8 view libarchive stores UTF-8 names as pax UTF-8 (which
	 * every tar reads) instead of flagging them binary. Switched per call and per thread so
	 * the rest of the program, and a coroutine's loop, keep their locale. */
	if (s->utf8)
		old = uselocale(s->utf8);
	r = archive_write_header(s->ar, e);
	if (s->utf8)
		uselocale(old);
	return r < ARCHIVE_WARN ? fail_archive(s) : 0;
}

int
snap_write_data(struct snap *s, const void *buf, size_t len)
{
	la_ssize_t n = archive_write_data(s->ar, buf, len);

	if (n < 0 || (size_t)n != len)
		return fail_archive(s);
	s->prog.bytes_done += len;
	return 0;
}

/* One attempt: temporaries, the archive, publish. */

static int
open_tmp(struct snap *s, const char *name, bool *made)
{
	/* Read and write: a group cloned into the archive is read back to check it. */
	int fd = openat(s->game_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd >= 0)
		*made = true;
	return fd < 0 ? -errno : fd;
}

/* Picks the ID and creates the two temporaries; an ID whose names are taken is skipped. */
static int
begin_files(struct snap *s)
{
	int64_t ms;
	int r = scan_ids(s->game_fd, &ms, NULL);

	if (r < 0)
		return snap_fail(s, r, "cannot read archive folder '%s': %s", s->spec->game_dir,
				 strerror(-r));
	ms = next_id_ms(ms);
	for (int i = 0; i < SNAP_ID_TRIES; i++, ms++) {
		if ((r = format_id(ms, s->id, sizeof(s->id))) < 0)
			return snap_fail(s, r, "cannot make an archive ID: %s", strerror(-r));
		snprintf(s->fin_tar, sizeof(s->fin_tar), "%s" SNAP_SUFFIX, s->id);
		snprintf(s->fin_mf, sizeof(s->fin_mf), "%s" SNAP_MANIFEST_SUFFIX, s->id);
		snprintf(s->tmp_tar, sizeof(s->tmp_tar), "%s" SNAP_TMP_SUFFIX, s->fin_tar);
		snprintf(s->tmp_mf, sizeof(s->tmp_mf), "%s" SNAP_TMP_SUFFIX, s->fin_mf);
		snprintf(s->pin, sizeof(s->pin), "%s%s", s->id, SNAP_PIN_SUFFIX);
		s->tar_fd = open_tmp(s, s->tmp_tar, &s->made_tar);
		if (s->tar_fd == -EEXIST)
			continue;
		if (s->tar_fd < 0)
			break;
		s->mf_fd = open_tmp(s, s->tmp_mf, &s->made_mf);
		if (s->mf_fd >= 0)
			return 0;
		r = s->mf_fd;
		return snap_fail(s, r, "cannot create '%s/%s': %s", s->spec->game_dir, s->tmp_mf,
				 strerror(-r));
	}
	r = s->tar_fd;
	return snap_fail(s, r, "cannot create '%s/%s': %s", s->spec->game_dir, s->tmp_tar, strerror(-r));
}

/* The manifest names the device that made the archive and the game's archive before it, so
 * that another device can tell a stale copy from newer progress. */
static int
record_origin(struct snap *s)
{
	char latest[SNAP_ID_LEN + 1] = "";
	int64_t ms;

	if (scan_ids(s->game_fd, &ms, latest) == 0)
		snprintf(s->mf->based_on, sizeof(s->mf->based_on), "%s", latest);
	if (!s->spec->device)
		return 0;
	free(s->mf->device);
	s->mf->device = strdup(s->spec->device);
	return s->mf->device ? 0 : -ENOMEM;
}

static int
begin_archive(struct snap *s)
{
	unsigned threads = s->spec->threads ? s->spec->threads : 1;

	/* The counting walk's total stands for the tar stream's size: a small tree is cut into
	 * smaller chunks, so that the compression threads share its larger files. */
	s->gz = gz_writer_new(s->tar_fd, s->spec->level, threads, s->prog.bytes_total, s->hooks);
	s->mf = manifest_new(s->id, s->spec->tag);
	s->ar = archive_write_new();
	s->links = archive_entry_linkresolver_new();
	if (!s->gz || !s->mf || !s->ar || !s->links || record_origin(s) < 0)
		return snap_fail(s, -ENOMEM, "out of memory");
	/* pax (not restricted pax): every entry carries its sub-second mtime. */
	archive_entry_linkresolver_set_strategy(s->links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	/* Groups start at block offsets where a later archive can clone them. */
	if (gz_set_align(s->gz, snap_reflink_block(s)) < 0)
		return snap_fail(s, -EINVAL, "bad block size of '%s'", s->spec->game_dir);
	/* Unblocked: each entry's bytes reach the gz writer before the next entry starts, so
	 * groups end between entries (and the archive has no padding to a 10 KiB record). */
	if (archive_write_set_format_pax(s->ar) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(s->ar, 0) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(s->ar, 1) != ARCHIVE_OK ||
	    archive_write_open(s->ar, s, NULL, tar_write, NULL) != ARCHIVE_OK)
		return snap_fail(s, -EIO, "cannot start the archive: %s", archive_error_string(s->ar));
	return 0;
}

static int
end_archive(struct snap *s)
{
	int r;

	if ((r = snap_end_group(s)) < 0)
		return r;
	/* archive_write_close flushes the last block; it may be the first to meet a full disk,
	 * and archive_write_free would hide that. */
	if (archive_write_close(s->ar) != ARCHIVE_OK)
		return fail_archive(s);
	if ((r = gz_finish(s->gz)) < 0 || fsync(s->tar_fd) < 0)
		return fail_out(s, r < 0 ? r : -errno);
	if ((r = snap_groups_to_manifest(s)) < 0)
		return r;
	s->mf->created_usec = (int64_t)realtime_usec();
	s->mf->archive_size = gz_bytes_out(s->gz);
	gz_sha256(s->gz, s->mf->archive_sha256);
	for (size_t i = 0; i < s->mf->n_entries; i++) {
		const struct mf_entry *e = &s->mf->entries[i];
		s->mf->files += e->type == MF_FILE || e->type == MF_HARDLINK;
		s->mf->bytes += e->type == MF_FILE ? e->size : 0;
	}
	if ((r = manifest_write(s->mf, s->mf_fd)) < 0 || fsync(s->mf_fd) < 0) {
		r = r < 0 ? r : -errno;
		return snap_fail(s, r, "cannot write '%s/%s': %s", s->spec->game_dir, s->fin_mf,
				 strerror(-r));
	}
	return 0;
}

static int
rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: the ID is new, plain rename is safe enough. */
	return renameat(dirfd, from, dirfd, to) < 0 ? -errno : 0;
}

static int
publish(struct snap *s)
{
	const char *what = s->pin;
	int r = 0;

	if (s->spec->pin) {
		int fd = open_tmp(s, s->pin, &s->made_pin);
		r = fd < 0 ? fd : 0;
		safe_close(fd);
	}
	if (r >= 0) {
		what = s->fin_mf;
		r = rename_noreplace(s->game_fd, s->tmp_mf, s->fin_mf);
	}
	if (r >= 0) {
		s->made_mf = false;
		s->renamed_mf = true;
		what = s->fin_tar;
		/* The commit point: from here the archive exists. */
		r = rename_noreplace(s->game_fd, s->tmp_tar, s->fin_tar);
	}
	if (r < 0)
		return snap_fail(s, r, "cannot create '%s/%s': %s", s->spec->game_dir, what, strerror(-r));
	s->made_tar = s->renamed_mf = s->made_pin = false;
	if (fsync(s->game_fd) < 0)
		return snap_fail(s, -errno, "cannot sync archive folder '%s': %s", s->spec->game_dir,
				 strerror(errno));
	return 0;
}

/* Undoes what an attempt left: only names this attempt created. */
static void
end_attempt(struct snap *s)
{
	s->discard = true;
	if (s->ar)
		archive_write_free(s->ar);
	s->ar = NULL;
	archive_entry_linkresolver_free(s->links);
	s->links = NULL;
	gz_writer_free(s->gz);
	s->gz = NULL;
	s->tar_fd = safe_close(s->tar_fd);
	s->mf_fd = safe_close(s->mf_fd);
	if (s->made_tar)
		unlinkat(s->game_fd, s->tmp_tar, 0);
	if (s->made_mf)
		unlinkat(s->game_fd, s->tmp_mf, 0);
	if (s->renamed_mf)
		unlinkat(s->game_fd, s->fin_mf, 0);
	if (s->made_pin)
		unlinkat(s->game_fd, s->pin, 0);
	s->made_tar = s->made_mf = s->renamed_mf = s->made_pin = false;
	s->discard = false;
	s->out_err = 0;
}

static int
attempt(struct snap *s)
{
	int r;

	s->unstable = false;
	s->skipped = 0;
	free(s->skipped_first);
	s->skipped_first = NULL;
	s->prog.files_done = s->prog.bytes_done = 0;
	s->res->files_read = s->res->files_reused = s->res->groups_damaged = 0;
	s->n_groups = s->group_first = 0;
	s->group_ulen = 0;
	s->take = NULL;
	manifest_free(s->mf);
	s->mf = NULL;
	if ((r = begin_files(s)) >= 0 && (r = begin_archive(s)) >= 0 &&
	    (r = snap_walk(s, s->save_fd, snap_add_entry)) >= 0 && (r = snap_reuse_end(s)) >= 0 &&
	    (r = end_archive(s)) >= 0)
		r = publish(s);
	if (r >= 0)
		s->res->bytes_out = gz_bytes_out(s->gz);
	end_attempt(s);
	return r;
}

/* Setup: the two folders, the newest manifest for if_changed. */

static int
open_save_dir(struct snap *s)
{
	const char *dir = s->spec->save_dir;

	if (!dir || !*dir)
		return snap_fail(s, -EINVAL, "no save folder given");
	s->save_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->save_fd >= 0)
		return 0;
	if (errno == ENOENT)
		return snap_fail(s, -ENOENT, "save folder '%s' does not exist", dir);
	if (errno == ENOTDIR)
		return snap_fail(s, -ENOTDIR, "save folder '%s' is not a folder", dir);
	return snap_fail(s, -errno, "cannot open save folder '%s': %s", dir, strerror(errno));
}

static int
open_game_dir(struct snap *s)
{
	const char *dir = s->spec->game_dir;
	struct stat st;
	int r;

	if (!dir || !*dir)
		return snap_fail(s, -EINVAL, "no archive folder given");
	if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
		return snap_fail(s, -ELOOP, "archive folder '%s' is a symlink; refusing to follow it", dir);
	if ((r = mkdir_p(dir, 0700)) < 0)
		return snap_fail(s, r, "cannot create archive folder '%s': %s", dir, strerror(-r));
	s->game_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->game_fd < 0 && (errno == ELOOP || errno == ENOTDIR) && lstat(dir, &st) == 0 &&
	    S_ISLNK(st.st_mode))
		return snap_fail(s, -ELOOP, "archive folder '%s' is a symlink; refusing to follow it", dir);
	if (s->game_fd < 0 || fstat(s->game_fd, &s->game_st) < 0)
		return snap_fail(s, -errno, "cannot open archive folder '%s': %s", dir, strerror(errno));
	return 0;
}

/* The newest archive's ID and its manifest, read once: with if_changed the counting pass
 * compares the tree with it through an index by path, then it is the base whose unchanged
 * groups the snapshot takes (snap_load_base). */
static void
load_newest(struct snap *s)
{
	char latest[SNAP_ID_LEN + 1] = "";
	_cleanup_free_ char *path = NULL;
	int64_t ms;

	if (scan_ids(s->game_fd, &ms, latest) < 0 || !latest[0])
		return;
	memcpy(s->latest, latest, sizeof(s->latest));
	if (asprintf(&path, "%s/%s" SNAP_MANIFEST_SUFFIX, s->spec->game_dir, latest) < 0) {
		path = NULL;
		return;
	}
	/* An unreadable manifest only means a new snapshot is taken, in full. */
	if (manifest_read(path, &s->base, NULL, 0) < 0)
		return;
	if (s->spec->if_changed && (s->prev = manifest_by_path(s->base)))
		snprintf(s->id, sizeof(s->id), "%s", latest);
}

/* "; 3 read, 9 taken from <base>" when the snapshot took groups of the archive before. */
static char *
reuse_note(const struct snap *s)
{
	char *note = NULL;

	if (s->res->files_reused == 0 || !s->base)
		return NULL;
	if (asprintf(&note, "; %" PRIu64 " read, %" PRIu64 " taken unchanged from %s", s->res->files_read,
		     s->res->files_reused, s->base->id) < 0)
		return NULL;
	return note;
}

static void
summarize(struct snap *s)
{
	struct job_result *res = s->res;
	char in[32], out[32], files[32], skipped[48];
	_cleanup_free_ char *msg = NULL, *tail = NULL, *note = reuse_note(s);

	fmt_count((int64_t)res->files, "file", NULL, files, sizeof(files));
	if (s->skipped &&
	    asprintf(&tail, "; skipped %s (socket, FIFO or device) such as '%s'",
		     fmt_count((int64_t)s->skipped, "special file", NULL, skipped, sizeof(skipped)),
		     s->skipped_first) < 0)
		tail = NULL;
	if (asprintf(&msg, "%s, %s -> %s%s%s", files, fmt_size(res->bytes_in, in, sizeof(in)),
		     fmt_size(res->bytes_out, out, sizeof(out)), note ? note : "", tail ? tail : "") < 0)
		msg = NULL;
	msg_fit(res->message, sizeof(res->message), msg ? msg : files);
	one_line(res->message);
}

static int
run(struct snap *s)
{
	int r;

	if ((r = open_save_dir(s)) < 0 || (r = open_game_dir(s)) < 0)
		return r;
	load_newest(s);
	if ((r = snap_walk(s, s->save_fd, snap_count_entry)) < 0)
		return r;
	if (s->prev && !s->changed && s->matched == s->base->n_entries) {
		s->res->unchanged = true;
		snprintf(s->res->id, sizeof(s->res->id), "%s", s->id);
		snprintf(s->res->message, sizeof(s->res->message), "no change since %s", s->id);
		return 0;
	}
	snap_load_base(s);
	for (int i = 0; i < SNAP_ATTEMPTS; i++) {
		if (i > 0)
			s->res->message[0] = '\0';
		r = attempt(s);
		if (!s->unstable)
			break;
	}
	if (r < 0)
		return r;
	snprintf(s->res->id, sizeof(s->res->id), "%s", s->id);
	s->res->files = s->mf ? s->mf->files : 0;
	s->res->bytes_in = s->mf ? s->mf->bytes : 0;
	summarize(s);
	snap_progress(s, true);
	return 0;
}

int
snap_create(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	struct snap s = {
	    .spec = spec,
	    .hooks = hooks,
	    .res = ret,
	    .save_fd = -EBADF,
	    .game_fd = -EBADF,
	    .tar_fd = -EBADF,
	    .mf_fd = -EBADF,
	    .base_fd = -EBADF,
	};
	uint64_t t0 = now_usec();
	int r;

	ret->message[0] = '\0';
	ret->id[0] = '\0';
	ret->unchanged = false;
	s.utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	s.sha = EVP_MD_CTX_new();
	r = s.sha ? run(&s) : snap_fail(&s, -ENOMEM, "out of memory");
	ret->err = r < 0 ? r : 0;
	ret->usec = now_usec() - t0;
	if (s.utf8)
		freelocale(s.utf8);
	EVP_MD_CTX_free(s.sha);
	manifest_free(s.mf);
	free(s.prev);
	manifest_free(s.base);
	free(s.base_sorted);
	free(s.groups);
	safe_close(s.base_fd);
	free(s.buf);
	free(s.skipped_first);
	safe_close(s.save_fd);
	safe_close(s.game_fd);
	return ret->err;
}

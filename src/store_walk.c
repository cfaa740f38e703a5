/* The checked walk over an archive, shared by verify and restore: one pass that reads the file,
 * hashes it whole as libarchive pulls it in, and checks every entry against the manifest before
 * anything is handed on. Everything an extraction could be tricked with is refused here:
 * unsafe paths, devices and FIFOs, hard links leaving the tree, entries under anything but a
 * folder met earlier in the archive, entries not in the manifest or twice in the archive.
 * A manifest entry is valid by manifest_entry_check, the test the snapshot applied when it
 * wrote it. A symlink's target is data, stored and restored as it is wherever it points: the
 * extraction never follows one. Paths have no length limit here (no PATH_MAX buffers). */
#include "store.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "snapshot.h"
#include "util.h"

#define WALK_BUF (64 * 1024)
#define PROGRESS_EVERY_USEC (200 * USEC_PER_MSEC)

struct walk {
	const struct manifest *m;
	const struct store_sink *sink;
	const struct job_hooks *hooks;
	struct job_result *ret;
	char name[96]; /* "<id>.tar.gz", for messages */
	int fd;
	locale_t utf8;	   /* C.UTF-8, or 0 where there is none */
	EVP_MD_CTX *whole; /* the archive file as read */
	EVP_MD_CTX *entry; /* the current entry's data */
	uint64_t file_bytes;
	bool *seen; /* by manifest entry index */
	char *last; /* the last entry read, for messages */
	struct job_progress p;
	uint64_t progress_usec;
	unsigned char buf[WALK_BUF];
};

static int __attribute__((format(printf, 3, 4))) walk_fail(struct walk *w, int err, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *all = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0 || asprintf(&all, "archive '%s': %s", w->name, msg) < 0)
		all = NULL;
	msg_fit(w->ret->message, sizeof(w->ret->message), all ? all : "out of memory");
	w->ret->err = err;
	return err;
}

static bool
walk_cancelled(struct walk *w)
{
	return job_yield(w->hooks);
}

static void
walk_progress(struct walk *w, bool force)
{
	uint64_t now = now_usec();

	if (!w->hooks || !w->hooks->progress || (!force && now - w->progress_usec < PROGRESS_EVERY_USEC))
		return;
	w->progress_usec = now;
	w->hooks->progress(&w->p, w->hooks->ctx);
}

static la_ssize_t
walk_read(struct archive *a, void *data, const void **buf)
{
	struct walk *w = data;
	ssize_t n;

	do
		n = read(w->fd, w->buf, sizeof(w->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read error");
		return -1;
	}
	EVP_DigestUpdate(w->whole, w->buf, (size_t)n);
	w->file_bytes += (uint64_t)n;
	*buf = w->buf;
	return n;
}

/* Normalises an archive path to the manifest's form ("a/b", "" for the root): drops "." and
 * empty components into *ret (malloc'd); -EINVAL for an absolute path or a "..". */
static int
path_normalise(const char *raw, char **ret)
{
	char *out = malloc(strlen(raw) + 1);
	size_t o = 0;

	if (!out)
		return -ENOMEM;
	for (const char *p = raw; *p;) {
		size_t k = strcspn(p, "/");
		if (p == raw && k == 0) {
			free(out);
			return -EINVAL;
		}
		if (k == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			return -EINVAL;
		}
		if (k > 0 && !(k == 1 && p[0] == '.')) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, k);
			o += k;
		}
		p += k;
		p += strspn(p, "/");
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

/* Refuses an entry whose folder is not a folder met earlier in the archive: writing it would go
 * through a symlink, fail on a file, or need a folder the archive does not have. */
static int
check_parent(struct walk *w, const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *parent = NULL;
	const struct mf_entry *pe;

	if (!slash)
		return 0;
	if (!(parent = strndup(path, (size_t)(slash - path))))
		return walk_fail(w, -ENOMEM, "out of memory");
	pe = manifest_find(w->m, parent);
	if (!pe || pe->type != MF_DIR || !w->seen[pe - w->m->entries])
		return walk_fail(w, -EPERM, "entry '%s' lies under '%s', which is not a directory before it",
				 path, parent);
	return 0;
}

/* A hard link must name an earlier regular file of the tree, as the manifest says. */
static int
check_hardlink(struct walk *w, const char *path, const char *target, const struct mf_entry *me)
{
	const struct mf_entry *te;

	if (me->type != MF_HARDLINK || !me->target || strcmp(me->target, target) != 0)
		return walk_fail(w, -EBADMSG, "entry '%s' does not match the manifest (hard link)", path);
	te = manifest_find(w->m, target);
	if (!te || te->type != MF_FILE || !w->seen[te - w->m->entries])
		return walk_fail(w, -EPERM, "entry '%s' is a hard link to '%s', which is no earlier file",
				 path, target);
	return 0;
}

/* Checks an entry's type and link target against its manifest entry. */
static int
check_type(struct walk *w, struct archive_entry *ae, const char *path, const char *hard,
	   const struct mf_entry *me)
{
	const char *sym;

	if (hard)
		return check_hardlink(w, path, hard, me);
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG:
		if (me->type != MF_FILE ||
		    (archive_entry_size_is_set(ae) && (uint64_t)archive_entry_size(ae) != me->size))
			return walk_fail(w, -EBADMSG, "entry '%s' does not match the manifest (file)", path);
		return 0;
	case AE_IFDIR:
		if (me->type != MF_DIR)
			return walk_fail(w, -EBADMSG, "entry '%s' does not match the manifest (folder)",
					 path);
		return 0;
	case AE_IFLNK:
		sym = archive_entry_symlink(ae);
		if (me->type != MF_SYMLINK || !sym || !me->target || strcmp(sym, me->target) != 0)
			return walk_fail(w, -EBADMSG, "entry '%s' does not match the manifest (symlink)",
					 path);
		return 0;
	default:
		return walk_fail(w, -EBADMSG, "entry '%s' does not match the manifest (type)", path);
	}
}

/* What no manifest can make acceptable: devices, FIFOs, sockets, hard links leaving the tree.
 * The hard link's target is normalised into hard. */
static int
check_kind(struct walk *w, struct archive_entry *ae, const char *path, char **ret_hard)
{
	const char *raw = archive_entry_hardlink(ae);
	mode_t type = archive_entry_filetype(ae);
	int r;

	if (raw) {
		r = path_normalise(raw, ret_hard);
		if (r == -ENOMEM)
			return walk_fail(w, r, "out of memory");
		if (r < 0 || (*ret_hard)[0] == '\0')
			return walk_fail(w, -EPERM, "entry '%s' is a hard link to '%s', outside the tree",
					 path, raw);
		return 0;
	}
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return walk_fail(w, -EPERM, "entry '%s' is a device, FIFO or socket: refused", path);
	return 0;
}

/* Checks an entry header; *ret_me is NULL for the root folder, which is skipped. */
static int
check_entry(struct walk *w, struct archive_entry *ae, const char *path, const struct mf_entry **ret_me)
{
	const struct mf_entry *me;
	_cleanup_free_ char *hard = NULL;
	const char *why;
	int r;

	if (path[0] == '\0' && archive_entry_filetype(ae) == AE_IFDIR && !archive_entry_hardlink(ae)) {
		*ret_me = NULL;
		return 0;
	}
	if ((r = check_kind(w, ae, path, &hard)) < 0)
		return r;
	me = manifest_find(w->m, path);
	if (!me)
		return walk_fail(w, -EBADMSG, "entry '%s' is not in the manifest", path);
	if ((why = manifest_entry_check(me)))
		return walk_fail(w, -EBADMSG, "entry '%s' in the manifest: %s", path, why);
	if (w->seen[me - w->m->entries])
		return walk_fail(w, -EBADMSG, "entry '%s' appears twice", path);
	r = check_type(w, ae, path, hard, me);
	if (r >= 0)
		r = check_parent(w, path);
	if (r < 0)
		return r;
	w->seen[me - w->m->entries] = true;
	*ret_me = me;
	return 0;
}

/* Hashes one block of data (and hands it on); a hole before it counts as zeros. */
static int
walk_block(struct walk *w, const char *path, const void *buf, size_t len, uint64_t *done)
{
	int r;

	if (len > 0) {
		EVP_DigestUpdate(w->entry, buf, len);
		if (w->sink && (r = w->sink->block(buf, len, w->sink->data)) < 0)
			return w->ret->err ? w->ret->err
					   : walk_fail(w, r, "cannot write '%s': %s", path, strerror(-r));
	}
	*done += len;
	w->p.bytes_done += len;
	walk_progress(w, false);
	return walk_cancelled(w) ? walk_fail(w, -ECANCELED, "cancelled") : 0;
}

static int
walk_zeros(struct walk *w, const char *path, uint64_t n, uint64_t *done)
{
	static const char zeros[4096];

	while (n > 0) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
		int r = walk_block(w, path, zeros, k, done);
		if (r < 0)
			return r;
		n -= k;
	}
	return 0;
}

/* Reads a regular file's data, checking size and SHA-256 against me. */
static int
walk_data(struct walk *w, struct archive *a, const char *path, const struct mf_entry *me)
{
	unsigned char sum[32];
	uint64_t done = 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	EVP_DigestInit_ex(w->entry, EVP_sha256(), NULL);
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off < done || (uint64_t)off + len > me->size)
			return walk_fail(w, -EBADMSG, "entry '%s' does not match the manifest (size)", path);
		if ((r = walk_zeros(w, path, (uint64_t)off - done, &done)) < 0 ||
		    (r = walk_block(w, path, buf, len, &done)) < 0)
			return r;
	}
	if (r != ARCHIVE_EOF)
		return walk_fail(w, -EBADMSG, "cannot read entry '%s': %s", path, archive_error_string(a));
	if ((r = walk_zeros(w, path, me->size - done, &done)) < 0)
		return r;
	EVP_DigestFinal_ex(w->entry, sum, NULL);
	if (memcmp(sum, me->sha256, sizeof(sum)) != 0)
		return walk_fail(w, -EBADMSG, "entry '%s' does not match the manifest (SHA-256)", path);
	return 0;
}

/* One entry: checked, handed to the sink, its data read and checked. */
static int
walk_entry(struct walk *w, struct archive *a, struct archive_entry *ae)
{
	const char *raw = archive_entry_pathname(ae);
	_cleanup_free_ char *path = NULL;
	const struct mf_entry *me = NULL;
	int r = raw ? path_normalise(raw, &path) : -EINVAL;

	if (r == -ENOMEM)
		return walk_fail(w, r, "out of memory");
	if (r < 0)
		return walk_fail(w, -EPERM, "entry '%s' has an unsafe path", raw ? raw : "");
	if ((r = check_entry(w, ae, path, &me)) < 0 || !me)
		return r;
	free(w->last);
	if (!(w->last = strdup(path)))
		return walk_fail(w, -ENOMEM, "out of memory");
	if (w->sink && (r = w->sink->begin(ae, me, w->sink->data)) < 0)
		return w->ret->err ? w->ret->err
				   : walk_fail(w, r, "cannot write '%s': %s", path, strerror(-r));
	if (me->type == MF_FILE && (r = walk_data(w, a, path, me)) < 0)
		return r;
	if (w->sink && (r = w->sink->end(w->sink->data)) < 0)
		return w->ret->err ? w->ret->err
				   : walk_fail(w, r, "cannot write '%s': %s", path, strerror(-r));
	if (me->type == MF_FILE || me->type == MF_HARDLINK)
		w->p.files_done++;
	walk_progress(w, false);
	return walk_cancelled(w) ? walk_fail(w, -ECANCELED, "cancelled") : 0;
}

/* After the last entry: nothing missing, and the whole file as the manifest says. */
static int
walk_finish(struct walk *w)
{
	unsigned char sum[32];
	ssize_t n;

	for (size_t i = 0; i < w->m->n_entries; i++) {
		const char *p = w->m->entries[i].path;
		if (!w->seen[i] && p[0] != '\0' && strcmp(p, ".") != 0)
			return walk_fail(w, -EBADMSG, "entry '%s' is missing", p);
	}
	/* libarchive may stop before the end of the file: hash what it left. */
	while ((n = read(w->fd, w->buf, sizeof(w->buf))) > 0 || (n < 0 && errno == EINTR)) {
		if (n > 0) {
			EVP_DigestUpdate(w->whole, w->buf, (size_t)n);
			w->file_bytes += (uint64_t)n;
		}
	}
	if (n < 0)
		return walk_fail(w, -errno, "cannot read: %m");
	EVP_DigestFinal_ex(w->whole, sum, NULL);
	if (w->file_bytes != w->m->archive_size || memcmp(sum, w->m->archive_sha256, sizeof(sum)) != 0)
		return walk_fail(w, -EBADMSG, "the file does not match its manifest (size or SHA-256)");
	return 0;
}

/* Names are bytes, stored as pax UTF-8 (or flagged binary); in the C locale libarchive would
 * fail to convert a UTF-8 name and lose it. The header is read in a C.UTF-8 view, switched per
 * call and per thread like the snapshot's writer, so a coroutine's loop keeps its locale. */
static int
walk_next_header(struct walk *w, struct archive *a, struct archive_entry **ae)
{
	locale_t old = (locale_t)0;
	int r;

	if (w->utf8)
		old = uselocale(w->utf8);
	r = archive_read_next_header(a, ae);
	if (w->utf8)
		uselocale(old);
	return r;
}

static int
walk_entries(struct walk *w)
{
	struct archive_entry *ae;
	struct archive *a = archive_read_new();
	int r;

	if (!a)
		return walk_fail(w, -ENOMEM, "out of memory");
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open(a, w, NULL, walk_read, NULL) != ARCHIVE_OK) {
		r = walk_fail(w, -EBADMSG, "cannot read: %s", archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	for (;;) {
		int ar = walk_next_header(w, a, &ae);
		if (ar == ARCHIVE_EOF) {
			r = walk_finish(w);
			break;
		}
		if (ar != ARCHIVE_OK) {
			if (w->last)
				r = walk_fail(w, -EBADMSG, "cannot read the entry after '%s': %s", w->last,
					      archive_error_string(a));
			else
				r = walk_fail(w, -EBADMSG, "cannot read: %s", archive_error_string(a));
			break;
		}
		if ((r = walk_entry(w, a, ae)) < 0)
			break;
	}
	archive_read_free(a);
	return r < 0 ? r : 0;
}

int
store_walk(const char *game_dir, const struct manifest *m, const struct store_sink *sink,
	   const struct job_hooks *hooks, struct job_result *ret)
{
	_cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ bool *seen = calloc(m->n_entries + 1, sizeof(bool));
	int r;

	if (!w || !seen)
		return -ENOMEM;
	*w = (struct walk){.m = m, .sink = sink, .hooks = hooks, .ret = ret, .seen = seen, .fd = -EBADF};
	snprintf(w->name, sizeof(w->name), "%s%s", m->id, SNAP_SUFFIX);
	w->p.files_total = m->files;
	w->p.bytes_total = m->bytes;
	if (asprintf(&path, "%s/%s", game_dir, w->name) < 0)
		return -ENOMEM;
	w->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (w->fd < 0)
		return walk_fail(w, -errno, "cannot open: %m");
	w->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	w->whole = EVP_MD_CTX_new();
	w->entry = EVP_MD_CTX_new();
	if (!w->whole || !w->entry || !EVP_DigestInit_ex(w->whole, EVP_sha256(), NULL))
		r = walk_fail(w, -ENOMEM, "out of memory");
	else
		r = walk_entries(w);
	walk_progress(w, true);
	EVP_MD_CTX_free(w->whole);
	EVP_MD_CTX_free(w->entry);
	if (w->utf8)
		freelocale(w->utf8);
	safe_close(w->fd);
	free(w->last);
	return r;
}

/* True when <game_dir>/<id>.tar.gz exists (as anything: a stray name still is not "no archive"). */
static bool
store_archive_exists(const char *game_dir, const char *id)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (asprintf(&path, "%s/%s%s", game_dir, id, SNAP_SUFFIX) < 0)
		return true;
	return lstat(path, &st) == 0;
}

int
store_open_manifest(const char *game_dir, const char *id, struct manifest **ret_m, char *id_out,
		    size_t id_len, struct job_result *ret)
{
	char latest[64], err[512];
	_cleanup_free_ char *path = NULL;
	struct manifest *m;
	int64_t t;
	int r;

	if (!id || !id[0] || strcmp(id, "latest") == 0) {
		r = store_latest(game_dir, latest, sizeof(latest));
		if (r < 0) {
			snprintf(ret->message, sizeof(ret->message), "no archive in '%s'", game_dir);
			return ret->err = r;
		}
		id = latest;
	}
	if (store_id_time(id, &t) < 0 || strlen(id) >= id_len) {
		snprintf(ret->message, sizeof(ret->message), "'%s' is not an archive ID", id);
		return ret->err = -EINVAL;
	}
	snprintf(ret->id, sizeof(ret->id), "%s", id);
	if (asprintf(&path, "%s/%s%s", game_dir, id, SNAP_MANIFEST_SUFFIX) < 0)
		return ret->err = -ENOMEM;
	r = manifest_read(path, &m, err, sizeof(err));
	if (r == -ENOENT && !store_archive_exists(game_dir, id)) {
		snprintf(ret->message, sizeof(ret->message), "there is no archive %s in '%s'", id, game_dir);
		return ret->err = r;
	}
	if (r < 0) {
		snprintf(ret->message, sizeof(ret->message), "cannot read the manifest of %s: %s", id,
			 err[0] ? err : strerror(-r));
		return ret->err = r;
	}
	/* The walk opens the archive the manifest names: it must be the one asked for. */
	if (strcmp(m->id, id) != 0) {
		snprintf(ret->message, sizeof(ret->message),
			 "the manifest of %s names another archive ('%.64s')", id, m->id);
		manifest_free(m);
		return ret->err = -EBADMSG;
	}
	manifest_sort(m);
	*ret_m = m;
	strcpy(id_out, id);
	return 0;
}

int
store_verify(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	struct manifest *m = NULL;
	char id[64], size[32], files[32];
	uint64_t t0 = now_usec();
	int r = store_open_manifest(spec->game_dir, spec->id, &m, id, sizeof(id), ret);

	if (r < 0)
		return r;
	r = store_walk(spec->game_dir, m, NULL, hooks, ret);
	if (r >= 0) {
		ret->files = m->files;
		ret->bytes_in = m->bytes;
		ret->bytes_out = m->archive_size;
		snprintf(ret->message, sizeof(ret->message), "%s matches its manifest: %s, %s", id,
			 fmt_count((int64_t)m->files, "file", NULL, files, sizeof(files)),
			 fmt_size(m->bytes, size, sizeof(size)));
	}
	ret->usec = now_usec() - t0;
	manifest_free(m);
	return ret->err = r < 0 ? r : 0;
}

/* The dry run of a restore: what restoring a manifest would add, change and remove in the live
 * save folder. Cheap where it can be: a file is hashed only when its size matches and its mtime
 * does not. */
#include "restore.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "restore_int.h"
#include "tree.h"
#include "util.h"

struct live_entry {
	char *path;
	struct stat st;
	bool changes; /* restoring the manifest's entry of path would change it */
};

struct live_tree {
	struct live_entry *v;
	size_t n, cap;
	const struct manifest *m;
	const struct job_hooks *hooks;
};

static void
live_tree_free(struct live_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
}

static int
live_add(struct live_tree *t, const char *path, const struct stat *st, bool changes)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct live_entry *v = reallocarray(t->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n].path = strdup(path);
	if (!t->v[t->n].path)
		return -ENOMEM;
	t->v[t->n].changes = changes;
	t->v[t->n++].st = *st;
	return 0;
}

static int
live_cmp(const void *a, const void *b)
{
	const struct live_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

/* Hashes the live file name (in dirfd) into sum, yielding between blocks. */
static int
hash_file(int dirfd, const char *name, const struct job_hooks *hooks, unsigned char sum[32])
{
	static __thread unsigned char buf[64 * 1024];
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	EVP_MD_CTX *ctx;
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || job_yield(hooks)) {
			r = n < 0 ? -errno : -ECANCELED;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, sum, NULL);
	EVP_MD_CTX_free(ctx);
	return r;
}

/* True unless the live symlink name (in dirfd, of stat st) points at target. */
static bool
symlink_differs(int dirfd, const char *name, const struct stat *st, const char *target)
{
	size_t cap = (size_t)st->st_size + 1;
	_cleanup_free_ char *buf = target ? malloc(cap) : NULL;
	ssize_t n = buf ? readlinkat(dirfd, name, buf, cap) : -1;

	return n < 0 || (size_t)n >= cap || strlen(target) != (size_t)n ||
	       memcmp(buf, target, (size_t)n) != 0;
}

/* 1 when restoring me would change the live entry name in dirfd (of stat st), 0 when not, or
 * -errno. */
static int
entry_changes(int dirfd, const char *name, const struct stat *st, const struct mf_entry *me,
	      const struct job_hooks *hooks)
{
	unsigned char sum[32];
	int r;

	if (me->type == MF_DIR)
		return !S_ISDIR(st->st_mode) || (st->st_mode & 07777) != (me->mode & 0777);
	if (me->type == MF_SYMLINK) {
		if (!S_ISLNK(st->st_mode))
			return 1;
		return symlink_differs(dirfd, name, st, me->target);
	}
	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != me->size ||
	    (st->st_mode & 07777) != (me->mode & 0777))
		return 1;
	if ((int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec == me->mtime_ns)
		return 0;
	r = hash_file(dirfd, name, hooks, sum);
	if (r == -ECANCELED)
		return r;
	return r < 0 || memcmp(sum, me->sha256, sizeof(sum)) != 0;
}

/* Lists what a restore replaces below the live folder, never following symlinks, and whether
 * the manifest's entry of each would change it. FIFOs, sockets and devices are left out, as
 * restore keeps them. */
static int
live_visit(void *ctx, int dirfd, const char *name, const char *path, const struct stat *st)
{
	struct live_tree *t = ctx;
	const struct mf_entry *me;
	int r = 0;

	if (!restore_archivable(st->st_mode))
		return 0;
	if ((me = manifest_find(t->m, path)) && (r = entry_changes(dirfd, name, st, me, t->hooks)) < 0)
		return r;
	r = live_add(t, path, st, r > 0);
	return r < 0 ? r : S_ISDIR(st->st_mode);
}

static uint64_t
live_size(const struct live_entry *le)
{
	return S_ISREG(le->st.st_mode) ? (uint64_t)le->st.st_size : 0;
}

static uint64_t
mf_size(const struct mf_entry *me)
{
	return me->type == MF_FILE || me->type == MF_HARDLINK ? me->size : 0;
}

/* The differences found so far. */
struct changes {
	struct job_change *v;
	size_t n, cap;
};

/* Copies path with a newline or a backslash written as the two characters \n or \\, so
 * that every difference prints on one line; NULL when memory ran out. */
static char *
escape_path(const char *path)
{
	char *out = malloc(2 * strlen(path) + 1), *o = out;

	for (const char *p = path; out && *p; p++) {
		if (*p == '\n' || *p == '\\')
			*o++ = '\\';
		*o++ = *p == '\n' ? 'n' : *p;
	}
	if (out)
		*o = '\0';
	return out;
}

/* One difference of the dry run; 0 or -ENOMEM. */
static int
put_change(struct changes *out, const char *change, uint64_t size, const char *path)
{
	struct job_change *c;

	if (array_grow(&out->v, &out->cap, out->n, sizeof(*out->v)) < 0)
		return -ENOMEM;
	c = &out->v[out->n];
	*c = (struct job_change){.size = size, .path = escape_path(path)};
	snprintf(c->change, sizeof(c->change), "%s", change);
	if (!c->path)
		return -ENOMEM;
	out->n++;
	return 0;
}

/* Walks the two sorted lists side by side, keeping one change per difference. */
static int
diff_merge(const struct manifest *m, const struct live_tree *t, const struct job_hooks *hooks,
	   struct changes *out, unsigned counts[3])
{
	size_t i = 0, j = 0;

	while (i < m->n_entries || j < t->n) {
		const struct mf_entry *me = i < m->n_entries ? &m->entries[i] : NULL;
		const struct live_entry *le = j < t->n ? &t->v[j] : NULL;
		int c = !me ? 1 : !le ? -1 : strcmp(me->path, le->path), r = 0;

		if (c < 0) {
			r = put_change(out, "added", mf_size(me), me->path);
			counts[0]++;
			i++;
		} else if (c > 0) {
			r = put_change(out, "removed", live_size(le), le->path);
			counts[2]++;
			j++;
		} else {
			if (le->changes) {
				r = put_change(out, "changed", mf_size(me), me->path);
				counts[1]++;
			}
			i++;
			j++;
		}
		if (r < 0)
			return r;
		if (job_yield(hooks))
			return -ECANCELED;
	}
	return 0;
}

int
restore_diff(const char *live, const struct manifest *m, const struct job_hooks *hooks,
	     struct job_result *ret, unsigned counts[3])
{
	static const struct tree_ops ops = {.visit = live_visit};
	struct live_tree t = {.m = m, .hooks = hooks};
	_cleanup_close_ int root = open(live, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct changes out = {0};
	int r = 0;

	if (root < 0 && errno != ENOENT)
		return -errno;
	if (root >= 0 && (r = tree_walk(root, &ops, &t)) >= 0 && t.n > 1)
		qsort(t.v, t.n, sizeof(*t.v), live_cmp);
	if (r >= 0)
		r = diff_merge(m, &t, hooks, &out, counts);
	live_tree_free(&t);
	/* The result owns the changes even on failure: job_result_clear frees them. */
	ret->changes = out.v;
	ret->n_changes = (unsigned)out.n;
	return r < 0 ? r : 0;
}

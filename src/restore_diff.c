/* The dry run of a restore: what restoring a manifest would add, change and remove in the live
 * save folder. Cheap where it can be: a file is hashed only when its size matches and its mtime
 * does not. */
#include "restore.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "util.h"

struct live_entry {
	char *path;
	struct stat st;
};

struct live_tree {
	struct live_entry *v;
	size_t n, cap;
};

static void
live_tree_free(struct live_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
}

static int
live_add(struct live_tree *t, const char *path, const struct stat *st)
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
	t->v[t->n++].st = *st;
	return 0;
}

/* Lists everything below the folder dfd (named prefix relative to the root), never following
 * symlinks. */
static int
live_scan(int dfd, const char *prefix, struct live_tree *t)
{
	struct dirent *de;
	int r = 0, fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		safe_close(fd);
		return -errno;
	}
	while (r >= 0 && (de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name);
		r = live_add(t, path, &st);
		if (r >= 0 && S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd(d), de->d_name,
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = sub < 0 ? -errno : live_scan(sub, path, t);
		}
	}
	closedir(d);
	return r;
}

static int
live_cmp(const void *a, const void *b)
{
	const struct live_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

/* Hashes the live file path (under root) into sum, yielding between blocks. */
static int
hash_file(int root, const char *path, const struct job_hooks *hooks, unsigned char sum[32])
{
	static __thread unsigned char buf[64 * 1024];
	_cleanup_close_ int fd = openat(root, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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

/* 1 when restoring me would change the live entry le, 0 when not, or -errno. */
static int
entry_changes(int root, const struct mf_entry *me, const struct live_entry *le, const struct job_hooks *hooks)
{
	const struct stat *st = &le->st;
	char target[PATH_MAX];
	unsigned char sum[32];
	ssize_t n;
	int r;

	if (me->type == MF_DIR)
		return !S_ISDIR(st->st_mode) || (st->st_mode & 07777) != (me->mode & 0777);
	if (me->type == MF_SYMLINK) {
		if (!S_ISLNK(st->st_mode))
			return 1;
		n = readlinkat(root, le->path, target, sizeof(target) - 1);
		if (n < 0)
			return 1;
		target[n] = '\0';
		return !me->target || strcmp(target, me->target) != 0;
	}
	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != me->size ||
	    (st->st_mode & 07777) != (me->mode & 0777))
		return 1;
	if ((int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec == me->mtime_ns)
		return 0;
	r = hash_file(root, le->path, hooks, sum);
	if (r == -ECANCELED)
		return r;
	return r < 0 || memcmp(sum, me->sha256, sizeof(sum)) != 0;
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
	*c = (struct job_change){ .size = size, .path = escape_path(path) };
	snprintf(c->change, sizeof(c->change), "%s", change);
	if (!c->path)
		return -ENOMEM;
	out->n++;
	return 0;
}

/* Walks the two sorted lists side by side, keeping one change per difference. */
static int
diff_merge(int root, const struct manifest *m, const struct live_tree *t, const struct job_hooks *hooks,
	   struct changes *out, unsigned counts[3])
{
	size_t i = 0, j = 0;

	while (i < m->n_entries || j < t->n) {
		const struct mf_entry *me = i < m->n_entries ? &m->entries[i] : NULL;
		const struct live_entry *le = j < t->n ? &t->v[j] : NULL;
		int c = !me ? 1 : !le ? -1 : strcmp(me->path, le->path), r;

		if (c < 0) {
			r = put_change(out, "added", mf_size(me), me->path);
			counts[0]++;
			i++;
		} else if (c > 0) {
			r = put_change(out, "removed", live_size(le), le->path);
			counts[2]++;
			j++;
		} else {
			if ((r = entry_changes(root, me, le, hooks)) > 0) {
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
restore_diff(const char *live, const struct manifest *m, const struct job_hooks *hooks, struct job_result *ret,
	     unsigned counts[3])
{
	struct live_tree t = { 0 };
	_cleanup_close_ int root = open(live, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct changes out = { 0 };
	int r = 0;

	if (root < 0 && errno != ENOENT)
		return -errno;
	if (root >= 0 && (r = live_scan(root, "", &t)) >= 0 && t.n > 1)
		qsort(t.v, t.n, sizeof(*t.v), live_cmp);
	if (r >= 0)
		r = diff_merge(root, m, &t, hooks, &out, counts);
	live_tree_free(&t);
	/* The result owns the changes even on failure: job_result_clear frees them. */
	ret->changes = out.v;
	ret->n_changes = (unsigned)out.n;
	return r < 0 ? r : 0;
}

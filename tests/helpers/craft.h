/* Crafted archives for the store and restore tests: a tar.gz written with libarchive exactly
 * as described (hostile names, devices, FIFOs, links anywhere) and a manifest that matches it,
 * so a test reaches the entry checks rather than stopping at the archive's own hash. Entries
 * whose path or hard-link target no manifest may hold are left out of the manifest. */
#ifndef SK_TEST_CRAFT_H
#define SK_TEST_CRAFT_H

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "manifest.h"

struct craft {
	char type;        /* f file, d folder, l symlink, h hard link, c char device, p FIFO */
	const char *path; /* as written into the archive */
	const char *data; /* f: contents; l, h: target */
	size_t size;      /* f without data: this many bytes, see random */
	mode_t mode;
	bool random;      /* f without data: pseudo-random bytes rather than zeros */
};

#define CRAFT_MTIME_NS 1700000000123456789LL

/* The contents of a file entry, malloc'd, *len set. */
static unsigned char *
craft_bytes(const struct craft *c, size_t *len)
{
	size_t n = c->data ? strlen(c->data) : c->size;
	unsigned char *b = calloc(1, n + 1);
	unsigned x = 12345;

	if (c->data)
		memcpy(b, c->data, n);
	else if (c->random)
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			b[i] = (unsigned char)(x >> 16);
		}
	*len = n;
	return b;
}

static void
craft_sha256(const void *buf, size_t len, unsigned char out[32])
{
	EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL);
}

static int
craft_file_sha256(const char *path, unsigned char out[32], uint64_t *size)
{
	FILE *f = fopen(path, "rb");
	unsigned char buf[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n;

	if (!f)
		return -1;
	*size = 0;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		EVP_DigestUpdate(ctx, buf, n);
		*size += n;
	}
	EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	fclose(f);
	return 0;
}

static bool
craft_safe(const char *p)
{
	return p[0] != '/' && strncmp(p, "./", 2) != 0 && strcmp(p, "..") != 0 && strncmp(p, "../", 3) != 0 &&
	       !strstr(p, "/../") && !(strlen(p) >= 3 && strcmp(p + strlen(p) - 3, "/..") == 0);
}

static void
craft_write_entry(struct archive *a, const struct craft *c)
{
	struct archive_entry *ae = archive_entry_new();
	static const mode_t types[] = { ['f'] = AE_IFREG, ['d'] = AE_IFDIR, ['l'] = AE_IFLNK,
					['h'] = AE_IFREG, ['c'] = AE_IFCHR, ['p'] = AE_IFIFO };
	unsigned char *b = NULL;
	size_t len = 0;

	archive_entry_set_pathname(ae, c->path);
	archive_entry_set_filetype(ae, types[(unsigned char)c->type]);
	archive_entry_set_perm(ae, c->mode ? c->mode : 0644);
	archive_entry_set_mtime(ae, CRAFT_MTIME_NS / 1000000000, CRAFT_MTIME_NS % 1000000000);
	if (c->type == 'f')
		b = craft_bytes(c, &len);
	archive_entry_set_size(ae, (la_int64_t)len);
	if (c->type == 'l')
		archive_entry_set_symlink(ae, c->data);
	if (c->type == 'h')
		archive_entry_set_hardlink(ae, c->data);
	if (c->type == 'c')
		archive_entry_set_rdev(ae, makedev(1, 3));
	archive_write_header(a, ae);
	if (len)
		archive_write_data(a, b, len);
	archive_entry_free(ae);
	free(b);
}

/* The manifest entry of c; false if no manifest may hold it. */
static bool
craft_mf_entry(const struct craft *v, size_t n, const struct craft *c, struct mf_entry *e)
{
	static const enum mf_type types[] = { ['f'] = MF_FILE, ['d'] = MF_DIR, ['l'] = MF_SYMLINK,
					      ['h'] = MF_HARDLINK, ['c'] = MF_FILE, ['p'] = MF_FILE };
	const struct craft *src = c;
	unsigned char *b;
	size_t len = 0;

	if (!craft_safe(c->path) || (c->type == 'h' && !craft_safe(c->data)))
		return false;
	*e = (struct mf_entry){ .type = types[(unsigned char)c->type], .path = (char *)(uintptr_t)c->path,
				.mode = c->mode ? c->mode : 0644, .mtime_ns = CRAFT_MTIME_NS };
	if (c->type == 'l' || c->type == 'h')
		e->target = (char *)(uintptr_t)c->data;
	if (c->type == 'h')
		for (size_t i = 0; i < n; i++)
			if (v[i].type == 'f' && strcmp(v[i].path, c->data) == 0)
				src = &v[i];
	if (src->type != 'f' && c->type != 'c' && c->type != 'p')
		return true;
	b = src->type == 'f' ? craft_bytes(src, &len) : calloc(1, 1);
	e->size = len;
	craft_sha256(b, len, e->sha256);
	free(b);
	return true;
}

/* Recomputes the archive's size and hash in <dir>/<id>.manifest after edit(m) (may be NULL). */
static int
craft_rewrite_manifest(const char *dir, const char *id, void (*edit)(struct manifest *m))
{
	char path[4096], mpath[4096], err[256];
	struct manifest *m;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s.tar.gz", dir, id);
	snprintf(mpath, sizeof(mpath), "%s/%s.manifest", dir, id);
	if (manifest_read(mpath, &m, err, sizeof(err)) < 0)
		return -1;
	if (edit)
		edit(m);
	craft_file_sha256(path, m->archive_sha256, &m->archive_size);
	/* Member groups describe the archive as it was written; a damaged one has none. */
	m->n_members = 0;
	fd = open(mpath, O_WRONLY | O_TRUNC | O_CLOEXEC);
	r = fd < 0 ? -1 : manifest_write(m, fd);
	if (fd >= 0)
		close(fd);
	manifest_free(m);
	return r;
}

/* Flips bits of the byte at offset where in <dir>/<id>.tar.gz; 0 or -1. */
static int
craft_flip(const char *dir, const char *id, off_t where)
{
	char path[4096];
	unsigned char b;
	int fd, r = -1;

	snprintf(path, sizeof(path), "%s/%s.tar.gz", dir, id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && pread(fd, &b, 1, where) == 1) {
		b ^= 0x10;
		r = pwrite(fd, &b, 1, where) == 1 ? 0 : -1;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/* Writes <dir>/<id>.tar.gz holding v[0..n) in order, and <id>.manifest matching it. */
static int
craft_archive(const char *dir, const char *id, const struct craft *v, size_t n)
{
	char path[4096], mpath[4096];
	struct archive *a = archive_write_new();
	struct manifest *m = manifest_new(id, "");
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s.tar.gz", dir, id);
	snprintf(mpath, sizeof(mpath), "%s/%s.manifest", dir, id);
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct mf_entry e;
		craft_write_entry(a, &v[i]);
		if (!craft_mf_entry(v, n, &v[i], &e))
			continue;
		manifest_add(m, &e);
		if (e.type == MF_FILE || e.type == MF_HARDLINK)
			m->files++;
		if (e.type == MF_FILE)
			m->bytes += e.size;
	}
	archive_write_close(a);
	archive_write_free(a);
	fd = open(mpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	r = fd < 0 ? -1 : manifest_write(m, fd);
	if (fd >= 0)
		close(fd);
	manifest_free(m);
	return r < 0 ? r : craft_rewrite_manifest(dir, id, NULL);
}

#endif

/* The manifest beside each archive, <ID>.manifest: the archive's own SHA-256 and size, and
 * for every entry its type, mode, mtime, size, link target and content SHA-256. It is what
 * verify and restore check every byte against (libarchive's gzip reader does not check CRCs),
 * and what the change detector reads after a restart. A text format, documented in
 * docs/design.md; names are percent-escaped so any byte is safe. */
#ifndef SK_MANIFEST_H
#define SK_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum mf_type { MF_FILE = 'f', MF_DIR = 'd', MF_SYMLINK = 'l', MF_HARDLINK = 'h' };

struct mf_entry {
	enum mf_type type;
	char *path;            /* relative to the save folder */
	char *target;          /* symlink target, or hard link's first path */
	mode_t mode;           /* permission bits */
	int64_t mtime_ns;
	uint64_t size;
	uint64_t ino, dev;     /* as seen when read (change detection), 0 if unknown */
	int64_t ctime_ns;
	unsigned char sha256[32];
};

struct manifest {
	char *id;
	char *tag;             /* "" or e.g. "pre-restore" */
	int64_t created_usec;  /* wall clock */
	unsigned char archive_sha256[32];
	uint64_t archive_size;
	uint64_t files, bytes; /* regular files and their bytes */
	struct mf_entry *entries;
	size_t n_entries, cap_entries;
};

struct manifest *manifest_new(const char *id, const char *tag);
/* Appends a copy of e; returns 0 or -ENOMEM. */
int manifest_add(struct manifest *m, const struct mf_entry *e);
/* Writes m to fd (not synced); returns 0 or -errno. */
int manifest_write(const struct manifest *m, int fd);
/* Reads the manifest at path; returns 0, -errno, or -EBADMSG with err naming path:line. */
int manifest_read(const char *path, struct manifest **ret, char *err, size_t errlen);
/* Finds an entry by path (binary search after manifest_sort); NULL if none. */
const struct mf_entry *manifest_find(const struct manifest *m, const char *path);
void manifest_sort(struct manifest *m);
void manifest_free(struct manifest *m);

/* SHA-256 as 64 lowercase hex characters plus NUL. */
void sha256_hex(const unsigned char sum[32], char out[65]);

#endif

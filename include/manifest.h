/* The manifest beside each archive, <ID>.manifest: the archive's own SHA-256 and size, and
 * for every entry its type, mode, mtime, size, link target and content SHA-256. It is what
 * verify and restore check every byte against (libarchive's gzip reader does not check CRCs),
 * and what the change detector reads after a restart. A text format, described at the top of
 * src/manifest.c; names are percent-escaped so any byte is safe. */
#ifndef SK_MANIFEST_H
#define SK_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MF_VERSION 1
/* Bounds manifest_read enforces, so a corrupt or hostile file cannot exhaust memory. */
#define MF_MAX_LINE 65536
#define MF_MAX_LINE_TEXT "65536"
#define MF_MAX_ENTRIES (1u << 22)

enum mf_type { MF_FILE = 'f', MF_DIR = 'd', MF_SYMLINK = 'l', MF_HARDLINK = 'h' };

struct mf_entry {
	enum mf_type type;
	char *path;   /* relative to the save folder, no "." or ".." parts */
	char *target; /* symlink target, or hard link's first path; NULL for f and d */
	mode_t mode;  /* permission bits (07777) */
	int64_t mtime_ns;
	uint64_t size;	   /* f, h: content bytes; 0 for d and l */
	uint64_t ino, dev; /* as seen when read (change detection), 0 if unknown */
	int64_t ctime_ns;
	unsigned char sha256[32]; /* f, h: of the content; zero for d and l */
};

/* A group of the archive (see gz.h): whole gzip members holding whole tar entries, which a
 * later snapshot may take as they are when every entry in it is unchanged. */
struct mf_member {
	uint64_t offset, length;  /* in the archive */
	uint64_t first, count;	  /* the entries it holds: indices in archive order */
	unsigned char sha256[32]; /* of its compressed bytes */
	uint32_t crc32;		  /* CRC-32 of the same bytes, when has_crc32 */
	bool has_crc32;		  /* false in manifests from before group CRC-32s */
};

struct manifest {
	char *id;
	char *tag;	      /* "" or e.g. "pre-restore" */
	char *device;	      /* the device that made it; "" when unknown (an older manifest) */
	char based_on[64];    /* the archive of the same game before it, "" if none */
	int64_t created_usec; /* wall clock */
	unsigned char archive_sha256[32];
	uint64_t archive_size;
	uint64_t files, bytes; /* regular files (f and h entries) and the bytes stored (f only) */
	struct mf_entry *entries;
	size_t n_entries, cap_entries;
	/* Optional (none in older manifests); their indices hold until manifest_sort. */
	struct mf_member *members;
	size_t n_members, cap_members;
};

/* A new empty manifest (tag may be NULL); NULL on ENOMEM. */
struct manifest *manifest_new(const char *id, const char *tag);
/* Appends a copy of e; returns 0 or -ENOMEM. */
int manifest_add(struct manifest *m, const struct mf_entry *e);
/* Appends a member record; returns 0 or -ENOMEM. */
int manifest_add_member(struct manifest *m, const struct mf_member *mb);
/* Writes m to fd (not synced); returns 0 or -errno. */
int manifest_write(const struct manifest *m, int fd);
/* Reads the manifest at path; returns 0, -errno, or -EBADMSG with err naming path:line. */
int manifest_read(const char *path, struct manifest **ret, char *err, size_t errlen);
/* Parses a manifest held in memory; name is used in messages. Same returns as manifest_read. */
int manifest_parse(const char *name, const char *text, size_t len, struct manifest **ret, char *err,
		   size_t errlen);
/* Reads only the header (id, tag, totals, archive hash) of the manifest at path: what a listing
 * needs, without reading every entry. Same errors as manifest_read; n_entries is 0. */
int manifest_read_header(const char *path, struct manifest **ret, char *err, size_t errlen);
/* The one definition of a valid entry, which snapshot, verify and restore share: a safe
 * relative path (no empty, "." or ".." parts), a known type, a link target where there is one
 * (a symlink's is data, any text; a hard link's a safe path) and a line that fits MF_MAX_LINE.
 * Returns NULL when e is valid, else why not. */
const char *manifest_entry_check(const struct mf_entry *e);
/* Finds an entry by path (binary search after manifest_sort); NULL if none. */
const struct mf_entry *manifest_find(const struct manifest *m, const char *path);
/* Sorts the entries by path (bytewise). Member records then no longer apply and are dropped. */
void manifest_sort(struct manifest *m);
/* An index of m's entries sorted by path that leaves m in its order (its member records refer
 * to entries by position), for manifest_by_path_find; free() it. NULL on ENOMEM. */
const struct mf_entry **manifest_by_path(const struct manifest *m);
/* Finds an entry by path in such an index of n entries; NULL if none. */
const struct mf_entry *manifest_by_path_find(const struct mf_entry *const *index, size_t n, const char *path);
void manifest_free(struct manifest *m);

/* SHA-256 as 64 lowercase hex characters plus NUL. */
void sha256_hex(const unsigned char sum[32], char out[65]);

#endif

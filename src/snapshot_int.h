/* Private to the snapshot engine (snapshot.c: the archive attempt and publishing;
 * snapshot_tree.c: the walk, the entries and stable reads). */
#ifndef SK_SNAPSHOT_INT_H
#define SK_SNAPSHOT_INT_H

#include <locale.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "jobctx.h"
#include "snapshot.h"

struct archive;
struct archive_entry;
struct archive_entry_linkresolver;
struct gz_writer;
struct manifest;
struct mf_entry;
struct mf_member;

/* Tar bytes after which a group of members is ended; a file at least this big starts a group
 * of its own (see snapshot_reuse.c). */
#define SNAP_GROUP ((uint64_t)16 << 10)

struct snap {
	const struct job_spec *spec;
	const struct job_hooks *hooks;
	struct job_result *res;
	int save_fd, game_fd;
	struct stat game_st;
	locale_t utf8;
	EVP_MD_CTX *sha;
	unsigned char *buf;
	size_t buf_cap;
	const char *path;           /* the entry being visited, relative to the save folder */
	struct job_progress prog;
	uint64_t prog_usec;
	/* if_changed: the newest manifest's entries by path (in base) and how much of it the
	 * tree matched */
	const struct mf_entry **prev;
	uint64_t matched;
	bool changed;
	/* one archive attempt */
	char id[SNAP_ID_LEN + 1];
	char fin_tar[48], fin_mf[48], pin[48], tmp_tar[64], tmp_mf[64];
	int tar_fd, mf_fd;
	bool made_tar, made_mf, made_pin, renamed_mf;
	struct archive *ar;
	struct archive_entry_linkresolver *links;
	struct gz_writer *gz;
	struct manifest *mf;
	int out_err;                /* first error of the output path */
	bool discard;               /* the attempt failed: drop further output */
	bool unstable;              /* a streamed file changed: try the whole snapshot again */
	uint64_t skipped;
	char *skipped_first;
	/* incremental: the newest archive (its manifest in archive order, read once) and its groups */
	char latest[SNAP_ID_LEN + 1];
	struct manifest *base;
	int base_fd;
	struct mf_member *base_sorted;  /* its members sorted by first path */
	bool no_reuse;                  /* reuse went wrong once: write everything */
	const struct mf_member *take;   /* a taken group whose entries the walk still meets */
	uint64_t take_next;             /* the next of them (index in base) */
	/* the groups of this archive: entries of each, in order (offsets come from gz) */
	uint64_t group_ulen;            /* tar bytes of the group being written afresh */
	size_t group_first;
	struct mf_member *groups;
	size_t n_groups, cap_groups;
};

typedef int visit_fn(struct snap *s, int dirfd, const char *name, const struct stat *st);

/* snapshot.c */
/* Keeps the first failure's message in s->res (control bytes shown as '?'); returns r. */
int snap_fail(struct snap *s, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writes an entry's header / data into the archive; 0 or an error with its message. */
int snap_write_header(struct snap *s, struct archive_entry *e);
int snap_write_data(struct snap *s, const void *buf, size_t len);

/* snapshot_tree.c */
/* Calls fn for every entry under dirfd (sorted, excludes applied, never following a symlink,
 * iterative: any depth), with s->path set to the entry's relative path. */
int snap_walk(struct snap *s, int dirfd, visit_fn *fn);
/* visit_fn of the counting pass: totals for progress, and changes since s->prev. */
int snap_count_entry(struct snap *s, int dirfd, const char *name, const struct stat *st);
/* visit_fn of the archive pass: adds the entry to the archive and the manifest. */
int snap_add_entry(struct snap *s, int dirfd, const char *name, const struct stat *st);
/* snapshot_reuse.c */
/* True when the manifest entry describes the file st as it is (type, mode, size, mtime and
 * ctime in ns, device, inode). */
bool snap_entry_matches(const struct mf_entry *e, const struct stat *st);
/* After the counting pass: keeps the newest manifest as the base and opens its archive, if it
 * has member records and fits the archive; else drops it. */
void snap_load_base(struct snap *s);
/* The block size when the archive folder can clone extents (FICLONERANGE), else 0. */
size_t snap_reflink_block(struct snap *s);
/* Before an entry is written: 1 when it was taken (with its group) from the base, 0 when it
 * is to be written afresh, or an error (-EAGAIN voids the attempt, which runs without reuse). */
int snap_reuse_entry(struct snap *s, const struct stat *st);
/* After the walk: an error when a taken group's entries were not all met. */
int snap_reuse_end(struct snap *s);
/* Before an entry is written afresh: ends the group being written when st is a file big
 * enough to be a group of its own. Returns 0 or an error. */
int snap_group_before(struct snap *s, const struct stat *st);
/* After an entry was written: finishes it and ends the group once it is big enough. */
int snap_entry_done(struct snap *s);
/* Ends the group being written afresh, if it holds anything. */
int snap_end_group(struct snap *s);
/* After gz_finish: the groups become the manifest's member records. */
int snap_groups_to_manifest(struct snap *s);

/* Reports progress through the hooks, at most every PROGRESS_USEC unless force. */
void snap_progress(struct snap *s, bool force);

#endif

/* Private to the snapshot engine (snapshot.c: the archive attempt and publishing;
 * snapshot_tree.c: the walk, the entries and stable reads). */
#ifndef SK_SNAPSHOT_INT_H
#define SK_SNAPSHOT_INT_H

#include <locale.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "job.h"
#include "snapshot.h"

struct archive;
struct archive_entry;
struct archive_entry_linkresolver;
struct gz_writer;
struct manifest;

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
	/* if_changed: the newest manifest and how much of it the tree matched */
	struct manifest *prev;
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
/* Reports progress through the hooks, at most every PROGRESS_USEC unless force. */
void snap_progress(struct snap *s, bool force);

#endif

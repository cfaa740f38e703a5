/* The manifest: what an archive holds, with a SHA-256 for every byte. This file owns its
 * format, described here, the manifest in memory and its writer; manifest_read.c reads it.
 *
 * Format (version 1). A text file, one record per line, fields separated by one space, every
 * line ending in '\n'. The header lines come in this order:
 *
 *   savekeeper-manifest 1
 *   id 20240501T101500.250Z        archive ID
 *   tag pre-restore                label, "-" when there is none
 *   device steamdeck               the device that made it (escaped), "-" if unknown
 *   based-on 20240501T094500.000Z  the game's archive before it, "-" if none
 *   created 1714558500250123       wall clock, microseconds since the epoch
 *   archive-size 1153433           bytes of <ID>.tar.gz
 *   archive-sha256 <64 hex>        SHA-256 of <ID>.tar.gz
 *   files 12                       regular files (f and h entries)
 *   bytes 3565158                  content bytes stored (f entries)
 *   group-crc32 0a1b2c3d9f8e7d6c   optional: CRC-32s of the member groups (see below)
 *   entries 15                     number of entry lines that follow
 *
 * device and based-on came with off-machine copies (issue 17); a manifest without them reads
 * as device and based-on unknown. Builds before them refuse a manifest that has them; this
 * reader passes over header lines it does not know (a key of a-z, 0-9 and '-', a space, a
 * value), before or between the known ones, up to MF_MAX_UNKNOWN of them: a later version may
 * add such lines only when an older reader can ignore them (everything is still checked by the
 * archive's and every entry's SHA-256); a change in the meaning of the rest raises the
 * version, which this reader refuses.
 *
 * then one line per archive entry, in archive order:
 *
 *   TYPE MODE MTIME_NS SIZE SHA256 DEV INO CTIME_NS PATH TARGET
 *
 * TYPE is f (regular file), d (directory), l (symlink) or h (hard link to an earlier f entry);
 * MODE the permission bits in octal; MTIME_NS and CTIME_NS nanoseconds since the epoch; SIZE
 * the content bytes (0 for d and l); SHA256 the content's hash in hex, "-" for d and l (an h
 * entry repeats its file's size and hash); DEV and INO the file's identity when it was read,
 * for change detection. PATH is relative to the save folder, with no empty, "." or ".." parts;
 * TARGET is the symlink's target or the hard link's first path, "-" for f and d. The file ends
 * with the line "end", so a cut file is never taken for a whole one.
 *
 * Optionally (since incremental snapshots; older manifests have none, and are read as before)
 * the entry lines are followed, before "end", by the archive's member groups:
 *
 *   members 3                      number of member lines that follow
 *   m OFFSET LENGTH FIRST COUNT SHA256
 *
 * one per group in archive order: the bytes [OFFSET, OFFSET+LENGTH) of <ID>.tar.gz are whole
 * gzip members holding exactly the tar entries FIRST .. FIRST+COUNT-1 (indices of the entry
 * lines above, from 0), and SHA256 is the hash of those compressed bytes. The archive's end
 * (the tar trailer) belongs to no group. A later snapshot takes a group as it is when all its
 * entries are unchanged (see docs/design.md, "Incremental snapshots").
 *
 * group-crc32 (since taken groups are checked by CRC-32) holds the CRC-32 (gzip's polynomial)
 * of the compressed bytes of the first groups, in archive order, as 8 lower-case hex digits
 * each with nothing between them: group i's are characters 8i .. 8i+7. It covers at most
 * MF_MAX_GROUP_CRCS groups, so that the header stays within the MF_MAX_LINE bytes that
 * manifest_read_header reads; the groups after them, and every group of a manifest without
 * the line, have none and are checked by their SHA-256 when taken. It is a header line rather
 * than a field of the m lines because readers before it refuse an m line with a seventh field
 * but pass over a header line they do not know. A taken group's SHA-256 is carried over from
 * the manifest it was taken from (its bytes passed the CRC-32 check), not computed again.
 *
 * Text fields (tag, PATH, TARGET) are percent-escaped: '%', bytes up to and including space,
 * and DEL are written as %XX (upper-case hex); a field that is exactly "-" is written "%2D".
 * Any other byte, UTF-8 included, stands for itself, so names stay readable.
 *
 * The reader is strict and bounded: lines of at most MF_MAX_LINE bytes, at most
 * MF_MAX_ENTRIES entries, numbers without signs or overflow, and each error names the file
 * and line. */
#include "manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "manifest_int.h"
#include "util.h"

struct manifest *
manifest_new(const char *id, const char *tag)
{
	struct manifest *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->id = strdup(id ? id : "");
	m->tag = strdup(tag ? tag : "");
	m->device = strdup("");
	if (!m->id || !m->tag || !m->device) {
		manifest_free(m);
		return NULL;
	}
	return m;
}

void
mf_entry_clear(struct mf_entry *e)
{
	free(e->path);
	free(e->target);
}

void
manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_entries; i++)
		mf_entry_clear(&m->entries[i]);
	free(m->entries);
	free(m->members);
	free(m->id);
	free(m->tag);
	free(m->device);
	free(m);
}

int
manifest_add(struct manifest *m, const struct mf_entry *e)
{
	struct mf_entry copy = *e;

	if (m->n_entries == m->cap_entries) {
		size_t cap = m->cap_entries ? m->cap_entries * 2 : 64;
		struct mf_entry *n = reallocarray(m->entries, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		m->entries = n;
		m->cap_entries = cap;
	}
	copy.path = strdup(e->path);
	copy.target = e->target ? strdup(e->target) : NULL;
	if (!copy.path || (e->target && !copy.target)) {
		mf_entry_clear(&copy);
		return -ENOMEM;
	}
	m->entries[m->n_entries++] = copy;
	return 0;
}

int
manifest_add_member(struct manifest *m, const struct mf_member *mb)
{
	if (array_grow(&m->members, &m->cap_members, m->n_members, sizeof(*mb)) < 0)
		return -ENOMEM;
	m->members[m->n_members++] = *mb;
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct mf_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

void
manifest_sort(struct manifest *m)
{
	if (m->n_entries > 1)
		qsort(m->entries, m->n_entries, sizeof(*m->entries), entry_cmp);
	m->n_members = 0;
}

const struct mf_entry *
manifest_find(const struct manifest *m, const char *path)
{
	struct mf_entry key = {.path = (char *)(uintptr_t)path};

	if (m->n_entries == 0)
		return NULL;
	return bsearch(&key, m->entries, m->n_entries, sizeof(*m->entries), entry_cmp);
}

static int
entry_ptr_cmp(const void *a, const void *b)
{
	const struct mf_entry *const *x = a, *const *y = b;

	return entry_cmp(*x, *y);
}

const struct mf_entry **
manifest_by_path(const struct manifest *m)
{
	const struct mf_entry **index = malloc((m->n_entries ? m->n_entries : 1) * sizeof(*index));

	if (!index)
		return NULL;
	for (size_t i = 0; i < m->n_entries; i++)
		index[i] = &m->entries[i];
	if (m->n_entries > 1)
		qsort(index, m->n_entries, sizeof(*index), entry_ptr_cmp);
	return index;
}

const struct mf_entry *
manifest_by_path_find(const struct mf_entry *const *index, size_t n, const char *path)
{
	struct mf_entry key = {.path = (char *)(uintptr_t)path};
	const struct mf_entry *k = &key;
	const struct mf_entry *const *found;

	if (n == 0)
		return NULL;
	found = bsearch(&k, index, n, sizeof(*index), entry_ptr_cmp);
	return found ? *found : NULL;
}

void
sha256_hex(const unsigned char sum[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[sum[i] >> 4];
		out[2 * i + 1] = hex[sum[i] & 15];
	}
	out[64] = '\0';
}

/* The one definition of a valid entry. */

/* A path inside the tree: relative, no empty, "." or ".." parts. One pass over the bytes:
 * paths of a deep tree are long and every entry's is checked. */
static bool
path_safe(const char *p)
{
	const char *start = p;

	if (!p || !*p)
		return false;
	for (;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		size_t n = (size_t)(p - start);
		if (n == 0 || (n == 1 && start[0] == '.') || (n == 2 && start[0] == '.' && start[1] == '.'))
			return false;
		if (*p == '\0')
			return true;
		start = p + 1;
	}
}

/* The bytes a text field takes in a manifest line, escapes included. */
static size_t
escaped_len(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		n += *p <= ' ' || *p == 0x7f || *p == '%' ? 3 : 1;
	return n + 3;
}

/* The longest entry line without its path and target: ten fields, numbers at their widest. */
#define MF_LINE_FIXED 256

const char *
manifest_entry_check(const struct mf_entry *e)
{
	bool has_target = e->type == MF_SYMLINK || e->type == MF_HARDLINK;

	if (e->type != MF_FILE && e->type != MF_DIR && !has_target)
		return "unknown entry type";
	if (!path_safe(e->path))
		return "unsafe path";
	if (has_target && (!e->target || !*e->target))
		return "empty link target";
	if (e->type == MF_HARDLINK && !path_safe(e->target))
		return "hard link target outside the tree";
	if (MF_LINE_FIXED + escaped_len(e->path) + (has_target ? escaped_len(e->target) : 0) >= MF_MAX_LINE)
		return "path and link target longer than a manifest line holds (" MF_MAX_LINE_TEXT " bytes)";
	return NULL;
}

/* Writing. */

static void
put_escaped(FILE *f, const char *s)
{
	if (!s || !*s) {
		fputc('-', f);
		return;
	}
	if (strcmp(s, "-") == 0) {
		fputs("%2D", f);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = 0;
		while (p[n] > ' ' && p[n] != 0x7f && p[n] != '%')
			n++;
		fwrite(p, 1, n, f);
		p += n;
		if (*p)
			fprintf(f, "%%%02X", *p++);
	}
}

static void
put_entry(FILE *f, const struct mf_entry *e)
{
	bool has_data = e->type == MF_FILE || e->type == MF_HARDLINK;
	char hex[65] = "-";

	if (has_data)
		sha256_hex(e->sha256, hex);
	fprintf(f, "%c %04o %" PRId64 " %" PRIu64 " %s %" PRIu64 " %" PRIu64 " %" PRId64 " ", (char)e->type,
		(unsigned)(e->mode & 07777), e->mtime_ns, has_data ? e->size : 0, hex, e->dev, e->ino,
		e->ctime_ns);
	put_escaped(f, e->path);
	fputc(' ', f);
	put_escaped(f, e->type == MF_SYMLINK || e->type == MF_HARDLINK ? e->target : NULL);
	fputc('\n', f);
}

/* The group-crc32 line: the CRC-32 of the first groups that have one, up to
 * MF_MAX_GROUP_CRCS; the groups after them are checked by their SHA-256 alone. */
static void
put_group_crcs(FILE *f, const struct manifest *m)
{
	size_t n = 0;

	while (n < m->n_members && n < MF_MAX_GROUP_CRCS && m->members[n].has_crc32)
		n++;
	if (n == 0)
		return;
	fputs("group-crc32 ", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%08" PRIx32, m->members[i].crc32);
	fputc('\n', f);
}

int
manifest_write(const struct manifest *m, int fd)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	char hex[65];
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -errno;
	sha256_hex(m->archive_sha256, hex);
	fprintf(f, MF_MAGIC " %d\nid %s\ntag ", MF_VERSION, m->id);
	put_escaped(f, m->tag);
	fputs("\ndevice ", f);
	put_escaped(f, m->device);
	fprintf(f, "\nbased-on %s", m->based_on[0] ? m->based_on : "-");
	fprintf(f,
		"\ncreated %" PRId64 "\narchive-size %" PRIu64 "\narchive-sha256 %s\n"
		"files %" PRIu64 "\nbytes %" PRIu64 "\n",
		m->created_usec, m->archive_size, hex, m->files, m->bytes);
	put_group_crcs(f, m);
	fprintf(f, "entries %zu\n", m->n_entries);
	for (size_t i = 0; i < m->n_entries; i++)
		put_entry(f, &m->entries[i]);
	if (m->n_members > 0)
		fprintf(f, "members %zu\n", m->n_members);
	for (size_t i = 0; i < m->n_members; i++) {
		const struct mf_member *mb = &m->members[i];
		sha256_hex(mb->sha256, hex);
		fprintf(f, "m %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", mb->offset, mb->length,
			mb->first, mb->count, hex);
	}
	fputs("end\n", f);
	if (fclose(f) != 0)
		return -ENOMEM;
	return write_all(fd, buf, len);
}

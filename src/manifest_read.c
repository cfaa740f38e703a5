/* Reading a manifest: the strict, bounded parser of the format described at the top of
 * manifest.c (manifest_parse), and reading one from a file, whole (manifest_read) or just its
 * header lines (manifest_read_header). */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest_int.h"
#include "util.h"

#define MF_FIELDS 10
/* Header lines of a later version passed over, at most. */
#define MF_MAX_UNKNOWN 64
/* A manifest larger than this is not one of ours. */
#define MF_MAX_FILE ((size_t)1 << 30)

struct mf_parser {
	const char *name;
	char *next, *end; /* the rest of the text */
	unsigned line;
	char *err;
	size_t errlen;
	unsigned unknown;	/* header lines passed over so far */
	const char *group_crcs; /* the group-crc32 line's value, checked; NULL when none */
};

static int __attribute__((format(printf, 2, 3))) bad(struct mf_parser *ps, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ps->err)
		snprintf(ps->err, ps->errlen, "%s:%u: %s", ps->name, ps->line, what);
	return -EBADMSG;
}

/* Cuts the next line out of the text; NULL at the end. */
static char *
next_line(struct mf_parser *ps)
{
	char *s = ps->next, *nl;

	ps->line++;
	if (s >= ps->end)
		return NULL;
	nl = memchr(s, '\n', (size_t)(ps->end - s));
	if (!nl) {
		ps->next = ps->end;
		return NULL; /* the last line lacks its newline: the file was cut */
	}
	*nl = '\0';
	ps->next = nl + 1;
	return s;
}

/* Splits line at single spaces into exactly n non-empty fields. */
static int
split(struct mf_parser *ps, char *line, char **f, int n)
{
	int i = 0;

	for (char *s = line;;) {
		char *sp = strchr(s, ' ');
		if (i == n || *s == '\0' || sp == s)
			return bad(ps, "expected %d fields", n);
		f[i++] = s;
		if (!sp)
			break;
		*sp = '\0';
		s = sp + 1;
	}
	return i == n ? 0 : bad(ps, "expected %d fields", n);
}

static int
parse_u64(struct mf_parser *ps, const char *s, const char *what, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 20)
		return bad(ps, "bad %s '%.32s'", what, s);
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return bad(ps, "bad %s", what);
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

static int
parse_i64(struct mf_parser *ps, const char *s, const char *what, int64_t *ret)
{
	bool neg = *s == '-';
	uint64_t v;
	int r = parse_u64(ps, s + neg, what, &v);

	if (r < 0)
		return r;
	if (v > (uint64_t)INT64_MAX)
		return bad(ps, "%s out of range", what);
	*ret = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int
unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
parse_sha(struct mf_parser *ps, const char *s, unsigned char out[32])
{
	if (strlen(s) != 64)
		return bad(ps, "bad SHA-256");
	for (int i = 0; i < 32; i++) {
		int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return bad(ps, "bad SHA-256");
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Undoes percent-escaping into a new string ("-" gives ""). */
static int
unescape(struct mf_parser *ps, const char *s, char **ret)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		return -ENOMEM;
	if (strcmp(s, "-") == 0)
		s = "";
	for (; *s; s++) {
		int hi, lo;
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		hi = unhex(s[1]);
		lo = hi < 0 ? -1 : unhex(s[2]);
		if (lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return bad(ps, "bad escape in name");
		}
		*o++ = (char)(hi << 4 | lo);
		s += 2;
	}
	*o = '\0';
	*ret = out;
	return 0;
}

/* The header keys this reader knows; any other is a later version's addition. */
static bool
known_key(const char *s, size_t len)
{
	static const char *const keys[] = {MF_MAGIC,   "id",	  "tag",	  "device",
					   "based-on", "created", "archive-size", "archive-sha256",
					   "files",    "bytes",	  "group-crc32",  "entries"};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strlen(keys[i]) == len && strncmp(keys[i], s, len) == 0)
			return true;
	return false;
}

/* Passes over header lines "key VALUE" whose key this reader does not know: what a later
 * savekeeper may add without changing the meaning of the rest, since a change that does
 * would raise the version on the first line, which is refused. The key has the grammar of
 * ours (two or more of a-z, 0-9 and '-', starting with a letter), so an entry line or a cut
 * or damaged header is never passed over. At most MF_MAX_UNKNOWN of them. */
static int
skip_unknown(struct mf_parser *ps)
{
	for (;;) {
		size_t len = 0, left = (size_t)(ps->end - ps->next);
		char *nl;

		while (len < left && ((ps->next[len] >= 'a' && ps->next[len] <= 'z') ||
				      (ps->next[len] >= '0' && ps->next[len] <= '9') || ps->next[len] == '-'))
			len++;
		if (len < 2 || len >= left || ps->next[len] != ' ' || ps->next[0] < 'a' ||
		    ps->next[0] > 'z' || known_key(ps->next, len))
			return 0;
		nl = memchr(ps->next, '\n', left);
		if (!nl)
			return 0; /* a cut line: the caller reports it */
		if (++ps->unknown > MF_MAX_UNKNOWN)
			return bad(ps, "too many unknown header lines");
		(void)next_line(ps);
	}
}

/* Reads the header line "key VALUE" into *ret (a pointer into the text), after any header
 * lines of a later version. */
static int
header(struct mf_parser *ps, const char *key, char **ret)
{
	char *line, *f[2];
	int r = strcmp(key, MF_MAGIC) == 0 ? 0 : skip_unknown(ps);

	if (r < 0)
		return r;
	line = next_line(ps);

	if (!line)
		return bad(ps, "file ends before '%s'", key);
	r = split(ps, line, f, 2);
	if (r < 0)
		return r;
	if (strcmp(f[0], key) != 0)
		return bad(ps, "expected '%s', found '%.32s'", key, f[0]);
	*ret = f[1];
	return 0;
}

/* A header line that older manifests lack: 1 and nothing read when the next line is another. */
static int
optional_header(struct mf_parser *ps, const char *key, char **ret)
{
	size_t n = strlen(key);
	int r = skip_unknown(ps);

	if (r < 0)
		return r;
	if ((size_t)(ps->end - ps->next) <= n || strncmp(ps->next, key, n) != 0 || ps->next[n] != ' ')
		return 1;
	return header(ps, key, ret);
}

/* The device and based-on lines, when present. */
static int
parse_origin(struct mf_parser *ps, struct manifest *m)
{
	char *v;
	int r = optional_header(ps, "device", &v);

	if (r == 0) {
		free(m->device);
		m->device = NULL;
		r = unescape(ps, v, &m->device);
	}
	if (r >= 0 && (r = optional_header(ps, "based-on", &v)) == 0) {
		if (strlen(v) >= sizeof(m->based_on) || strpbrk(v, "/%"))
			return bad(ps, "bad based-on");
		snprintf(m->based_on, sizeof(m->based_on), "%s", strcmp(v, "-") == 0 ? "" : v);
	}
	return r < 0 ? r : 0;
}

static int
header_u64(struct mf_parser *ps, const char *key, uint64_t *ret)
{
	char *v;
	int r = header(ps, key, &v);

	return r < 0 ? r : parse_u64(ps, v, key, ret);
}

/* The group-crc32 line, when present: its value is kept until the member lines are read. */
static int
parse_group_crcs(struct mf_parser *ps)
{
	char *v;
	size_t len;
	int r = optional_header(ps, "group-crc32", &v);

	if (r != 0)
		return r < 0 ? r : 0;
	len = strlen(v);
	if (len % 8 || len / 8 > MF_MAX_GROUP_CRCS || strspn(v, "0123456789abcdef") != len)
		return bad(ps, "bad group-crc32");
	ps->group_crcs = v;
	return 0;
}

/* Gives the first members the CRC-32s of the group-crc32 line. */
static int
attach_group_crcs(struct mf_parser *ps, struct manifest *m)
{
	size_t n = ps->group_crcs ? strlen(ps->group_crcs) / 8 : 0;

	if (n > m->n_members)
		return bad(ps, "more group CRC-32s than members");
	for (size_t i = 0; i < n; i++) {
		uint32_t v = 0;
		for (size_t j = 0; j < 8; j++)
			v = v << 4 | (uint32_t)unhex(ps->group_crcs[8 * i + j]);
		m->members[i].crc32 = v;
		m->members[i].has_crc32 = true;
	}
	return 0;
}

static int
parse_header(struct mf_parser *ps, struct manifest *m, uint64_t *ret_n)
{
	char *v;
	uint64_t created;
	int r;

	if ((r = header(ps, MF_MAGIC, &v)) < 0)
		return r;
	if (strcmp(v, "1") != 0)
		return bad(ps, "unsupported manifest version '%.16s'", v);
	if ((r = header(ps, "id", &v)) < 0)
		return r;
	if (strlen(v) >= 64 || strpbrk(v, "/%"))
		return bad(ps, "bad id");
	free(m->id);
	if (!(m->id = strdup(v)))
		return -ENOMEM;
	if ((r = header(ps, "tag", &v)) < 0)
		return r;
	free(m->tag);
	m->tag = NULL;
	if ((r = unescape(ps, v, &m->tag)) < 0 || (r = parse_origin(ps, m)) < 0 ||
	    (r = header_u64(ps, "created", &created)) < 0 ||
	    (r = header_u64(ps, "archive-size", &m->archive_size)) < 0 ||
	    (r = header(ps, "archive-sha256", &v)) < 0 || (r = parse_sha(ps, v, m->archive_sha256)) < 0 ||
	    (r = header_u64(ps, "files", &m->files)) < 0 || (r = header_u64(ps, "bytes", &m->bytes)) < 0 ||
	    (r = parse_group_crcs(ps)) < 0 || (r = header_u64(ps, "entries", ret_n)) < 0)
		return r;
	if (created > INT64_MAX)
		return bad(ps, "bad created");
	m->created_usec = (int64_t)created;
	if (*ret_n > MF_MAX_ENTRIES)
		return bad(ps, "too many entries (%" PRIu64 ")", *ret_n);
	return 0;
}

static int
parse_fields(struct mf_parser *ps, char **f, struct mf_entry *e)
{
	uint64_t mode;
	bool has_data, has_target;
	const char *why;
	int r;

	if (strlen(f[0]) != 1 || !strchr("fdlh", f[0][0]))
		return bad(ps, "unknown entry type '%.8s'", f[0]);
	e->type = (enum mf_type)f[0][0];
	has_data = e->type == MF_FILE || e->type == MF_HARDLINK;
	has_target = e->type == MF_SYMLINK || e->type == MF_HARDLINK;
	if (strspn(f[1], "01234567") != strlen(f[1]) || strlen(f[1]) > 6)
		return bad(ps, "bad mode");
	mode = strtoull(f[1], NULL, 8);
	if (mode > 07777)
		return bad(ps, "bad mode");
	e->mode = (mode_t)mode;
	if ((r = parse_i64(ps, f[2], "mtime", &e->mtime_ns)) < 0 ||
	    (r = parse_u64(ps, f[3], "size", &e->size)) < 0 ||
	    (r = parse_u64(ps, f[5], "dev", &e->dev)) < 0 ||
	    (r = parse_u64(ps, f[6], "inode", &e->ino)) < 0 ||
	    (r = parse_i64(ps, f[7], "ctime", &e->ctime_ns)) < 0)
		return r;
	if (has_data && (r = parse_sha(ps, f[4], e->sha256)) < 0)
		return r;
	if (!has_data && (strcmp(f[4], "-") != 0 || e->size != 0))
		return bad(ps, "a %s has no content", e->type == MF_DIR ? "directory" : "symlink");
	if ((r = unescape(ps, f[8], &e->path)) < 0)
		return r;
	if (!has_target && strcmp(f[9], "-") != 0)
		return bad(ps, "unexpected link target");
	if (has_target && (r = unescape(ps, f[9], &e->target)) < 0)
		return r;
	why = manifest_entry_check(e);
	return why ? bad(ps, "%s", why) : 0;
}

static int
parse_entry(struct mf_parser *ps, struct manifest *m)
{
	struct mf_entry e = {0};
	char *line = next_line(ps), *f[MF_FIELDS];
	int r;

	if (!line)
		return bad(ps, "file ends after %zu entries", m->n_entries);
	r = split(ps, line, f, MF_FIELDS);
	if (r >= 0)
		r = parse_fields(ps, f, &e);
	if (r >= 0 && m->n_entries < m->cap_entries)
		m->entries[m->n_entries++] = e;
	else
		mf_entry_clear(&e);
	return r;
}

static int
parse_member(struct mf_parser *ps, struct manifest *m)
{
	struct mf_member mb = {0};
	char *line = next_line(ps), *f[6];
	int r;

	if (!line)
		return bad(ps, "file ends after %zu members", m->n_members);
	if ((r = split(ps, line, f, 6)) < 0)
		return r;
	if (strcmp(f[0], "m") != 0)
		return bad(ps, "expected a member line");
	if ((r = parse_u64(ps, f[1], "offset", &mb.offset)) < 0 ||
	    (r = parse_u64(ps, f[2], "length", &mb.length)) < 0 ||
	    (r = parse_u64(ps, f[3], "first entry", &mb.first)) < 0 ||
	    (r = parse_u64(ps, f[4], "entry count", &mb.count)) < 0 ||
	    (r = parse_sha(ps, f[5], mb.sha256)) < 0)
		return r;
	if (mb.length > m->archive_size || mb.offset > m->archive_size - mb.length)
		return bad(ps, "member outside the archive");
	if (mb.count > m->n_entries || mb.first > m->n_entries - mb.count)
		return bad(ps, "member holds entries that do not exist");
	return manifest_add_member(m, &mb);
}

/* The optional member lines; *line is the next line, and is left at the one after them. */
static int
parse_members(struct mf_parser *ps, struct manifest *m, char **line)
{
	uint64_t n;
	int r;

	if (!*line || strncmp(*line, "members ", 8) != 0)
		return 0;
	if ((r = parse_u64(ps, *line + 8, "members", &n)) < 0)
		return r;
	if (n > m->n_entries)
		return bad(ps, "more members than entries");
	for (uint64_t i = 0; i < n; i++)
		if ((r = parse_member(ps, m)) < 0)
			return r;
	*line = next_line(ps);
	return 0;
}

/* Parses a whole manifest, or with header_only just the lines before the entries. */
static int
parse_text(const char *name, const char *text, size_t len, bool header_only, struct manifest **ret, char *err,
	   size_t errlen)
{
	_cleanup_free_ char *copy = NULL;
	struct manifest *m = NULL;
	struct mf_parser ps = {.name = name, .err = err, .errlen = errlen};
	uint64_t n = 0;
	char *line = NULL;
	int r;

	if (memchr(text, '\0', len))
		return bad(&ps, "not a text file");
	if (!(copy = malloc(len + 1)) || !(m = manifest_new("", "")))
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	ps.next = copy;
	ps.end = copy + len;
	for (char *s = copy; s < ps.end; s += strcspn(s, "\n") + 1) {
		ps.line++;
		if (strcspn(s, "\n") >= MF_MAX_LINE) {
			r = bad(&ps, "line longer than %d bytes", MF_MAX_LINE);
			goto fail;
		}
	}
	ps.line = 0;
	r = parse_header(&ps, m, &n);
	if (r >= 0 && header_only) {
		*ret = m;
		return 0;
	}
	if (r >= 0 && n > 0) {
		/* Allocated as entries arrive, so a false count cannot reserve memory. */
		m->entries = calloc(n < 1024 ? n : 1024, sizeof(*m->entries));
		m->cap_entries = m->entries ? (n < 1024 ? n : 1024) : 0;
		r = m->entries ? 0 : -ENOMEM;
	}
	for (uint64_t i = 0; r >= 0 && i < n; i++) {
		if (m->n_entries == m->cap_entries) {
			size_t cap = m->cap_entries * 2 < n ? m->cap_entries * 2 : (size_t)n;
			struct mf_entry *ne = reallocarray(m->entries, cap, sizeof(*ne));
			if (!ne) {
				r = -ENOMEM;
				break;
			}
			m->entries = ne;
			m->cap_entries = cap;
		}
		r = parse_entry(&ps, m);
	}
	if (r >= 0) {
		line = next_line(&ps);
		r = parse_members(&ps, m, &line);
	}
	if (r >= 0)
		r = attach_group_crcs(&ps, m);
	if (r >= 0 && (!line || strcmp(line, "end") != 0))
		r = bad(&ps, line ? "expected 'end'" : "file ends before 'end'");
	if (r >= 0 && ps.next < ps.end) {
		ps.line++;
		r = bad(&ps, "text after 'end'");
	}
	if (r >= 0) {
		*ret = m;
		return 0;
	}
fail:
	manifest_free(m);
	return r;
}

int
manifest_parse(const char *name, const char *text, size_t len, struct manifest **ret, char *err,
	       size_t errlen)
{
	return parse_text(name, text, len, false, ret, err, errlen);
}

/* Reads at most max bytes of the file at path into *ret_buf (malloc'd). */
static int
read_prefix(const char *path, size_t max, char **ret_buf, size_t *ret_len, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0, want;

	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		if (err)
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MF_MAX_FILE) {
		if (err)
			snprintf(err, errlen, "%s: not a manifest", path);
		return -EBADMSG;
	}
	want = (size_t)st.st_size < max ? (size_t)st.st_size : max;
	if (!(buf = malloc(want + 1)))
		return -ENOMEM;
	while (len < want) {
		ssize_t n = read(fd, buf + len, want - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			if (err)
				snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_buf = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int
manifest_read(const char *path, struct manifest **ret, char *err, size_t errlen)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = read_prefix(path, MF_MAX_FILE, &buf, &len, err, errlen);

	return r < 0 ? r : parse_text(path, buf, len, false, ret, err, errlen);
}

int
manifest_read_header(const char *path, struct manifest **ret, char *err, size_t errlen)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	char *nl;
	/* The header is a few bounded lines; the entries after it are not needed. */
	int r = read_prefix(path, MF_MAX_LINE, &buf, &len, err, errlen);

	if (r < 0)
		return r;
	nl = len ? memrchr(buf, '\n', len) : NULL;
	len = nl ? (size_t)(nl - buf) + 1 : 0;
	return parse_text(path, buf, len, true, ret, err, errlen);
}

/* The manifest: every kind of entry and name survives a write and a read, lookups work, and a
 * corrupt or hostile file is refused with its path and line, never crashing the reader. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "manifest.h"
#include "util.h"

static const char *const names[] = {
    "slot1.sav", "name with spaces.sav", "new\nline", "-",	 "-dash", "100%",
    "tab\there", "セーブ/café.sav",	 "a/b/c/d",   "del\x7f", "%2D",
};

static struct manifest *
sample(void)
{
	struct manifest *m = manifest_new("20240501T101500.250Z", "pre restore");

	assert_non_null(m);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct mf_entry e = {
		    .type = "fdlh"[i % 4],
		    .path = (char *)(uintptr_t)names[i],
		    .mode = (mode_t)(0400 + i),
		    .mtime_ns = 1700000000123456789 + (int64_t)i,
		    .ino = 1000 + i,
		    .dev = 2049,
		    .ctime_ns = -5,
		};
		if (e.type == MF_FILE || e.type == MF_HARDLINK) {
			e.size = 10 * i;
			memset(e.sha256, (int)i + 1, 32);
		}
		if (e.type == MF_SYMLINK)
			e.target = (char *)(uintptr_t)(i % 3 ? "../outside target" : "-");
		if (e.type == MF_HARDLINK)
			e.target = (char *)(uintptr_t) "slot1.sav";
		assert_int_equal(manifest_add(m, &e), 0);
	}
	m->archive_size = 12345;
	memset(m->archive_sha256, 0xab, 32);
	m->files = 6;
	m->bytes = 300;
	m->created_usec = 1714558500250123;
	return m;
}

/* Writes m into a temporary file; returns its malloc'd path. */
static char *
write_tmp(const struct manifest *m)
{
	char *path = malloc(64);
	int fd = mkostemp(scratch_template(path, 64, "sk-mf"), O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(manifest_write(m, fd), 0);
	close(fd);
	return path;
}

static void
test_round_trip(void **state)
{
	struct manifest *m = sample(), *back = NULL;
	char *path = write_tmp(m), err[512] = "";
	(void)state;

	assert_int_equal(manifest_read(path, &back, err, sizeof(err)), 0);
	assert_string_equal(back->id, m->id);
	assert_string_equal(back->tag, "pre restore");
	assert_int_equal(back->archive_size, 12345);
	assert_memory_equal(back->archive_sha256, m->archive_sha256, 32);
	assert_int_equal(back->files, 6);
	assert_int_equal(back->bytes, 300);
	assert_int_equal(back->created_usec, m->created_usec);
	assert_int_equal(back->n_entries, m->n_entries);
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct mf_entry *a = &m->entries[i], *b = &back->entries[i];
		assert_int_equal(a->type, b->type);
		assert_string_equal(a->path, b->path);
		if (a->target)
			assert_string_equal(a->target, b->target);
		else
			assert_null(b->target);
		assert_int_equal(a->mode, b->mode);
		assert_int_equal(a->mtime_ns, b->mtime_ns);
		assert_int_equal(a->size, b->size);
		assert_int_equal(a->ino, b->ino);
		assert_int_equal(a->dev, b->dev);
		assert_int_equal(a->ctime_ns, b->ctime_ns);
		assert_memory_equal(a->sha256, b->sha256, 32);
	}
	manifest_sort(back);
	assert_non_null(manifest_find(back, "new\nline"));
	assert_non_null(manifest_find(back, "%2D"));
	assert_string_equal(manifest_find(back, "a/b/c/d")->path, "a/b/c/d");
	assert_null(manifest_find(back, "a/b"));
	manifest_free(back);
	manifest_free(m);
	unlink(path);
	free(path);
}

/* The header alone: the totals a listing shows, from a manifest with many entries. */
static void
test_read_header(void **state)
{
	struct manifest *m = sample(), *back = NULL;
	char *path = write_tmp(m), err[512] = "";
	(void)state;

	assert_int_equal(manifest_read_header(path, &back, err, sizeof(err)), 0);
	assert_string_equal(back->id, m->id);
	assert_string_equal(back->tag, "pre restore");
	assert_int_equal(back->files, 6);
	assert_int_equal(back->bytes, 300);
	assert_int_equal(back->archive_size, 12345);
	assert_int_equal(back->n_entries, 0);
	manifest_free(back);
	assert_int_equal(manifest_read_header("/nonexistent/x.manifest", &back, err, sizeof(err)), -ENOENT);
	manifest_free(m);
	unlink(path);
	free(path);
}

/* The sample as manifest_write writes it, into buf; returns its length. */
static size_t
sample_text(char *buf, size_t len)
{
	struct manifest *m = sample();
	char *path = write_tmp(m);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = read(fd, buf, len - 1);

	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
	unlink(path);
	free(path);
	manifest_free(m);
	return (size_t)n;
}

static void
test_written_form(void **state)
{
	char buf[4096];
	size_t n = sample_text(buf, sizeof(buf));
	(void)state;

	/* Escapes keep one entry per line and one field per space; UTF-8 stays readable. */
	assert_non_null(strstr(buf, "name%20with%20spaces.sav"));
	assert_non_null(strstr(buf, "new%0Aline"));
	assert_non_null(strstr(buf, " %2D "));
	assert_non_null(strstr(buf, "100%25"));
	assert_non_null(strstr(buf, "%252D"));
	assert_non_null(strstr(buf, "セーブ/café.sav"));
	assert_non_null(strstr(buf, "\ntag pre%20restore\n"));
	assert_string_equal(buf + n - 4, "end\n");
}

static const char good_head[] =
    "savekeeper-manifest 1\nid X\ntag -\ncreated 1\narchive-size 2\narchive-sha256 "
    "0000000000000000000000000000000000000000000000000000000000000000\nfiles 1\nbytes 3\n";
#define SHA "1111111111111111111111111111111111111111111111111111111111111111"

/* Asserts the text is refused, with "name:line:" and want in the message. */
static void
refused(const char *text, size_t len, unsigned line, const char *want)
{
	struct manifest *m = (struct manifest *)0x1;
	char err[512] = "", where[64];
	int r = manifest_parse("t.manifest", text, len, &m, err, sizeof(err));

	if (r != -EBADMSG)
		fail_msg("accepted (%d): %.200s", r, text);
	assert_ptr_equal(m, (struct manifest *)0x1);
	snprintf(where, sizeof(where), "t.manifest:%u: ", line);
	if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, want))
		fail_msg("got '%s', want '%s%s'", err, where, want);
}

static void
refused_entry(const char *entry, const char *want)
{
	char text[1024];

	snprintf(text, sizeof(text), "%sentries 1\n%s\nend\n", good_head, entry);
	refused(text, strlen(text), 10, want);
}

static void
test_corrupt(void **state)
{
	char text[1024];
	(void)state;

	refused("", 0, 1, "ends before");
	refused("hello\n", 6, 1, "expected 2 fields");
	refused("savekeeper-manifest 2\n", 22, 1, "unsupported manifest version");
	refused("savekeeper-manifest 1\nid a/b\n", 29, 2, "bad id");
	snprintf(text, sizeof(text), "%sentries 1\n", good_head);
	refused(text, strlen(text), 10, "ends after 0 entries");
	snprintf(text, sizeof(text), "%sentries 0\nend", good_head);
	refused(text, strlen(text), 10, "before 'end'");
	snprintf(text, sizeof(text), "%sentries 0\nend\nmore\n", good_head);
	refused(text, strlen(text), 11, "text after 'end'");
	snprintf(text, sizeof(text), "%sentries 99999999999\nend\n", good_head);
	refused(text, strlen(text), 9, "too many entries");
	snprintf(text, sizeof(text), "%sentries 18446744073709551616\nend\n", good_head);
	refused(text, strlen(text), 9, "bad entries");
	refused("savekeeper-manifest 1\0\n", 23, 0, "not a text file");

	refused_entry("f 0644 1 3 " SHA " 1 2 3 a", "expected 10 fields");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 a -  ", "expected 10 fields");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 ../up -", "unsafe path");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 /abs -", "unsafe path");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 a//b -", "unsafe path");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 a/./b -", "unsafe path");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 a/ -", "unsafe path");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 a%zz -", "bad escape");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 a%00b -", "bad escape");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 a%4 -", "bad escape");
	refused_entry("f 0644 1 3 123 1 2 3 a -", "bad SHA-256");
	refused_entry("f 0644 1 3 " SHA " 1 2 3 a b", "unexpected link target");
	refused_entry("x 0644 1 3 " SHA " 1 2 3 a -", "unknown entry type");
	refused_entry("f 99 1 3 " SHA " 1 2 3 a -", "bad mode");
	refused_entry("f 17777 1 3 " SHA " 1 2 3 a -", "bad mode");
	refused_entry("f 0644 1 -3 " SHA " 1 2 3 a -", "bad size");
	refused_entry("f 0644 1x 3 " SHA " 1 2 3 a -", "bad mtime");
	refused_entry("d 0755 1 3 - 1 2 3 a -", "has no content");
	refused_entry("l 0777 1 0 - 1 2 3 a -", "empty link target");
	refused_entry("h 0644 1 3 " SHA " 1 2 3 a ../x", "hard link target outside the tree");
}

/* Member groups: written, read back, optional (older manifests have none), and bounded. */
static void
test_members(void **state)
{
	struct manifest *m = sample(), *back = NULL;
	struct mf_member mb = {.offset = 4096, .length = 8192, .first = 1, .count = 2};
	char *path, err[512] = "", text[2048];
	(void)state;

	memset(mb.sha256, 0xab, sizeof(mb.sha256));
	assert_int_equal(manifest_add_member(m, &mb), 0);
	mb.offset = 0;
	mb.length = 4096;
	mb.first = 0;
	mb.count = 1;
	assert_int_equal(manifest_add_member(m, &mb), 0);
	path = write_tmp(m);
	assert_int_equal(manifest_read(path, &back, err, sizeof(err)), 0);
	assert_int_equal(back->n_members, 2);
	assert_int_equal(back->members[0].offset, 4096);
	assert_int_equal(back->members[0].length, 8192);
	assert_int_equal(back->members[0].first, 1);
	assert_int_equal(back->members[0].count, 2);
	assert_memory_equal(back->members[0].sha256, m->members[0].sha256, 32);
	assert_int_equal(back->members[1].count, 1);
	manifest_sort(back);
	assert_int_equal(back->n_members, 0); /* indices no longer apply */
	manifest_free(back);
	manifest_free(m);
	unlink(path);
	free(path);

	/* archive-size 2, one entry: a member past the end or holding missing entries is refused. */
#define ONE_ENTRY "entries 1\nf 0644 1 3 " SHA " 1 2 3 a -\n"
	snprintf(text, sizeof(text), "%s" ONE_ENTRY "members 1\nm 0 2 0 1 " SHA "\nend\n", good_head);
	assert_int_equal(manifest_parse("t.manifest", text, strlen(text), &back, err, sizeof(err)), 0);
	assert_int_equal(back->n_members, 1);
	manifest_free(back);
	snprintf(text, sizeof(text), "%s" ONE_ENTRY "members 1\nm 1 2 0 1 " SHA "\nend\n", good_head);
	refused(text, strlen(text), 12, "member outside the archive");
	snprintf(text, sizeof(text), "%s" ONE_ENTRY "members 1\nm 0 2 1 1 " SHA "\nend\n", good_head);
	refused(text, strlen(text), 12, "entries that do not exist");
	snprintf(text, sizeof(text), "%s" ONE_ENTRY "members 2\nm 0 2 0 1 " SHA "\nend\n", good_head);
	refused(text, strlen(text), 11, "more members than entries");
	snprintf(text, sizeof(text), "%s" ONE_ENTRY "members 1\nend\n", good_head);
	refused(text, strlen(text), 12, "expected 6 fields");
	snprintf(text, sizeof(text), "%s" ONE_ENTRY "members 1\n", good_head);
	refused(text, strlen(text), 12, "file ends after 0 members");
}

/* Group CRC-32s: one header line before the entries, for the leading groups that have one;
 * absent from older manifests (their groups have none), refused when malformed or more than
 * the groups, and bounded so the header still fits what manifest_read_header reads. */
static void
test_group_crcs(void **state)
{
	struct manifest *m = sample(), *back = NULL;
	struct mf_member mb = {
	    .offset = 0, .length = 1, .first = 0, .count = 1, .crc32 = 0x0a0b0c0d, .has_crc32 = true};
	char *path, text[2048];
	ssize_t n;
	int fd;
	(void)state;

	assert_int_equal(manifest_add_member(m, &mb), 0);
	mb.crc32 = 0xfedcba98;
	assert_int_equal(manifest_add_member(m, &mb), 0);
	mb.has_crc32 = false;
	assert_int_equal(manifest_add_member(m, &mb), 0);
	path = write_tmp(m);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(n > 0);
	text[n] = '\0';
	/* Between the header lines an older reader knows, which passes over it. */
	assert_non_null(strstr(text, "\nbytes 300\ngroup-crc32 0a0b0c0dfedcba98\nentries "));
	assert_int_equal(manifest_read(path, &back, NULL, 0), 0);
	assert_int_equal(back->n_members, 3);
	assert_true(back->members[0].has_crc32 && back->members[1].has_crc32);
	assert_int_equal(back->members[0].crc32, 0x0a0b0c0d);
	assert_int_equal(back->members[1].crc32, 0xfedcba98);
	assert_false(back->members[2].has_crc32);
	manifest_free(back);
	unlink(path);
	free(path);
	manifest_free(m);

	snprintf(text, sizeof(text), "%s" ONE_ENTRY "members 1\nm 0 2 0 1 " SHA "\nend\n", good_head);
	assert_int_equal(manifest_parse("t.manifest", text, strlen(text), &back, NULL, 0), 0);
	assert_false(back->members[0].has_crc32);
	manifest_free(back);
	snprintf(text, sizeof(text), "%sgroup-crc32 0123abc\n" ONE_ENTRY "end\n", good_head);
	refused(text, strlen(text), 9, "bad group-crc32");
	snprintf(text, sizeof(text), "%sgroup-crc32 0123ABCD\n" ONE_ENTRY "end\n", good_head);
	refused(text, strlen(text), 9, "bad group-crc32");
	snprintf(text, sizeof(text),
		 "%sgroup-crc32 0123abcd0123abcd\n" ONE_ENTRY "members 1\nm 0 2 0 1 " SHA "\nend\n",
		 good_head);
	refused(text, strlen(text), 14, "more group CRC-32s than members");
}

/* A manifest of many groups: CRC-32s for the first MF_MAX_GROUP_CRCS (6144) of them, and the
 * header, line included, still read by manifest_read_header. */
static void
test_group_crcs_bounded(void **state)
{
	struct manifest *m = manifest_new("X", NULL), *back = NULL;
	char *path;
	(void)state;

	for (uint64_t i = 0; i < 7000; i++) {
		char name[32];
		struct mf_entry e = {.type = MF_DIR, .path = name, .mode = 0755};
		struct mf_member mb = {.offset = 0,
				       .length = 1,
				       .first = i,
				       .count = 1,
				       .crc32 = (uint32_t)i,
				       .has_crc32 = true};
		snprintf(name, sizeof(name), "d%05" PRIu64, i);
		assert_int_equal(manifest_add(m, &e), 0);
		assert_int_equal(manifest_add_member(m, &mb), 0);
	}
	m->archive_size = 1;
	path = write_tmp(m);
	assert_int_equal(manifest_read_header(path, &back, NULL, 0), 0);
	assert_string_equal(back->id, "X");
	manifest_free(back);
	assert_int_equal(manifest_read(path, &back, NULL, 0), 0);
	assert_int_equal(back->n_members, 7000);
	assert_true(back->members[6143].has_crc32);
	assert_int_equal(back->members[6143].crc32, 6143);
	assert_false(back->members[6144].has_crc32);
	manifest_free(back);
	manifest_free(m);
	unlink(path);
	free(path);
}

static void
test_long_line(void **state)
{
	size_t len = strlen(good_head) + MF_MAX_LINE + 256, head;
	char *text = malloc(len);
	(void)state;

	snprintf(text, len, "%sentries 1\nf 0644 1 3 " SHA " 1 2 3 ", good_head);
	head = strlen(text);
	memset(text + head, 'a', MF_MAX_LINE);
	text[head + MF_MAX_LINE] = '\0';
	refused(text, strlen(text), 10, "line longer than");
	free(text);
}

static void
test_read_errors(void **state)
{
	struct manifest *m = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(manifest_read("/nonexistent/x.manifest", &m, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot read '/nonexistent/x.manifest': No such file or directory");
	assert_int_equal(manifest_read("/tmp", &m, err, sizeof(err)), -EBADMSG);
	assert_null(m);
}

/* Random damage to a valid manifest: refused or accepted, never a crash or a leak. */
/* The device that made an archive and the archive before it come back as written; a manifest
 * from before they existed reads with both unknown. */
static void
test_origin(void **state)
{
	struct manifest *m = manifest_new("20261201T050000.000Z", NULL), *back = NULL;
	char text[512], *path;
	(void)state;

	assert_non_null(m);
	free(m->device);
	m->device = strdup("steam deck");
	snprintf(m->based_on, sizeof(m->based_on), "20261130T230000.000Z");
	path = write_tmp(m);
	assert_int_equal(manifest_read(path, &back, NULL, 0), 0);
	assert_string_equal(back->device, "steam deck");
	assert_string_equal(back->based_on, "20261130T230000.000Z");
	unlink(path);
	free(path);
	manifest_free(back);
	manifest_free(m);

	snprintf(text, sizeof(text), "%sentries 0\nend\n", good_head);
	assert_int_equal(manifest_parse("old", text, strlen(text), &back, NULL, 0), 0);
	assert_string_equal(back->device, "");
	assert_string_equal(back->based_on, "");
	manifest_free(back);
}

/* Header lines of a later version are passed over, before or between the known ones; a line
 * that does not have a header's form, or a later version number, is still refused. */
static void
test_future_headers(void **state)
{
	static const char head[] =
	    "savekeeper-manifest 1\nid X\nsync-state 7 of 9\ntag -\ndevice deck\ncipher-hint none\n"
	    "created 1\narchive-size 2\narchive-sha256 "
	    "0000000000000000000000000000000000000000000000000000000000000000\nfiles 1\nbytes 3\n"
	    "x-later 1\n";
	struct manifest *m = NULL;
	char text[1024];
	(void)state;

	snprintf(text, sizeof(text), "%sentries 0\nend\n", head);
	assert_int_equal(manifest_parse("later", text, strlen(text), &m, NULL, 0), 0);
	assert_string_equal(m->id, "X");
	assert_string_equal(m->device, "deck");
	assert_int_equal(m->bytes, 3);
	manifest_free(m);
	snprintf(text, sizeof(text), "%sX-Later 1\nentries 0\nend\n", good_head);
	refused(text, strlen(text), 9, "expected 'entries'");
	refused("savekeeper-manifest 2\nlater 1\n", 30, 1, "unsupported manifest version");
}

static void
test_mutations(void **state)
{
	char buf[4096];
	size_t n = sample_text(buf, sizeof(buf));
	unsigned seed = 1, accepted = 0;
	(void)state;

	for (int i = 0; i < 5000; i++) {
		char copy[4096];
		size_t len = n;
		struct manifest *back = NULL;
		memcpy(copy, buf, len);
		for (int k = 0; k < 1 + i % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			copy[(seed >> 8) % len] = (char)(seed >> 20);
		}
		if (i % 7 == 0)
			len = (seed >> 4) % len;
		if (manifest_parse("m", copy, len, &back, NULL, 0) == 0) {
			accepted++;
			manifest_free(back);
		}
	}
	assert_true(accepted < 5000);
}

static void
test_sha256_hex(void **state)
{
	unsigned char sum[32];
	char hex[65];
	(void)state;

	for (int i = 0; i < 32; i++)
		sum[i] = (unsigned char)(i * 8);
	sha256_hex(sum, hex);
	assert_string_equal(hex, "0008101820283038404850586068707880889098a0a8b0b8c0c8d0d8e0e8f0f8");
}

/* The one definition of a valid entry: a symlink's target is data wherever it points, a path
 * must be safe, a hard link must stay inside, and a line must fit MF_MAX_LINE. */
static void
test_entry_check(void **state)
{
	static const char *targets[] = {"/", "../shared.cfg", "/home/u/.steam/x", "a/../../b",
					" odd\ttarget"};
	char *long_path = malloc(MF_MAX_LINE);
	struct mf_entry e = {.type = MF_SYMLINK, .path = (char *)"dosdevices/z:"};
	(void)state;

	for (size_t i = 0; i < sizeof(targets) / sizeof(*targets); i++) {
		e.target = (char *)(uintptr_t)targets[i];
		assert_null(manifest_entry_check(&e));
	}
	e.target = (char *)"";
	assert_string_equal(manifest_entry_check(&e), "empty link target");
	e = (struct mf_entry){.type = MF_HARDLINK, .path = (char *)"b", .target = (char *)"../a"};
	assert_string_equal(manifest_entry_check(&e), "hard link target outside the tree");
	e = (struct mf_entry){.type = MF_FILE, .path = (char *)"a/../b"};
	assert_string_equal(manifest_entry_check(&e), "unsafe path");
	memset(long_path, 'a', MF_MAX_LINE - 1);
	long_path[MF_MAX_LINE - 1] = '\0';
	for (size_t i = 100; i < MF_MAX_LINE - 1; i += 100)
		long_path[i] = '/';
	e.path = long_path;
	assert_non_null(strstr(manifest_entry_check(&e), "65536 bytes"));
	long_path[MF_MAX_LINE / 2] = '\0';
	assert_null(manifest_entry_check(&e));
	free(long_path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	   cmocka_unit_test(test_read_header),
	    cmocka_unit_test(test_written_form),   cmocka_unit_test(test_corrupt),
	    cmocka_unit_test(test_long_line),	   cmocka_unit_test(test_members),
	    cmocka_unit_test(test_read_errors),	   cmocka_unit_test(test_origin),
	    cmocka_unit_test(test_future_headers), cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_group_crcs),	   cmocka_unit_test(test_group_crcs_bounded),
	    cmocka_unit_test(test_sha256_hex),	   cmocka_unit_test(test_entry_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

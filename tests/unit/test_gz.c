/* The gzip writer: random streams come back byte for byte through a gzip reader, the output
 * is the same for every thread count, incompressible data is stored, write errors and
 * cancellation reach the caller, and gzip(1) reads the multi-member result. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gz.h"
#include "harness.h"
#include "job.h"
#include "util.h"

struct blob {
	unsigned char *p;
	size_t len;
};

static unsigned
rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/* A stream of runs: random bytes, text, zeros, a repeated short pattern. */
static struct blob
make_stream(unsigned seed, size_t len)
{
	static const char *words[] = {"save ", "slot ", "player=", "hp 100 ", "quest\n", "x=12.5 "};
	struct blob b = {malloc(len ? len : 1), len};
	size_t i = 0;

	assert_non_null(b.p);
	while (i < len) {
		size_t run = 1 + rnd(&seed) % (300u << 10), kind = rnd(&seed) % 4;
		for (size_t j = 0; j < run && i < len; j++, i++) {
			if (kind == 0)
				b.p[i] = (unsigned char)rnd(&seed);
			else if (kind == 1)
				b.p[i] = (unsigned char)words[(i / 7) % 6][i % 5];
			else if (kind == 2)
				b.p[i] = 0;
			else
				b.p[i] = (unsigned char)("abcabd"[i % 6]);
		}
	}
	return b;
}

static struct blob
read_fd_all(int fd)
{
	struct stat st;
	struct blob b;

	assert_int_equal(fstat(fd, &st), 0);
	b.len = (size_t)st.st_size;
	b.p = malloc(b.len + 1);
	assert_non_null(b.p);
	assert_int_equal(pread(fd, b.p, b.len, 0), (ssize_t)b.len);
	return b;
}

/* Compresses b in pieces of odd sizes, announced as size_hint bytes; returns the file's bytes. */
static struct blob
compress_hinted(const struct blob *in, int level, unsigned threads, uint64_t size_hint,
		const struct job_hooks *hooks)
{
	char path[64];
	int fd = mkostemp(scratch_template(path, sizeof(path), "sk-gz"), O_CLOEXEC);
	struct gz_writer *w;
	unsigned char sum[32], want[32];
	unsigned seed = 7;
	struct blob out;

	assert_true(fd >= 0);
	unlink(path);
	w = gz_writer_new(fd, level, threads, size_hint, hooks);
	assert_non_null(w);
	for (size_t i = 0; i < in->len;) {
		size_t n = 1 + rnd(&seed) % 200000;
		if (n > in->len - i)
			n = in->len - i;
		assert_int_equal(gz_write(w, in->p + i, n), 0);
		i += n;
	}
	assert_int_equal(gz_finish(w), 0);
	out = read_fd_all(fd);
	assert_int_equal(gz_bytes_out(w), out.len);
	assert_int_equal(gz_bytes_in(w), in->len);
	gz_sha256(w, sum);
	EVP_Digest(out.p, out.len, want, NULL, EVP_sha256(), NULL);
	assert_memory_equal(sum, want, 32);
	gz_writer_free(w);
	close(fd);
	return out;
}

static struct blob
compress(const struct blob *in, int level, unsigned threads, const struct job_hooks *hooks)
{
	return compress_hinted(in, level, threads, 0, hooks);
}

/* Decompresses every member in turn, as gzip does. */
static struct blob
gunzip(const struct blob *gz, size_t expect)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	struct blob out = {malloc(expect + 1), 0};
	size_t pos = 0;

	while (pos < gz->len) {
		size_t used = 0, got = 0;
		enum libdeflate_result r = libdeflate_gzip_decompress_ex(
		    d, gz->p + pos, gz->len - pos, out.p + out.len, expect + 1 - out.len, &used, &got);
		assert_int_equal(r, LIBDEFLATE_SUCCESS);
		pos += used;
		out.len += got;
	}
	libdeflate_free_decompressor(d);
	return out;
}

/* Compresses in with 1 to 4 threads, announced as size_hint bytes: each output reads back as
 * in, and all are the same byte for byte. Returns the output. */
static struct blob
compress_any_threads(const struct blob *in, uint64_t size_hint)
{
	struct blob first = {0};

	for (unsigned t = 1; t <= 4; t++) {
		struct blob gz = compress_hinted(in, 6, t, size_hint, NULL), back = gunzip(&gz, in->len);
		assert_int_equal(back.len, in->len);
		if (in->len)
			assert_memory_equal(back.p, in->p, in->len);
		if (t == 1) {
			first = gz;
		} else {
			/* Byte for byte the same output whatever the thread count. */
			assert_int_equal(gz.len, first.len);
			assert_memory_equal(gz.p, first.p, gz.len);
			free(gz.p);
		}
		free(back.p);
	}
	return first;
}

static void
test_round_trip_any_threads(void **state)
{
	static const size_t sizes[] = {0, 1, 65535, GZ_CHUNK - 1, GZ_CHUNK, GZ_CHUNK + 1, 5u << 20};
	(void)state;

	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		struct blob in = make_stream((unsigned)k + 1, sizes[k]), gz = compress_any_threads(&in, 0);
		free(gz.p);
		free(in.p);
	}
}

/* The gzip members of a stream, counted as gzip reads them. */
static size_t
count_members(const struct blob *gz, size_t expect)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	unsigned char *out = malloc(expect + 1);
	size_t pos = 0, n = 0;

	assert_non_null(out);
	while (pos < gz->len) {
		size_t used = 0, got = 0;
		assert_int_equal(libdeflate_gzip_decompress_ex(d, gz->p + pos, gz->len - pos, out, expect + 1,
							       &used, &got),
				 LIBDEFLATE_SUCCESS);
		pos += used;
		n++;
	}
	free(out);
	libdeflate_free_decompressor(d);
	return n;
}

/* An input announced as a few MiB (a small save folder) is cut into 256 KiB chunks, so that
 * two compression threads share even a single large file: 5 MiB of text is 20 members where
 * 1 MiB chunks made 5. Counted, not timed. The output is still the same for any thread count
 * and reads back; an input announced as 32 MiB or more, or not at all, keeps 1 MiB chunks. */
static void
test_small_input_split(void **state)
{
	struct blob text = {malloc(5u << 20), 5u << 20}, gz;
	(void)state;

	assert_non_null(text.p);
	for (size_t i = 0; i < text.len; i++)
		text.p[i] = (unsigned char)"the quick brown fox jumps "[i % 26];
	gz = compress_any_threads(&text, text.len);
	assert_int_equal(count_members(&gz, text.len), (5u << 20) / (256u << 10));
	free(gz.p);
	for (uint64_t hint = 0; hint <= (64u << 20); hint += 32u << 20) {
		gz = compress_hinted(&text, 6, 2, hint, NULL);
		assert_int_equal(count_members(&gz, text.len), (5u << 20) / GZ_CHUNK);
		free(gz.p);
	}
	free(text.p);
}

static void
test_levels(void **state)
{
	struct blob in = make_stream(99, 3u << 20);
	(void)state;

	for (int level = 0; level <= 9; level += 3) {
		struct blob gz = compress(&in, level, 2, NULL), back = gunzip(&gz, in.len);
		assert_int_equal(back.len, in.len);
		assert_memory_equal(back.p, in.p, in.len);
		free(gz.p);
		free(back.p);
	}
	free(in.p);
}

static void
test_incompressible_is_stored(void **state)
{
	struct blob in = {malloc(4u << 20), 4u << 20}, text = make_stream(3, 4u << 20), gz;
	unsigned seed = 42;
	(void)state;

	for (size_t i = 0; i < in.len; i++)
		in.p[i] = (unsigned char)rnd(&seed);
	gz = compress(&in, 6, 1, NULL);
	/* Stored blocks cost 5 bytes per 64 KiB and a member 18 bytes: well under 0.1%. */
	assert_true(gz.len > in.len && gz.len < in.len + in.len / 1000);
	free(gz.p);
	for (size_t i = 0; i < text.len; i++)
		text.p[i] = (unsigned char)"the quick brown fox "[i % 20];
	gz = compress(&text, 6, 1, NULL);
	assert_true(gz.len < text.len / 50);
	free(gz.p);
	free(in.p);
	free(text.p);
}

static void
test_write_error_reaches_caller(void **state)
{
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	struct blob in = make_stream(5, 3u << 20);
	struct gz_writer *w;
	int r;
	(void)state;

	assert_true(fd >= 0);
	for (unsigned t = 1; t <= 3; t += 2) {
		w = gz_writer_new(fd, 6, t, 0, NULL);
		assert_non_null(w);
		r = gz_write(w, in.p, in.len);
		if (r == 0)
			r = gz_finish(w);
		assert_int_equal(r, -ENOSPC);
		/* Sticky: later calls report it too. */
		assert_int_equal(gz_write(w, "x", 1), -ENOSPC);
		gz_writer_free(w);
	}
	/* Even a stream shorter than one chunk meets it at gz_finish. */
	w = gz_writer_new(fd, 6, 1, 0, NULL);
	assert_int_equal(gz_write(w, "short", 5), 0);
	assert_int_equal(gz_finish(w), -ENOSPC);
	gz_writer_free(w);
	close(fd);
	free(in.p);
}

struct yield_count {
	unsigned calls, cancel_after;
	atomic_bool cancel;
};

static void
count_yield(void *ctx)
{
	struct yield_count *y = ctx;

	if (++y->calls >= y->cancel_after)
		atomic_store(&y->cancel, true);
}

static void
count_helper(void *ctx)
{
	atomic_uint *n = ctx;

	atomic_fetch_add(n, 1);
}

/* Each compression thread tells the context it started, on itself, so that a core whose work
 * shares the loop's thread can lower the helpers' priority below the loop's. */
static void
test_helper_threads_announced(void **state)
{
	atomic_uint started = 0;
	struct job_hooks hooks = {.helper_start = count_helper, .ctx = &started};
	struct blob in = make_stream(9, 2u << 20), gz;
	(void)state;

	gz = compress(&in, 6, 3, &hooks);
	assert_int_equal(atomic_load(&started), 3);
	free(gz.p);
	atomic_store(&started, 0);
	gz = compress(&in, 6, 1, &hooks); /* no helper: compressed on the caller's thread */
	assert_int_equal(atomic_load(&started), 0);
	free(gz.p);
	free(in.p);
}

static void
test_yield_and_cancel(void **state)
{
	struct yield_count y = {.cancel_after = 1000};
	struct job_hooks hooks = {.yield = count_yield, .ctx = &y, .cancel = &y.cancel, .short_slices = true};
	struct blob in = make_stream(8, 2u << 20), gz;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct gz_writer *w;
	(void)state;

	/* With short slices, chunks are GZ_CHUNK_YIELD bytes and the hook runs after each. */
	gz = compress(&in, 6, 1, &hooks);
	assert_int_equal(y.calls, (2u << 20) / GZ_CHUNK_YIELD);
	free(gz.p);

	y.calls = 0;
	y.cancel_after = 2;
	w = gz_writer_new(fd, 6, 2, 0, &hooks);
	assert_int_equal(gz_write(w, in.p, in.len), -ECANCELED);
	assert_int_equal(y.calls, 2);
	assert_int_equal(gz_finish(w), -ECANCELED);
	gz_writer_free(w);
	close(fd);
	free(in.p);
}

/* Short slices cut only the work done on the caller's thread: with helper threads the
 * stream is the one the other cores write, so its size does not depend on the core. */
static void
test_short_slices_only_inline(void **state)
{
	struct yield_count y = {.cancel_after = 1000};
	struct job_hooks plain = {0},
			 coro = {.yield = count_yield, .ctx = &y, .cancel = &y.cancel, .short_slices = true};
	struct blob in = make_stream(11, 3u << 20), a, b;
	(void)state;

	plain.cancel = &y.cancel;
	a = compress(&in, 6, 2, &plain);
	b = compress(&in, 6, 2, &coro);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	free(b.p);
	b = compress(&in, 6, 1, &coro);
	assert_int_not_equal(a.len, b.len); /* inline: 64 KiB members */
	free(a.p);
	free(b.p);
	free(in.p);
}

struct wait_count {
	unsigned waits;
};

static int
count_wait_fd(int fd, uint32_t events, void *ctx)
{
	struct wait_count *c = ctx;
	struct pollfd p = {.fd = fd, .events = (short)events};

	c->waits++;
	return poll(&p, 1, -1) < 0 ? -errno : 0;
}

/* With compression threads the writer waits for them through the job's context (a coroutine
 * parks on the loop there), never on a condition variable, and the output does not change. */
static void
test_waits_through_context(void **state)
{
	struct wait_count c = {0};
	struct job_hooks hooks = {.wait_fd = count_wait_fd, .ctx = &c};
	struct blob in = make_stream(9, 8u << 20), one, four;
	(void)state;

	one = compress(&in, 6, 1, NULL);
	four = compress(&in, 6, 4, &hooks);
	assert_true(c.waits > 0);
	assert_int_equal(one.len, four.len);
	assert_memory_equal(one.p, four.p, one.len);
	free(one.p);
	free(four.p);
	free(in.p);
}

static void
test_gzip_reads_members(void **state)
{
	char path[64], raw[80], cmd[256];
	struct blob in = make_stream(11, 3u << 20), gz;
	int fd;
	(void)state;

	gz = compress(&in, 6, 3, NULL);
	fd = mkostemp(scratch_template(path, sizeof(path), "sk-gz"), O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, gz.p, gz.len), 0);
	close(fd);
	snprintf(raw, sizeof(raw), "%s.raw", path);
	fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_equal(write_all(fd, in.p, in.len), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "gzip -t %s && gzip -dc <%s | cmp -s - %s", path, path, raw);
	assert_int_equal(system(cmd), 0);
	unlink(path);
	unlink(raw);
	free(gz.p);
	free(in.p);
}

static int
tmp_fd(void)
{
	char path[] = "/tmp/sk-gz-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

/* Finishes v and reads back what it wrote to fd: every byte counted, and the writer's SHA-256
 * that of the file. */
static struct blob
finish_checked(struct gz_writer *v, int fd)
{
	unsigned char sum[32], want[32];
	struct blob b;

	assert_int_equal(gz_finish(v), 0);
	b = read_fd_all(fd);
	assert_int_equal(b.len, gz_bytes_out(v));
	gz_sha256(v, sum);
	EVP_Digest(b.p, b.len, want, NULL, EVP_sha256(), NULL);
	assert_memory_equal(sum, want, 32);
	return b;
}

/* Groups: aligned to blocks by padding members that every reader skips, each with the hash
 * of its bytes; a group copied into another archive is checked, and a damaged one is refused
 * leaving the archive as it was. */
static void
test_groups_align_and_copy(void **state)
{
	struct blob in = make_stream(5, 3u << 20), a, b, plain;
	size_t cut[4] = {0, 100000, 1700000, 3u << 20}, n;
	const struct gz_group *g;
	unsigned char want[32];
	int fa = tmp_fd(), fb = tmp_fd();
	struct gz_writer *w = gz_writer_new(fa, 6, 2, 0, NULL);
	(void)state;

	assert_int_equal(gz_set_align(w, 4096), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(gz_write(w, in.p + cut[i], cut[i + 1] - cut[i]), 0);
		assert_int_equal(gz_group_end(w), 0);
		assert_int_equal(gz_group_end(w), 0); /* nothing new: no group */
	}
	assert_int_equal(gz_finish(w), 0);
	a = read_fd_all(fa);
	g = gz_groups(w, &n);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(g[i].offset % 4096, 0);
		assert_int_equal(g[i].length % 4096, 0);
		assert_int_equal(g[i].offset, i ? g[i - 1].offset + g[i - 1].length : 0);
		EVP_Digest(a.p + g[i].offset, g[i].length, want, NULL, EVP_sha256(), NULL);
		assert_memory_equal(g[i].sha256, want, 32);
		assert_true(g[i].has_crc32);
		assert_int_equal(g[i].crc32, libdeflate_crc32(0, a.p + g[i].offset, g[i].length));
	}
	plain = gunzip(&a, in.len);
	assert_int_equal(plain.len, in.len);
	assert_memory_equal(plain.p, in.p, in.len);
	free(plain.p);

	/* Into a second archive: text, group 1 taken, group 2 refused as damaged, text. */
	struct gz_writer *v = gz_writer_new(fb, 6, 1, 0, NULL);
	assert_int_equal(gz_write(v, in.p, 1000), 0);
	assert_int_equal(gz_copy(v, fa, &g[1], NULL), 0);
	uint64_t before = gz_bytes_out(v);
	struct gz_group damaged = g[2];
	damaged.crc32 ^= 1;
	assert_int_equal(gz_copy(v, fa, &damaged, NULL), -EBADMSG);
	assert_int_equal(gz_bytes_out(v), before);
	assert_int_equal(gz_write(v, in.p, 1000), 0);
	b = finish_checked(v, fb);
	plain = gunzip(&b, in.len);
	assert_int_equal(plain.len, 2000 + cut[2] - cut[1]);
	assert_memory_equal(plain.p, in.p, 1000);
	assert_memory_equal(plain.p + 1000, in.p + cut[1], cut[2] - cut[1]);
	assert_memory_equal(plain.p + 1000 + cut[2] - cut[1], in.p, 1000);
	/* The text before the copy became a group of its own; the text after it is in none. */
	memcpy(want, g[1].sha256, 32);
	g = gz_groups(v, &n);
	assert_int_equal(n, 2);
	assert_int_equal(g[1].offset, g[0].length);
	assert_int_equal(g[1].length, before - g[1].offset);
	assert_memory_equal(g[1].sha256, want, 32);
	gz_writer_free(w);
	gz_writer_free(v);
	close(fa);
	close(fb);
	free(plain.p);
	free(a.p);
	free(b.p);
	free(in.p);
}

/* Takes group g of fa into a new archive, after and before some text; returns the archive's
 * bytes in *ret (when the take succeeded) and what gz_copy returned. */
static int
take_into(int fa, const struct gz_group *g, unsigned threads, size_t align, const struct blob *text,
	  struct blob *ret)
{
	int fb = tmp_fd(), r;
	struct gz_writer *v = gz_writer_new(fb, 6, threads, 0, NULL);
	unsigned char want[32];
	size_t n;

	assert_non_null(v);
	assert_int_equal(gz_set_align(v, align), 0);
	assert_int_equal(gz_write(v, text->p, text->len), 0);
	r = gz_copy(v, fa, g, NULL);
	*ret = finish_checked(v, fb);
	if (r == 0) {
		/* The taken group's record holds the hashes of its bytes: without alignment, the old
		 * SHA-256 carried; with it, a padding member after the old group's bytes. */
		const struct gz_group *gg = gz_groups(v, &n);
		assert_int_equal(n, 2);
		EVP_Digest(ret->p + gg[1].offset, gg[1].length, want, NULL, EVP_sha256(), NULL);
		assert_memory_equal(gg[1].sha256, want, 32);
		assert_int_equal(gg[1].crc32, libdeflate_crc32(0, ret->p + gg[1].offset, gg[1].length));
		assert_int_equal(gg[1].length, align ? (g->length + align - 1) / align * align : g->length);
		if (!align)
			assert_memory_equal(gg[1].sha256, g->sha256, 32);
	}
	gz_writer_free(v);
	close(fb);
	return r;
}

/* A taken group is checked by the CRC-32 of its bytes, with one thread or with the hasher
 * thread taking the archive's SHA-256 beside the copy: a flipped byte in the old archive is
 * caught by it (even when the SHA-256 given matches the damage), and by the SHA-256 for a
 * group without a CRC-32 (a manifest from before them); the archive is then as before the
 * copy. */
static void
test_taken_group_checked(void **state)
{
	struct blob in = make_stream(7, 3u << 20), text = {in.p, 5000}, out;
	int fa = tmp_fd();
	struct gz_writer *w = gz_writer_new(fa, 6, 2, 0, NULL);
	struct gz_group g, old, resummed;
	struct blob a;
	unsigned char c;
	(void)state;

	assert_int_equal(gz_write(w, in.p, 3000), 0);
	assert_int_equal(gz_group_end(w), 0);
	assert_int_equal(gz_write(w, in.p + 3000, in.len - 3000), 0);
	assert_int_equal(gz_group_end(w), 0);
	assert_int_equal(gz_finish(w), 0);
	g = gz_groups(w, &(size_t){0})[1];
	old = g;
	old.has_crc32 = false;
	for (unsigned threads = 1; threads <= 2; threads++) {
		struct blob plain;
		assert_int_equal(take_into(fa, &g, threads, 0, &text, &out), 0);
		plain = gunzip(&out, in.len + text.len);
		assert_int_equal(plain.len, in.len - 3000 + text.len);
		assert_memory_equal(plain.p + text.len, in.p + 3000, in.len - 3000);
		free(plain.p);
		free(out.p);
		assert_int_equal(take_into(fa, &old, threads, 0, &text, &out), 0);
		free(out.p);
		/* Into an archive aligned to blocks, which the group is not. */
		assert_int_equal(take_into(fa, &g, threads, 4096, &text, &out), 0);
		free(out.p);
	}
	/* One byte of the old archive flipped, far into the group: past the first pieces. */
	assert_int_equal(pread(fa, &c, 1, (off_t)(g.offset + g.length - 100)), 1);
	c ^= 0x08;
	assert_int_equal(pwrite(fa, &c, 1, (off_t)(g.offset + g.length - 100)), 1);
	/* A SHA-256 that matches the damage: only the CRC-32 can tell. */
	a = read_fd_all(fa);
	resummed = g;
	EVP_Digest(a.p + g.offset, g.length, resummed.sha256, NULL, EVP_sha256(), NULL);
	free(a.p);
	for (unsigned threads = 1; threads <= 2; threads++) {
		assert_int_equal(take_into(fa, &resummed, threads, 0, &text, &out), -EBADMSG);
		free(out.p);
		assert_int_equal(take_into(fa, &g, threads, 0, &text, &out), -EBADMSG);
		assert_true(out.len < 5000);
		free(out.p);
		assert_int_equal(take_into(fa, &old, threads, 0, &text, &out), -EBADMSG);
		assert_true(out.len < 5000);
		free(out.p);
		assert_int_equal(take_into(fa, &g, threads, 4096, &text, &out), -EBADMSG);
		free(out.p);
	}
	gz_writer_free(w);
	close(fa);
	free(in.p);
}

/* Small groups taken one after another, between fresh ones, one of them damaged: taken
 * groups are gathered into pieces that the hasher thread hashes while the next are read, so
 * the damaged one must be refused before anything counts it. It leaves no byte behind, every
 * group recorded holds the CRC-32 of its bytes, and the archive's SHA-256 is its file's. */
static void
test_small_groups_taken_in_a_row(void **state)
{
	enum { N = 40, DAMAGED = 25 };
	struct blob in = make_stream(11, 64u << 10), fresh = {in.p, 700};
	struct gz_group groups[N];
	int fa = tmp_fd();
	struct gz_writer *w = gz_writer_new(fa, 6, 2, 0, NULL);
	size_t n;
	unsigned char c;
	(void)state;

	for (size_t i = 0; i < N; i++) {
		assert_int_equal(gz_write(w, in.p + i * 1000, 1000 + i * 37), 0);
		assert_int_equal(gz_group_end(w), 0);
	}
	assert_int_equal(gz_finish(w), 0);
	memcpy(groups, gz_groups(w, &n), sizeof(groups));
	assert_int_equal(n, N);
	gz_writer_free(w);
	assert_int_equal(pread(fa, &c, 1, (off_t)(groups[DAMAGED].offset + 20)), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fa, &c, 1, (off_t)(groups[DAMAGED].offset + 20)), 1);

	for (unsigned threads = 1; threads <= 2; threads++) {
		int fb = tmp_fd();
		struct gz_writer *v = gz_writer_new(fb, 6, threads, 0, NULL);
		const struct gz_group *got;
		struct blob out;

		for (size_t i = 0; i < N; i++) {
			uint64_t before;
			if (i % 10 == 7) {
				assert_int_equal(gz_write(v, fresh.p, fresh.len), 0);
				assert_int_equal(gz_group_end(v), 0);
			}
			before = gz_bytes_out(v);
			assert_int_equal(gz_copy(v, fa, &groups[i], NULL), i == DAMAGED ? -EBADMSG : 0);
			if (i == DAMAGED)
				assert_int_equal(gz_bytes_out(v), before);
		}
		out = finish_checked(v, fb);
		got = gz_groups(v, &n);
		assert_int_equal(n, N - 1 + N / 10);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(got[i].crc32,
					 libdeflate_crc32(0, out.p + got[i].offset, got[i].length));
		free(out.p);
		gz_writer_free(v);
		close(fb);
	}
	close(fa);
	free(in.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_any_threads),
	    cmocka_unit_test(test_small_input_split),
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_incompressible_is_stored),
	    cmocka_unit_test(test_write_error_reaches_caller),
	    cmocka_unit_test(test_yield_and_cancel),
	    cmocka_unit_test(test_short_slices_only_inline),
	    cmocka_unit_test(test_helper_threads_announced),
	    cmocka_unit_test(test_waits_through_context),
	    cmocka_unit_test(test_gzip_reads_members),
	    cmocka_unit_test(test_groups_align_and_copy),
	    cmocka_unit_test(test_taken_group_checked),
	    cmocka_unit_test(test_small_groups_taken_in_a_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

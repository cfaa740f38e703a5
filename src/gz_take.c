/* Groups taken from an earlier archive (gz_copy): cloned where the file system shares extents
 * (FICLONERANGE), else copied, and checked as they pass, by the CRC-32 or SHA-256 its manifest
 * recorded, before they count in the new archive; one that differs is undone (cut off again, or
 * never written) so that its entries are written afresh. The bytes reach the archive's SHA-256
 * once, on the hasher thread where there is one, while the next are read and written. */
#include "gz.h"

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "gz_int.h"
#include "jobctx.h"
#include "util.h"

/* A taken group passes in pieces of COPY_IO, about the work of one yield point on the caller's
 * thread, or of COPY_IO_HASHED when the hasher thread takes their SHA-256 and leaves the caller
 * only their copy and CRC-32: the two threads then hand pieces over a quarter as often, which
 * saved about 3% of the CPU of an incremental snapshot of the 500 MiB bench tree (medians of
 * alternating runs; no difference in wall time showed through the noise of a loaded machine). */
#define COPY_IO ((size_t)256 << 10)
#define COPY_IO_HASHED ((size_t)1 << 20)

/* The size of the pieces a group is taken in (see COPY_IO). */
static size_t
copy_piece(const struct gz_writer *w, bool by_crc)
{
	return w->hasher.started && by_crc ? COPY_IO_HASHED : COPY_IO;
}

/* The piece of copy_buf to fill next. They take turns, and hash_start leaves at most
 * COPY_PIECES - 1 in the hasher's queue, so the one given is never still in it. */
static unsigned char *
next_piece(struct gz_writer *w)
{
	unsigned char *buf = w->copy_buf + w->copy_next * copy_piece(w, true);

	w->copy_next = (w->copy_next + 1) % COPY_PIECES;
	return buf;
}

/* Adds taken bytes, a piece of copy_buf, to the archive's hash: on the hasher thread when
 * there is one, else here. */
static int
hash_archive(struct gz_writer *w, const unsigned char *buf, size_t len)
{
	if (!w->hasher.started)
		return EVP_DigestUpdate(w->sha, buf, len) == 1 ? 0 : -ENOMEM;
	gz_hash_start(w, w->sha, buf, len);
	return w->hasher.ok == 1 ? 0 : -ENOMEM;
}

/* Hands the taken bytes take_whole gathered to the archive's hash. */
int
gz_flush_taken(struct gz_writer *w)
{
	unsigned char *buf = w->gather;
	size_t len = w->taken_len;

	w->gather = NULL;
	w->taken_len = 0;
	return len ? hash_archive(w, buf, len) : 0;
}

/* Counts bytes taken from an earlier archive, a piece of copy_buf written already. A group
 * checked by its CRC-32 needs no SHA-256 of its own (the new record carries the old one), so
 * its bytes pass once through SHA-256, for the archive's hash, on the hasher thread while the
 * caller reads and writes the next pieces. One checked by its SHA-256 is counted as written
 * bytes are. */
static int
account_taken(struct gz_writer *w, const unsigned char *buf, size_t len, bool by_crc)
{
	int r;

	if (!by_crc)
		return gz_account(w, buf, len);
	w->group_crc = libdeflate_crc32(w->group_crc, buf, len);
	if ((r = hash_archive(w, buf, len)) < 0)
		return r;
	gz_advance(w, len);
	return 0;
}

/* Clones the range when both ends sit at block offsets and the file system shares extents,
 * then reads back what was cloned, so the checks cover the bytes really in the archive.
 * *cloned says whether it was done; returns 0 or -errno. */
static int
clone_range(struct gz_writer *w, int src_fd, const struct gz_group *g, bool by_crc, bool *cloned)
{
	struct file_clone_range fcr = {
	    .src_fd = src_fd,
	    .src_offset = g->offset,
	    .src_length = g->length,
	    .dest_offset = w->bytes_out,
	};
	uint64_t done = 0, start = w->bytes_out, len = g->length;
	size_t piece = copy_piece(w, by_crc);

	*cloned = false;
	if (w->align == 0 || g->offset % w->align || len % w->align || start % w->align ||
	    ioctl(w->fd, FICLONERANGE, &fcr) < 0)
		return 0;
	*cloned = true;
	while (done < len) {
		size_t want = len - done < piece ? (size_t)(len - done) : piece;
		unsigned char *buf = next_piece(w);
		ssize_t n;
		if (job_yield(w->hooks))
			return -ECANCELED;
		n = pread(w->fd, buf, want, (off_t)(start + done));
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		if (account_taken(w, buf, (size_t)n, by_crc) < 0)
			return -ENOMEM;
		done += (uint64_t)n;
	}
	return lseek(w->fd, (off_t)(start + len), SEEK_SET) < 0 ? -errno : 0;
}

/* Copies the group's bytes of src_fd to the end of the archive, counting them. A failed read
 * of the source is -EBADMSG (the source is damaged, not the output). */
static int
copy_range(struct gz_writer *w, int src_fd, const struct gz_group *g, bool by_crc)
{
	uint64_t done = 0;
	size_t piece = copy_piece(w, by_crc);

	while (done < g->length) {
		size_t want = g->length - done < piece ? (size_t)(g->length - done) : piece;
		unsigned char *buf = next_piece(w);
		ssize_t n;
		int r;
		/* A coroutine goes back to its loop between pieces of a big group. */
		if (job_yield(w->hooks))
			return -ECANCELED;
		n = pread(src_fd, buf, want, (off_t)(g->offset + done));
		if (n <= 0)
			return -EBADMSG;
		if ((r = write_all(w->fd, buf, (size_t)n)) < 0 ||
		    (r = account_taken(w, buf, (size_t)n, by_crc)) < 0)
			return r;
		done += (uint64_t)n;
	}
	return 0;
}

/* Forgets a copy that failed its check: the archive goes back to start bytes. */
static int
undo_copy(struct gz_writer *w, uint64_t start, EVP_MD_CTX *saved)
{
	if (ftruncate(w->fd, (off_t)start) < 0 || lseek(w->fd, (off_t)start, SEEK_SET) < 0)
		return -errno;
	w->bytes_out = start;
	w->group_crc = 0;
	if (EVP_MD_CTX_copy_ex(w->sha, saved) != 1 ||
	    EVP_DigestInit_ex(w->group_sha, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	return 0;
}

/* 1 when the group's bytes, just taken, are g's (by its CRC-32, or by its SHA-256), 0 when
 * they differ, or -ENOMEM. */
static int
taken_intact(struct gz_writer *w, const struct gz_group *g, bool by_crc)
{
	unsigned char got[32];
	EVP_MD_CTX *probe;
	bool same;

	if (by_crc)
		return w->group_crc == g->crc32;
	probe = EVP_MD_CTX_new();
	same = probe && EVP_MD_CTX_copy_ex(probe, w->group_sha) == 1 &&
	       EVP_DigestFinal_ex(probe, got, NULL) == 1;
	EVP_MD_CTX_free(probe);
	if (!same)
		return -ENOMEM;
	return memcmp(got, g->sha256, sizeof(got)) == 0;
}

/* Takes a group of one piece that its CRC-32 checks, and checks it before anything counts it:
 * a damaged one leaves nothing to undo, so neither the archive's SHA-256 need be saved nor
 * the hasher thread caught up between groups. Taken groups are gathered into a piece, and
 * the hasher hashes one piece while the next is gathered (a group is often a few dozen KiB:
 * a hand-over per group cost more than it saved). -EBADMSG when the bytes differ or cannot
 * be read. */
static int
take_whole(struct gz_writer *w, int src_fd, const struct gz_group *g, bool *cloned)
{
	size_t piece = copy_piece(w, true), len = (size_t)g->length;
	uint64_t start = w->bytes_out;
	struct file_clone_range fcr = {
	    .src_fd = src_fd, .src_offset = g->offset, .src_length = g->length, .dest_offset = start};
	unsigned char *buf;
	ssize_t n;
	int r;

	if (job_yield(w->hooks))
		return -ECANCELED;
	if (w->taken_len + len > piece && (r = gz_flush_taken(w)) < 0)
		return r;
	if (!w->gather)
		w->gather = next_piece(w);
	buf = w->gather + w->taken_len;
	*cloned = w->align && g->offset % w->align == 0 && len % w->align == 0 && start % w->align == 0 &&
		  ioctl(w->fd, FICLONERANGE, &fcr) == 0;
	/* What was cloned is read back, so the check covers the bytes really in the archive. */
	n = pread(*cloned ? w->fd : src_fd, buf, len, (off_t)(*cloned ? start : g->offset));
	if (n != (ssize_t)len || libdeflate_crc32(0, buf, len) != g->crc32) {
		if (*cloned && ftruncate(w->fd, (off_t)start) < 0)
			return -errno;
		return -EBADMSG;
	}
	if (*cloned)
		r = lseek(w->fd, (off_t)(start + len), SEEK_SET) < 0 ? -errno : 0;
	else
		r = write_all(w->fd, buf, len);
	if (r < 0)
		return r;
	w->group_crc = g->crc32;
	w->taken_len += len;
	gz_advance(w, len);
	return 0;
}

/* Copies (or clones) the group and checks it; -EBADMSG when it differs. */
static int
take_group(struct gz_writer *w, int src_fd, const struct gz_group *g, bool by_crc, bool *cloned)
{
	int r = clone_range(w, src_fd, g, by_crc, cloned), q;

	if (r >= 0 && !*cloned)
		r = copy_range(w, src_fd, g, by_crc);
	/* The archive's hash is whole, and the hasher idle, before anything else touches it. */
	if (w->hasher.started && (q = gz_hash_wait(w)) < 0 && r >= 0)
		r = q;
	if (r >= 0)
		r = taken_intact(w, g, by_crc);
	return r < 0 ? r : r ? 0 : -EBADMSG;
}

int
gz_copy(struct gz_writer *w, int src_fd, const struct gz_group *g, bool *ret_cloned)
{
	EVP_MD_CTX *saved;
	uint64_t start;
	bool cloned = false;
	/* A group that would need padding after it (taken from an archive written without this
	 * alignment) gets a SHA-256 over its padding too, so it is checked by its SHA-256. */
	bool by_crc = g->has_crc32 && (w->align == 0 || g->length % w->align == 0);
	int r;

	if ((r = gz_group_end(w)) < 0 || (r = gz_drain(w, 0)) < 0)
		return gz_fail(w, r);
	if (!w->copy_buf && !(w->copy_buf = malloc(COPY_PIECES * copy_piece(w, true))))
		return gz_fail(w, -ENOMEM);
	if (by_crc && g->length <= copy_piece(w, true)) {
		r = take_whole(w, src_fd, g, &cloned);
		if (r >= 0)
			r = gz_close_group(w, g->sha256);
		if (ret_cloned)
			*ret_cloned = cloned && r >= 0;
		return r == -EBADMSG ? r : r < 0 ? gz_fail(w, r) : 0;
	}
	/* A bigger group is checked as it passes and undone when it differs: the archive's hash
	 * as it stands before the group is saved, once the hasher thread is done with it. */
	if ((r = gz_hash_idle(w)) < 0)
		return gz_fail(w, r);
	if (!(saved = EVP_MD_CTX_new()) || EVP_MD_CTX_copy_ex(saved, w->sha) != 1) {
		EVP_MD_CTX_free(saved);
		return gz_fail(w, -ENOMEM);
	}
	start = w->bytes_out;
	r = take_group(w, src_fd, g, by_crc, &cloned);
	if (r == -EBADMSG || (r == -EIO && cloned)) {
		int u = undo_copy(w, start, saved);
		r = u < 0 ? u : -EBADMSG;
	} else if (r >= 0) {
		r = gz_close_group(w, by_crc ? g->sha256 : NULL);
	}
	EVP_MD_CTX_free(saved);
	if (ret_cloned)
		*ret_cloned = cloned && r >= 0;
	return r == -EBADMSG ? r : r < 0 ? gz_fail(w, r) : 0;
}

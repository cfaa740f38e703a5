/* The gzip stream of an archive: the tar stream is cut into fixed-size chunks (1 MiB; 256-512
 * KiB for an input of a few MiB, so that every thread gets some; or 64 KiB when the job's
 * context asks for short slices, so a coroutine gets back to its loop often), each
 * written as one or more complete gzip members (RFC 1952 allows concatenated members):
 * the runs of a chunk that a quick probe finds compressible are deflated with libdeflate at
 * the level, the others stored. Chunks may be compressed on several threads; the output is
 * the same byte for byte whatever the thread count. The caller may also end a chunk early to
 * close a group (gz_group_end): a run of whole members that a later archive can take whole, by
 * a checked copy or a reflink (gz_copy); see docs/design.md, "Incremental snapshots". */
#ifndef SK_GZ_H
#define SK_GZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct job_hooks;
struct gz_writer;

#define GZ_CHUNK ((size_t)1 << 20)
#define GZ_CHUNK_YIELD ((size_t)64 << 10)

/* Creates a writer that appends members to fd. level 0-12 (0 stores), threads >= 1 (0 counts
 * as 1); with threads > 1 one more thread takes the group's SHA-256 of big written pieces
 * beside the writer's archive SHA-256, and the archive's SHA-256 of taken groups beside the
 * copy. size_hint is about how many bytes will be written (0: unknown): an input under 32 MiB
 * is cut into chunks of down to 256 KiB, so that every thread gets several (the output depends
 * on the hint, not on the thread count). hooks may be NULL; with hooks, job_yield() runs
 * between chunks, and the writer waits for its threads with job_wait_fd(), so a coroutine never
 * blocks its loop. Worker threads inherit the caller's nice value and I/O priority. NULL with
 * errno set on failure. */
struct gz_writer *gz_writer_new(int fd, int level, unsigned threads, uint64_t size_hint,
				const struct job_hooks *hooks);
/* Buffers and compresses len bytes; returns 0 or -errno (e.g. -ENOSPC from write, -ECANCELED
 * when the job was cancelled). After an error every call returns that error. */
int gz_write(struct gz_writer *w, const void *buf, size_t len);
/* Writes what is buffered and waits for every member to reach fd; returns 0 or -errno. */
int gz_finish(struct gz_writer *w);
/* A group: a run of whole gzip members in the archive that the caller delimited, so that a
 * later archive can take it whole (see gz_copy). */
struct gz_group {
	uint64_t offset, length;  /* in the archive, padding member included */
	unsigned char sha256[32]; /* of those compressed bytes */
	uint32_t crc32;		  /* CRC-32 of the same bytes (gzip's, libdeflate_crc32) */
	bool has_crc32;		  /* false for a group recorded before CRC-32s were */
};

/* Makes every group start at a multiple of align bytes (a file system block, for reflinks),
 * by ending each group with an empty member whose FEXTRA field pads it. Call before the
 * first write; align at most 64 KiB. Returns 0 or -EINVAL. */
int gz_set_align(struct gz_writer *w, size_t align);
/* Ends the current group: what was given since the last group end becomes whole members, and
 * the group's record (gz_groups) is made once they are written. A no-op when nothing was
 * given. Returns 0 or -errno. */
int gz_group_end(struct gz_writer *w);
/* Appends g (g->length bytes at g->offset of src_fd, a group of an earlier archive) as one
 * group: cloned (FICLONERANGE) when alignment is on and the offsets allow, else copied; either
 * way the bytes pass through here (a clone is read back) into the archive's SHA-256 and are
 * checked against g's CRC-32 when it has one, else against its SHA-256. The new group's record
 * carries g's SHA-256 and the CRC-32 of the bytes taken. Sets *ret_cloned (may be NULL).
 * Returns 0; -EBADMSG when they differ or cannot be read, and then the archive is as before the
 * call (the caller writes the group afresh); or another -errno (-ECANCELED when the job was
 * cancelled: job_yield() runs between pieces of 256 KiB, or of 1 MiB when the hasher thread
 * hashes them), after which the writer is failed. The writer's fd must be open for reading
 * too. */
int gz_copy(struct gz_writer *w, int src_fd, const struct gz_group *g, bool *ret_cloned);
/* The groups written so far, in archive order. */
const struct gz_group *gz_groups(const struct gz_writer *w, size_t *ret_n);
/* Bytes given to gz_write so far. */
uint64_t gz_bytes_in(const struct gz_writer *w);
/* Bytes written to fd so far. */
uint64_t gz_bytes_out(const struct gz_writer *w);
/* SHA-256 of every byte written to fd; complete after gz_finish(). */
void gz_sha256(const struct gz_writer *w, unsigned char out[32]);
/* Frees the writer (stops and joins its threads). Accepts NULL. */
void gz_writer_free(struct gz_writer *w);

#endif

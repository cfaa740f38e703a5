/* The gzip stream of an archive: the tar stream is cut into fixed-size chunks (1 MiB, or
 * 64 KiB when the job's context asks for short slices, so a coroutine gets back to its loop
 * often), each
 * written as one or more complete gzip members (RFC 1952 allows concatenated members):
 * the runs of a chunk that a quick probe finds compressible are deflated with libdeflate at
 * the level, the others stored. Chunks may be compressed on several threads; the output is
 * the same byte for byte whatever the thread count. */
#ifndef SK_GZ_H
#define SK_GZ_H

#include <stddef.h>
#include <stdint.h>

struct job_hooks;
struct gz_writer;

#define GZ_CHUNK ((size_t)1 << 20)
#define GZ_CHUNK_YIELD ((size_t)64 << 10)

/* Creates a writer that appends members to fd. level 0-12 (0 stores), threads >= 1 (0 counts
 * as 1). hooks may be NULL; with hooks, job_yield() runs between chunks, and the writer waits
 * for its compression threads with job_wait_fd(), so a coroutine never blocks its loop. Worker
 * threads inherit the caller's nice value and I/O priority. NULL with errno set on failure. */
struct gz_writer *gz_writer_new(int fd, int level, unsigned threads, const struct job_hooks *hooks);
/* Buffers and compresses len bytes; returns 0 or -errno (e.g. -ENOSPC from write, -ECANCELED
 * when the job was cancelled). After an error every call returns that error. */
int gz_write(struct gz_writer *w, const void *buf, size_t len);
/* Writes what is buffered and waits for every member to reach fd; returns 0 or -errno. */
int gz_finish(struct gz_writer *w);
/* Bytes given to gz_write so far. */
uint64_t gz_bytes_in(const struct gz_writer *w);
/* Bytes written to fd so far. */
uint64_t gz_bytes_out(const struct gz_writer *w);
/* SHA-256 of every byte written to fd; complete after gz_finish(). */
void gz_sha256(const struct gz_writer *w, unsigned char out[32]);
/* Frees the writer (stops and joins its threads). Accepts NULL. */
void gz_writer_free(struct gz_writer *w);

#endif

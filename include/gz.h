/* The gzip stream of an archive: the tar stream is cut into fixed-size chunks, each written as
 * a complete gzip member (RFC 1952 allows concatenated members), compressed with libdeflate,
 * or stored when it does not shrink. Chunks may be compressed on several threads; the output
 * is the same whatever the thread count. */
#ifndef SK_GZ_H
#define SK_GZ_H

#include <stddef.h>
#include <stdint.h>

struct job_hooks;
struct gz_writer;

/* Creates a writer that appends members to fd. level 1-9, threads >= 1. NULL on ENOMEM. */
struct gz_writer *gz_writer_new(int fd, int level, unsigned threads, const struct job_hooks *hooks);
/* Buffers and compresses len bytes; returns 0 or -errno (e.g. -ENOSPC from write). */
int gz_write(struct gz_writer *w, const void *buf, size_t len);
/* Writes what is buffered and waits for every member to reach fd; returns 0 or -errno. */
int gz_finish(struct gz_writer *w);
/* Bytes written to fd so far. */
uint64_t gz_bytes_out(const struct gz_writer *w);
/* Frees the writer (joins its threads). Accepts NULL. */
void gz_writer_free(struct gz_writer *w);

#endif

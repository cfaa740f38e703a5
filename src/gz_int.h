/* Private to the gzip writer (gz.c: chunks compressed into members on the compression threads,
 * the hasher thread, groups written afresh; gz_take.c: groups taken from an earlier archive). */
#ifndef SK_GZ_INT_H
#define SK_GZ_INT_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gz.h"

struct job_hooks;

enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_DONE };

struct gz_slot {
	unsigned char *in, *out;
	size_t in_len, out_len;
	enum slot_state state;
	bool group_end; /* the last chunk of a group: its record is made when it is written */
};

/* What one thread needs to compress: libdeflate compressors are not shareable. */
struct gz_codec {
	struct libdeflate_compressor *probe, *main;
	unsigned char *scratch;
};

struct gz_worker {
	struct gz_writer *w;
	struct gz_codec codec;
	pthread_t thread;
	bool started;
};

/* Pieces waiting for the hasher thread, hashed in the order given; a taken group's pieces
 * keep it busy while the caller gathers the next (COPY_PIECES buffers: all but one may wait). */
#define HASH_QUEUE 4
#define COPY_PIECES HASH_QUEUE

/* Every byte written is hashed twice, into the archive's SHA-256 and its group's; with
 * compression threads, a thread of its own takes the group's hash of big pieces while the
 * writer takes the archive's, so the two passes over the same bytes run side by side. A group
 * taken from an earlier archive needs only the archive's hash: the hasher takes it for some
 * pieces while the writer reads, checks and writes the next. */
struct gz_hasher {
	pthread_t thread;
	bool started;
	struct {
		EVP_MD_CTX *ctx;
		const unsigned char *buf;
		size_t len;
	} queue[HASH_QUEUE];
	unsigned head, count; /* the piece being hashed or next, and how many wait or run */
	int ok;
	int done_fd;
};

struct gz_writer {
	int fd, level;
	size_t chunk;
	const struct job_hooks *hooks;
	EVP_MD_CTX *sha, *group_sha;
	uint32_t group_crc; /* CRC-32 of the group being written, beside its SHA-256 */
	unsigned char sum[32];
	uint64_t bytes_in, bytes_out;
	/* Groups: runs of whole members the caller delimits (gz_group_end, gz_copy). */
	size_t align;	      /* groups start at multiples of this; 0 = no padding */
	uint64_t group_start; /* offset of the group being written */
	bool group_open;      /* bytes were given since the last group end */
	struct gz_group *groups;
	size_t n_groups, cap_groups;
	unsigned char *copy_buf; /* COPY_PIECES pieces: some hashed while another is read */
	unsigned copy_next;	 /* the piece next_piece gives next */
	unsigned char *gather;	 /* the piece take_whole gathers into, or NULL */
	size_t taken_len;	 /* bytes take_whole gathered there, not yet hashed */
	int err;
	struct gz_slot *slots;
	unsigned char *slot_mem; /* every slot's buffers */
	unsigned n_slots;
	/* Chunk sequence numbers: seq_write <= seq_take <= seq_fill; slot = seq % n_slots. */
	uint64_t seq_fill, seq_take, seq_write;
	struct gz_codec codec; /* the caller's, when there are no workers */
	struct gz_worker *workers;
	unsigned n_workers;
	pthread_mutex_t lock;
	pthread_cond_t work;
	/* Workers count finished chunks here; the writer waits on it through its job's context,
	 * so a coroutine parks on the loop instead of blocking the loop's thread. */
	int done_fd;
	bool stop;
	struct gz_hasher hasher;
	pthread_cond_t hash_work;
};

/* gz.c */
/* Records a failure: later calls return it. Returns r. */
int gz_fail(struct gz_writer *w, int r);
/* Writes finished chunks in order until at most max_pending remain in flight; 0 or -errno. */
int gz_drain(struct gz_writer *w, uint64_t max_pending);
/* Queues buf for the hasher thread, to be added to ctx after the pieces before it; buf may not
 * be touched until gz_hash_wait() (or until COPY_PIECES - 1 pieces more were queued). */
void gz_hash_start(struct gz_writer *w, EVP_MD_CTX *ctx, const unsigned char *buf, size_t len);
/* Waits until the hasher thread is idle; 0, or -ENOMEM when an update failed. */
int gz_hash_wait(struct gz_writer *w);
/* The archive's hash is up to date and the hasher thread idle; 0 or -ENOMEM. */
int gz_hash_idle(struct gz_writer *w);
/* Moves the end of the archive on by len bytes that reached the file. */
void gz_advance(struct gz_writer *w, size_t len);
/* Counts bytes that reached the file into the archive's hash and the group's hash and CRC-32. */
int gz_account(struct gz_writer *w, const unsigned char *buf, size_t len);
/* Ends the group whose last bytes were just written: pads and records it, with the SHA-256
 * taken as they passed, or the one given (a taken group's). 0 or -errno. */
int gz_close_group(struct gz_writer *w, const unsigned char *taken_sha256);

/* gz_take.c */
/* Hands the taken bytes gathered so far to the archive's hash; 0 or -ENOMEM. */
int gz_flush_taken(struct gz_writer *w);

#endif

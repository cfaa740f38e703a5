/* The gzip writer: chunks of the tar stream become gzip members, deflated by libdeflate or
 * stored, in parallel when asked, always in order.
 *
 * Why members: a member is self-contained, so chunks compress independently (on any number of
 * threads) and the stream stays a standard .tar.gz that gzip, GNU tar, bsdtar and Python read.
 * Why a probe: save trees are often half incompressible (already compressed or encrypted
 * saves); deflating those costs most of tar -czf's time for nothing. Each 64 KiB segment of a
 * chunk is probed by deflating an 8 KiB sample at level 1; consecutive segments with the same
 * verdict form a run, and each run is one member, deflated at the level or stored. A run that
 * deflates to no less than its size is stored after all, so no member grows by more than its
 * stored-block framing. The decisions depend only on the bytes and the chunk size, never on
 * timing or the number of threads, so the output is the same for any thread count. */
#include "gz.h"

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "jobctx.h"
#include "util.h"

#define GZ_SEGMENT ((size_t)64 << 10)
#define GZ_MAX_SEGMENTS (GZ_CHUNK / GZ_SEGMENT)
#define GZ_SAMPLE ((size_t)8 << 10)
#define GZ_HEADER 10
#define GZ_TRAILER 8
#define STORED_BLOCK 65535
#define STORED_FRAMING 5
/* The smallest padding member: header, XLEN, subfield header, an empty stored block, trailer. */
#define GZ_PAD_MIN (GZ_HEADER + 2 + 4 + STORED_FRAMING + GZ_TRAILER)
#define GZ_ALIGN_MAX ((size_t)64 << 10)
/* A taken group passes in pieces of COPY_IO, about the work of one yield point on the caller's
 * thread, or of COPY_IO_HASHED when the hasher thread takes their SHA-256 and leaves the caller
 * only their copy and CRC-32: the two threads then hand pieces over a quarter as often, which
 * saved about 3% of the CPU of an incremental snapshot of the 500 MiB bench tree (medians of
 * alternating runs; no difference in wall time showed through the noise of a loaded machine). */
#define COPY_IO ((size_t)256 << 10)
#define COPY_IO_HASHED ((size_t)1 << 20)
/* Writeback is started every this many bytes, so the fsync that publishes the archive has
 * little left to flush: on the coroutine core that fsync runs on the loop thread. Each start
 * blocks while it queues its pages, so it is started often, for little: 8 MiB at a time held
 * the loop for 1-13 ms, 1 MiB holds it for 0.15 ms (p99 1.4 ms). */
#define WRITEBACK_EVERY ((uint64_t)1 << 20)
/* Chunks in flight per compression thread: one being compressed, one waiting (of GZ_CHUNK
 * bytes; as many more as fit in the same memory when chunks are smaller). */
#define SLOTS_PER_THREAD 2
/* An input announced as smaller than this many chunks is cut into smaller chunks, down to
 * CHUNK_MIN, so that each compression thread gets several. */
#define CHUNKS_WANTED 32
#define CHUNK_MIN ((size_t)256 << 10)
/* Written pieces at least this big have their group's hash taken on the hasher thread. */
#define HASH_SPLIT_MIN ((size_t)32 << 10)

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

#define PAGE ((size_t)4096)

static size_t
align_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static size_t
out_capacity(size_t chunk)
{
	size_t runs = chunk / GZ_SEGMENT + 1;

	return chunk + runs * (GZ_HEADER + GZ_TRAILER + STORED_FRAMING) +
	       (chunk / STORED_BLOCK + 1) * STORED_FRAMING;
}

static int
codec_init(struct gz_codec *c, int level)
{
	if (level == 0)
		return 0;
	c->probe = libdeflate_alloc_compressor(1);
	c->main = libdeflate_alloc_compressor(level);
	c->scratch = malloc(GZ_SAMPLE);
	return c->probe && c->main && c->scratch ? 0 : -ENOMEM;
}

static void
codec_done(struct gz_codec *c)
{
	libdeflate_free_compressor(c->probe);
	libdeflate_free_compressor(c->main);
	free(c->scratch);
}

/* True when a sample from the middle of the segment deflates by at least 1/32. */
static bool
probe(struct gz_codec *c, const unsigned char *seg, size_t len)
{
	size_t n = len < GZ_SAMPLE ? len : GZ_SAMPLE;
	const unsigned char *s = seg + (len - n) / 2;

	return libdeflate_deflate_compress(c->probe, s, n, c->scratch, n - n / 32) > 0;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Deflate "stored" blocks: the data as it is, framed. */
static size_t
put_stored(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	do {
		size_t n = len < STORED_BLOCK ? len : STORED_BLOCK;
		out[o] = n == len; /* BFINAL on the last block, BTYPE 00 */
		out[o + 1] = (unsigned char)n;
		out[o + 2] = (unsigned char)(n >> 8);
		out[o + 3] = (unsigned char)~n;
		out[o + 4] = (unsigned char)(~n >> 8);
		memcpy(out + o + STORED_FRAMING, in, n);
		o += STORED_FRAMING + n;
		in += n;
		len -= n;
	} while (len > 0);
	return o;
}

/* One complete member for in[0..len); returns its size. */
static size_t
put_member(struct gz_codec *c, int level, bool deflate, const unsigned char *in, size_t len,
	   unsigned char *out)
{
	static const unsigned char head[GZ_HEADER] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	size_t n = 0;

	memcpy(out, head, GZ_HEADER);
	out[8] = level >= 9 ? 2 : level == 1 ? 4 : 0; /* XFL: slowest / fastest */
	if (deflate)
		n = libdeflate_deflate_compress(c->main, in, len, out + GZ_HEADER, len);
	if (n == 0)
		n = put_stored(in, len, out + GZ_HEADER);
	put_le32(out + GZ_HEADER + n, libdeflate_crc32(0, in, len));
	put_le32(out + GZ_HEADER + n + 4, (uint32_t)len);
	return GZ_HEADER + n + GZ_TRAILER;
}

static void
compress_slot(struct gz_codec *c, int level, struct gz_slot *s)
{
	bool deflate[GZ_MAX_SEGMENTS + 1];
	size_t nseg = (s->in_len + GZ_SEGMENT - 1) / GZ_SEGMENT;

	for (size_t i = 0; i < nseg; i++) {
		size_t from = i * GZ_SEGMENT;
		size_t len = s->in_len - from < GZ_SEGMENT ? s->in_len - from : GZ_SEGMENT;
		deflate[i] = level > 0 && probe(c, s->in + from, len);
	}
	s->out_len = 0;
	for (size_t i = 0, j; i < nseg; i = j) {
		size_t from = i * GZ_SEGMENT, to;
		for (j = i + 1; j < nseg && deflate[j] == deflate[i]; j++)
			;
		to = j * GZ_SEGMENT < s->in_len ? j * GZ_SEGMENT : s->in_len;
		s->out_len += put_member(c, level, deflate[i], s->in + from, to - from, s->out + s->out_len);
	}
}

static void *
worker_main(void *arg)
{
	struct gz_worker *wk = arg;
	struct gz_writer *w = wk->w;

	job_helper_start(w->hooks);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct gz_slot *s;
		while (!w->stop && w->seq_take == w->seq_fill)
			pthread_cond_wait(&w->work, &w->lock);
		if (w->stop)
			break;
		s = &w->slots[w->seq_take++ % w->n_slots];
		pthread_mutex_unlock(&w->lock);
		compress_slot(&wk->codec, w->level, s);
		pthread_mutex_lock(&w->lock);
		s->state = SLOT_DONE;
		(void)eventfd_write(w->done_fd, 1);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void *
hasher_main(void *arg)
{
	struct gz_writer *w = arg;
	struct gz_hasher *h = &w->hasher;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		int ok;
		while (!w->stop && h->count == 0)
			pthread_cond_wait(&w->hash_work, &w->lock);
		if (w->stop)
			break;
		/* The piece stays counted while it is hashed: its buffer is not free before. */
		pthread_mutex_unlock(&w->lock);
		ok = EVP_DigestUpdate(h->queue[h->head].ctx, h->queue[h->head].buf, h->queue[h->head].len);
		pthread_mutex_lock(&w->lock);
		if (ok != 1)
			h->ok = 0;
		h->head = (h->head + 1) % HASH_QUEUE;
		h->count--;
		(void)eventfd_write(h->done_fd, 1);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Waits until at most max pieces wait for or are in the hasher thread. A coroutine parks on
 * its loop meanwhile; a wake-up before the wait is counted. */
static void
hash_drain(struct gz_writer *w, unsigned max)
{
	struct gz_hasher *h = &w->hasher;

	for (;;) {
		eventfd_t n;
		pthread_mutex_lock(&w->lock);
		bool more = h->count > max;
		pthread_mutex_unlock(&w->lock);
		if (!more)
			break;
		(void)job_wait_fd(w->hooks, h->done_fd, POLLIN);
		(void)eventfd_read(h->done_fd, &n);
	}
}

/* Queues buf for the hasher thread, to be added to ctx after the pieces before it; buf may
 * not be touched until hash_wait() (or until COPY_PIECES - 1 pieces more were queued). */
static void
hash_start(struct gz_writer *w, EVP_MD_CTX *ctx, const unsigned char *buf, size_t len)
{
	struct gz_hasher *h = &w->hasher;
	unsigned tail;

	/* One buffer stays free to be filled while the others are hashed. */
	hash_drain(w, COPY_PIECES - 2);
	pthread_mutex_lock(&w->lock);
	tail = (h->head + h->count) % HASH_QUEUE;
	h->queue[tail].ctx = ctx;
	h->queue[tail].buf = buf;
	h->queue[tail].len = len;
	h->count++;
	pthread_cond_signal(&w->hash_work);
	pthread_mutex_unlock(&w->lock);
}

/* Waits until the hasher thread is idle; 0, or -ENOMEM when an update failed. */
static int
hash_wait(struct gz_writer *w)
{
	hash_drain(w, 0);
	return w->hasher.ok == 1 ? 0 : -ENOMEM;
}

/* Both hashes of buf: the group's on the hasher thread, the archive's here. */
static int
hash_split(struct gz_writer *w, const unsigned char *buf, size_t len)
{
	int ok;

	hash_start(w, w->group_sha, buf, len);
	ok = EVP_DigestUpdate(w->sha, buf, len);
	return hash_wait(w) == 0 && ok == 1 ? 0 : -ENOMEM;
}

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
	hash_start(w, w->sha, buf, len);
	return w->hasher.ok == 1 ? 0 : -ENOMEM;
}

/* Hands the taken bytes take_whole gathered to the archive's hash. */
static int
flush_taken(struct gz_writer *w)
{
	unsigned char *buf = w->gather;
	size_t len = w->taken_len;

	w->gather = NULL;
	w->taken_len = 0;
	return len ? hash_archive(w, buf, len) : 0;
}

/* The archive's hash is up to date and the hasher thread idle, before anything else touches
 * either. */
static int
hash_idle(struct gz_writer *w)
{
	int r = flush_taken(w);

	return r < 0 ? r : w->hasher.started ? hash_wait(w) : 0;
}

/* Moves the end of the archive on by len bytes that reached fd. */
static void
advance(struct gz_writer *w, size_t len)
{
	if ((w->bytes_out + len) / WRITEBACK_EVERY != w->bytes_out / WRITEBACK_EVERY)
		(void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	w->bytes_out += len;
}

/* Counts bytes that reached fd into the archive's hash and the group's hash and CRC-32. */
static int
account(struct gz_writer *w, const unsigned char *buf, size_t len)
{
	if (hash_idle(w) < 0)
		return -ENOMEM;
	w->group_crc = libdeflate_crc32(w->group_crc, buf, len);
	if (w->hasher.started && len >= HASH_SPLIT_MIN) {
		if (hash_split(w, buf, len) < 0)
			return -ENOMEM;
	} else if (EVP_DigestUpdate(w->sha, buf, len) != 1 || EVP_DigestUpdate(w->group_sha, buf, len) != 1) {
		return -ENOMEM;
	}
	advance(w, len);
	return 0;
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
		return account(w, buf, len);
	w->group_crc = libdeflate_crc32(w->group_crc, buf, len);
	if ((r = hash_archive(w, buf, len)) < 0)
		return r;
	advance(w, len);
	return 0;
}

/* An empty member whose header's FEXTRA field is pad_len bytes long (RFC 1952 2.3.1.1):
 * it makes the next member start at a block boundary, so a later archive can share the
 * blocks of this group by reflink. Readers skip it like any empty member. */
static size_t
put_pad_member(unsigned char *out, size_t pad_len)
{
	static const unsigned char head[GZ_HEADER] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3};
	static const unsigned char empty[STORED_FRAMING] = {1, 0, 0, 0xff, 0xff};
	size_t o = GZ_HEADER;

	memcpy(out, head, GZ_HEADER);
	out[o++] = (unsigned char)(pad_len + 4);
	out[o++] = (unsigned char)((pad_len + 4) >> 8);
	out[o++] = 'S'; /* subfield ID "SK" */
	out[o++] = 'K';
	out[o++] = (unsigned char)pad_len;
	out[o++] = (unsigned char)(pad_len >> 8);
	memset(out + o, 0, pad_len);
	o += pad_len;
	memcpy(out + o, empty, STORED_FRAMING);
	o += STORED_FRAMING;
	memset(out + o, 0, GZ_TRAILER); /* CRC-32 and size of nothing */
	return o + GZ_TRAILER;
}

static int
pad_group(struct gz_writer *w)
{
	unsigned char buf[GZ_PAD_MIN + GZ_ALIGN_MAX];
	size_t pad, n;
	int r;

	if (w->align == 0 || w->bytes_out % w->align == 0)
		return 0;
	pad = (w->align - (w->bytes_out + GZ_PAD_MIN) % w->align) % w->align;
	n = put_pad_member(buf, pad);
	if ((r = write_all(w->fd, buf, n)) < 0)
		return r;
	return account(w, buf, n);
}

/* Ends the group whose last bytes were just written: pads it, records it, with the SHA-256
 * taken as they passed, or the one given (a taken group's). */
static int
close_group(struct gz_writer *w, const unsigned char *taken_sha256)
{
	struct gz_group *g;
	int r = pad_group(w);

	if (r < 0)
		return r;
	if (array_grow(&w->groups, &w->cap_groups, w->n_groups, sizeof(*w->groups)) < 0)
		return -ENOMEM;
	g = &w->groups[w->n_groups++];
	g->offset = w->group_start;
	g->length = w->bytes_out - w->group_start;
	g->crc32 = w->group_crc;
	g->has_crc32 = true;
	if (taken_sha256)
		memcpy(g->sha256, taken_sha256, sizeof(g->sha256));
	else if (EVP_DigestFinal_ex(w->group_sha, g->sha256, NULL) != 1)
		return -ENOMEM;
	if (EVP_DigestInit_ex(w->group_sha, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	w->group_crc = 0;
	w->group_start = w->bytes_out;
	return 0;
}

static int
emit(struct gz_writer *w, struct gz_slot *s)
{
	int r = write_all(w->fd, s->out, s->out_len);

	if (r < 0 || (r = account(w, s->out, s->out_len)) < 0)
		return r;
	s->in_len = 0;
	s->state = SLOT_FREE;
	if (s->group_end) {
		s->group_end = false;
		return close_group(w, NULL);
	}
	return 0;
}

/* Waits until the slot is compressed or at most max_pending chunks are in flight; true when
 * the slot is done. */
static bool
wait_slot(struct gz_writer *w, const struct gz_slot *s, uint64_t max_pending)
{
	for (;;) {
		eventfd_t n;
		bool ready, wait;

		pthread_mutex_lock(&w->lock);
		ready = s->state == SLOT_DONE;
		wait = !ready && w->seq_fill - w->seq_write > max_pending;
		pthread_mutex_unlock(&w->lock);
		if (!wait)
			return ready;
		/* A wake-up that came before the wait is still counted, so none is lost. */
		(void)job_wait_fd(w->hooks, w->done_fd, POLLIN);
		(void)eventfd_read(w->done_fd, &n);
	}
}

/* Writes finished chunks in order until at most max_pending remain in flight. */
static int
drain(struct gz_writer *w, uint64_t max_pending)
{
	while (w->seq_write < w->seq_fill) {
		struct gz_slot *s = &w->slots[w->seq_write % w->n_slots];
		int r;

		if (!wait_slot(w, s, max_pending))
			return 0;
		r = emit(w, s);
		if (r < 0)
			return r;
		w->seq_write++;
	}
	return 0;
}

/* Hands the chunk being filled to be compressed; after it the next slot is free. */
static int
submit(struct gz_writer *w)
{
	struct gz_slot *s = &w->slots[w->seq_fill % w->n_slots];

	if (w->n_workers == 0) {
		compress_slot(&w->codec, w->level, s);
		return emit(w, s);
	}
	pthread_mutex_lock(&w->lock);
	s->state = SLOT_FILLED;
	w->seq_fill++;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	return drain(w, w->n_slots - 1);
}

static int
start_workers(struct gz_writer *w, unsigned n)
{
	w->workers = calloc(n, sizeof(*w->workers));
	if (!w->workers)
		return -ENOMEM;
	w->n_workers = n;
	for (unsigned i = 0; i < n; i++) {
		struct gz_worker *wk = &w->workers[i];
		int r;
		wk->w = w;
		if (codec_init(&wk->codec, w->level) < 0)
			return -ENOMEM;
		r = pthread_create(&wk->thread, NULL, worker_main, wk);
		if (r != 0)
			return -r;
		wk->started = true;
	}
	return 0;
}

static int
start_hasher(struct gz_writer *w)
{
	int r;

	w->hasher.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->hasher.done_fd < 0)
		return -errno;
	r = pthread_create(&w->hasher.thread, NULL, hasher_main, w);
	if (r != 0)
		return -r;
	w->hasher.started = true;
	return 0;
}

/* The slots' buffers are one block, each buffer page-aligned: one mapping to make and unmap
 * rather than two per slot (a 5 MiB tree has 16 slots), and no two threads write one page. */
static int
alloc_slots(struct gz_writer *w, unsigned n)
{
	size_t in = align_up(w->chunk, PAGE), out = align_up(out_capacity(w->chunk), PAGE);

	w->slots = calloc(n, sizeof(*w->slots));
	w->slot_mem = aligned_alloc(PAGE, n * (in + out));
	if (!w->slots || !w->slot_mem)
		return -ENOMEM;
	w->n_slots = n;
	for (unsigned i = 0; i < n; i++) {
		w->slots[i].in = w->slot_mem + i * (in + out);
		w->slots[i].out = w->slots[i].in + in;
	}
	return 0;
}

/* The chunk for an input of about size_hint bytes (0: unknown). A 5 MiB save folder in 1 MiB
 * chunks left one thread compressing its largest file while the other had nothing to do, and
 * the writer waiting for that chunk before it could hand out the next ones; in 256 KiB chunks
 * both threads stay busy. Smaller members cost some size (256 KiB: 0.06% on the 5 MiB bench
 * tree), so large inputs keep GZ_CHUNK. The size depends on the hint alone, never on the
 * thread count, so the output stays the same for any number of threads. */
static size_t
chunk_for(uint64_t size_hint)
{
	size_t chunk = GZ_CHUNK;

	while (chunk > CHUNK_MIN && size_hint > 0 && size_hint < (uint64_t)chunk * CHUNKS_WANTED)
		chunk /= 2;
	return chunk;
}

/* Smaller chunks get more slots in the same memory: the writer can hand out the chunks of many
 * small files while a thread still compresses a larger one. */
static unsigned
slots_per_thread(size_t chunk)
{
	return SLOTS_PER_THREAD * (unsigned)(GZ_CHUNK / chunk);
}

struct gz_writer *
gz_writer_new(int fd, int level, unsigned threads, uint64_t size_hint, const struct job_hooks *hooks)
{
	struct gz_writer *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return NULL;
	w->fd = fd;
	w->level = level < 0 ? 0 : level > 12 ? 12 : level;
	w->hooks = hooks;
	/* Short slices matter only when the compression runs here, on the caller's thread: with
	 * helper threads the caller waits instead, and large chunks keep the output as small as
	 * any other core's. */
	w->chunk = threads <= 1 && hooks && hooks->short_slices ? GZ_CHUNK_YIELD : chunk_for(size_hint);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->hash_work, NULL);
	w->hasher.done_fd = -EBADF;
	w->hasher.ok = 1;
	w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->sha = EVP_MD_CTX_new();
	w->group_sha = EVP_MD_CTX_new();
	r = w->sha && w->group_sha && EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestInit_ex(w->group_sha, EVP_sha256(), NULL) == 1
		? 0
		: -ENOMEM;
	if (r >= 0 && w->done_fd < 0)
		r = -errno;
	if (r >= 0)
		r = alloc_slots(w, threads > 1 ? threads * slots_per_thread(w->chunk) : 1);
	if (r >= 0 && threads > 1) {
		r = start_workers(w, threads);
		if (r >= 0)
			r = start_hasher(w);
	} else if (r >= 0) {
		r = codec_init(&w->codec, w->level);
	}
	if (r < 0) {
		gz_writer_free(w);
		errno = -r;
		return NULL;
	}
	return w;
}

static int
fail(struct gz_writer *w, int r)
{
	w->err = r;
	return r;
}

int
gz_write(struct gz_writer *w, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (w->err)
		return w->err;
	while (len > 0) {
		struct gz_slot *s = &w->slots[w->seq_fill % w->n_slots];
		size_t n = w->chunk - s->in_len < len ? w->chunk - s->in_len : len;
		int r;

		memcpy(s->in + s->in_len, p, n);
		s->in_len += n;
		w->bytes_in += n;
		w->group_open = true;
		p += n;
		len -= n;
		if (s->in_len < w->chunk)
			break;
		r = submit(w);
		if (r < 0)
			return fail(w, r);
		if (job_yield(w->hooks))
			return fail(w, -ECANCELED);
	}
	return 0;
}

int
gz_finish(struct gz_writer *w)
{
	int r;

	if (w->err)
		return w->err;
	if (w->slots[w->seq_fill % w->n_slots].in_len > 0 && (r = submit(w)) < 0)
		return fail(w, r);
	if ((r = drain(w, 0)) < 0 || (r = hash_idle(w)) < 0)
		return fail(w, r);
	if (EVP_DigestFinal_ex(w->sha, w->sum, NULL) != 1)
		return fail(w, -ENOMEM);
	return 0;
}

int
gz_set_align(struct gz_writer *w, size_t align)
{
	if (align > GZ_ALIGN_MAX || w->bytes_out > 0 || w->bytes_in > 0)
		return -EINVAL;
	w->align = align;
	return 0;
}

int
gz_group_end(struct gz_writer *w)
{
	struct gz_slot *s = &w->slots[w->seq_fill % w->n_slots];
	int r;

	if (w->err)
		return w->err;
	if (!w->group_open)
		return 0;
	w->group_open = false;
	if (s->in_len > 0) {
		s->group_end = true;
		r = submit(w);
	} else {
		/* The group's last chunk is already on its way: record it once it is written. */
		r = drain(w, 0);
		if (r >= 0)
			r = close_group(w, NULL);
	}
	return r < 0 ? fail(w, r) : 0;
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
	if (w->taken_len + len > piece && (r = flush_taken(w)) < 0)
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
	advance(w, len);
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
	if (w->hasher.started && (q = hash_wait(w)) < 0 && r >= 0)
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

	if ((r = gz_group_end(w)) < 0 || (r = drain(w, 0)) < 0)
		return fail(w, r);
	if (!w->copy_buf && !(w->copy_buf = malloc(COPY_PIECES * copy_piece(w, true))))
		return fail(w, -ENOMEM);
	if (by_crc && g->length <= copy_piece(w, true)) {
		r = take_whole(w, src_fd, g, &cloned);
		if (r >= 0)
			r = close_group(w, g->sha256);
		if (ret_cloned)
			*ret_cloned = cloned && r >= 0;
		return r == -EBADMSG ? r : r < 0 ? fail(w, r) : 0;
	}
	/* A bigger group is checked as it passes and undone when it differs: the archive's hash
	 * as it stands before the group is saved, once the hasher thread is done with it. */
	if ((r = hash_idle(w)) < 0)
		return fail(w, r);
	if (!(saved = EVP_MD_CTX_new()) || EVP_MD_CTX_copy_ex(saved, w->sha) != 1) {
		EVP_MD_CTX_free(saved);
		return fail(w, -ENOMEM);
	}
	start = w->bytes_out;
	r = take_group(w, src_fd, g, by_crc, &cloned);
	if (r == -EBADMSG || (r == -EIO && cloned)) {
		int u = undo_copy(w, start, saved);
		r = u < 0 ? u : -EBADMSG;
	} else if (r >= 0) {
		r = close_group(w, by_crc ? g->sha256 : NULL);
	}
	EVP_MD_CTX_free(saved);
	if (ret_cloned)
		*ret_cloned = cloned && r >= 0;
	return r == -EBADMSG ? r : r < 0 ? fail(w, r) : 0;
}

const struct gz_group *
gz_groups(const struct gz_writer *w, size_t *ret_n)
{
	*ret_n = w->n_groups;
	return w->groups;
}

uint64_t
gz_bytes_in(const struct gz_writer *w)
{
	return w->bytes_in;
}

uint64_t
gz_bytes_out(const struct gz_writer *w)
{
	return w->bytes_out;
}

void
gz_sha256(const struct gz_writer *w, unsigned char out[32])
{
	memcpy(out, w->sum, sizeof(w->sum));
}

void
gz_writer_free(struct gz_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->work);
	pthread_cond_broadcast(&w->hash_work);
	pthread_mutex_unlock(&w->lock);
	if (w->hasher.started)
		pthread_join(w->hasher.thread, NULL);
	for (unsigned i = 0; i < w->n_workers; i++) {
		if (w->workers[i].started)
			pthread_join(w->workers[i].thread, NULL);
		codec_done(&w->workers[i].codec);
	}
	free(w->workers);
	free(w->slot_mem);
	free(w->slots);
	codec_done(&w->codec);
	EVP_MD_CTX_free(w->sha);
	EVP_MD_CTX_free(w->group_sha);
	free(w->groups);
	free(w->copy_buf);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->hash_work);
	safe_close(w->hasher.done_fd);
	safe_close(w->done_fd);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

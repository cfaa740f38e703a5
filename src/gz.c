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
 * timing or the number of threads, so the output is the same for any thread count.
 * This file owns the compression path: slots, compression and hasher threads, members, groups
 * written afresh and their records. Groups taken from an earlier archive are gz_take.c's. */
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
#include <sys/eventfd.h>
#include <unistd.h>

#include "gz_int.h"
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
 * not be touched until gz_hash_wait() (or until COPY_PIECES - 1 pieces more were queued). */
void
gz_hash_start(struct gz_writer *w, EVP_MD_CTX *ctx, const unsigned char *buf, size_t len)
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
int
gz_hash_wait(struct gz_writer *w)
{
	hash_drain(w, 0);
	return w->hasher.ok == 1 ? 0 : -ENOMEM;
}

/* Both hashes of buf: the group's on the hasher thread, the archive's here. */
static int
hash_split(struct gz_writer *w, const unsigned char *buf, size_t len)
{
	int ok;

	gz_hash_start(w, w->group_sha, buf, len);
	ok = EVP_DigestUpdate(w->sha, buf, len);
	return gz_hash_wait(w) == 0 && ok == 1 ? 0 : -ENOMEM;
}

/* The archive's hash is up to date and the hasher thread idle, before anything else touches
 * either. */
int
gz_hash_idle(struct gz_writer *w)
{
	int r = gz_flush_taken(w);

	return r < 0 ? r : w->hasher.started ? gz_hash_wait(w) : 0;
}

/* Moves the end of the archive on by len bytes that reached fd. */
void
gz_advance(struct gz_writer *w, size_t len)
{
	if ((w->bytes_out + len) / WRITEBACK_EVERY != w->bytes_out / WRITEBACK_EVERY)
		(void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	w->bytes_out += len;
}

/* Counts bytes that reached fd into the archive's hash and the group's hash and CRC-32. */
int
gz_account(struct gz_writer *w, const unsigned char *buf, size_t len)
{
	if (gz_hash_idle(w) < 0)
		return -ENOMEM;
	w->group_crc = libdeflate_crc32(w->group_crc, buf, len);
	if (w->hasher.started && len >= HASH_SPLIT_MIN) {
		if (hash_split(w, buf, len) < 0)
			return -ENOMEM;
	} else if (EVP_DigestUpdate(w->sha, buf, len) != 1 || EVP_DigestUpdate(w->group_sha, buf, len) != 1) {
		return -ENOMEM;
	}
	gz_advance(w, len);
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
	return gz_account(w, buf, n);
}

/* Ends the group whose last bytes were just written: pads it, records it, with the SHA-256
 * taken as they passed, or the one given (a taken group's). */
int
gz_close_group(struct gz_writer *w, const unsigned char *taken_sha256)
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

	if (r < 0 || (r = gz_account(w, s->out, s->out_len)) < 0)
		return r;
	s->in_len = 0;
	s->state = SLOT_FREE;
	if (s->group_end) {
		s->group_end = false;
		return gz_close_group(w, NULL);
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
int
gz_drain(struct gz_writer *w, uint64_t max_pending)
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
	return gz_drain(w, w->n_slots - 1);
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

int
gz_fail(struct gz_writer *w, int r)
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
			return gz_fail(w, r);
		if (job_yield(w->hooks))
			return gz_fail(w, -ECANCELED);
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
		return gz_fail(w, r);
	if ((r = gz_drain(w, 0)) < 0 || (r = gz_hash_idle(w)) < 0)
		return gz_fail(w, r);
	if (EVP_DigestFinal_ex(w->sha, w->sum, NULL) != 1)
		return gz_fail(w, -ENOMEM);
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
		r = gz_drain(w, 0);
		if (r >= 0)
			r = gz_close_group(w, NULL);
	}
	return r < 0 ? gz_fail(w, r) : 0;
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

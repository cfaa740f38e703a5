/* gentree: writes a deterministic, realistic game-save tree for the benchmark.
 *
 *   gentree small DIR    ~5 MiB in 50 files
 *   gentree large DIR    ~500 MiB in 2000 files
 *   gentree compressible DIR   the large tree's sizes, every file compressible
 *   gentree FILES MIB DIR
 *
 * About half of the bytes are incompressible (already-compressed world chunks, screenshots),
 * the rest is what games write next to them: binary entity records, JSON profiles, INI and
 * log text. File sizes follow a heavy tail (many small files, a few big ones) and the files
 * sit in nested folders. The same arguments always give the same names, contents and mtimes,
 * so runs on different days compare. DIR must not exist or be empty. */
#include "util.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB (1024ULL * 1024ULL)
#define SEED 0x5a5e6e9ee9ULL
#define BASE_MTIME 1700000000

enum kind { K_RANDOM, K_RECORDS, K_JSON, K_TEXT, K__COUNT };

struct plan {
	uint64_t size;
	enum kind kind;
};

struct rng {
	uint64_t s[4];
};

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: fast enough that writing, not generating, bounds the run. */
static uint64_t
rng_next(struct rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

static void
rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

static unsigned
rng_below(struct rng *r, unsigned n)
{
	return (unsigned)(rng_next(r) % n);
}

/* Uniform in [0, 1). */
static double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

/* A size weight from a mixture: 70% small (1-32 KiB), 25% medium (32 KiB-1 MiB),
 * 5% large (1-16 MiB), each log-uniform. Scaled to the target total later. */
static double
draw_weight(struct rng *r)
{
	unsigned c = rng_below(r, 100);
	double lo = c < 70 ? 1024 : c < 95 ? 32768 : 1048576;
	double hi = c < 70 ? 32768 : c < 95 ? 1048576 : 16777216;

	return lo * exp(rng_unit(r) * log(hi / lo));
}

static enum kind
compressible_kind(struct rng *r, uint64_t size)
{
	if (size >= 256 * 1024)
		return rng_below(r, 5) == 0 ? K_JSON : K_RECORDS;
	return (enum kind)(K_RECORDS + rng_below(r, 3));
}

static int
by_size_desc(const void *a, const void *b)
{
	const struct plan *x = *(const struct plan *const *)a, *y = *(const struct plan *const *)b;

	return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

/* Kinds chosen largest file first, each to the lighter side, so that incompressible bytes
 * come out near half even when one big file dominates a small tree; with no_random, none
 * are (a tree of text and records only, where compression does all the work). */
static int
assign_kinds(struct plan *p, unsigned n, struct rng *r, bool no_random)
{
	_cleanup_free_ struct plan **order = calloc(n, sizeof(*order));
	uint64_t rnd = 0, cmp = 0;

	if (!order)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		order[i] = &p[i];
	qsort(order, n, sizeof(*order), by_size_desc);
	for (unsigned i = 0; i < n; i++) {
		struct plan *f = order[i];
		if (rnd <= cmp && !no_random) {
			f->kind = K_RANDOM;
			rnd += f->size;
		} else {
			f->kind = compressible_kind(r, f->size);
			cmp += f->size;
		}
	}
	return 0;
}

/* Sizes drawn, then scaled so they add up to total exactly. */
static struct plan *
make_plan(unsigned n, uint64_t total, bool no_random)
{
	_cleanup_free_ struct plan *p = calloc(n, sizeof(*p));
	_cleanup_free_ double *w = calloc(n, sizeof(*w));
	double sum = 0;
	uint64_t given = 0;
	struct rng r;

	if (!p || !w)
		return NULL;
	rng_seed(&r, SEED);
	for (unsigned i = 0; i < n; i++)
		w[i] = draw_weight(&r);
	/* No file above an eighth of the tree, so that a small tree is not one big file. */
	for (int round = 0; round < 4; round++) {
		sum = 0;
		for (unsigned i = 0; i < n; i++)
			sum += w[i];
		for (unsigned i = 0; i < n && n >= 8; i++)
			w[i] = w[i] > sum / 8 ? sum / 8 : w[i];
	}
	for (unsigned i = 0; i < n; i++) {
		p[i].size = i + 1 < n ? (uint64_t)(w[i] / sum * (double)total) : total - given;
		given += p[i].size;
	}
	if (assign_kinds(p, n, &r, no_random) < 0)
		return NULL;
	return TAKE_PTR(p);
}

static void
fill_random(struct rng *r, char *buf, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v = rng_next(r);
		memcpy(buf + i, &v, 8);
	}
	for (; i < len; i++)
		buf[i] = (char)rng_next(r);
}

/* Entity records as a game's binary save holds them: fixed layout, ids in order, mostly
 * repeated types and names, positions with noisy low bits. */
struct record {
	char magic[4];
	uint32_t id, type, flags;
	float pos[3], vel[3];
	uint16_t hp, level;
	char name[20];
};

static const char *const NAMES[] = {
    "walker",	 "runner",    "survivor",  "crate_ammo",  "crate_food", "door_wood",
    "car_sedan", "barricade", "generator", "radio_tower", "medkit",	"rifle_556",
};

static void
fill_records(struct rng *r, char *buf, size_t len)
{
	struct record rec;
	size_t off = 0;

	for (uint32_t id = 1; off < len; id++) {
		uint64_t v = rng_next(r);
		memset(&rec, 0, sizeof(rec));
		memcpy(rec.magic, "ENT1", 4);
		rec.id = id;
		rec.type = (uint32_t)(v % ARRAY_SIZE(NAMES));
		rec.flags = (v >> 8) % 16 == 0 ? 1u << ((v >> 12) % 8) : 0;
		for (int k = 0; k < 3; k++)
			rec.pos[k] = (float)(id % 97) * 8.0f + (float)((v >> (16 + 8 * k)) & 0xff) / 16.0f;
		rec.vel[0] = (v >> 40) % 4 == 0 ? 1.5f : 0.0f;
		rec.hp = (v >> 44) % 3 == 0 ? (uint16_t)((v >> 48) % 100) : 100;
		rec.level = (uint16_t)(1 + id / 500);
		snprintf(rec.name, sizeof(rec.name), "%s", NAMES[rec.type]);
		size_t n = len - off < sizeof(rec) ? len - off : sizeof(rec);
		memcpy(buf + off, &rec, n);
		off += n;
	}
}

static const char *const SKILLS[] = {"cardio", "wits", "fighting", "shooting", "cooking", "medicine"};

static int
json_line(struct rng *r, unsigned i, char *line, size_t len)
{
	uint64_t v = rng_next(r);

	return snprintf(line, len,
			"{\"id\":%u,\"name\":\"%s_%u\",\"skills\":{\"%s\":%u,\"%s\":%u},"
			"\"inventory\":[%u,%u,%u],\"pos\":[%.2f,%.2f,%.2f],\"alive\":%s}%s\n",
			i, NAMES[v % ARRAY_SIZE(NAMES)], i % 64, SKILLS[(v >> 4) % 6], (unsigned)(v >> 8) % 8,
			SKILLS[(v >> 12) % 6], (unsigned)(v >> 16) % 8, (unsigned)(v >> 20) % 300,
			(unsigned)(v >> 28) % 300, (unsigned)(v >> 36) % 300, (double)(i % 512) * 0.5,
			(double)((v >> 44) % 1000) / 8.0, -12.25, (v >> 54) % 10 ? "true" : "false", ",");
}

static const char *const EVENTS[] = {"Saved slot", "Loaded region", "Spawned horde near",
				     "Autosave queued for", "Cleared cache of"};

static int
text_line(struct rng *r, unsigned i, char *line, size_t len)
{
	uint64_t v = rng_next(r);

	if (i % 40 == 0)
		return snprintf(line, len, "[section_%u]\nvolume = %u\nfov = %u\nquality = high\n", i / 40,
				(unsigned)(v % 101), 60 + (unsigned)(v >> 8) % 50);
	return snprintf(line, len, "[%02u:%02u:%02u.%03u] INFO  %s %u in %u ms (entities=%u)\n",
			(i / 3600) % 24, (i / 60) % 60, i % 60, (unsigned)(v >> 10) % 1000,
			EVENTS[v % ARRAY_SIZE(EVENTS)], (unsigned)(v >> 20) % 16, (unsigned)(v >> 30) % 200,
			(unsigned)(v >> 40) % 5000);
}

/* Fills buf with lines from gen, cutting the last one at len. */
static void
fill_lines(struct rng *r, char *buf, size_t len, int (*gen)(struct rng *, unsigned, char *, size_t))
{
	char line[512];
	size_t off = 0;

	for (unsigned i = 0; off < len; i++) {
		size_t n = (size_t)gen(r, i, line, sizeof(line));
		if (n > len - off)
			n = len - off;
		memcpy(buf + off, line, n);
		off += n;
	}
}

static void
fill(enum kind k, struct rng *r, char *buf, size_t len)
{
	switch (k) {
	case K_RANDOM:
		fill_random(r, buf, len);
		break;
	case K_RECORDS:
		fill_records(r, buf, len);
		break;
	case K_JSON:
		fill_lines(r, buf, len, json_line);
		break;
	default:
		fill_lines(r, buf, len, text_line);
		break;
	}
}

/* Where file i of a kind lives: "saves/slot03/region2/world_0017.sav" and the like. */
static void
file_path(const char *root, unsigned i, enum kind k, struct rng *r, char *buf, size_t len)
{
	static const char *const top[] = {"saves", "profiles", "config", "screenshots"};
	static const char *const ext[] = {"chunk", "dat", "json", "log"};
	unsigned slot = rng_below(r, 8), sub = rng_below(r, 4);

	if (k == K_RANDOM && i % 4 == 0)
		snprintf(buf, len, "%s/%s/shot_%05u.png", root, top[3], i);
	else if (k == K_RANDOM || k == K_RECORDS)
		snprintf(buf, len, "%s/%s/slot%02u/region%u/%s_%05u.%s", root, top[0], slot, sub,
			 k == K_RANDOM ? "world" : "entities", i, ext[k]);
	else if (k == K_JSON)
		snprintf(buf, len, "%s/%s/player%u/%s_%05u.json", root, top[1], slot % 3,
			 sub % 2 ? "quests" : "profile", i);
	else
		snprintf(buf, len, "%s/%s/%s_%05u.%s", root, top[2], i % 3 ? "events" : "settings", i,
			 i % 3 ? "log" : "ini");
}

static int
mkdir_parent(char *path)
{
	char *slash = strrchr(path, '/');
	int r;

	*slash = '\0';
	r = mkdir_p(path, 0755);
	*slash = '/';
	return r;
}

static int
write_file(const char *path, const char *buf, size_t len, time_t mtime)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r < 0)
		return r;
	return futimens(fd, ts) < 0 ? -errno : 0;
}

static int
generate(const char *root, const struct plan *p, unsigned n)
{
	uint64_t max = 0;
	char path[4096];

	for (unsigned i = 0; i < n; i++)
		max = p[i].size > max ? p[i].size : max;
	_cleanup_free_ char *buf = malloc(max ? max : 1);
	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct rng r;
		int e;

		rng_seed(&r, SEED ^ ((uint64_t)i << 20));
		file_path(root, i, p[i].kind, &r, path, sizeof(path));
		fill(p[i].kind, &r, buf, p[i].size);
		if ((e = mkdir_parent(path)) < 0 ||
		    (e = write_file(path, buf, p[i].size, BASE_MTIME + i)) < 0) {
			fprintf(stderr, "gentree: cannot write '%s': %s\n", path, strerror(-e));
			return e;
		}
	}
	/* Games leave empty folders behind (cleared caches); a tree should have one. */
	snprintf(path, sizeof(path), "%s/cache/shaders", root);
	return mkdir_p(path, 0755);
}

/* True when path is missing or an empty folder (removed here: rmdir fails on anything else). */
static bool
dir_empty_or_missing(const char *path)
{
	return rmdir(path) == 0 || errno == ENOENT;
}

static int
usage(void)
{
	fprintf(stderr, "usage: gentree small|large|compressible DIR\n       gentree FILES MIB DIR\n");
	return 2;
}

int
main(int argc, char **argv)
{
	unsigned files;
	uint64_t bytes, rnd = 0;
	const char *dir;
	bool no_random = argc == 3 && strcmp(argv[1], "compressible") == 0;

	if (argc == 3 && strcmp(argv[1], "small") == 0)
		files = 50, bytes = 5 * MIB, dir = argv[2];
	else if (argc == 3 && (strcmp(argv[1], "large") == 0 || no_random))
		files = 2000, bytes = 500 * MIB, dir = argv[2];
	else if (argc == 4 && atoi(argv[1]) > 0 && atoi(argv[2]) > 0)
		files = (unsigned)atoi(argv[1]), bytes = (uint64_t)atoi(argv[2]) * MIB, dir = argv[3];
	else
		return usage();
	if (!dir_empty_or_missing(dir)) {
		fprintf(stderr, "gentree: '%s' exists and is not an empty folder\n", dir);
		return 1;
	}
	_cleanup_free_ struct plan *p = make_plan(files, bytes, no_random);
	if (!p || generate(dir, p, files) < 0)
		return 1;
	for (unsigned i = 0; i < files; i++)
		rnd += p[i].kind == K_RANDOM ? p[i].size : 0;
	printf("%u files, %llu bytes, %llu incompressible\n", files, (unsigned long long)bytes,
	       (unsigned long long)rnd);
	return 0;
}

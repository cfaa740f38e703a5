/* bench_manifest: the Ludusavi manifest reader's benchmark. `gen` writes a synthetic manifest of about
 * BYTES in the real one's shape (titles with files, `when` conditions, tags, installDir,
 * registry keys, Steam ids, aliases, notes; invented names, none of the real data); `parse`
 * streams a manifest through the reader and expands every file path, as discover does, and
 * prints what it saw. Time and memory are measured around it by timeit.
 *
 *   manifest gen FILE BYTES
 *   manifest parse FILE          prints "games N files N" */
#include "ludusavi.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const places[] = {"<winDocuments>/My Games",
				     "<winAppData>",
				     "<winLocalAppData>",
				     "<base>",
				     "<home>/.config",
				     "<xdgData>",
				     "<root>/userdata/<storeUserId>",
				     "<winDocuments>"};
static const char *const exts[] = {"*.sav", "*.dat", "save*", "profile.ini", "**/*.json"};

static unsigned long long rng = 88172645463325252ULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void
gen_files(FILE *f, unsigned i)
{
	unsigned n = 1 + rnd(8);

	fprintf(f, "  files:\n");
	for (unsigned k = 0; k < n; k++) {
		const char *p = places[rnd(ARRAY_SIZE(places))];
		fprintf(f, "    %s/Studio %05u/Title %05u/%s%s:\n", p, i % 977, i, k % 2 ? "" : "Saves/",
			k % 3 ? exts[rnd(ARRAY_SIZE(exts))] : "Slot");
		if (rnd(3) == 0)
			fprintf(f, "      tags:\n        - save\n");
		if (rnd(4) != 0)
			fprintf(f, "      when:\n        - os: %s\n%s",
				strncmp(p, "<win", 4) == 0 ? "windows" : "linux",
				rnd(3) == 0 ? "          store: steam\n" : "");
	}
}

static void
gen_game(FILE *f, unsigned i)
{
	fprintf(f, "\"Invented Game %05u: The %s Chapter\":\n", i, rnd(2) ? "Long" : "Short");
	gen_files(f, i);
	fprintf(f, "  installDir:\n    Title %05u: {}\n", i);
	if (rnd(2))
		fprintf(f,
			"  registry:\n    HKEY_CURRENT_USER/Software/Studio %05u/Title %05u:\n"
			"      tags:\n        - config\n      when:\n        - store: steam\n",
			i % 977, i);
	if (rnd(10) < 7)
		fprintf(f, "  steam:\n    id: %u\n", 100000 + i);
	if (rnd(10) == 0)
		fprintf(f, "  notes:\n    - message: Saves of this invented game are in the cloud only.\n");
	if (rnd(8) == 0)
		fprintf(f, "Invented Game %05u GOTY:\n  alias: \"Invented Game %05u: The Long Chapter\"\n", i,
			i);
}

static int
gen(const char *path, long long bytes)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return 1;
	fprintf(f, "---\n");
	for (unsigned i = 0; ftell(f) < bytes; i++)
		gen_game(f, i);
	return fclose(f) == 0 ? 0 : 1;
}

struct count {
	unsigned long games, files, patterns;
};

static int
on_game(struct lud_game *g, void *userdata)
{
	static const struct lud_places pl = {
	    .home = "/home/p",
	    .root = "/home/p/.local/share/Steam",
	    .game = "Game",
	    .base = "/lib/Game",
	    .store_user_id = "*",
	    .win_documents = "/pfx/Documents",
	    .win_app_data = "/pfx/Roaming",
	    .win_local_app_data = "/pfx/Local",
	    .xdg_data = "/home/p/.local/share",
	    .xdg_config = "/home/p/.config",
	};
	struct count *c = userdata;

	c->games++;
	c->files += g->n_files;
	for (size_t i = 0; i < g->n_files; i++) {
		char *out = NULL;
		if (lud_expand(g->files[i].path, &pl, &out) == 0)
			c->patterns++;
		free(out);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct count c = {0};
	char err[512];

	if (argc == 4 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], atoll(argv[3]));
	if (argc != 3 || strcmp(argv[1], "parse") != 0) {
		fprintf(stderr, "usage: manifest gen FILE BYTES | manifest parse FILE\n");
		return 2;
	}
	if (lud_parse_file(argv[2], on_game, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "manifest: %s\n", err);
		return 1;
	}
	printf("games %lu files %lu patterns %lu\n", c.games, c.files, c.patterns);
	return 0;
}

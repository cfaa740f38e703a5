/* libFuzzer target: any bytes as a Ludusavi manifest, and every file path in it expanded with a
 * full set of places and with none. The reader ends in games or an error naming file and line;
 * an expansion is an absolute path without placeholders' brackets it did not have, or an error.
 * fuzz-sources: src/ludusavi.c src/util.c
 * fuzz-flags: -max_len=8192
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ludusavi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct lud_places full = {
	.home = "/h", .root = "/h/Steam", .game = "G*[?]\\", .base = "/lib/common/G*[?]\\",
	.store_user_id = "*", .store_game_id = "1", .os_user_name = "u",
	.win_documents = "/p/Documents", .win_app_data = "/p/Roaming", .win_local_app_data = "/p/Local",
	.win_local_app_data_low = "/p/LocalLow", .win_public = "/p/Public", .win_program_data = "/p/ProgramData",
	.win_dir = "/p/windows", .xdg_data = "/h/.local/share", .xdg_config = "/h/.config",
};

static void expand_one(const char *path, const struct lud_places *pl);

/* Each path with and without folded case. */
static void
expand_checked(const char *path, const struct lud_places *pl)
{
	struct lud_places folded = *pl;

	folded.fold_case = true;
	expand_one(path, pl);
	expand_one(path, &folded);
}

static void
expand_one(const char *path, const struct lud_places *pl)
{
	char *out = NULL;
	int r = lud_expand(path, pl, &out);

	if (r == 0 && (!out || out[0] != '/' || strlen(out) >= PATH_MAX))
		abort();
	if (r != 0 && (out || (r != -ENOENT && r != -EINVAL && r != -ENAMETOOLONG && r != -ENOMEM)))
		abort();
	free(out);
}

static int
on_game(struct lud_game *g, void *userdata)
{
	static const struct lud_places none = { .home = "/h" };

	(void)userdata;
	if (!g->title || g->n_files > LUD_FILES_MAX || g->n_install_dirs > LUD_INSTALL_DIRS_MAX)
		abort();
	for (size_t i = 0; i < g->n_files; i++) {
		if (g->files[i].n_when > LUD_WHEN_MAX)
			abort();
		(void)lud_file_applies(&g->files[i], LUD_OS_LINUX);
		expand_checked(g->files[i].path, &full);
		expand_checked(g->files[i].path, &none);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* The path on its own too: the expansion sees every byte sequence, not only YAML keys. */
	expand_checked(text, &full);
	if (lud_parse_string("fuzz.yaml", (const char *)data, size, on_game, NULL, err, sizeof(err)) < 0 &&
	    strncmp(err, "fuzz.yaml:", 10) != 0)
		abort();
	free(text);
	return 0;
}

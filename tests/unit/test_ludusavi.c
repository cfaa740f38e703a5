/* Ludusavi's manifest reader: each game with its files, conditions, install folders, Steam id
 * and alias, the keys it does not use skipped; malformed YAML refused with its line; and the
 * placeholders expanded into glob patterns, with the values escaped. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include "ludusavi.h"
#include "util.h"

static const char manifest[] = "---\n"
			       "Alpha Game:\n"
			       "  files:\n"
			       "    <base>/saves:\n"
			       "      tags:\n"
			       "        - save\n"
			       "    \"<winDocuments>/Alpha: The Game\":\n"
			       "      when:\n"
			       "        - os: windows\n"
			       "        - os: linux\n"
			       "          store: gog\n"
			       "    <xdgData>/alpha: {}\n"
			       "  installDir:\n"
			       "    Alpha: {}\n"
			       "    AlphaGOTY: {}\n"
			       "  registry:\n"
			       "    HKEY_CURRENT_USER/Software/Alpha:\n"
			       "      when:\n"
			       "        - store: steam\n"
			       "  steam:\n"
			       "    id: 4242\n"
			       "  notes:\n"
			       "    - message: a note\n"
			       "  id:\n"
			       "    steamExtra: [1, 2]\n"
			       "Alpha GOTY:\n"
			       "  alias: Alpha Game\n"
			       "? [complex, key]\n"
			       ": ignored\n"
			       "Beta:\n"
			       "  steam:\n"
			       "    id: not-a-number\n"
			       "  files:\n"
			       "    <home>/.beta:\n"
			       "      when:\n"
			       "        - os: mac\n"
			       "          store: steam\n";

struct seen {
	struct lud_game g[4];
	size_t n;
	int stop_after;
};

static int
on_game(struct lud_game *g, void *userdata)
{
	struct seen *s = userdata;

	if (s->stop_after && (int)s->n == s->stop_after)
		return -ECANCELED;
	s->g[s->n++] = *g;
	*g = (struct lud_game){0};
	return 0;
}

static void
seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		lud_game_clear(&s->g[i]);
}

static void
test_games(void **state)
{
	struct seen s = {.n = 0};
	char err[256] = "";
	const struct lud_game *a = &s.g[0];

	(void)state;
	assert_int_equal(
	    lud_parse_string("m.yaml", manifest, strlen(manifest), on_game, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(a->title, "Alpha Game");
	assert_int_equal(a->steam_id, 4242);
	assert_null(a->alias);
	assert_int_equal(a->n_install_dirs, 2);
	assert_string_equal(a->install_dirs[1], "AlphaGOTY");
	assert_int_equal(a->n_files, 3);
	assert_string_equal(a->files[0].path, "<base>/saves");
	assert_int_equal(a->files[0].n_when, 0);
	assert_string_equal(a->files[1].path, "<winDocuments>/Alpha: The Game");
	assert_int_equal(a->files[1].n_when, 2);
	assert_int_equal(a->files[1].when[0].os, LUD_OS_WINDOWS);
	assert_int_equal(a->files[1].when[0].store, LUD_STORE_ANY);
	assert_int_equal(a->files[1].when[1].os, LUD_OS_LINUX);
	assert_int_equal(a->files[1].when[1].store, LUD_STORE_OTHER);
	assert_string_equal(s.g[1].title, "Alpha GOTY");
	assert_string_equal(s.g[1].alias, "Alpha Game");
	assert_string_equal(s.g[2].title, "Beta");
	assert_int_equal(s.g[2].steam_id, 0);
	assert_int_equal(s.g[2].files[0].when[0].os, LUD_OS_MAC);
	assert_int_equal(s.g[2].files[0].when[0].store, LUD_STORE_STEAM);
	seen_clear(&s);
}

static void
test_applies(void **state)
{
	struct lud_when w[2] = {{LUD_OS_WINDOWS, LUD_STORE_ANY}, {LUD_OS_LINUX, LUD_STORE_OTHER}};
	struct lud_file f = {.path = (char *)(uintptr_t) "x", .when = w, .n_when = 2};
	struct lud_file always = {.path = (char *)(uintptr_t) "x"};

	(void)state;
	assert_true(lud_file_applies(&always, LUD_OS_LINUX));
	assert_true(lud_file_applies(&f, LUD_OS_WINDOWS));
	assert_false(lud_file_applies(&f, LUD_OS_LINUX)); /* Linux only from GOG */
	w[1].store = LUD_STORE_STEAM;
	assert_true(lud_file_applies(&f, LUD_OS_LINUX));
}

static void
test_errors(void **state)
{
	struct seen s = {.stop_after = 1};
	char err[256] = "";
	static const char bad[] = "A:\n  files:\n    x: {\n  bad: [\n";
	char path[PATH_MAX];
	int fd;

	(void)state;
	assert_int_equal(
	    lud_parse_string("m.yaml", manifest, strlen(manifest), on_game, &s, err, sizeof(err)),
	    -ECANCELED);
	assert_int_equal(s.n, 1);
	seen_clear(&s);
	s = (struct seen){.n = 0};
	assert_int_equal(lud_parse_string("m.yaml", bad, strlen(bad), on_game, &s, err, sizeof(err)),
			 -EINVAL);
	if (!strstr(err, "m.yaml:5: "))
		fail_msg("error '%s' lacks the line", err);
	seen_clear(&s);
	s = (struct seen){.n = 0};
	assert_int_equal(lud_parse_string("m.yaml", "- a\n- b\n", 8, on_game, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a map from game titles"));
	assert_int_equal(lud_parse_string("m.yaml", "", 0, on_game, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 0);
	fd = mkstemp(scratch_template(path, sizeof(path), "sk-lud"));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, manifest, strlen(manifest)), (ssize_t)strlen(manifest));
	close(fd);
	assert_int_equal(lud_parse_file(path, on_game, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	seen_clear(&s);
	unlink(path);
	assert_int_equal(lud_parse_file(path, on_game, &s, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
}

static void
expands(const struct lud_places *pl, const char *path, const char *want)
{
	char *got = NULL;

	assert_int_equal(lud_expand(path, pl, &got), 0);
	assert_string_equal(got, want);
	free(got);
}

static void
test_expand(void **state)
{
	struct lud_places pl = {
	    .home = "/h",
	    .root = "/h/Steam",
	    .game = "Game [GOTY]",
	    .base = "/lib/common/Game [GOTY]",
	    .store_user_id = "123",
	    .store_game_id = "42",
	    .os_user_name = "steamuser",
	    .win_documents = "/p/Documents",
	    .win_app_data = "/p/AppData/Roaming",
	    .win_local_app_data = "/p/AppData/Local",
	    .win_local_app_data_low = "/p/AppData/LocalLow",
	    .win_public = "/p/Public",
	    .win_program_data = "/p/ProgramData",
	    .win_dir = "/p/windows",
	    .xdg_data = "/h/.local/share",
	    .xdg_config = "/h/.config",
	};
	char *got = NULL, longp[PATH_MAX + 10];

	(void)state;
	expands(&pl, "<home>/.game/*.sav", "/h/.game/*.sav");
	expands(&pl, "<root>/steamapps/common/<game>/s", "/h/Steam/steamapps/common/Game \\[GOTY]/s");
	expands(&pl, "<base>/saves", "/lib/common/Game \\[GOTY]/saves");
	expands(&pl, "<root>/userdata/<storeUserId>/<storeGameId>/remote", "/h/Steam/userdata/123/42/remote");
	expands(&pl, "<root>/userdata/*<storeUserId>*/x", "/h/Steam/userdata/123/x");
	expands(&pl, "<winDocuments>/My Games/<osUserName>", "/p/Documents/My Games/steamuser");
	expands(&pl, "<winAppData>|<winLocalAppData>|<winLocalAppDataLow>",
		"/p/AppData/Roaming|/p/AppData/Local|/p/AppData/LocalLow");
	expands(&pl, "<winPublic>|<winProgramData>|<winDir>", "/p/Public|/p/ProgramData|/p/windows");
	expands(&pl, "<xdgData>/a|<xdgConfig>/b", "/h/.local/share/a|/h/.config/b");
	expands(&pl, "<home>/a<b", "/h/a<b");
	/* Folded case: the path's own letters match either case; values, escapes and bracket
	 * expressions stay as they are. */
	pl.fold_case = true;
	expands(&pl, "<winDocuments>/My Game/[!a]x\\*.SAV",
		"/p/Documents/[mM][yY] [gG][aA][mM][eE]/[!a][xX]\\*.[sS][aA][vV]");
	expands(&pl, "<base>/[unclosed", "/lib/common/Game \\[GOTY]/\\[[uU][nN][cC][lL][oO][sS][eE][dD]");
	pl.fold_case = false;
	pl.store_user_id = "*";
	expands(&pl, "<root>/userdata/<storeUserId>/x", "/h/Steam/userdata/*/x");
	pl.win_documents = NULL;
	assert_int_equal(lud_expand("<winDocuments>/x", &pl, &got), -ENOENT);
	assert_int_equal(lud_expand("<nope>/x", &pl, &got), -EINVAL);
	assert_int_equal(lud_expand("relative/<game>", &pl, &got), -EINVAL);
	assert_int_equal(lud_expand("", &pl, &got), -EINVAL);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(lud_expand(longp, &pl, &got), -ENAMETOOLONG);
	assert_null(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_games),
	    cmocka_unit_test(test_applies),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_expand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Discovery against a fake home laid out as Steam lays out its files (tests/fake-steam.sh): roots,
 * libraries, apps and Proton prefixes found; the manifest's paths expanded for native, Proton
 * and Flatpak games and looked up on disk; queries by title, alias and app id; a config's
 * steam_app resolved at load; and sections appended to a config without touching its text. */
#include <errno.h>
#include <libgen.h>
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

#include "config.h"
#include "config_edit.h"
#include "discover.h"
#include "discover_report.h"
#include "util.h"

static char home[64];

static int
setup(void **state)
{
	char cmd[PATH_MAX], src[] = __FILE__;

	(void)state;
	scratch_template(home, sizeof(home), "sk-disc");
	if (!mkdtemp(home))
		return -1;
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_DATA_HOME");
	snprintf(cmd, sizeof(cmd), "bash %s/../fake-steam.sh %s", dirname(src), home);
	return system(cmd) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	return system(cmd) == 0 ? 0 : -1;
}

/* "$HOME/rest" */
static const char *
at(const char *rest)
{
	static char buf[4][PATH_MAX + 64];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", home, rest);
	return buf[i];
}

static struct discovery *
run(const char *query, unsigned appid)
{
	struct disc_query q = {.query = query, .appid = appid};
	struct discovery *d = NULL;

	assert_int_equal(discover_run(&q, &d), 0);
	assert_true(d->manifest_read);
	return d;
}

static const struct disc_game *
game(const struct discovery *d, const char *title)
{
	for (size_t i = 0; i < d->n_games; i++)
		if (strcmp(d->games[i].title, title) == 0)
			return &d->games[i];
	fail_msg("no game '%s'", title);
	return NULL;
}

static bool
has_save(const struct disc_game *g, const char *folder, bool common)
{
	for (size_t i = 0; i < g->n_saves; i++)
		if (strcmp(g->saves[i].folder, folder) == 0)
			return g->saves[i].common == common;
	return false;
}

static void
test_steam(void **state)
{
	struct steam *s = NULL;
	const struct steam_app *lk, *fp;

	(void)state;
	assert_int_equal(steam_scan(home, &s), 0);
	/* ~/.steam/steam is the native root under another name. */
	assert_int_equal(s->n_roots, 2);
	assert_false(s->roots[0].flatpak);
	assert_true(s->roots[1].flatpak);
	assert_int_equal(s->roots[0].n_users, 1);
	assert_string_equal(s->roots[0].users[0], "12345678");
	assert_int_equal(s->n_libraries, 3);
	assert_int_equal(s->n_apps, 5);
	lk = steam_find_app(s, 900001);
	fp = steam_find_app(s, 900002);
	assert_non_null(lk);
	assert_string_equal(lk->name, "Lantern Keep");
	assert_string_equal(lk->library, at("games/SteamLibrary"));
	assert_string_equal(lk->prefix, at("games/SteamLibrary/steamapps/compatdata/900001/pfx"));
	assert_string_equal(fp->install_path, at(".local/share/Steam/steamapps/common/Frost Pines"));
	assert_null(fp->prefix);
	assert_int_equal(steam_find_app(s, 900003)->root, 1);
	assert_int_equal(s->n_warnings, 1);
	assert_non_null(strstr(s->warnings[0], "unplugged-disk/SteamLibrary"));
	steam_free(s);
}

static void
test_all_games(void **state)
{
	struct discovery *d = run(NULL, 0);
	const struct disc_game *fp = game(d, "Frost Pines"), *lk = game(d, "Lantern Keep");
	const char *pfx = "games/SteamLibrary/steamapps/compatdata/900001/pfx/drive_c/users/steamuser";
	char p[PATH_MAX];

	(void)state;
	assert_int_equal(d->n_games, 5);
	/* Native: <xdgData> with a glob over files in two folders, <xdgConfig>, <home> for Linux,
	 * <root>/.../<game>; not the Windows or GOG entries, not the home itself. */
	assert_int_equal(fp->n_saves, 4);
	assert_true(has_save(fp, at(".local/share/FrostPines"), true));
	assert_true(has_save(fp, at(".config/FrostPines"), false));
	assert_true(has_save(fp, at(".frostpines/profiles"), false));
	assert_true(has_save(fp, at(".local/share/Steam/steamapps/common/Frost Pines/userdata"), false));
	assert_int_equal(fp->n_notes, 1);
	assert_non_null(strstr(fp->notes[0], "holds far more than the saves"));
	/* Proton: the Windows folders inside the prefix, <base> in the second library, the cloud
	 * folder of the Steam user, and "**" as the folder before it. */
	assert_int_equal(lk->n_saves, 5);
	snprintf(p, sizeof(p), "%s/Documents/My Games/Lantern Keep/Saves", pfx);
	assert_true(has_save(lk, at(p), false));
	snprintf(p, sizeof(p), "%s/AppData/Roaming/LanternKeep", pfx);
	assert_true(has_save(lk, at(p), true));
	snprintf(p, sizeof(p), "%s/AppData/Local/LanternKeep", pfx);
	assert_true(has_save(lk, at(p), true));
	assert_true(has_save(lk, at("games/SteamLibrary/steamapps/common/LanternKeep/saves"), false));
	assert_true(has_save(lk, at(".local/share/Steam/userdata/12345678/900001/remote"), false));
	/* Flatpak: <xdgData> is the app's own. */
	assert_true(has_save(game(d, "Moss Harbor"),
			     at(".var/app/com.valvesoftware.Steam/.local/share/MossHarbor"), false));
	assert_false(game(d, "Tiny Tool")->in_manifest);
	discovery_free(d);
}

static void
test_queries(void **state)
{
	struct disc_query frost = {.query = "frost"}, exact = {.query = "frost PINES"};
	struct disc_query alias = {.query = "Lantern Keep GOTY"}, id = {.appid = 900003};
	struct discovery *d = run("frost", 0);

	(void)state;
	assert_int_equal(d->n_games, 2);
	assert_null(discover_pick(d, &frost));
	assert_string_equal(discover_pick(d, &exact)->title, "Frost Pines");
	discovery_free(d);
	d = run("Lantern Keep GOTY", 0);
	assert_string_equal(discover_pick(d, &alias)->title, "Lantern Keep");
	discovery_free(d);
	d = run(NULL, 900003);
	assert_int_equal(d->n_games, 1);
	assert_string_equal(discover_pick(d, &id)->title, "Moss Harbor");
	discovery_free(d);
	d = run("no such game", 0);
	assert_int_equal(d->n_games, 0);
	discovery_free(d);
}

static void
test_app_folders(void **state)
{
	struct disc_app_folder v[] = {{.appid = 900003}, {.appid = 900001}, {.appid = 42}, {.appid = 900004}};
	struct disc_app_folder none = {.appid = 900003};

	(void)state;
	assert_int_equal(discover_app_folders(v, ARRAY_SIZE(v), NULL), 0);
	assert_string_equal(v[0].path, at(".var/app/com.valvesoftware.Steam/.local/share/MossHarbor"));
	free(v[0].path);
	assert_null(v[1].path);
	assert_int_equal(v[1].error, -EEXIST);
	assert_non_null(strstr(v[1].why, "has 5 save folders"));
	assert_int_equal(v[2].error, -ENOENT);
	assert_non_null(strstr(v[2].why, at("games/SteamLibrary")));
	assert_int_equal(v[3].error, -ENOENT);
	assert_non_null(strstr(v[3].why, "not in the manifest"));
	assert_int_equal(discover_app_folders(&none, 1, "/nonexistent.yaml"), 0);
	assert_int_equal(none.error, -ENOENT);
	assert_non_null(strstr(none.why, "cannot read '/nonexistent.yaml'"));
}

static void
test_config_steam_app(void **state)
{
	static const char ok[] =
	    "[game \"moss\"]\nsteam_app = 900003\n[game \"meadow\"]\nsteam_app = 900005\n"
	    "[daemon]\nnotify = off\n";
	static const char none[] = "[game \"fp2\"]\n\nsteam_app = 900099\n";
	struct sk_config *cfg = NULL;
	char err[1024];

	(void)state;
	assert_int_equal(config_load_string("c.ini", ok, strlen(ok), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->games[0].path,
			    at(".var/app/com.valvesoftware.Steam/.local/share/MossHarbor"));
	assert_int_equal(cfg->games[0].steam_app, 900003);
	assert_string_equal(cfg->games[1].path, at(".local/share/QuietMeadow"));
	config_free(cfg);
	assert_int_equal(config_load_string("c.ini", none, strlen(none), &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(
	    strstr(err, "c.ini:3: game 'fp2': Steam app 900099 is not installed (libraries looked in: "));
}

static void
test_add_sections(void **state)
{
	static const char old[] =
	    "; my comment\n[daemon]\nnotify = off   ; inline\n\n[game \"frost-pines\"]\npath = ~/elsewhere";
	const char *file = at("c/sub/savekeeper.ini");
	struct discovery *d = run("frost pines", 0);
	struct disc_query q = {.query = "frost pines"};
	const struct disc_game *g = discover_pick(d, &q);
	struct sk_config *cfg = NULL;
	char err[1024], *text = NULL, buf[8192];
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(config_append(file, old, err, sizeof(err)), 0);
	assert_int_equal(config_load(file, &cfg, err, sizeof(err)), 0);
	assert_int_equal(discover_sections(g, cfg, &text, err, sizeof(err)), 4);
	assert_non_null(
	    strstr(text, "[game \"frost-pines-2\"]\nsteam_app = 900002\npath = ~/.local/share/FrostPines\n"));
	assert_non_null(strstr(text, "[game \"frost-pines-5\"]\nsteam_app = 900002\npath = "
				     "~/.local/share/Steam/steamapps/common/Frost Pines/userdata\n"));
	assert_int_equal(config_append(file, text, err, sizeof(err)), 0);
	free(text);
	f = fopen(file, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The old text is kept byte for byte, its last line given its line end. */
	assert_memory_equal(buf, old, strlen(old));
	assert_int_equal(buf[strlen(old)], '\n');
	config_free(cfg);
	assert_int_equal(config_load(file, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->n_games, 5);
	assert_int_equal(discover_sections(g, cfg, &text, err, sizeof(err)), 0);
	free(text);
	config_free(cfg);
	/* A config that would not load is not written. */
	assert_int_equal(config_append(file, "[game \"bad name\"]\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid game name"));
	discovery_free(d);
}

/* More installed games than a title query keeps are all listed, each with its manifest entry. */
static void
test_many_installed(void **state)
{
	char dir[256], path[PATH_MAX], cmd[PATH_MAX];
	struct disc_query q = {.home = dir, .manifest = path};
	struct discovery *d = NULL;
	size_t in_manifest = 0;
	FILE *m, *f;

	(void)state;
	assert_non_null(mkdtemp(scratch_template(dir, sizeof(dir), "sk-many")));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/.local/share/Steam/steamapps", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/manifest.yaml", dir);
	m = fopen(path, "w");
	for (int i = 0; i < DISC_QUERY_MAX + 10; i++) {
		snprintf(cmd, sizeof(cmd), "%s/.local/share/Steam/steamapps/appmanifest_%d.acf", dir,
			 1000 + i);
		f = fopen(cmd, "w");
		fprintf(f, "\"AppState\" { \"appid\" \"%d\" \"name\" \"Game %d\" \"installdir\" \"G%d\" }\n",
			1000 + i, i, i);
		fclose(f);
		fprintf(m, "Game %d:\n  files:\n    <home>/g%d: {}\n  steam:\n    id: %d\n", i, i, 1000 + i);
	}
	fclose(m);
	assert_int_equal(discover_run(&q, &d), 0);
	assert_int_equal(d->n_games, DISC_QUERY_MAX + 10);
	for (size_t i = 0; i < d->n_games; i++)
		in_manifest += d->games[i].in_manifest;
	assert_int_equal(in_manifest, DISC_QUERY_MAX + 10);
	discovery_free(d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_slug_and_values(void **state)
{
	static const char *const cases[][2] = {
	    {"The Elder Scrolls V: Skyrim Special Edition", "the-elder-scrolls-v-skyrim-special-edition"},
	    {"  ...Hello, World!!", "hello-world"},
	    {"Café 2.0_beta", "caf-2.0_beta"},
	    {"???", "game"},
	    {"a very long title that goes on and on and on past the limit of names", NULL},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *s = discover_slug(cases[i][0]);
		assert_true(game_name_valid(s));
		assert_true(strlen(s) <= 48);
		if (cases[i][1])
			assert_string_equal(s, cases[i][1]);
		free(s);
	}
	assert_null(config_value_problem("/a/b c/d;e"));
	assert_non_null(config_value_problem("/a ;b"));
	assert_non_null(config_value_problem("/a\nb"));
	assert_non_null(config_value_problem("/a "));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_steam),
	    cmocka_unit_test(test_all_games),
	    cmocka_unit_test(test_queries),
	    cmocka_unit_test(test_app_folders),
	    cmocka_unit_test(test_config_steam_app),
	    cmocka_unit_test(test_add_sections),
	    cmocka_unit_test(test_many_installed),
	    cmocka_unit_test(test_slug_and_values),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* Reports of a discovery, and the config sections of a game found. */
#include "discover_report.h"
#include "config_edit.h"
#include "strv.h"
#include "util.h"

#include <limits.h>
#include <string.h>

size_t
discover_configured(const struct disc_game *g, const struct sk_config *cfg, const char **names, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; cfg && i < cfg->n_games; i++) {
		const struct sk_game *c = &cfg->games[i];
		bool same = g->app && c->steam_app == g->app->appid;
		for (size_t j = 0; !same && j < g->n_saves; j++)
			same = c->path && strcmp(c->path, g->saves[j].folder) == 0;
		if (same && n < max)
			names[n] = c->name;
		n += same;
	}
	return n;
}

static struct json_object *
jstrv(char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static struct json_object *
jstr_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *
game_json(const struct disc_game *g, const struct sk_config *cfg)
{
	struct json_object *o = json_object_new_object(), *saves = json_object_new_array();
	struct json_object *conf = json_object_new_array();
	const char *names[64];
	size_t n = discover_configured(g, cfg, names, ARRAY_SIZE(names));
	const struct steam_app *a = g->app;

	json_object_object_add(o, "title", json_object_new_string(g->title));
	json_object_object_add(o, "aliases", jstrv(g->aliases, g->n_aliases));
	json_object_object_add(o, "steam_app", a ? json_object_new_int64(a->appid) : NULL);
	json_object_object_add(o, "steam_name", jstr_or_null(a ? a->name : NULL));
	json_object_object_add(o, "install_path", jstr_or_null(a ? a->install_path : NULL));
	json_object_object_add(o, "library", jstr_or_null(a ? a->library : NULL));
	json_object_object_add(o, "proton_prefix", jstr_or_null(a ? a->prefix : NULL));
	json_object_object_add(o, "in_manifest", json_object_new_boolean(g->in_manifest));
	for (size_t i = 0; i < g->n_saves; i++) {
		struct json_object *s = json_object_new_object();
		json_object_object_add(s, "folder", json_object_new_string(g->saves[i].folder));
		json_object_object_add(s, "pattern", json_object_new_string(g->saves[i].pattern));
		json_object_object_add(s, "common_folder", json_object_new_boolean(g->saves[i].common));
		json_object_array_add(saves, s);
	}
	json_object_object_add(o, "saves", saves);
	json_object_object_add(o, "notes", jstrv(g->notes, g->n_notes));
	for (size_t i = 0; i < n && i < ARRAY_SIZE(names); i++)
		json_object_array_add(conf, json_object_new_string(names[i]));
	json_object_object_add(o, "configured", conf);
	return o;
}

static struct json_object *
roots_json(const struct steam *s)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < s->n_roots; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "path", json_object_new_string(s->roots[i].path));
		json_object_object_add(o, "flatpak", json_object_new_boolean(s->roots[i].flatpak));
		json_object_object_add(o, "users", jstrv(s->roots[i].users, s->roots[i].n_users));
		json_object_array_add(a, o);
	}
	return a;
}

struct json_object *
discover_json(const struct discovery *d, const struct sk_config *cfg)
{
	struct json_object *o = json_object_new_object(), *games = json_object_new_array();

	if (!o || !games) {
		json_object_put(o);
		json_object_put(games);
		return NULL;
	}
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	json_object_object_add(o, "manifest", json_object_new_string(d->manifest));
	json_object_object_add(o, "manifest_read", json_object_new_boolean(d->manifest_read));
	json_object_object_add(o, "steam_roots", roots_json(d->steam));
	json_object_object_add(o, "libraries", jstrv(d->steam->libraries, d->steam->n_libraries));
	for (size_t i = 0; i < d->n_games; i++)
		json_object_array_add(games, game_json(&d->games[i], cfg));
	json_object_object_add(o, "games", games);
	json_object_object_add(o, "warnings", jstrv(d->warnings, d->n_warnings));
	return o;
}

/* "Steam app 900001, Proton" and where it is configured. */
static void
print_game(FILE *f, const struct disc_game *g, const struct sk_config *cfg)
{
	const char *names[8];
	size_t n = discover_configured(g, cfg, names, ARRAY_SIZE(names));

	fprintf(f, "%s", g->title);
	if (g->app)
		fprintf(f, " (Steam app %u, %s)", g->app->appid, g->app->prefix ? "Proton" : "native");
	for (size_t i = 0; i < n && i < ARRAY_SIZE(names); i++)
		fprintf(f, "%s%s", i ? ", " : " - configured as ", names[i]);
	fputc('\n', f);
	if (g->app)
		fprintf(f, "  installed in %s\n", g->app->install_path);
	if (g->app && g->app->prefix)
		fprintf(f, "  Proton prefix %s\n", g->app->prefix);
	for (size_t i = 0; i < g->n_saves; i++) {
		fprintf(f, "  saves  %s\n", g->saves[i].folder);
		if (g->saves[i].common)
			fprintf(f, "         (the folder of the files matching %s)\n", g->saves[i].pattern);
	}
	for (size_t i = 0; i < g->n_notes; i++)
		fprintf(f, "  note: %s\n", g->notes[i]);
	if (!g->in_manifest)
		fprintf(f, "  not in the manifest: its save folder is not known\n");
	else if (g->n_saves == 0)
		fprintf(f, "  no save folder exists yet\n");
}

void
discover_print(FILE *f, const struct discovery *d, const struct sk_config *cfg)
{
	for (size_t i = 0; i < d->steam->n_roots; i++)
		fprintf(f, "Steam: %s%s (%zu user%s)\n", d->steam->roots[i].path,
			d->steam->roots[i].flatpak ? " (Flatpak)" : "", d->steam->roots[i].n_users,
			d->steam->roots[i].n_users == 1 ? "" : "s");
	if (d->steam->n_roots == 0)
		fprintf(f, "Steam: not found under the home folder\n");
	fprintf(f, "Manifest: %s%s\n", d->manifest, d->manifest_read ? "" : " (not read)");
	for (size_t i = 0; i < d->n_warnings; i++)
		fprintf(f, "warning: %s\n", d->warnings[i]);
	fputc('\n', f);
	for (size_t i = 0; i < d->n_games; i++)
		print_game(f, &d->games[i], cfg);
	if (d->n_games == 0)
		fprintf(f, "no games found\n");
}

/* A name for a new section: base, else base-2, base-3... not used by cfg or earlier sections. */
static void
section_name(const char *base, size_t first, const struct sk_config *cfg, char *const *taken, size_t n_taken,
	     char *buf, size_t len)
{
	for (size_t k = first;; k++) {
		if (k < 2)
			snprintf(buf, len, "%s", base);
		else
			snprintf(buf, len, "%s-%zu", base, k);
		if (!(cfg && config_find_game(cfg, buf)) && !strv_contains(taken, n_taken, buf))
			return;
	}
}

/* path with the home folder written as "~", as a player would write it. */
static void
tilde(const char *path, char *buf, size_t len)
{
	_cleanup_free_ char *home = expand_home("~");
	size_t n = home ? strlen(home) : 0;

	if (n > 1 && strncmp(path, home, n) == 0 && path[n] == '/')
		snprintf(buf, len, "~%s", path + n);
	else
		snprintf(buf, len, "%s", path);
}

/* s on one line: control characters as blanks, for a comment. */
static void
one_line(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", s);
	for (char *c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
}

/* One [game] section for one save folder, with a comment that says where it comes from. */
static int
section_text(const struct disc_game *g, const struct disc_save *s, const char *name, char **text)
{
	char path[PATH_MAX + 2], app[32] = "", title[256], pattern[PATH_MAX];
	char *t;

	tilde(s->folder, path, sizeof(path));
	one_line(g->title, title, sizeof(title));
	one_line(s->pattern, pattern, sizeof(pattern));
	if (g->app)
		snprintf(app, sizeof(app), "steam_app = %u\n", g->app->appid);
	if (asprintf(&t, "%s\n; %s%s, found by savekeeperctl add%s%s\n[game \"%s\"]\n%spath = %s\n", *text,
		     title, g->app ? " (Steam)" : "", s->common ? ": the folder of " : "",
		     s->common ? pattern : "", name, app, path) < 0)
		return -ENOMEM;
	free(*text);
	*text = t;
	return 0;
}

/* True if cfg has folder, or a folder inside or around it: one archive would hold the other's
 * files, so the folder is left to the player. */
static bool
folder_configured(const struct sk_config *cfg, const char *folder)
{
	for (size_t i = 0; cfg && i < cfg->n_games; i++) {
		const char *p = cfg->games[i].path;
		if (p && (path_within(p, folder) || path_within(folder, p)))
			return true;
	}
	return false;
}

int
discover_sections(const struct disc_game *g, const struct sk_config *cfg, char **ret, char *err,
		  size_t errlen)
{
	_cleanup_free_ char *slug = discover_slug(g->title), *text = strdup("");
	char **taken = NULL;
	size_t n = 0;
	int r = slug && text ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < g->n_saves; i++) {
		const char *problem = config_value_problem(g->saves[i].folder);
		char name[80];
		if (folder_configured(cfg, g->saves[i].folder))
			continue;
		if (problem) {
			snprintf(err, errlen, "cannot write the folder '%s' into the config: %s",
				 g->saves[i].folder, problem);
			r = -EINVAL;
			break;
		}
		section_name(slug, n + 1, cfg, taken, n, name, sizeof(name));
		r = strv_push(&taken, &n, name);
		if (r >= 0)
			r = section_text(g, &g->saves[i], name, &text);
	}
	strv_free(taken, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(text);
	return (int)n;
}

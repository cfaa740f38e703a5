/* Games and their save folders. The manifest is streamed once (twice when a matched alias names
 * a game the first pass had already passed), keeping only the entries the query asks for; each
 * kept entry's paths are expanded with the game's places and looked up with glob(3). */
#include "discover.h"
#include "config.h"
#include "ludusavi.h"
#include "strv.h"
#include "util.h"

#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define NORM_MAX 256
/* Matches of one pattern looked at, past which the rest are ignored. */
#define GLOB_MATCHES_MAX 10000

/* A manifest entry the query wants, and the installed app it belongs to. */
struct kept {
	struct lud_game g;
	const struct steam_app *app;
	char **aliases;
	size_t n_aliases;
};

struct collect {
	struct discovery *d;
	const struct disc_query *q;
	char qnorm[NORM_MAX];
	struct kept *kept;
	size_t n_kept;
	char **targets; /* titles that matched aliases name */
	size_t n_targets;
	bool second_pass;
};

/* s in lower case with only its letters, digits and non-ASCII bytes: "Half-Life 2" -> "halflife2". */
static void
norm(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 1 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c >= 0x80)
			buf[n++] = (char)c;
		else if (c >= 'A' && c <= 'Z')
			buf[n++] = (char)(c - 'A' + 'a');
	}
	buf[n] = '\0';
}

static bool
norm_contains(const char *s, const char *qnorm)
{
	char b[NORM_MAX];

	norm(s, b, sizeof(b));
	return qnorm[0] && strstr(b, qnorm);
}

static bool
norm_equal(const char *s, const char *qnorm)
{
	char b[NORM_MAX];

	norm(s, b, sizeof(b));
	return qnorm[0] && strcmp(b, qnorm) == 0;
}

static int
keep(struct collect *c, struct lud_game *g, const struct steam_app *app)
{
	struct kept *v;

	/* A title query keeps a bounded list of candidates; the installed games are all kept. */
	if (c->q->query && c->n_kept >= DISC_QUERY_MAX)
		return 0;
	v = reallocarray(c->kept, c->n_kept + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->kept = v;
	v[c->n_kept++] = (struct kept){.g = *g, .app = app};
	*g = (struct lud_game){0};
	return 0;
}

static struct kept *
kept_find(struct collect *c, const char *title)
{
	for (size_t i = 0; i < c->n_kept; i++)
		if (strcmp(c->kept[i].g.title, title) == 0)
			return &c->kept[i];
	return NULL;
}

/* True if q asks for app ids, and id is one of them. */
static bool
query_has_app(const struct disc_query *q, unsigned id)
{
	if (id && id == q->appid)
		return true;
	for (size_t i = 0; id && i < q->n_appids; i++)
		if (q->appids[i] == id)
			return true;
	return false;
}

static bool
query_by_app(const struct disc_query *q)
{
	return q->appid || q->n_appids;
}

/* The first pass: entries of installed apps (all, or the one asked for), and titles that match. */
static int
first_pass(struct collect *c, struct lud_game *g, const struct steam_app *app)
{
	const struct disc_query *q = c->q;
	bool match;

	if (!q->query && !query_by_app(q))
		return app ? keep(c, g, app) : 0;
	if (query_by_app(q))
		return query_has_app(q, g->steam_id) ? keep(c, g, app) : 0;
	match = norm_contains(g->title, c->qnorm) || (app && norm_contains(app->name, c->qnorm));
	if (!match)
		return 0;
	if (g->alias) {
		if (strv_contains(c->targets, c->n_targets, g->alias))
			return 0;
		return strv_push(&c->targets, &c->n_targets, g->alias) < 0 ||
			       strv_push(&c->targets, &c->n_targets, g->title) < 0
			   ? -ENOMEM
			   : 0;
	}
	return keep(c, g, app);
}

/* Called for each manifest entry. targets holds pairs (alias target, alias title). */
static int
on_game(struct lud_game *g, void *userdata)
{
	struct collect *c = userdata;
	const struct steam_app *app = g->steam_id ? steam_find_app(c->d->steam, g->steam_id) : NULL;

	if (!c->second_pass)
		return first_pass(c, g, app);
	for (size_t i = 0; i < c->n_targets; i += 2)
		if (strcmp(c->targets[i], g->title) == 0 && !kept_find(c, g->title))
			return keep(c, g, app);
	return 0;
}

/* Streams the manifest through on_game; a second pass finds alias targets the first passed. */
static int
read_manifest(struct collect *c)
{
	char err[PATH_MAX + 256];
	int r = lud_parse_file(c->d->manifest, on_game, c, err, sizeof(err));
	bool missing = false;

	for (size_t i = 0; r >= 0 && i < c->n_targets; i += 2)
		missing |= !kept_find(c, c->targets[i]);
	if (r >= 0 && missing) {
		c->second_pass = true;
		r = lud_parse_file(c->d->manifest, on_game, c, err, sizeof(err));
	}
	for (size_t i = 0; r >= 0 && i < c->n_targets; i += 2) {
		struct kept *k = kept_find(c, c->targets[i]);
		if (k && strv_push(&k->aliases, &k->n_aliases, c->targets[i + 1]) < 0)
			return -ENOMEM;
	}
	if (r == -ENOMEM)
		return r;
	c->d->manifest_read = r >= 0;
	if (r >= 0)
		return 0;
	c->d->manifest_error = strdup(err);
	return c->d->manifest_error ? strv_push(&c->d->warnings, &c->d->n_warnings, err) : -ENOMEM;
}

/* The folders a game's placeholders stand for, and the strings they are built in. */
struct places {
	struct lud_places pl;
	enum lud_os os;
	char home[PATH_MAX], user[PATH_MAX], docs[PATH_MAX], roaming[PATH_MAX], local[PATH_MAX];
	char low[PATH_MAX], pub[PATH_MAX], progdata[PATH_MAX], windir[PATH_MAX];
	char xdg_data[PATH_MAX], xdg_config[PATH_MAX], appid[16], common[PATH_MAX];
};

/* $VAR when it is an absolute path, else home/fallback. */
static void
xdg_dir(char *buf, const char *var, const char *home, const char *fallback, bool flatpak)
{
	const char *v = getenv(var);

	if (v && v[0] == '/' && !flatpak)
		snprintf(buf, PATH_MAX, "%s", v);
	else
		snprintf(buf, PATH_MAX, "%s/%s", home, fallback);
}

static const char *
user_name(void)
{
	struct passwd *pw = getpwuid(getuid());

	return pw ? pw->pw_name : getenv("USER");
}

/* buf = a + b, a path; one longer than PATH_MAX cannot exist, so it is cut rather than failed. */
static void
path_set(char *buf, const char *a, const char *b)
{
	if (snprintf(buf, PATH_MAX, "%s%s", a, b) >= PATH_MAX)
		buf[PATH_MAX - 1] = '\0';
}

/* A Windows game's folders inside its Proton prefix, as Wine makes them for Steam's user. */
static void
places_proton(struct places *p, const char *prefix)
{
	path_set(p->user, prefix, "/drive_c/users/steamuser");
	path_set(p->docs, p->user, "/Documents");
	path_set(p->roaming, p->user, "/AppData/Roaming");
	path_set(p->local, p->user, "/AppData/Local");
	path_set(p->low, p->user, "/AppData/LocalLow");
	path_set(p->pub, prefix, "/drive_c/users/Public");
	path_set(p->progdata, prefix, "/drive_c/ProgramData");
	path_set(p->windir, prefix, "/drive_c/windows");
	p->pl.home = p->user;
	p->pl.os_user_name = "steamuser";
	p->pl.win_documents = p->docs;
	p->pl.win_app_data = p->roaming;
	p->pl.win_local_app_data = p->local;
	p->pl.win_local_app_data_low = p->low;
	p->pl.win_public = p->pub;
	p->pl.win_program_data = p->progdata;
	p->pl.win_dir = p->windir;
	p->os = LUD_OS_WINDOWS;
}

/* The places of a game: Linux ones (proton false), or those of its Proton prefix. Under the
 * Flatpak Steam a game's home is the app's folder, ~/.var/app/com.valvesoftware.Steam. */
static void
places_init(struct places *p, const char *home, const struct discovery *d, const struct steam_app *app,
	    bool proton)
{
	bool flatpak = app && d->steam->roots[app->root].flatpak;

	*p = (struct places){.os = LUD_OS_LINUX};
	if (flatpak)
		snprintf(p->home, PATH_MAX, "%s/.var/app/%s", home, STEAM_FLATPAK_ID);
	else
		snprintf(p->home, PATH_MAX, "%s", home);
	xdg_dir(p->xdg_data, "XDG_DATA_HOME", p->home, ".local/share", flatpak);
	xdg_dir(p->xdg_config, "XDG_CONFIG_HOME", p->home, ".config", flatpak);
	p->pl.home = p->home;
	p->pl.xdg_data = p->xdg_data;
	p->pl.xdg_config = p->xdg_config;
	p->pl.os_user_name = user_name();
	if (app) {
		snprintf(p->appid, sizeof(p->appid), "%u", app->appid);
		path_set(p->common, app->library, "/steamapps/common");
		/* <root> is the Steam root, where userdata is; <base> finds a game in any library. */
		p->pl.root = d->steam->roots[app->root].path;
		p->pl.game = app->installdir;
		p->pl.base = app->install_path;
		p->pl.store_game_id = p->appid;
	}
	if (proton)
		places_proton(p, app->prefix);
}

/* True if folder is one of the places, or holds one: saving it would take far more than saves. */
static bool
too_broad(const struct places *p, const struct steam_app *app, const char *folder)
{
	const char *v[] = {p->pl.home,
			   p->pl.root,
			   p->pl.base,
			   p->pl.win_documents,
			   p->pl.win_app_data,
			   p->pl.win_local_app_data,
			   p->pl.win_local_app_data_low,
			   p->pl.win_public,
			   p->pl.win_program_data,
			   p->pl.win_dir,
			   p->pl.xdg_data,
			   p->pl.xdg_config,
			   app ? p->common : NULL,
			   app ? app->prefix : NULL};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		if (v[i] && path_within(v[i], folder))
			return true;
	return false;
}

static int
note(struct disc_game *dg, const char *fmt, const char *a, const char *b)
{
	char msg[PATH_MAX * 2 + 128];

	snprintf(msg, sizeof(msg), fmt, a, b);
	return strv_push(&dg->notes, &dg->n_notes, msg);
}

/* Adds a save folder to dg unless it is too broad or already there. */
static int
add_save(struct disc_game *dg, const struct places *p, const char *folder, const char *pattern, bool common)
{
	struct disc_save *v;

	if (too_broad(p, dg->app, folder))
		return note(dg, "%s is left out: it holds far more than the saves (from %s)", folder,
			    pattern);
	for (size_t i = 0; i < dg->n_saves; i++)
		if (strcmp(dg->saves[i].folder, folder) == 0)
			return 0;
	v = reallocarray(dg->saves, dg->n_saves + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	dg->saves = v;
	v[dg->n_saves] =
	    (struct disc_save){.folder = strdup(folder), .pattern = strdup(pattern), .common = common};
	if (!v[dg->n_saves].folder || !v[dg->n_saves].pattern)
		return -ENOMEM;
	dg->n_saves++;
	return 0;
}

/* Cuts common down to the folders it shares with dir. */
static void
common_folder(char *common, const char *dir)
{
	size_t n = 0;

	while (common[n] && common[n] == dir[n])
		n++;
	if (common[n] == '\0' && (dir[n] == '/' || dir[n] == '\0'))
		return;
	while (n > 0 && common[n] != '/')
		n--;
	common[n ? n : 1] = '\0';
}

/* Looks glob_pattern up (pattern is its plain form, for messages): a folder it matches is a save
 * folder; the files it matches give the deepest folder that holds them all. glob(3) reads "**" as "*", one
 * level, where Ludusavi means any depth: such a pattern stands for the folders its part before the "**"
 * matches. */
static int
find_saves(struct disc_game *dg, const struct places *p, const char *glob_pattern, const char *pattern)
{
	char common[PATH_MAX] = "", head[PATH_MAX];
	const char *deep = strstr(glob_pattern, "/**");
	glob_t gl;
	int r = 0;

	snprintf(head, sizeof(head), "%.*s", deep ? (int)(deep - glob_pattern) : (int)strlen(glob_pattern),
		 glob_pattern);
	if (glob(head, 0, NULL, &gl) != 0)
		return 0;
	for (size_t i = 0; r >= 0 && i < gl.gl_pathc && i < GLOB_MATCHES_MAX; i++) {
		struct stat st;
		char *slash;
		if (stat(gl.gl_pathv[i], &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			r = add_save(dg, p, gl.gl_pathv[i], pattern, deep != NULL);
			continue;
		}
		slash = strrchr(gl.gl_pathv[i], '/');
		if (!S_ISREG(st.st_mode) || !slash)
			continue;
		*slash = '\0';
		if (!common[0])
			snprintf(common, sizeof(common), "%s",
				 slash == gl.gl_pathv[i] ? "/" : gl.gl_pathv[i]);
		else
			common_folder(common, gl.gl_pathv[i]);
	}
	if (r >= 0 && common[0])
		r = add_save(dg, p, common, pattern, true);
	globfree(&gl);
	return r;
}

/* Expands one manifest path with p for each Steam user id (or any, "*") and looks it up. */
static int
expand_file(struct disc_game *dg, const struct discovery *d, const struct places *p, const char *path)
{
	const struct steam_root *root = dg->app ? &d->steam->roots[dg->app->root] : NULL;
	size_t n = root && root->n_users ? root->n_users : 1;
	int r = 0;

	for (size_t u = 0; r >= 0 && u < n; u++) {
		struct lud_places pl = p->pl;
		_cleanup_free_ char *pattern = NULL, *glob_pattern = NULL;
		pl.store_user_id = root && root->n_users ? root->users[u] : "*";
		r = lud_expand(path, &pl, &pattern);
		if (r == -ENOMEM)
			return r;
		if (r < 0 || strv_contains(dg->tried, dg->n_tried, pattern)) {
			r = 0;
			continue;
		}
		/* Windows does not tell case apart, so a Windows game's folder may not have the
		 * manifest's: its pattern matches either; messages show the plain one. */
		pl.fold_case = p->os == LUD_OS_WINDOWS;
		r = lud_expand(path, &pl, &glob_pattern);
		if (r >= 0)
			r = strv_push(&dg->tried, &dg->n_tried, pattern);
		if (r >= 0)
			r = find_saves(dg, p, glob_pattern, pattern);
	}
	return r;
}

/* Looks up every file entry of g that applies, with Linux places and, for a game that has a
 * Proton prefix, with the prefix's Windows ones. */
static int
game_saves(struct disc_game *dg, const struct discovery *d, const char *home, const struct lud_game *g)
{
	struct places *p = malloc(sizeof(*p));
	int r = p ? 0 : -ENOMEM;

	for (int proton = 0; r >= 0 && proton < 2; proton++) {
		if (proton && !(dg->app && dg->app->prefix))
			break;
		places_init(p, home, d, dg->app, proton);
		for (size_t i = 0; r >= 0 && i < g->n_files; i++)
			if (lud_file_applies(&g->files[i], p->os))
				r = expand_file(dg, d, p, g->files[i].path);
	}
	free(p);
	return r;
}

/* Drops a save folder that lies inside another: the outer one's archive holds it already. */
static int
drop_nested(struct disc_game *dg)
{
	for (size_t i = 0; i < dg->n_saves; i++)
		for (size_t j = 0; j < dg->n_saves; j++) {
			const char *in = dg->saves[i].folder, *out = dg->saves[j].folder;
			if (i == j || !path_within(in, out))
				continue;
			if (note(dg, "%s is left out: it is inside %s", in, out) < 0)
				return -ENOMEM;
			free(dg->saves[i].folder);
			free(dg->saves[i].pattern);
			memmove(&dg->saves[i], &dg->saves[i + 1], (dg->n_saves - i - 1) * sizeof(*dg->saves));
			dg->n_saves--;
			i--;
			break;
		}
	return 0;
}

static struct disc_game *
game_append(struct discovery *d, const char *title, const struct steam_app *app)
{
	struct disc_game *v = reallocarray(d->games, d->n_games + 1, sizeof(*v));

	if (!v)
		return NULL;
	d->games = v;
	v[d->n_games] = (struct disc_game){.title = strdup(title), .app = app};
	return v[d->n_games].title ? &v[d->n_games++] : NULL;
}

/* The kept manifest entries as games with their save folders. */
static int
games_from_kept(struct discovery *d, struct collect *c, const char *home)
{
	for (size_t i = 0; i < c->n_kept; i++) {
		struct kept *k = &c->kept[i];
		struct disc_game *dg = game_append(d, k->g.title, k->app);
		int r;
		if (!dg)
			return -ENOMEM;
		dg->in_manifest = true;
		dg->aliases = TAKE_PTR(k->aliases);
		dg->n_aliases = k->n_aliases;
		k->n_aliases = 0;
		r = game_saves(dg, d, home, &k->g);
		if (r >= 0)
			r = drop_nested(dg);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool
app_has_game(const struct discovery *d, const struct steam_app *app)
{
	for (size_t i = 0; i < d->n_games; i++)
		if (d->games[i].app == app)
			return true;
	return false;
}

/* Installed apps the manifest does not know, when the query asks for them: listed, without saves. */
static int
games_from_steam(struct discovery *d, const struct collect *c)
{
	for (size_t i = 0; i < d->steam->n_apps; i++) {
		const struct steam_app *app = &d->steam->apps[i];
		bool wanted = query_by_app(c->q) ? query_has_app(c->q, app->appid)
			      : c->q->query	 ? norm_contains(app->name, c->qnorm)
						 : true;
		if (wanted && !app_has_game(d, app) && !game_append(d, app->name, app))
			return -ENOMEM;
	}
	return 0;
}

static void
collect_clear(struct collect *c)
{
	for (size_t i = 0; i < c->n_kept; i++) {
		lud_game_clear(&c->kept[i].g);
		strv_free(c->kept[i].aliases, c->kept[i].n_aliases);
	}
	free(c->kept);
	strv_free(c->targets, c->n_targets);
}

int
discover_run(const struct disc_query *q, struct discovery **ret)
{
	_cleanup_free_ char *home = q->home ? strdup(q->home) : expand_home("~");
	struct discovery *d = calloc(1, sizeof(*d));
	struct collect c = {.d = d, .q = q};
	int r = home && d ? 0 : -ENOMEM;

	if (r >= 0)
		d->manifest = q->manifest ? strdup(q->manifest) : discover_default_manifest();
	if (r >= 0 && !d->manifest)
		r = -ENOMEM;
	if (r >= 0)
		r = steam_scan(home, &d->steam);
	norm(q->query ? q->query : "", c.qnorm, sizeof(c.qnorm));
	if (r >= 0)
		r = read_manifest(&c);
	if (r >= 0)
		r = games_from_kept(d, &c, home);
	if (r >= 0)
		r = games_from_steam(d, &c);
	for (size_t i = 0; r >= 0 && i < d->steam->n_warnings; i++)
		r = strv_push(&d->warnings, &d->n_warnings, d->steam->warnings[i]);
	collect_clear(&c);
	if (r < 0) {
		discovery_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

/* True if g is the game q names exactly. */
static bool
game_is(const struct disc_game *g, const struct disc_query *q, const char *qnorm)
{
	if (query_by_app(q))
		return g->app && query_has_app(q, g->app->appid);
	if (norm_equal(g->title, qnorm) || (g->app && norm_equal(g->app->name, qnorm)))
		return true;
	for (size_t i = 0; i < g->n_aliases; i++)
		if (norm_equal(g->aliases[i], qnorm))
			return true;
	return false;
}

const struct disc_game *
discover_pick(const struct discovery *d, const struct disc_query *q)
{
	const struct disc_game *found = NULL;
	char qnorm[NORM_MAX];
	size_t n = 0;

	norm(q->query ? q->query : "", qnorm, sizeof(qnorm));
	for (size_t i = 0; i < d->n_games; i++)
		if (game_is(&d->games[i], q, qnorm)) {
			found = &d->games[i];
			n++;
		}
	if (n == 1)
		return found;
	return n == 0 && q->query && d->n_games == 1 ? &d->games[0] : NULL;
}

char *
discover_default_manifest(void)
{
	const char *v = getenv("XDG_CONFIG_HOME");
	char *s;

	if (v && v[0] == '/')
		return asprintf(&s, "%s/ludusavi/manifest.yaml", v) < 0 ? NULL : s;
	return expand_home("~/.config/ludusavi/manifest.yaml");
}

char *
discover_slug(const char *title)
{
	char buf[49] = "";
	size_t n = 0;

	for (const char *s = title; *s && n < sizeof(buf) - 1; s++) {
		char c = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
		/* A name must not start with '.': "." and ".." are not names. */
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '.' && n > 0) || c == '_')
			buf[n++] = c;
		else if (n > 0 && buf[n - 1] != '-')
			buf[n++] = '-';
	}
	while (n > 0 && (buf[n - 1] == '-' || buf[n - 1] == '.'))
		n--;
	buf[n] = '\0';
	return strdup(n ? buf : "game");
}

static void
game_clear(struct disc_game *g)
{
	free(g->title);
	strv_free(g->aliases, g->n_aliases);
	for (size_t i = 0; i < g->n_saves; i++) {
		free(g->saves[i].folder);
		free(g->saves[i].pattern);
	}
	free(g->saves);
	strv_free(g->tried, g->n_tried);
	strv_free(g->notes, g->n_notes);
}

void
discovery_free(struct discovery *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_games; i++)
		game_clear(&d->games[i]);
	free(d->games);
	free(d->manifest);
	free(d->manifest_error);
	steam_free(d->steam);
	strv_free(d->warnings, d->n_warnings);
	free(d);
}

/* "a, b, c" from a list, cut to fit len. */
static void
join(char *buf, size_t len, char *const *v, size_t n)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && pos < len; i++)
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? ", " : "", v[i]);
}

/* Why app has no one save folder, into why; returns the error. */
static int
app_folder_problem(const struct discovery *d, unsigned appid, const struct disc_game *g, char *why,
		   size_t len)
{
	char list[640];

	if (!steam_find_app(d->steam, appid)) {
		join(list, sizeof(list), d->steam->libraries, d->steam->n_libraries);
		snprintf(why, len, "Steam app %u is not installed (libraries looked in: %s)", appid,
			 d->steam->n_libraries ? list : "none: no Steam root under the home folder");
	} else if (!d->manifest_read) {
		snprintf(
		    why, len,
		    "no Ludusavi manifest to find its saves (%s; get it with 'ludusavi manifest update')",
		    d->manifest_error ? d->manifest_error : d->manifest);
	} else if (!g || !g->in_manifest) {
		snprintf(why, len, "Steam app %u is not in the manifest %s; set path", appid, d->manifest);
	} else if (g->n_saves == 0) {
		join(list, sizeof(list), g->tried, g->n_tried);
		snprintf(why, len, "no save folder of '%s' exists yet (looked for: %s)", g->title,
			 g->n_tried ? list : "nothing: the manifest lists no path for Linux or Proton");
	} else {
		snprintf(
		    why, len,
		    "'%s' has %zu save folders (%s, ...): set path to one, or run 'savekeeperctl add %u' "
		    "to write a section for each",
		    g->title, g->n_saves, g->saves[0].folder, appid);
		return -EEXIST;
	}
	return -ENOENT;
}

int
discover_app_folders(struct disc_app_folder *v, size_t n, const char *manifest)
{
	_cleanup_free_ unsigned *ids = calloc(n ? n : 1, sizeof(*ids));
	struct disc_query q = {.appids = ids, .n_appids = n, .manifest = manifest};
	struct discovery *d = NULL;
	int r = ids ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < n; i++)
		ids[i] = v[i].appid;
	if (r >= 0)
		r = discover_run(&q, &d);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct disc_query one = {.appid = v[i].appid};
		const struct disc_game *g = discover_pick(d, &one);
		if (g && g->in_manifest && g->n_saves == 1) {
			v[i].path = strdup(g->saves[0].folder);
			r = v[i].path ? 0 : -ENOMEM;
		} else {
			v[i].error = app_folder_problem(d, v[i].appid, g, v[i].why, sizeof(v[i].why));
		}
	}
	discovery_free(d);
	return r;
}

/* The configuration as data: struct sk_config with its defaults (the XDG base directories), its
 * lookups and remote rules, games added from the command line (--save-dir), and the check that
 * no two save folders nest and the archives lie in none. Reading the file is config_parse.c. */
#include "config.h"
#include "config_int.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define GAME_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* $VAR if it is set to an absolute path (the XDG rule), else ~/fallback; then "/savekeeper/leaf". */
static char *
xdg_path(const char *var, const char *fallback, const char *leaf)
{
	const char *v = getenv(var), *sep = leaf ? "/" : "";
	char *s;
	int r;

	if (!leaf)
		leaf = "";
	if (v && v[0] == '/')
		r = asprintf(&s, "%s/savekeeper%s%s", v, sep, leaf);
	else
		r = asprintf(&s, "%s/%s/savekeeper%s%s", home_dir(), fallback, sep, leaf);
	return r < 0 ? NULL : s;
}

char *
config_default_path(void)
{
	return xdg_path("XDG_CONFIG_HOME", ".config", "savekeeper.ini");
}

char *
config_default_socket_path(void)
{
	const char *v = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	char *s, run[64];
	int r;

	if (v && v[0] == '/')
		return xdg_path("XDG_RUNTIME_DIR", NULL, "control.sock");
	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)getuid());
	if (stat(run, &st) == 0 && S_ISDIR(st.st_mode))
		r = asprintf(&s, "%s/savekeeper/control.sock", run);
	else
		r = asprintf(&s, "/tmp/savekeeper-%u/control.sock", (unsigned)getuid());
	return r < 0 ? NULL : s;
}

/* The hostname, or "localhost" when it cannot be read. malloc'd. */
static char *
default_device(void)
{
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	return strdup(host);
}

int
config_new_default(struct sk_config **ret)
{
	struct sk_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	*cfg = (struct sk_config){
	    .archive_dir = xdg_path("XDG_DATA_HOME", ".local/share", NULL),
	    .socket_path = config_default_socket_path(),
	    .interval_usec = 10 * USEC_PER_MINUTE,
	    .settle_usec = 3 * USEC_PER_SEC,
	    .settle_max_usec = 60 * USEC_PER_SEC,
	    .slice_usec = 5 * USEC_PER_MSEC,
	    .core = SK_CORE_THREAD,
	    .compression = SK_COMPRESSION_AUTO,
	    .notify = SK_NOTIFY_ALL,
	    .autostart = true,
	    .keep = {.last = 50},
	    .remote_keep = SK_KEEP_UNSET_ALL,
	    .min_free_bytes = 500ULL << 20,
	    .nice = 19,
	    .io_idle = true,
	    .remote_retry_usec = 30 * USEC_PER_SEC,
	};
	cfg->device = default_device();
	if (!cfg->archive_dir || !cfg->socket_path || !cfg->device) {
		config_free(cfg);
		return -ENOMEM;
	}
	*ret = cfg;
	return 0;
}

static void
game_clear(struct sk_game *g)
{
	free(g->name);
	free(g->path);
	free(g->remote);
	for (size_t i = 0; i < g->n_exclude; i++)
		free(g->exclude[i]);
	free(g->exclude);
}

void
config_free(struct sk_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_games; i++)
		game_clear(&cfg->games[i]);
	free(cfg->games);
	free(cfg->file);
	free(cfg->archive_dir);
	free(cfg->socket_path);
	free(cfg->manifest);
	free(cfg->remote);
	free(cfg->rclone);
	free(cfg->rclone_config);
	free(cfg->remote_bwlimit);
	free(cfg->device);
	free(cfg);
}

const char *
config_game_remote(const struct sk_config *cfg, const struct sk_game *g)
{
	if (g->remote_off)
		return NULL;
	return g->remote ? g->remote : cfg->remote;
}

/* One rule: the game's remote_keep_X, else [daemon]'s remote_keep_X, else keep_X. */
static unsigned
remote_rule(unsigned game, unsigned daemon, unsigned local)
{
	return game != SK_KEEP_UNSET ? game : daemon != SK_KEEP_UNSET ? daemon : local;
}

void
config_remote_keep(const struct sk_config *cfg, const struct sk_game *g, struct sk_keep *ret)
{
	const struct sk_keep *gk = &g->remote_keep, *dk = &cfg->remote_keep, *k = &cfg->keep;

	*ret = (struct sk_keep){
	    .last = remote_rule(gk->last, dk->last, k->last),
	    .hourly = remote_rule(gk->hourly, dk->hourly, k->hourly),
	    .daily = remote_rule(gk->daily, dk->daily, k->daily),
	    .weekly = remote_rule(gk->weekly, dk->weekly, k->weekly),
	    .monthly = remote_rule(gk->monthly, dk->monthly, k->monthly),
	};
}

const struct sk_game *
config_find_game(const struct sk_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_games; i++)
		if (strcmp(cfg->games[i].name, name) == 0)
			return &cfg->games[i];
	return NULL;
}

const char *
config_game_name_problem(const struct sk_config *cfg, const char *name)
{
	if (!game_name_valid(name))
		return "invalid game name";
	if (config_find_game(cfg, name))
		return "duplicate game";
	return NULL;
}

ssize_t
config_game_append(struct sk_config *cfg, const char *name)
{
	struct sk_game *games = reallocarray(cfg->games, cfg->n_games + 1, sizeof(*games));

	if (!games)
		return -ENOMEM;
	cfg->games = games;
	games[cfg->n_games] = (struct sk_game){.name = strdup(name), .remote_keep = SK_KEEP_UNSET_ALL};
	if (!games[cfg->n_games].name)
		return -ENOMEM;
	return (ssize_t)cfg->n_games++;
}

/* The save dir's basename made into a valid game name. */
static char *
game_name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	char *name;
	size_t n;

	base = base ? base + 1 : path;
	name = strndup(base, 128);
	if (!name)
		return NULL;
	for (char *c = name; *c; c++)
		if (!strchr(GAME_NAME_CHARS, *c))
			*c = '_';
	n = strlen(name);
	if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		free(name);
		name = strdup("game");
	}
	return name;
}

/* The absolute, ~-expanded form of a command-line path. */
static char *
path_absolute(const char *path)
{
	_cleanup_free_ char *e = expand_home(path), *cwd = NULL;

	if (!e)
		return NULL;
	if (e[0] != '/') {
		cwd = get_current_dir_name();
		if (!cwd)
			return NULL;
		free(e);
		e = strcmp(path, ".") == 0 ? strdup(cwd) : path_join(cwd, path);
		if (!e)
			return NULL;
	}
	path_trim_slashes(e);
	return TAKE_PTR(e);
}

int
config_add_game(struct sk_config *cfg, const char *name, const char *path, char *err, size_t errlen)
{
	_cleanup_free_ char *abs = path_absolute(path), *derived = NULL;
	const char *problem;
	ssize_t i;

	if (!abs)
		return -ENOMEM;
	if (!name) {
		name = derived = game_name_from_path(abs);
		if (!derived)
			return -ENOMEM;
	}
	problem = config_game_name_problem(cfg, name);
	if (problem) {
		snprintf(err, errlen, "%s '%s'%s", problem, name,
			 game_name_valid(name) ? "" : " (" GAME_NAME_HINT ")");
		return -EINVAL;
	}
	i = config_game_append(cfg, name);
	if (i < 0)
		return (int)i;
	cfg->games[i].path = TAKE_PTR(abs);
	cfg->games[i].interval_playing_usec = cfg->interval_playing_usec;
	return 0;
}

/* Where a folder of the config was set, for messages: "FILE:LINE", or else what set it. */
static const char *
origin(const struct sk_config *cfg, unsigned line, const char *otherwise, char *buf, size_t len)
{
	if (line && cfg->file)
		snprintf(buf, len, "%s:%u", cfg->file, line);
	else
		snprintf(buf, len, "%s", otherwise);
	return buf;
}

/* How folder a relates to folder b, both resolved: "is", "lies inside", "holds" or NULL. */
static const char *
nesting(const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return "is";
	if (path_within(a, b))
		return "lies inside";
	return path_within(b, a) ? "holds" : NULL;
}

/* Two games with the same or nested folders: a restore of one would replace the other's. */
static int
check_games(const struct sk_config *cfg, char *const *real, char *err, size_t errlen)
{
	char wa[PATH_MAX], wb[PATH_MAX];

	for (size_t j = 1; j < cfg->n_games; j++)
		for (size_t i = 0; i < j; i++) {
			const struct sk_game *a = &cfg->games[i], *b = &cfg->games[j];
			const char *how = nesting(real[j], real[i]);
			if (!how)
				continue;
			snprintf(
			    err, errlen,
			    "%s: game '%s': path '%s' %s the save folder of game '%s' ('%s', %s); a restore "
			    "of one would change the other: give each game a folder of its own",
			    origin(cfg, b->path_line, "--save-dir", wb, sizeof(wb)), b->name, b->path, how,
			    a->name, a->path, origin(cfg, a->path_line, "--save-dir", wa, sizeof(wa)));
			return -EINVAL;
		}
	return 0;
}

/* archive_dir in a save folder, or holding one: a restore would replace or write into the
 * archives. The message starts where archive_dir was set, or else at the game's path. */
static int
check_archive(const struct sk_config *cfg, char *const *real, const char *archive, const char *archive_from,
	      char *err, size_t errlen)
{
	char wa[PATH_MAX], wg[PATH_MAX];
	bool lead = cfg->archive_dir_line || (archive_from && strncmp(archive_from, "--", 2) == 0);

	for (size_t i = 0; i < cfg->n_games; i++) {
		const struct sk_game *g = &cfg->games[i];
		const char *how = nesting(archive, real[i]), *back = nesting(real[i], archive);
		if (!how)
			continue;
		origin(cfg, cfg->archive_dir_line, archive_from ? archive_from : "the default", wa,
		       sizeof(wa));
		origin(cfg, g->path_line, "--save-dir", wg, sizeof(wg));
		if (lead)
			snprintf(err, errlen,
				 "%s: archive_dir '%s' %s the save folder '%s' of game '%s' (%s)", wa,
				 cfg->archive_dir, how, g->path, g->name, wg);
		else
			snprintf(err, errlen, "%s: game '%s': path '%s' %s archive_dir '%s' (%s)", wg,
				 g->name, g->path, back, cfg->archive_dir, wa);
		size_t n = strlen(err);
		snprintf(err + n, errlen - n,
			 "; a restore of '%s' would %s: keep the archives and every save "
			 "folder apart",
			 g->name,
			 path_within(real[i], archive) && strcmp(how, "is") != 0 ? "write into the archives"
										 : "replace the archives");
		return -EINVAL;
	}
	return 0;
}

int
config_check_folders(const struct sk_config *cfg, const char *archive_from, char *err, size_t errlen)
{
	char **real = calloc(cfg->n_games + 1, sizeof(*real));
	_cleanup_free_ char *archive = path_resolve(cfg->archive_dir);
	int r = real && archive ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < cfg->n_games; i++)
		if (!(real[i] = path_resolve(cfg->games[i].path)))
			r = -ENOMEM;
	if (r == 0)
		r = check_games(cfg, real, err, errlen);
	if (r == 0)
		r = check_archive(cfg, real, archive, archive_from, err, errlen);
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	for (size_t i = 0; real && i < cfg->n_games; i++)
		free(real[i]);
	free(real);
	return r;
}

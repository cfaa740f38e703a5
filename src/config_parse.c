/* Reading the configuration file into struct sk_config: the keys of [daemon] and [game] and their
 * values, section headers, and messages that name FILE:LINE. inih splits "key = value" lines and
 * strips comments; the lines reach it through our own reader, which counts them (so every message
 * can name its line), reads lines up to SK_CONFIG_LINE_MAX bytes whole, and parses section headers
 * itself because inih cuts section names at 50 bytes and does not report a section that holds no
 * keys. */
#include "config.h"
#include "config_int.h"
#include "discover.h"
#include "util.h"

#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

enum section { SEC_NONE, SEC_DAEMON, SEC_GAME };
enum kind {
	K_PATH,
	K_SOCKET,
	K_DURATION,
	K_UINT,
	K_INT,
	K_BOOL,
	K_CORE,
	K_NOTIFY,
	K_MIN_FREE,
	K_EXCLUDE,
	K_SESSIONS,
	K_REMOTE,
	K_STRING,
	K_LEVEL
};

struct key {
	const char *name;
	enum kind kind;
	size_t offset; /* into struct sk_config or struct sk_game */
	long long min, max;
	const char *hint; /* what a good value looks like, for messages */
};

#define DUR(n, f, lo, hi, h)                                                                                 \
	{                                                                                                    \
		n, K_DURATION, offsetof(struct sk_config, f), lo, hi, "a duration " h                        \
	}
#define UNS(n, f, lo, hi)                                                                                    \
	{                                                                                                    \
		n, K_UINT, offsetof(struct sk_config, f), lo, hi, "a whole number from " #lo " to " #hi      \
	}
#define KEEP(n, f) UNS(n, f, 0, 1000000)
/* A game's own remote_keep_*: the same rule as [daemon]'s, into struct sk_game. */
#define GAME_KEEP(n, f)                                                                                      \
	{                                                                                                    \
		n, K_UINT, offsetof(struct sk_game, f), 0, 1000000, "a whole number from 0 to 1000000"       \
	}
#define BOOLEAN(n, f)                                                                                        \
	{                                                                                                    \
		n, K_BOOL, offsetof(struct sk_config, f), 0, 1, "true or false"                              \
	}

static const struct key daemon_keys[] = {
    {"archive_dir", K_PATH, offsetof(struct sk_config, archive_dir), 0, 0, NULL},
    {"socket", K_SOCKET, offsetof(struct sk_config, socket_path), 0, 0, NULL},
    DUR("interval", interval_usec, USEC_PER_SEC, 366 * USEC_PER_DAY,
	"from 1s to 366d, such as 45s, 10m, 2h or 1h30m"),
    DUR("interval_playing", interval_playing_usec, 0, 366 * USEC_PER_DAY,
	"up to 366d, such as 2m; 0 for interval"),
    {"core", K_CORE, offsetof(struct sk_config, core), 0, 0, "thread, coroutine or process"},
    {"compression", K_LEVEL, offsetof(struct sk_config, compression), 1, 9,
     "auto, or a gzip level from 1 to 9"},
    {"notify", K_NOTIFY, offsetof(struct sk_config, notify), 0, 0, "all, errors or off"},
    BOOLEAN("autostart", autostart),
    DUR("settle", settle_usec, 0, USEC_PER_DAY, "up to 1d, such as 3s"),
    DUR("settle_max", settle_max_usec, 0, USEC_PER_DAY, "up to 1d, such as 60s"),
    BOOLEAN("snapshot_on_change", snapshot_on_change),
    KEEP("keep_last", keep.last),
    KEEP("keep_hourly", keep.hourly),
    KEEP("keep_daily", keep.daily),
    KEEP("keep_weekly", keep.weekly),
    KEEP("keep_monthly", keep.monthly),
    KEEP("remote_keep_last", remote_keep.last),
    KEEP("remote_keep_hourly", remote_keep.hourly),
    KEEP("remote_keep_daily", remote_keep.daily),
    KEEP("remote_keep_weekly", remote_keep.weekly),
    KEEP("remote_keep_monthly", remote_keep.monthly),
    BOOLEAN("remote_prune_foreign", remote_prune_foreign),
    {"min_free", K_MIN_FREE, 0, 0, 99, "a size such as 500M or 2G, or a share of the disk such as 5%"},
    DUR("slice", slice_usec, 100, USEC_PER_SEC, "from 100us to 1s, such as 5ms"),
    UNS("compress_threads", compress_threads, 0, 256),
    {"nice", K_INT, offsetof(struct sk_config, nice), -20, 19, "a nice value from -20 to 19"},
    BOOLEAN("io_idle", io_idle),
    {"manifest", K_PATH, offsetof(struct sk_config, manifest), 0, 0, NULL},
    {"sessions", K_SESSIONS, offsetof(struct sk_config, sessions), 0, 0, "steam or off"},
    {"remote", K_REMOTE, offsetof(struct sk_config, remote), 0, 0,
     "an rclone remote such as nas:saves, or off"},
    {"rclone", K_STRING, offsetof(struct sk_config, rclone), 0, 0, "the rclone program"},
    {"rclone_config", K_PATH, offsetof(struct sk_config, rclone_config), 0, 0, NULL},
    {"remote_bwlimit", K_STRING, offsetof(struct sk_config, remote_bwlimit), 0, 0,
     "an rclone --bwlimit such as 1M"},
    DUR("remote_retry", remote_retry_usec, USEC_PER_SEC, USEC_PER_DAY, "from 1s to 1d, such as 30s"),
    {"device", K_STRING, offsetof(struct sk_config, device), 0, 0,
     "a name for this machine, such as steamdeck"},
};

static const struct key game_keys[] = {
    {"path", K_PATH, offsetof(struct sk_game, path), 0, 0, NULL},
    {"exclude", K_EXCLUDE, 0, 0, 0, NULL},
    {"interval", K_DURATION, offsetof(struct sk_game, interval_usec), USEC_PER_SEC, 366 * USEC_PER_DAY,
     "a duration from 1s to 366d, such as 45s, 10m, 2h or 1h30m"},
    {"interval_playing", K_DURATION, offsetof(struct sk_game, interval_playing_usec), USEC_PER_SEC,
     366 * USEC_PER_DAY, "a duration from 1s to 366d, such as 2m"},
    {"steam_app", K_UINT, offsetof(struct sk_game, steam_app), 1, UINT_MAX, "a Steam app id such as 489830"},
    {"remote", K_REMOTE, offsetof(struct sk_game, remote), 1, 0,
     "an rclone remote such as nas:saves, or off"},
    GAME_KEEP("remote_keep_last", remote_keep.last),
    GAME_KEEP("remote_keep_hourly", remote_keep.hourly),
    GAME_KEEP("remote_keep_daily", remote_keep.daily),
    GAME_KEEP("remote_keep_weekly", remote_keep.weekly),
    GAME_KEEP("remote_keep_monthly", remote_keep.monthly),
};

#define N_KEYS_MAX ARRAY_SIZE(daemon_keys)

struct parser {
	const char *file; /* the name messages give */
	FILE *f;
	char *line;
	size_t line_size;
	unsigned lineno;
	enum section section;
	size_t game;			  /* index of the current game in SEC_GAME */
	unsigned game_line;		  /* its header line */
	unsigned daemon_seen[N_KEYS_MAX]; /* line of each key's first use, 0: not yet */
	unsigned game_seen[ARRAY_SIZE(game_keys)];
	struct sk_config *cfg;
	char *err;
	size_t errlen;
	int error;
};

static int fail_at(struct parser *p, unsigned line, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "FILE:LINE: message" once, for the first error only, and returns r. */
static int
fail_at(struct parser *p, unsigned line, int r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->error)
		return p->error;
	p->error = r;
	if (!p->err || p->errlen == 0)
		return r;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return r;
}

#define fail(p, ...) fail_at(p, (p)->lineno, __VA_ARGS__)

/* Values are quoted in messages; a long one is cut so the cause stays readable. */
#define QUOTE_MAX 80
#define QUOTE_FMT "'%.*s%s'"
#define QUOTE_ARGS(v)                                                                                        \
	(strlen(v) > QUOTE_MAX ? QUOTE_MAX - 3 : (int)strlen(v)), (v), (strlen(v) > QUOTE_MAX ? "..." : "")

static const char *const core_names[] = {
    [SK_CORE_THREAD] = "thread",
    [SK_CORE_COROUTINE] = "coroutine",
    [SK_CORE_PROCESS] = "process",
};
static const char *const notify_names[] = {
    [SK_NOTIFY_ALL] = "all",
    [SK_NOTIFY_ERRORS] = "errors",
    [SK_NOTIFY_OFF] = "off",
};
static const char *const sessions_names[] = {[SK_SESSIONS_STEAM] = "steam", [SK_SESSIONS_OFF] = "off"};

static int
name_lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

const char *
core_name(enum sk_core core)
{
	return (unsigned)core < ARRAY_SIZE(core_names) ? core_names[core] : "unknown";
}

int
core_from_name(const char *name, enum sk_core *ret)
{
	int i = name_lookup(core_names, ARRAY_SIZE(core_names), name);

	if (i < 0)
		return i;
	*ret = (enum sk_core)i;
	return 0;
}

static const struct key *key_find(const struct key *keys, size_t n, const char *name);

/* A game without a path but with steam_app: remembers the line, for the path is found once the
 * whole file (and so [daemon]'s manifest) is read. Returns 1 if so. */
static int
game_steam_app_end(struct parser *p)
{
	struct sk_game *g = &p->cfg->games[p->game];
	const struct key *k = key_find(game_keys, ARRAY_SIZE(game_keys), "steam_app");

	if (!g->steam_app)
		return 0;
	g->steam_app_line = p->game_seen[k - game_keys];
	return 1;
}

/* Finds the save folder of each game given by steam_app alone, all in one look (see discover.h). */
static void
resolve_steam_apps(struct parser *p)
{
	_cleanup_free_ struct disc_app_folder *v = calloc(p->cfg->n_games + 1, sizeof(*v));
	size_t n = 0, k = 0;

	if (!v) {
		fail(p, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < p->cfg->n_games; i++)
		if (!p->cfg->games[i].path && p->cfg->games[i].steam_app)
			v[n++].appid = p->cfg->games[i].steam_app;
	if (n == 0)
		return;
	if (discover_app_folders(v, n, p->cfg->manifest) < 0)
		fail(p, -ENOMEM, "out of memory");
	for (size_t i = 0; i < p->cfg->n_games && k < n; i++) {
		struct sk_game *g = &p->cfg->games[i];
		if (g->path || !g->steam_app)
			continue;
		g->path = v[k].path;
		if (!g->path)
			fail_at(p, g->steam_app_line, v[k].error ? v[k].error : -ENOMEM, "game '%s': %s",
				g->name, v[k].why);
		k++;
	}
}

/* The end of a [game] section: it must have named its folder, or a Steam app to find it from. */
static int
game_end(struct parser *p)
{
	if (p->section != SEC_GAME || p->cfg->games[p->game].path)
		return 0;
	if (game_steam_app_end(p) > 0)
		return 0;
	return fail_at(p, p->game_line, -EINVAL, "game '%s' has no path (add 'path = /folder/of/the/saves')",
		       p->cfg->games[p->game].name);
}

static int
game_begin(struct parser *p, const char *name)
{
	const char *problem = config_game_name_problem(p->cfg, name);
	ssize_t i;

	if (problem)
		return fail(p, -EINVAL, "%s " QUOTE_FMT "%s", problem, QUOTE_ARGS(name),
			    game_name_valid(name) ? "" : " (" GAME_NAME_HINT ")");
	i = config_game_append(p->cfg, name);
	if (i < 0)
		return fail(p, (int)i, "out of memory");
	p->section = SEC_GAME;
	p->game = (size_t)i;
	p->game_line = p->lineno;
	memset(p->game_seen, 0, sizeof(p->game_seen));
	return 0;
}

/* "[daemon]" or "[game "NAME"]", optionally followed by a comment; s starts at '['. */
static int
section_begin(struct parser *p, char *s)
{
	char *end = strchr(s, ']'), *name, *rest;

	if (!end)
		return fail(p, -EINVAL, "syntax error: section header without ']'");
	rest = end + 1 + strspn(end + 1, " \t");
	if (*rest && *rest != ';' && *rest != '#')
		return fail(p, -EINVAL, "syntax error: text after the section header");
	*end = '\0';
	name = s + 1 + strspn(s + 1, " \t");
	for (char *t = end; t > name && (t[-1] == ' ' || t[-1] == '\t');)
		*--t = '\0';
	if (game_end(p) < 0)
		return p->error;
	if (strcmp(name, "daemon") == 0) {
		p->section = SEC_DAEMON;
		return 0;
	}
	if (strncmp(name, "game", 4) == 0 && (name[4] == ' ' || name[4] == '\t')) {
		char *q = name + 4 + strspn(name + 4, " \t");
		size_t n = strlen(q);
		if (n >= 2 && q[0] == '"' && q[n - 1] == '"') {
			q[n - 1] = '\0';
			return game_begin(p, q + 1);
		}
	}
	return fail(p, -EINVAL,
		    "unknown section ["
		    "%.*s%s"
		    "] (expected [daemon] or [game \"NAME\"])",
		    QUOTE_ARGS(name));
}

static int
bad_value(struct parser *p, const struct key *k, const char *value)
{
	return fail(p, -EINVAL, "%s: bad value " QUOTE_FMT " (expected %s)", k->name, QUOTE_ARGS(value),
		    k->hint);
}

static int
set_path(struct parser *p, const struct key *k, char **field, const char *value)
{
	char *e;

	if (value[0] != '/' && !(value[0] == '~' && (value[1] == '\0' || value[1] == '/')))
		return fail(p, -EINVAL, "%s: relative path " QUOTE_FMT " (start it with / or ~/)", k->name,
			    QUOTE_ARGS(value));
	e = expand_home(value);
	if (!e)
		return fail(p, -ENOMEM, "out of memory");
	path_trim_slashes(e);
	if (k->kind == K_SOCKET && strlen(e) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		fail(p, -EINVAL, "%s: path too long for a Unix socket (%zu bytes, at most %zu)", k->name,
		     strlen(e), sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		free(e);
		return p->error;
	}
	free(*field);
	*field = e;
	return 0;
}

/* "*.tmp, *.log": comma-separated globs, spaces around each trimmed, empty ones ignored. */
static int
set_exclude(struct parser *p, struct sk_game *g, const char *value)
{
	const char *s = value;

	while (*s) {
		size_t len, lead = strspn(s, " \t");
		char **v;

		s += lead;
		len = strcspn(s, ",");
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len > 0) {
			v = reallocarray(g->exclude, g->n_exclude + 1, sizeof(*v));
			if (!v)
				return fail(p, -ENOMEM, "out of memory");
			g->exclude = v;
			v[g->n_exclude] = strndup(s, len);
			if (!v[g->n_exclude])
				return fail(p, -ENOMEM, "out of memory");
			g->n_exclude++;
		}
		s += strcspn(s, ",");
		s += *s == ',';
	}
	return 0;
}

/* A whole number in [k->min, k->max], with a sign only where the range allows one. */
static int
parse_ranged(const struct key *k, const char *value, long long *ret)
{
	bool neg = value[0] == '-' && k->min < 0;
	const char *s = value + neg;
	unsigned long long n;

	if (!*s || s[strspn(s, "0123456789")])
		return -EINVAL;
	errno = 0;
	n = strtoull(s, NULL, 10);
	if (errno == ERANGE || n > LLONG_MAX)
		return -ERANGE;
	*ret = neg ? -(long long)n : (long long)n;
	if (*ret < k->min || *ret > k->max)
		return -ERANGE;
	return 0;
}

static int
set_min_free(struct parser *p, const struct key *k, const char *value)
{
	size_t n = strlen(value);
	uint64_t v;

	if (n > 1 && value[n - 1] == '%') {
		_cleanup_free_ char *num = strndup(value, n - 1);
		long long pct;
		if (!num)
			return fail(p, -ENOMEM, "out of memory");
		if (parse_ranged(k, num, &pct) < 0)
			return bad_value(p, k, value);
		p->cfg->min_free_bytes = 0;
		p->cfg->min_free_percent = (unsigned)pct;
		return 0;
	}
	if (parse_size(value, &v) < 0)
		return bad_value(p, k, value);
	p->cfg->min_free_bytes = v;
	p->cfg->min_free_percent = 0;
	return 0;
}

/* A string kept as written; "remote" also takes "off" (in a game: no copies; in [daemon]: the
 * same as not setting it) and otherwise needs rclone's NAME:PATH form. */
static int
set_string(struct parser *p, const struct key *k, void *base, const char *value)
{
	char **field = (char **)(void *)((char *)base + k->offset);
	bool off = k->kind == K_REMOTE && strcmp(value, "off") == 0;
	char *copy = NULL;

	if (!*value || (k->kind == K_REMOTE && !off && (!strchr(value, ':') || value[0] == ':')))
		return bad_value(p, k, value);
	if (!off && !(copy = strdup(value)))
		return fail(p, -ENOMEM, "out of memory");
	free(*field);
	*field = copy;
	/* min marks the game's key, whose "off" must override the daemon's remote. */
	if (k->kind == K_REMOTE && k->min)
		((struct sk_game *)base)->remote_off = off;
	return 0;
}

static int
key_set(struct parser *p, const struct key *k, void *base, const char *value)
{
	void *field = (char *)base + k->offset;
	long long n;
	uint64_t d;
	bool b;
	int i;

	switch (k->kind) {
	case K_PATH:
	case K_SOCKET:
		return set_path(p, k, field, value);
	case K_EXCLUDE:
		return set_exclude(p, base, value);
	case K_MIN_FREE:
		return set_min_free(p, k, value);
	case K_REMOTE:
	case K_STRING:
		return set_string(p, k, base, value);
	case K_DURATION:
		if (parse_duration(value, &d) < 0 || d < (uint64_t)k->min || d > (uint64_t)k->max)
			return bad_value(p, k, value);
		*(uint64_t *)field = d;
		return 0;
	case K_LEVEL:
		if (strcmp(value, "auto") == 0) {
			*(int *)field = SK_COMPRESSION_AUTO;
			return 0;
		}
		/* fall through */
	case K_UINT:
	case K_INT:
		if (parse_ranged(k, value, &n) < 0)
			return bad_value(p, k, value);
		if (k->kind == K_UINT)
			*(unsigned *)field = (unsigned)n;
		else
			*(int *)field = (int)n;
		return 0;
	case K_BOOL:
		if (parse_bool(value, &b) < 0)
			return bad_value(p, k, value);
		*(bool *)field = b;
		return 0;
	case K_CORE:
	case K_NOTIFY:
	case K_SESSIONS:
		i = k->kind == K_CORE	  ? name_lookup(core_names, ARRAY_SIZE(core_names), value)
		    : k->kind == K_NOTIFY ? name_lookup(notify_names, ARRAY_SIZE(notify_names), value)
					  : name_lookup(sessions_names, ARRAY_SIZE(sessions_names), value);
		if (i < 0)
			return bad_value(p, k, value);
		*(int *)field = i;
		return 0;
	}
	return bad_value(p, k, value);
}

static const struct key *
key_find(const struct key *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* inih's callback for each "key = value" line; returns nonzero to go on. */
static int
handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	bool daemon = p->section == SEC_DAEMON;
	const struct key *keys = daemon ? daemon_keys : game_keys;
	size_t n = daemon ? ARRAY_SIZE(daemon_keys) : ARRAY_SIZE(game_keys);
	unsigned *seen = daemon ? p->daemon_seen : p->game_seen;
	const struct key *k;

	(void)section; /* always "": section headers never reach inih */
	if (p->section == SEC_NONE)
		return !fail(p, -EINVAL,
			     "key " QUOTE_FMT
			     " outside any section (put it under [daemon] or [game \"NAME\"])",
			     QUOTE_ARGS(name));
	k = key_find(keys, n, name);
	if (!k) {
		if (daemon)
			return !fail(p, -EINVAL, "unknown key " QUOTE_FMT " in [daemon]", QUOTE_ARGS(name));
		return !fail(p, -EINVAL, "unknown key " QUOTE_FMT " in [game \"%s\"]", QUOTE_ARGS(name),
			     p->cfg->games[p->game].name);
	}
	if (seen[k - keys])
		return !fail(p, -EINVAL, "duplicate key '%s' (first set on line %u)", k->name,
			     seen[k - keys]);
	seen[k - keys] = p->lineno;
	if (key_set(p, k, daemon ? (void *)p->cfg : (void *)&p->cfg->games[p->game], value) < 0)
		return 0;
	/* The folders' lines, for the messages of config_check_folders. */
	if (k->kind == K_PATH && daemon)
		p->cfg->archive_dir_line = p->lineno;
	else if (k->kind == K_PATH)
		p->cfg->games[p->game].path_line = p->lineno;
	return 1;
}

/* A failed read is no fault of any line: the message names only the file. */
static void
read_error(struct parser *p, int e)
{
	p->error = -e;
	snprintf(p->err, p->errlen, "cannot read '%s': %s", p->file, strerror(e));
}

/* inih's fgets-like reader: hands it one whole line at a time, section headers blanked out. */
static char *
read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t n;
	char *s;

	if (p->error)
		return NULL;
	errno = 0;
	n = getline(&p->line, &p->line_size, p->f);
	if (n < 0) {
		if (ferror(p->f))
			read_error(p, errno ? errno : EIO);
		return NULL;
	}
	p->lineno++;
	if (n > 0 && p->line[n - 1] == '\n')
		p->line[--n] = '\0';
	if (n > 0 && p->line[n - 1] == '\r')
		p->line[--n] = '\0';
	if (n > SK_CONFIG_LINE_MAX || n >= num) {
		fail(p, -EINVAL, "line too long (%zd bytes, at most %d)", n, SK_CONFIG_LINE_MAX);
		return NULL;
	}
	if (memchr(p->line, '\0', (size_t)n)) {
		fail(p, -EINVAL, "line holds a NUL byte");
		return NULL;
	}
	s = p->line;
	if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	s += strspn(s, " \t");
	if (*s == '[') {
		if (section_begin(p, s) < 0)
			return NULL;
		*s = '\0';
	}
	memcpy(str, s, strlen(s) + 1);
	return str;
}

/* Debian's inih takes its options from globals; these make it read long lines, stop at the first
 * error and treat an indented line as a line of its own rather than a continuation. */
static void
ini_setup(void)
{
	ini_max_line = SK_CONFIG_LINE_MAX + 3;
	ini_use_stack = true;
	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	ini_allow_no_value = false;
	ini_stop_on_first_error = true;
}

static int
parse_stream(FILE *f, const char *name, struct sk_config **ret, char *err, size_t errlen)
{
	struct parser p = {.file = name, .f = f, .err = err, .errlen = errlen};
	int r;

	r = config_new_default(&p.cfg);
	if (r < 0)
		return r;
	ini_setup();
	r = ini_parse_stream(read_line, &p, handle_key, &p);
	free(p.line);
	if (!p.error && r > 0)
		fail_at(&p, (unsigned)r, -EINVAL, "syntax error (expected 'key = value' or a [section])");
	if (!p.error && r < 0)
		fail(&p, -ENOMEM, "out of memory");
	if (!p.error)
		game_end(&p);
	if (!p.error)
		resolve_steam_apps(&p);
	if (!p.error && !(p.cfg->file = strdup(name)))
		fail(&p, -ENOMEM, "out of memory");
	if (!p.error)
		p.error = config_check_folders(p.cfg, NULL, err, errlen);
	if (p.error) {
		config_free(p.cfg);
		return p.error;
	}
	for (size_t i = 0; i < p.cfg->n_games; i++)
		if (p.cfg->games[i].interval_playing_usec == 0)
			p.cfg->games[i].interval_playing_usec = p.cfg->interval_playing_usec;
	*ret = p.cfg;
	return 0;
}

int
config_load(const char *path, struct sk_config **ret, char *err, size_t errlen)
{
	FILE *f;
	int r = fopen_read(path, &f, err, errlen);

	if (r < 0)
		return r;
	r = parse_stream(f, path, ret, err, errlen);
	fclose(f);
	return r;
}

int
config_load_string(const char *name, const char *data, size_t len, struct sk_config **ret, char *err,
		   size_t errlen)
{
	/* fmemopen wants a buffer of at least one byte; an empty line stands for empty text. */
	FILE *f = fmemopen((void *)(uintptr_t)(len ? data : "\n"), len ? len : 1, "r");
	int r;

	if (!f)
		return -errno;
	r = parse_stream(f, name, ret, err, errlen);
	fclose(f);
	return r;
}

/* Ludusavi's manifest, read with libyaml's event parser: one game's entry is built from the
 * events of its map, handed to the caller and freed before the next one is read, so memory stays
 * that of one game whatever the size of the file. Keys this reader does not use (registry, gog,
 * cloud, notes, tags) are skipped by counting their nesting, without recursion. */
#include "ludusavi.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

struct reader {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	const char *name;
	char *err;
	size_t errlen;
	int error;
};

/* Keeps the first error, as "FILE:LINE: cause" at the current event; returns r. */
static int
rd_fail(struct reader *rd, int r, const char *what)
{
	unsigned line = rd->have_ev ? (unsigned)rd->ev.start_mark.line + 1 : 0;

	if (rd->error)
		return rd->error;
	rd->error = r;
	if (rd->err && rd->errlen)
		snprintf(rd->err, rd->errlen, "%s:%u: %s", rd->name, line, what);
	return r;
}

/* Drops the current event and reads the next; returns its type or a negative errno. */
static int
rd_next(struct reader *rd)
{
	char what[256];

	if (rd->have_ev)
		yaml_event_delete(&rd->ev);
	rd->have_ev = false;
	if (!yaml_parser_parse(&rd->parser, &rd->ev)) {
		if (rd->parser.error == YAML_MEMORY_ERROR)
			return rd_fail(rd, -ENOMEM, "out of memory");
		if (rd->error)
			return rd->error;
		rd->error = -EINVAL;
		snprintf(what, sizeof(what), "%s", rd->parser.problem ? rd->parser.problem : "bad YAML");
		if (rd->err && rd->errlen)
			snprintf(rd->err, rd->errlen, "%s:%u: %s", rd->name,
				 (unsigned)rd->parser.problem_mark.line + 1, what);
		return -EINVAL;
	}
	rd->have_ev = true;
	return (int)rd->ev.type;
}

/* Skips the rest of the node whose first event is current: a scalar is done, a map or a list
 * runs to its matching end. */
static int
rd_skip(struct reader *rd)
{
	size_t depth = 0;
	int t = (int)rd->ev.type;

	for (;;) {
		if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
			depth--;
		else if (t == YAML_STREAM_END_EVENT || t == YAML_DOCUMENT_END_EVENT)
			return rd_fail(rd, -EINVAL, "the document ends inside a value");
		if (depth == 0)
			return 0;
		t = rd_next(rd);
		if (t < 0)
			return t;
	}
}

static const char *
rd_scalar(const struct reader *rd)
{
	return (const char *)rd->ev.data.scalar.value;
}

static bool
rd_is(const struct reader *rd, const char *key)
{
	return rd->ev.type == YAML_SCALAR_EVENT && strcmp(rd_scalar(rd), key) == 0;
}

/* A copy of the current scalar into *field (replacing a previous one); ENOMEM is fatal. */
static int
rd_take_scalar(struct reader *rd, char **field)
{
	if (rd->ev.type != YAML_SCALAR_EVENT)
		return rd_skip(rd);
	free(*field);
	*field = strdup(rd_scalar(rd));
	return *field ? 0 : rd_fail(rd, -ENOMEM, "out of memory");
}

/* Calls item(rd, ctx) for each key of the map whose start is the current event, with the key's
 * event current; item reads the value itself. Anything but a map is skipped. */
static int
rd_map(struct reader *rd, int (*item)(struct reader *, void *), void *ctx)
{
	int t;

	if (rd->ev.type != YAML_MAPPING_START_EVENT)
		return rd_skip(rd);
	while ((t = rd_next(rd)) != YAML_MAPPING_END_EVENT) {
		if (t < 0)
			return t;
		if (t != YAML_SCALAR_EVENT) {
			/* A complex key, not a name: skipped with its value. */
			if (rd_skip(rd) < 0 || rd_next(rd) < 0 || rd_skip(rd) < 0)
				return rd->error;
			continue;
		}
		if (item(rd, ctx) < 0)
			return rd->error ? rd->error : -EINVAL;
	}
	return 0;
}

static enum lud_os
os_from_name(const char *s)
{
	if (strcmp(s, "windows") == 0)
		return LUD_OS_WINDOWS;
	if (strcmp(s, "linux") == 0)
		return LUD_OS_LINUX;
	if (strcmp(s, "mac") == 0)
		return LUD_OS_MAC;
	return LUD_OS_OTHER;
}

/* One key of a `when` condition: os or store. */
static int
when_item(struct reader *rd, void *ctx)
{
	struct lud_when *w = ctx;
	bool os = rd_is(rd, "os"), store = rd_is(rd, "store");

	if (rd_next(rd) < 0)
		return rd->error;
	if (rd->ev.type != YAML_SCALAR_EVENT || (!os && !store))
		return rd_skip(rd);
	if (os)
		w->os = os_from_name(rd_scalar(rd));
	else
		w->store = strcmp(rd_scalar(rd), "steam") == 0 ? LUD_STORE_STEAM : LUD_STORE_OTHER;
	return 0;
}

/* The list of conditions of a file entry. */
static int
when_list(struct reader *rd, struct lud_file *f)
{
	int t;

	if (rd->ev.type != YAML_SEQUENCE_START_EVENT)
		return rd_skip(rd);
	while ((t = rd_next(rd)) != YAML_SEQUENCE_END_EVENT) {
		struct lud_when w = {LUD_OS_ANY, LUD_STORE_ANY};
		if (t < 0)
			return t;
		if (t != YAML_MAPPING_START_EVENT || f->n_when >= LUD_WHEN_MAX) {
			if (rd_skip(rd) < 0)
				return rd->error;
			continue;
		}
		if (rd_map(rd, when_item, &w) < 0)
			return rd->error;
		f->when[f->n_when++] = w;
	}
	return 0;
}

/* One key of a file entry: `when` is read, `tags` and the rest skipped. */
static int
file_item(struct reader *rd, void *ctx)
{
	bool when = rd_is(rd, "when");

	if (rd_next(rd) < 0)
		return rd->error;
	return when ? when_list(rd, ctx) : rd_skip(rd);
}

/* One entry of `files`: the path is the key, its conditions the value. */
static int
files_item(struct reader *rd, void *ctx)
{
	struct lud_game *g = ctx;
	struct lud_file *f;

	if (g->n_files >= LUD_FILES_MAX)
		return rd_next(rd) < 0 ? rd->error : rd_skip(rd);
	f = reallocarray(g->files, g->n_files + 1, sizeof(*f));
	if (!f)
		return rd_fail(rd, -ENOMEM, "out of memory");
	g->files = f;
	f = &g->files[g->n_files];
	*f = (struct lud_file){.path = strdup(rd_scalar(rd)), .when = calloc(LUD_WHEN_MAX, sizeof(*f->when))};
	g->n_files++;
	if (!f->path || !f->when)
		return rd_fail(rd, -ENOMEM, "out of memory");
	if (rd_next(rd) < 0)
		return rd->error;
	return rd_map(rd, file_item, f);
}

/* One key of `installDir`: a folder name; its value (an empty map) is skipped. */
static int
install_dir_item(struct reader *rd, void *ctx)
{
	struct lud_game *g = ctx;
	char **v;

	if (g->n_install_dirs < LUD_INSTALL_DIRS_MAX) {
		v = reallocarray(g->install_dirs, g->n_install_dirs + 1, sizeof(*v));
		if (!v)
			return rd_fail(rd, -ENOMEM, "out of memory");
		g->install_dirs = v;
		v[g->n_install_dirs] = strdup(rd_scalar(rd));
		if (!v[g->n_install_dirs++])
			return rd_fail(rd, -ENOMEM, "out of memory");
	}
	return rd_next(rd) < 0 ? rd->error : rd_skip(rd);
}

/* One key of `steam`: the app id, a number up to 2^32-1; anything else is ignored. */
static int
steam_item(struct reader *rd, void *ctx)
{
	unsigned *id = ctx;
	bool is_id = rd_is(rd, "id");
	unsigned long v;
	char *end;

	if (rd_next(rd) < 0)
		return rd->error;
	if (!is_id || rd->ev.type != YAML_SCALAR_EVENT)
		return rd_skip(rd);
	errno = 0;
	v = strtoul(rd_scalar(rd), &end, 10);
	if (errno == 0 && *end == '\0' && rd_scalar(rd)[0] >= '0' && rd_scalar(rd)[0] <= '9' && v <= UINT_MAX)
		*id = (unsigned)v;
	return 0;
}

/* One key of a game's map. */
static int
game_item(struct reader *rd, void *ctx)
{
	struct lud_game *g = ctx;
	char key[16];

	snprintf(key, sizeof(key), "%s", rd_scalar(rd));
	if (rd_next(rd) < 0)
		return rd->error;
	if (strcmp(key, "files") == 0)
		return rd_map(rd, files_item, g);
	if (strcmp(key, "installDir") == 0)
		return rd_map(rd, install_dir_item, g);
	if (strcmp(key, "steam") == 0)
		return rd_map(rd, steam_item, &g->steam_id);
	if (strcmp(key, "alias") == 0)
		return rd_take_scalar(rd, &g->alias);
	return rd_skip(rd);
}

void
lud_game_clear(struct lud_game *g)
{
	for (size_t i = 0; i < g->n_files; i++) {
		free(g->files[i].path);
		free(g->files[i].when);
	}
	for (size_t i = 0; i < g->n_install_dirs; i++)
		free(g->install_dirs[i]);
	free(g->files);
	free(g->install_dirs);
	free(g->title);
	free(g->alias);
	*g = (struct lud_game){0};
}

struct games_ctx {
	lud_game_fn fn;
	void *userdata;
};

/* One entry of the top-level map: a title and its game, handed to the caller and freed. */
static int
game_entry(struct reader *rd, void *ctx)
{
	struct games_ctx *gc = ctx;
	struct lud_game g = {.title = strdup(rd_scalar(rd))};
	int r;

	if (!g.title)
		return rd_fail(rd, -ENOMEM, "out of memory");
	r = rd_next(rd) < 0 ? rd->error : rd_map(rd, game_item, &g);
	if (r >= 0)
		r = gc->fn(&g, gc->userdata);
	lud_game_clear(&g);
	if (r < 0 && !rd->error)
		rd->error = r;
	return r;
}

/* The stream: empty, or one document holding a map of games. */
static int
read_stream(struct reader *rd, lud_game_fn fn, void *userdata)
{
	int t = rd_next(rd);

	if (t != YAML_STREAM_START_EVENT)
		return t < 0 ? t : rd_fail(rd, -EINVAL, "not a YAML stream");
	t = rd_next(rd);
	if (t == YAML_STREAM_END_EVENT)
		return 0;
	if (t != YAML_DOCUMENT_START_EVENT)
		return t < 0 ? t : rd_fail(rd, -EINVAL, "not a YAML document");
	t = rd_next(rd);
	if (t != YAML_MAPPING_START_EVENT)
		return t < 0 ? t : rd_fail(rd, -EINVAL, "not a map from game titles to their saves");
	return rd_map(rd, game_entry, &(struct games_ctx){fn, userdata});
}

static int
run(struct reader *rd, lud_game_fn fn, void *userdata)
{
	int r = read_stream(rd, fn, userdata);

	if (rd->have_ev)
		yaml_event_delete(&rd->ev);
	yaml_parser_delete(&rd->parser);
	return r;
}

int
lud_parse_file(const char *path, lud_game_fn fn, void *userdata, char *err, size_t errlen)
{
	struct reader rd = {.name = path, .err = err, .errlen = errlen};
	FILE *f;
	int r = fopen_read(path, &f, err, errlen);

	if (r < 0)
		return r;
	if (!yaml_parser_initialize(&rd.parser)) {
		fclose(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&rd.parser, f);
	r = run(&rd, fn, userdata);
	fclose(f);
	return r;
}

int
lud_parse_string(const char *name, const char *data, size_t len, lud_game_fn fn, void *userdata, char *err,
		 size_t errlen)
{
	struct reader rd = {.name = name, .err = err, .errlen = errlen};

	if (!yaml_parser_initialize(&rd.parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&rd.parser, (const unsigned char *)data, len);
	return run(&rd, fn, userdata);
}

bool
lud_file_applies(const struct lud_file *f, enum lud_os os)
{
	if (f->n_when == 0)
		return true;
	for (size_t i = 0; i < f->n_when; i++)
		if ((f->when[i].os == LUD_OS_ANY || f->when[i].os == os) &&
		    (f->when[i].store == LUD_STORE_ANY || f->when[i].store == LUD_STORE_STEAM))
			return true;
	return false;
}

struct placeholder {
	const char *name;
	size_t offset; /* into struct lud_places */
};

#define PH(n, f)                                                                                             \
	{                                                                                                    \
		"<" n ">", offsetof(struct lud_places, f)                                                    \
	}
static const struct placeholder placeholders[] = {
    PH("home", home),
    PH("root", root),
    PH("game", game),
    PH("base", base),
    PH("storeUserId", store_user_id),
    PH("storeGameId", store_game_id),
    PH("osUserName", os_user_name),
    PH("winDocuments", win_documents),
    PH("winAppData", win_app_data),
    PH("winLocalAppData", win_local_app_data),
    PH("winLocalAppDataLow", win_local_app_data_low),
    PH("winPublic", win_public),
    PH("winProgramData", win_program_data),
    PH("winDir", win_dir),
    PH("xdgData", xdg_data),
    PH("xdgConfig", xdg_config),
};

struct out {
	char buf[PATH_MAX];
	size_t len;
	int error;
};

/* Appends n bytes of s, each of * ? [ \ escaped for glob(3) when escape is set. */
static void
out_put(struct out *o, const char *s, size_t n, bool escape)
{
	for (size_t i = 0; i < n && !o->error; i++) {
		bool esc = escape && s[i] && strchr("*?[\\", s[i]);
		if (o->len + esc + 1 >= sizeof(o->buf)) {
			o->error = -ENAMETOOLONG;
			break;
		}
		if (esc)
			o->buf[o->len++] = '\\';
		o->buf[o->len++] = s[i];
	}
}

/* The placeholder at s (which starts with '<'), its length in *ret_len; NULL if none is known. */
static const struct placeholder *
placeholder_at(const char *s, size_t *ret_len)
{
	for (size_t i = 0; i < ARRAY_SIZE(placeholders); i++) {
		size_t n = strlen(placeholders[i].name);
		if (strncmp(s, placeholders[i].name, n) == 0) {
			*ret_len = n;
			return &placeholders[i];
		}
	}
	return NULL;
}

/* Ludusavi turns <storeUserId> into "*", so a "*" beside it would make "**": drop that "*". */
static bool
star_beside_user_id(const char *path, const char *s)
{
	static const char uid[] = "<storeUserId>";

	if (*s != '*')
		return false;
	if (strncmp(s + 1, uid, sizeof(uid) - 1) == 0)
		return true;
	return s - path >= (ptrdiff_t)sizeof(uid) - 1 &&
	       strncmp(s - (sizeof(uid) - 1), uid, sizeof(uid) - 1) == 0;
}

/* Copies the path's own text at s: one character, an escape or a bracket expression; with
 * fold, a letter as "[aA]" so that it matches either case. Returns what it used of s. */
static size_t
out_literal(struct out *o, const char *s, bool fold)
{
	char both[4] = {'[', (char)(*s | 0x20), (char)(*s & ~0x20), ']'};
	const char *p = s + 1;
	size_t n = 1;

	if (fold && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) {
		out_put(o, both, sizeof(both), false);
		return 1;
	}
	if (fold && *s == '\\' && s[1]) {
		n = 2;
	} else if (fold && *s == '[') {
		p += *p == '!' || *p == '^';
		p += *p == ']';
		p += strcspn(p, "]/");
		if (*p != ']') {
			/* A lone '[' is a plain one, and must not open the "[aA]" that follows. */
			out_put(o, "\\[", 2, false);
			return 1;
		}
		n = (size_t)(p + 1 - s);
	}
	out_put(o, s, n, false);
	return n;
}

int
lud_expand(const char *path, const struct lud_places *pl, char **ret)
{
	struct out o = {.len = 0};

	for (const char *s = path; *s && !o.error;) {
		const struct placeholder *ph;
		const char *v;
		size_t n;
		if (star_beside_user_id(path, s)) {
			s++;
			continue;
		}
		if (*s != '<' || !strchr(s, '>')) {
			s += out_literal(&o, s, pl->fold_case);
			continue;
		}
		ph = placeholder_at(s, &n);
		if (!ph)
			return -EINVAL;
		v = *(const char *const *)(const void *)((const char *)pl + ph->offset);
		if (!v)
			return -ENOENT;
		out_put(&o, v, strlen(v), ph->offset != offsetof(struct lud_places, store_user_id));
		s += n;
	}
	if (o.error)
		return o.error;
	o.buf[o.len] = '\0';
	if (o.buf[0] != '/')
		return -EINVAL;
	*ret = strdup(o.buf);
	return *ret ? 0 : -ENOMEM;
}

/* Ludusavi's manifest: a YAML map from game title to where its saves are (files, with `when`
 * conditions), its install folder names, its Steam app id and an alias. Read as a stream of
 * libyaml events, one game at a time, so an 18 MB manifest never sits in memory whole; and the
 * placeholders of its paths (<home>, <base>, <winDocuments>...) expanded into glob patterns. */
#ifndef SK_LUDUSAVI_H
#define SK_LUDUSAVI_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds on one game, past which the rest of its list is skipped. */
#define LUD_FILES_MAX 1024
#define LUD_WHEN_MAX 16
#define LUD_INSTALL_DIRS_MAX 16

enum lud_os { LUD_OS_ANY, LUD_OS_WINDOWS, LUD_OS_LINUX, LUD_OS_MAC, LUD_OS_OTHER };
enum lud_store { LUD_STORE_ANY, LUD_STORE_STEAM, LUD_STORE_OTHER };

/* One condition of a file entry: it applies on that OS and store (ANY: not restricted). */
struct lud_when {
	enum lud_os os;
	enum lud_store store;
};

/* A save location: a path with placeholders, a glob; no conditions means always. */
struct lud_file {
	char *path;
	struct lud_when *when;
	size_t n_when;
};

struct lud_game {
	char *title;
	char *alias;	     /* the title this entry stands for, or NULL */
	unsigned steam_id;   /* 0: none */
	char **install_dirs; /* folder names under a library's steamapps/common */
	size_t n_install_dirs;
	struct lud_file *files;
	size_t n_files;
};

/* Called for each game in file order. It may move fields out of g (leaving NULLs); the parser
 * frees what is left. Returns 0 to go on, or a negative errno to stop the parse with it. */
typedef int (*lud_game_fn)(struct lud_game *g, void *userdata);

/* Streams the manifest at path through fn. Returns 0, fn's error, -ENOMEM, -errno of the open,
 * or -EINVAL with "FILE:LINE: cause" in err when the YAML is malformed or not a map of games. */
int lud_parse_file(const char *path, lud_game_fn fn, void *userdata, char *err, size_t errlen);

/* The same for len bytes of YAML at data; name stands for the file in messages. */
int lud_parse_string(const char *name, const char *data, size_t len, lud_game_fn fn, void *userdata,
		     char *err, size_t errlen);

/* Frees the fields of g (not g itself). Accepts a half-filled or moved-from game. */
void lud_game_clear(struct lud_game *g);

/* What each placeholder stands for on this machine; NULL where it has no meaning (a Windows
 * folder for a native game, <base> for a game not installed). Values are plain paths, escaped
 * for glob(3) on insertion, except store_user_id, which is inserted as a glob ("*" or an id). */
struct lud_places {
	const char *home, *root, *game, *base, *store_user_id, *store_game_id, *os_user_name;
	const char *win_documents, *win_app_data, *win_local_app_data, *win_local_app_data_low;
	const char *win_public, *win_program_data, *win_dir;
	const char *xdg_data, *xdg_config;
	bool fold_case; /* letters of the path's own text match either case, as on Windows */
};

/* Expands the placeholders of a manifest path into a malloc'd glob pattern in *ret. Returns 0;
 * -ENOENT when the path uses a placeholder with no value in pl (the location does not apply);
 * -EINVAL for an unknown placeholder or a result that is not an absolute path; -ENAMETOOLONG
 * past PATH_MAX; -ENOMEM. */
int lud_expand(const char *path, const struct lud_places *pl, char **ret);

/* True if the file entry applies to a game run on os from Steam: some condition matches both
 * (a condition without os or store matches any), or it has none. */
bool lud_file_applies(const struct lud_file *f, enum lud_os os);

#endif

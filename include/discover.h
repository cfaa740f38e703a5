/* Finding games and their save folders: the installed Steam games (steam.h) matched with the
 * entries of Ludusavi's manifest (ludusavi.h) by app id, title or alias; each entry's paths are
 * expanded for the game (inside its Proton prefix for a Windows game) and looked up on disk with
 * glob(3). Reads files only and does not log: what it could not read is kept as warnings. */
#ifndef SK_DISCOVER_H
#define SK_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "steam.h"

/* The most manifest entries a title query keeps (more is an ambiguous query anyway); listing
 * the installed games has no such bound. */
#define DISC_QUERY_MAX 50

/* A save folder found on disk, and why. */
struct disc_save {
	char *folder;
	char *pattern; /* the expanded manifest path it came from */
	bool common;   /* the folder holding the files the pattern matched, not a folder it named */
};

struct disc_game {
	char *title;	/* the manifest's title, else Steam's name */
	char **aliases; /* other titles that named this game in the manifest */
	size_t n_aliases;
	const struct steam_app *app; /* NULL: not installed from Steam */
	bool in_manifest;
	struct disc_save *saves;
	size_t n_saves;
	char **tried; /* the patterns looked up, for "found nothing" messages */
	size_t n_tried;
	char **notes; /* folders left out, and why */
	size_t n_notes;
};

struct discovery {
	char *manifest;	      /* the manifest path used */
	bool manifest_read;   /* false: none there, or unreadable: */
	char *manifest_error; /* why, or NULL */
	struct steam *steam;
	struct disc_game *games;
	size_t n_games;
	char **warnings; /* files that could not be read, with the cause */
	size_t n_warnings;
};

/* What to look for: every installed Steam game (no query, no app id), Steam app ids (appid, and
 * the n_appids of appids), or the games whose title, alias or Steam name contains query (letters
 * and digits compared, case ignored). */
struct disc_query {
	const char *home;     /* NULL: $HOME */
	const char *manifest; /* NULL: discover_default_manifest() */
	const char *query;
	unsigned appid;
	const unsigned *appids;
	size_t n_appids;
};

/* Finds the games q asks for into *ret (possibly none). Returns 0 or -ENOMEM: an unreadable
 * Steam file or manifest, or a malformed one, is a warning in (*ret)->warnings. */
int discover_run(const struct disc_query *q, struct discovery **ret);

/* The one game of d that q names exactly: its app id, or a title, alias or Steam name equal to
 * q->query (letters and digits compared, case ignored); failing that, for a title query, the
 * only game found. NULL when there are none or several. */
const struct disc_game *discover_pick(const struct discovery *d, const struct disc_query *q);

/* One Steam app of a config's `steam_app` without a path, and what was found for it. */
struct disc_app_folder {
	unsigned appid;
	char *path; /* malloc'd: the one save folder; NULL on error */
	int error;  /* -ENOENT (not installed, no manifest, not in it, no folder yet) or
		     * -EEXIST (several), with where it looked or what it found in why */
	char why[1024];
};

/* Finds the save folder of each of the n apps in v, reading Steam's files and the manifest
 * (NULL for the default) once for all. Returns 0 (each entry says how it went) or -ENOMEM. */
int discover_app_folders(struct disc_app_folder *v, size_t n, const char *manifest);

/* Ludusavi's own copy of its manifest: $XDG_CONFIG_HOME/ludusavi/manifest.yaml, by default
 * ~/.config/ludusavi/manifest.yaml. malloc'd, NULL on ENOMEM. */
char *discover_default_manifest(void);

/* A game name for a title: lower case, each run of characters outside [a-z0-9._] one '-', at
 * most 48 bytes. malloc'd, NULL on ENOMEM; "game" when nothing is left. */
char *discover_slug(const char *title);

/* Frees d. Accepts NULL. */
void discovery_free(struct discovery *d);

#endif

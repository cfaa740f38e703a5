/* Steam's installs under a home: the native roots (~/.local/share/Steam, ~/.steam/steam) and the
 * Flatpak one, each library their steamapps/libraryfolders.vdf lists, every installed app
 * (steamapps/appmanifest_<appid>.acf), its Proton prefix and the Steam user ids. Reads files
 * only; what it cannot read becomes a warning, never a failure. */
#ifndef SK_STEAM_H
#define SK_STEAM_H

#include <stdbool.h>
#include <stddef.h>

#define STEAM_FLATPAK_ID "com.valvesoftware.Steam"

/* An installed app, from steamapps/appmanifest_<appid>.acf. */
struct steam_app {
	unsigned appid;
	char *name;	    /* Steam's name */
	char *installdir;   /* folder name under steamapps/common */
	char *install_path; /* absolute */
	char *library;	    /* the library folder that holds it */
	char *prefix;	    /* steamapps/compatdata/<appid>/pfx, or NULL: a native game */
	size_t root;	    /* index into steam.roots */
};

struct steam_root {
	char *path;   /* canonical */
	bool flatpak; /* under ~/.var/app/com.valvesoftware.Steam */
	char **users; /* the ids of userdata/<id> */
	size_t n_users;
};

struct steam {
	struct steam_root *roots;
	size_t n_roots;
	char **libraries; /* canonical, each once */
	size_t n_libraries;
	struct steam_app *apps;
	size_t n_apps;
	char **warnings;
	size_t n_warnings;
};

/* Scans the Steam installs under home (NULL: $HOME) into *ret. Returns 0 or -ENOMEM. */
int steam_scan(const char *home, struct steam **ret);

/* The installed app with that id, or NULL. */
const struct steam_app *steam_find_app(const struct steam *s, unsigned appid);

/* Frees s. Accepts NULL. */
void steam_free(struct steam *s);

#endif

/* Private to the configuration (config.c: the struct, its defaults, games added by option, the
 * folder check; config_parse.c: reading the INI file). */
#ifndef SK_CONFIG_INT_H
#define SK_CONFIG_INT_H

#include <string.h>
#include <sys/types.h>

#include "config.h"

#define GAME_NAME_HINT "use letters, digits, '.', '_' and '-'"

/* config.c */
/* Why name cannot be a new game of cfg, or NULL if it can. */
const char *config_game_name_problem(const struct sk_config *cfg, const char *name);
/* Appends a game with a copy of name and no path; returns its index or -ENOMEM. */
ssize_t config_game_append(struct sk_config *cfg, const char *name);

/* Drops trailing slashes: "/a/b/" and "/a/b" name the same folder and game. */
static inline void
path_trim_slashes(char *path)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
}

#endif

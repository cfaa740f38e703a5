/* What `savekeeperctl discover` shows and what `add` writes, from a discovery (discover.h) and
 * the player's config: the games found as JSON or as text, marked where configured, and the
 * [game] sections that configure one. */
#ifndef SK_DISCOVER_REPORT_H
#define SK_DISCOVER_REPORT_H

#include <json-c/json.h>
#include <stdio.h>

#include "config.h"
#include "discover.h"

/* The names of cfg's games that are g (the same steam_app, or a path that is one of g's save
 * folders), up to max of them in names; returns how many there are. cfg may be NULL. */
size_t discover_configured(const struct disc_game *g, const struct sk_config *cfg, const char **names,
			   size_t max);

/* The discovery as one JSON object (see savekeeperctl(1)); NULL when out of memory. */
struct json_object *discover_json(const struct discovery *d, const struct sk_config *cfg);

/* The discovery as text for people. */
void discover_print(FILE *f, const struct discovery *d, const struct sk_config *cfg);

/* The config text that adds g: a [game] section per save folder not configured yet, named after
 * its title (discover_slug), "-2", "-3"... for the second and further folders or where a name
 * is taken. Returns the number of sections (0: all configured already) with the text in *ret,
 * or -ENOMEM, or -EINVAL with the cause in err when a folder cannot be written as a value. */
int discover_sections(const struct disc_game *g, const struct sk_config *cfg, char **ret, char *err,
		      size_t errlen);

#endif

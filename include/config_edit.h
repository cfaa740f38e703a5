/* Adding [game] sections to a config file the player wrote: the file's own text, comments and
 * layout are kept byte for byte, the new sections are appended, and the result must load before
 * it replaces the file (atomically, with the file's mode). */
#ifndef SK_CONFIG_EDIT_H
#define SK_CONFIG_EDIT_H

#include <stddef.h>

/* Why value cannot be written as a config value that reads back the same (a line end, blanks at
 * an end, " ;" which starts a comment, too long); NULL if it can. */
const char *config_value_problem(const char *value);

/* Appends text (whole lines) to the config file at path, creating it and its folder if missing.
 * The new file is loaded first: a config that would not load is not written. Returns 0, or a
 * negative errno with the cause (or the loader's "file:line: message") in err. */
int config_append(const char *path, const char *text, char *err, size_t errlen);

#endif

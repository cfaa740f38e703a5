/* Lists of strings: a malloc'd array of malloc'd strings and its count, grown one at a time. */
#ifndef SK_STRV_H
#define SK_STRV_H

#include <stdbool.h>
#include <stddef.h>

/* Appends a malloc'd copy of s to the string list *v of *n entries; 0 or -ENOMEM. */
int strv_push(char ***v, size_t *n, const char *s);

/* True if the list v of n entries holds s. */
bool strv_contains(char *const *v, size_t n, const char *s);

/* Frees a string list of n entries. Accepts NULL. */
void strv_free(char **v, size_t n);

#endif

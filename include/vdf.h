/* Valve's text KeyValues ("VDF"), the format of Steam's libraryfolders.vdf and appmanifest_*.acf:
 * "key" "value" pairs and "key" { ... } blocks, // comments, \" escapes in quoted strings.
 * The parser is a pure function over a bounded buffer (and so fuzzed). */
#ifndef SK_VDF_H
#define SK_VDF_H

#include <stddef.h>

/* The largest file vdf_load reads, and the deepest nesting any parse accepts. */
#define VDF_FILE_MAX (16u << 20)
#define VDF_DEPTH_MAX 32

/* One key: a string value, or (value NULL) a block of children in file order. */
struct vdf_node {
	char *key;
	char *value;
	struct vdf_node *children;
	size_t n_children;
};

/* Parses len bytes at data into a root block holding the top-level keys. Returns 0, -ENOMEM, or
 * -EINVAL with "line N: cause" in err (unterminated string or block, nesting too deep, a value
 * missing, a '}' too many). */
int vdf_parse(const char *data, size_t len, struct vdf_node **ret, char *err, size_t errlen);

/* Reads and parses the file at path (at most VDF_FILE_MAX bytes); errors name the file. */
int vdf_load(const char *path, struct vdf_node **ret, char *err, size_t errlen);

/* The child of block n called key (case-insensitive, as Steam reads it); NULL if none or if n is
 * NULL or a string. */
const struct vdf_node *vdf_child(const struct vdf_node *n, const char *key);

/* The string value at a '/'-separated path of keys below n ("AppState/name"); NULL if missing
 * or a block. */
const char *vdf_get(const struct vdf_node *n, const char *path);

/* Frees a tree from vdf_parse or vdf_load. Accepts NULL. */
void vdf_free(struct vdf_node *n);

#endif

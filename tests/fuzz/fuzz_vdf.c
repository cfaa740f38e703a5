/* libFuzzer target: any bytes as a Steam VDF file. A parse ends in a tree or an error naming its
 * line; every key of the tree can be looked up again by its path.
 * fuzz-sources: src/vdf.c src/util.c
 * fuzz-flags: -max_len=4096
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each child of n can be found by its key (the first of that key, case ignored). */
static void
walk(const struct vdf_node *n, unsigned depth)
{
	if (depth > VDF_DEPTH_MAX + 1)
		abort();
	for (size_t i = 0; !n->value && i < n->n_children; i++) {
		const struct vdf_node *c = &n->children[i];
		if (!c->key || (c->value && c->n_children) || !vdf_child(n, c->key))
			abort();
		walk(c, depth + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vdf_node *root = NULL;
	char err[256] = "";

	if (vdf_parse((const char *)data, size, &root, err, sizeof(err)) == 0) {
		walk(root, 0);
		(void)vdf_get(root, "libraryfolders/0/path");
		vdf_free(root);
	} else if (strncmp(err, "line ", 5) != 0 && strcmp(err, "out of memory") != 0) {
		abort();
	}
	return 0;
}

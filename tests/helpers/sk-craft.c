/* Crafts hostile and damaged archives for the daemon's restore tests, with the manifest beside
 * them (see craft.h), straight into a game's archive folder.
 *   sk-craft DIR ID ENTRY...    writes DIR/ID.tar.gz and DIR/ID.manifest holding the entries
 *   sk-craft --flip DIR ID OFFSET   flips bits of one byte of DIR/ID.tar.gz
 *   sk-craft --rehash DIR ID    makes DIR/ID.manifest match the archive file's size and SHA-256
 * An ENTRY is TYPE:PATH[:DATA]: f (file holding DATA), r (DATA bytes of pseudo-random data),
 * z (DATA zero bytes), d (folder), l (symlink to DATA), h (hard link to DATA), c (character
 * device), p (FIFO). Exits 0 when done, 1 on failure, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers/craft.h"

static int
usage(void)
{
	fprintf(stderr, "usage: sk-craft DIR ID TYPE:PATH[:DATA]...\n"
			"       sk-craft --flip DIR ID OFFSET | --rehash DIR ID\n");
	return 2;
}

/* Parses "TYPE:PATH[:DATA]" in place into c; false if it is malformed. */
static bool
parse_entry(char *arg, struct craft *c)
{
	char *path = strchr(arg, ':'), *data;

	if (!path || path - arg != 1 || !strchr("frzdlhcp", arg[0]))
		return false;
	*path++ = '\0';
	data = strchr(path, ':');
	if (data)
		*data++ = '\0';
	*c = (struct craft){ .type = arg[0], .path = path, .data = data, .mode = 0644 };
	if (c->type == 'd')
		c->mode = 0755;
	else if (c->type == 'l')
		c->mode = 0777;
	if (c->type == 'r' || c->type == 'z') {
		c->size = data ? strtoull(data, NULL, 10) : 0;
		c->random = c->type == 'r';
		c->data = NULL;
		c->type = 'f';
	}
	return (c->type != 'l' && c->type != 'h') || c->data;
}

int
main(int argc, char **argv)
{
	struct craft *v;
	int r;

	if (argc == 5 && strcmp(argv[1], "--flip") == 0)
		return craft_flip(argv[2], argv[3], (off_t)strtoll(argv[4], NULL, 10)) < 0;
	if (argc == 4 && strcmp(argv[1], "--rehash") == 0)
		return craft_rewrite_manifest(argv[2], argv[3], NULL) < 0;
	if (argc < 4 || argv[1][0] == '-')
		return usage();
	v = calloc((size_t)argc, sizeof(*v));
	if (!v)
		return 1;
	for (int i = 3; i < argc; i++)
		if (!parse_entry(argv[i], &v[i - 3])) {
			free(v);
			return usage();
		}
	r = craft_archive(argv[1], argv[2], v, (size_t)argc - 3);
	free(v);
	return r < 0;
}

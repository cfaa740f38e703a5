/* libFuzzer target: parse_size (and parse_bool, its neighbour) on any string. What parse_size
 * accepts reads back the same as a plain byte count.
 * fuzz-sources: src/parse.c
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size), back[32];
	uint64_t bytes = 0, again = 0;
	bool b;

	if (!s)
		return 0;
	if (parse_size(s, &bytes) == 0) {
		snprintf(back, sizeof(back), "%" PRIu64, bytes);
		if (parse_size(back, &again) != 0 || again != bytes)
			abort();
	}
	(void)parse_bool(s, &b);
	free(s);
	return 0;
}

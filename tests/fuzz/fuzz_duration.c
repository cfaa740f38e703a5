/* libFuzzer target: parse_duration on any string. It accepts or rejects without crashing, and
 * what it accepts reads back the same when printed in microseconds.
 * fuzz-sources: src/parse.c
 */
#include <inttypes.h>
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
	uint64_t usec = 0, again = 0;

	if (!s)
		return 0;
	if (parse_duration(s, &usec) == 0) {
		snprintf(back, sizeof(back), "%" PRIu64 "us", usec);
		if (parse_duration(back, &again) != 0 || again != usec)
			abort();
	}
	free(s);
	return 0;
}

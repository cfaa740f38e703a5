// sources: src/proto.c src/util.c
/* libFuzzer target: any bytes given to proto_parse are either refused with a one-line reason
 * or parsed into a request that formats back to a line the parser reads the same way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_request req, again;
	char err[256], line[PROTO_MAX_LINE + 1];
	int n;

	if (proto_parse((const char *)data, size, &req, err, sizeof(err)) < 0) {
		if (err[0] == '\0' || strchr(err, '\n'))
			abort();
		return 0;
	}
	n = proto_format(&req, line, sizeof(line));
	if (n < 0 || proto_parse(line, (size_t)n, &again, err, sizeof(err)) < 0)
		abort();
	if (memcmp(&req, &again, sizeof(req)) != 0)
		abort();
	return 0;
}

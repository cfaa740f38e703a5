/* libFuzzer target: any bytes as a config file. A parse either succeeds or fails with a message;
 * it never crashes, leaks or reads out of bounds.
 * fuzz-sources: src/config.c src/config_parse.c src/parse.c src/util.c src/strv.c src/discover.c src/steam.c src/ludusavi.c src/vdf.c
 * fuzz-flags: -max_len=12000
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* ~ expands to a fixed home whatever the environment of the run. */
	setenv("HOME", "/home/fuzz", 1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sk_config *cfg = NULL;
	char err[512];

	err[0] = '\0';
	if (config_load_string("fuzz.ini", (const char *)data, size, &cfg, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < cfg->n_games; i++)
			if (cfg->games[i].path[0] != '/' || !config_find_game(cfg, cfg->games[i].name))
				abort();
		config_free(cfg);
	} else if (strncmp(err, "fuzz.ini:", 9) != 0) {
		abort(); /* every error names the file and line */
	}
	return 0;
}

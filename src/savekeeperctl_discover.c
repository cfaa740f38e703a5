/* savekeeperctl's discover and add: the games installed from Steam and their save folders,
 * found without the daemon; add writes a [game] section per folder into the player's config
 * and asks a running daemon to reload it. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_edit.h"
#include "discover.h"
#include "discover_report.h"
#include "savekeeperctl.h"
#include "util.h"

/* Loads the player's config for discover and add into *ret_cfg (NULL when the file does not
 * exist yet), its path in *ret_path. A config that does not load is reported and refused. */
static int
load_player_config(char **ret_path, struct sk_config **ret_cfg)
{
	_cleanup_free_ char *path = config_file ? strdup(config_file) : config_default_path();
	char err[1024];
	int r;

	if (!path)
		return -ENOMEM;
	*ret_cfg = NULL;
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		*ret_path = TAKE_PTR(path);
		return 0;
	}
	r = config_load(path, ret_cfg, err, sizeof(err));
	if (r < 0) {
		complain("%s", err);
		return r;
	}
	*ret_path = TAKE_PTR(path);
	return 0;
}

int
cmd_discover(int argc, char **argv)
{
	_cleanup_free_ char *path = NULL;
	struct sk_config *cfg = NULL;
	struct disc_query q = {0};
	struct discovery *d = NULL;
	struct json_object *o;

	(void)argv;
	if (argc > 0) {
		complain("usage: savekeeperctl discover [--json]");
		return EXIT_USAGE;
	}
	if (load_player_config(&path, &cfg) < 0)
		return EXIT_REFUSED;
	q.manifest = cfg ? cfg->manifest : NULL;
	if (discover_run(&q, &d) < 0) {
		complain("out of memory");
		config_free(cfg);
		return EXIT_REFUSED;
	}
	if (json_output && (o = discover_json(d, cfg))) {
		output_json(o);
		json_object_put(o);
	} else if (!json_output) {
		discover_print(stdout, d, cfg);
	}
	discovery_free(d);
	config_free(cfg);
	return EXIT_OK;
}

/* add's answer when the query names no one game: the candidates, or why there are none. */
static void
report_no_pick(const struct discovery *d, const char *query)
{
	if (d->n_games == 0) {
		complain(
		    "no game matches '%s' among the installed Steam games%s (see savekeeperctl discover)",
		    query, d->manifest_read ? " or in the manifest" : " (and no manifest was read)");
		for (size_t i = 0; i < d->n_warnings; i++)
			complain("warning: %s", d->warnings[i]);
		return;
	}
	complain("'%s' matches %zu games; give the full title or the Steam app id:", query, d->n_games);
	for (size_t i = 0; i < d->n_games; i++) {
		const struct disc_game *g = &d->games[i];
		if (g->app)
			fprintf(stderr, "  %s (Steam app %u, installed)\n", g->title, g->app->appid);
		else
			fprintf(stderr, "  %s (not installed from Steam)\n", g->title);
	}
}

/* Why g cannot be added, on stderr; false if it can. */
static bool
report_no_saves(const struct disc_game *g, const struct discovery *d)
{
	if (!g->in_manifest) {
		complain(
		    "'%s' is not in Ludusavi's manifest %s%s: add a [game] section with its path by hand",
		    g->title, d->manifest, d->manifest_read ? "" : " (not read)");
		return true;
	}
	if (g->n_saves > 0)
		return false;
	complain("found no save folder of '%s'; looked for:", g->title);
	for (size_t i = 0; i < g->n_tried; i++)
		fprintf(stderr, "  %s\n", g->tried[i]);
	for (size_t i = 0; i < g->n_notes; i++)
		fprintf(stderr, "  note: %s\n", g->notes[i]);
	return true;
}

/* Asks a running daemon to re-read its config; no daemon is no error. Returns an exit status. */
static int
reload_daemon(const struct sk_config *cfg, bool *ret_reloaded)
{
	static char *def; /* the default path, which socket_path may point at until exit */
	struct json_object *o = NULL;
	struct conn c;
	int r;

	*ret_reloaded = false;
	if (!socket_path)
		socket_path = conn_socket_path(cfg ? cfg->socket_path : NULL, &def);
	if (!socket_path || conn_open(&c) < 0) {
		if (!json_output)
			printf("no daemon at %s: it reads the new games when it starts\n",
			       socket_path ? socket_path : "?");
		return EXIT_OK;
	}
	signal(SIGPIPE, SIG_IGN);
	r = conn_request(&c, "reload", SHORT_TIMEOUT_MS, &o);
	conn_close(&c);
	if (r < 0 || !jbool(o, "ok")) {
		complain("the config is written, but the daemon did not reload it: %s",
			 o && jstr(o, "error") ? jstr(o, "error") : strerror(-r));
		json_object_put(o);
		return EXIT_REFUSED;
	}
	*ret_reloaded = true;
	if (!json_output)
		printf("the daemon at %s reloaded its config: %lld game%s\n", socket_path,
		       (long long)jint(o, "games"), jint(o, "games") == 1 ? "" : "s");
	json_object_put(o);
	return EXIT_OK;
}

/* Writes g's sections into the config at path; returns an exit status. */
static int
add_game(const struct disc_game *g, const struct sk_config *cfg, const char *path)
{
	_cleanup_free_ char *text = NULL;
	char err[1024];
	bool reloaded;
	int n = discover_sections(g, cfg, &text, err, sizeof(err)), status;

	if (n < 0) {
		complain("%s", n == -ENOMEM ? "out of memory" : err);
		return EXIT_REFUSED;
	}
	if (n == 0) {
		if (!json_output)
			printf("'%s' is configured already: each save folder found is in %s, or inside or "
			       "around "
			       "a folder there\n",
			       g->title, path);
		return EXIT_OK;
	}
	if (config_append(path, text, err, sizeof(err)) < 0) {
		complain("%s", err);
		return EXIT_REFUSED;
	}
	if (!json_output)
		printf("added to %s:%s", path, text);
	status = reload_daemon(cfg, &reloaded);
	if (json_output) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(status == EXIT_OK));
		json_object_object_add(o, "title", json_object_new_string(g->title));
		json_object_object_add(o, "config", json_object_new_string(path));
		json_object_object_add(o, "added", json_object_new_int(n));
		json_object_object_add(o, "reloaded", json_object_new_boolean(reloaded));
		output_json(o);
		json_object_put(o);
	}
	return status;
}

int
cmd_add(int argc, char **argv)
{
	_cleanup_free_ char *path = NULL;
	struct sk_config *cfg = NULL;
	struct disc_query q = {0};
	struct discovery *d = NULL;
	const struct disc_game *g;
	int status = EXIT_REFUSED;

	if (argc != 1 || !argv[0][0]) {
		complain("usage: savekeeperctl add TITLE|STEAM_APP_ID");
		return EXIT_USAGE;
	}
	if (load_player_config(&path, &cfg) < 0) {
		complain("fix the config before adding games to it");
		return EXIT_REFUSED;
	}
	if (argv[0][strspn(argv[0], "0123456789")] == '\0' && strlen(argv[0]) < 10)
		q.appid = (unsigned)strtoul(argv[0], NULL, 10);
	else
		q.query = argv[0];
	q.manifest = cfg ? cfg->manifest : NULL;
	if (discover_run(&q, &d) < 0)
		complain("out of memory");
	else if (!(g = discover_pick(d, &q)))
		report_no_pick(d, argv[0]);
	else if (!report_no_saves(g, d))
		status = add_game(g, cfg, path);
	discovery_free(d);
	config_free(cfg);
	return status;
}

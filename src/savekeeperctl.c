/* savekeeperctl: sends one request to savekeeperd over its control socket and shows the
 * replies, as tables for people or as the daemon's JSON lines for scripts. `wrap` runs a game
 * between a "session begin" and a "session end". This file holds the options, the request line
 * and wrap; the connection is savekeeperctl_conn.c, the output savekeeperctl_output.c, discover
 * and add savekeeperctl_discover.c. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "config.h"
#include "proto.h"
#include "savekeeperctl.h"
#include "util.h"

const char *socket_path;
bool json_output;
const char *config_file;

void
complain(const char *fmt, ...)
{
	va_list ap;

	fputs("savekeeperctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
no_daemon(int r)
{
	complain("no daemon at %s (%s); start it with: systemctl --user start savekeeper.socket", socket_path,
		 strerror(-r));
}

/* Sends line and waits for its final reply. Returns an exit status. */
static int
run_request(const char *line, const struct proto_request *req)
{
	enum proto_cmd cmd = req->cmd;
	int timeout = cmd == CMD_PING || cmd == CMD_STATUS ? SHORT_TIMEOUT_MS : -1;
	struct json_object *o = NULL;
	struct conn c;
	int r = conn_open(&c);

	if (r < 0) {
		no_daemon(r);
		return EXIT_NO_DAEMON;
	}
	/* A refused client (another uid, too many clients) finds the reason already waiting and
	 * the connection closed, so a failed send still reads what came back. */
	(void)conn_send(&c, line);
	r = conn_await_reply(&c, timeout, false, &o);
	conn_close(&c);
	if (r < 0) {
		complain("%s", r == -ETIMEDOUT ? "no reply from the daemon within 10 s"
			       : r == -EBADMSG ? "the daemon sent a reply that is not JSON"
					       : "the daemon closed the connection without a reply");
		return EXIT_REFUSED;
	}
	if (jbool(o, "ok")) {
		if (!json_output)
			output_reply(req, o);
	} else if (!json_output) {
		/* verify lists what it found even when an archive failed. */
		if (cmd == CMD_VERIFY)
			output_verify_failure(o);
		else if (jstr(o, "game"))
			/* A job's message names the file and the cause; the game comes from the reply. */
			complain("%s: %s", jtext(o, "game"),
				 jstr(o, "error") ? jstr(o, "error") : "request failed");
		else
			complain("%s", jstr(o, "error") ? jstr(o, "error") : "request failed");
	}
	r = jbool(o, "ok") ? EXIT_OK : EXIT_REFUSED;
	json_object_put(o);
	return r;
}

/* Joins words into a request line and checks it with the daemon's own parser. */
static int
build_line(char **words, int n, char *line, size_t len, struct proto_request *ret)
{
	size_t pos = 0;
	char err[256];

	line[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strpbrk(words[i], " \t\r\n") || pos + strlen(words[i]) + 2 > len) {
			complain("bad argument '%s'", words[i]);
			return -EINVAL;
		}
		pos += (size_t)snprintf(line + pos, len - pos, "%s%s", i ? " " : "", words[i]);
	}
	if (proto_parse(line, pos, ret, err, sizeof(err)) < 0) {
		complain("%s", err);
		return -EINVAL;
	}
	return 0;
}

/* wrap: the child's pid, for the signal handlers that forward to it. */
static volatile pid_t wrapped_pid;

static void
forward_signal(int sig)
{
	if (wrapped_pid > 0)
		kill(wrapped_pid, sig);
}

/* Sends one request of wrap's and waits for its final reply; the reply, or NULL with a
 * message on stderr when the daemon went away. */
static struct json_object *
wrap_request(struct conn *c, const char *verb, const char *game, const char *rest, int timeout_ms)
{
	char line[PROTO_MAX_LINE];
	struct json_object *o = NULL;
	int r;

	snprintf(line, sizeof(line), "%s%s%s %s", verb, game ? " " : "", game ? game : "", rest);
	r = conn_request(c, line, timeout_ms, &o);
	if (r < 0) {
		complain("lost the daemon during %s: %s", verb, strerror(-r));
		return NULL;
	}
	return o;
}

/* Tells the daemon a wrapped game begins or ends, with a snapshot before launch. Only warns
 * on failure: the game runs whatever happens. Returns true if the daemon took the session,
 * so that only a session begun is ended. */
static bool
wrap_session(const char *game, bool begin)
{
	struct json_object *o;
	struct conn c;
	bool ok;
	int r = conn_open(&c);

	if (r < 0) {
		complain("no daemon at %s (%s): %s", socket_path, strerror(-r),
			 begin ? "running the game without snapshots" : "no final snapshot");
		return false;
	}
	o = wrap_request(&c, "session", game, begin ? "begin" : "end", SHORT_TIMEOUT_MS);
	ok = o && jbool(o, "ok");
	if (o && !ok)
		complain("%s: %s", jtext(o, "error"),
			 begin ? "running the game without snapshots" : "no final snapshot");
	json_object_put(o);
	if (ok && begin) {
		o = wrap_request(&c, "backup", game, "--wait", -1);
		if (o && !jbool(o, "ok"))
			complain("snapshot before launch failed (%s); launching anyway", jtext(o, "error"));
		json_object_put(o);
	}
	conn_close(&c);
	return ok;
}

/* Runs argv with the termination signals forwarded; returns its exit status (128+signal). */
static int
wrap_run(char **argv)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa = {.sa_handler = forward_signal};
	int status;
	pid_t pid;

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		complain("cannot start '%s': %s", argv[0], strerror(errno));
		return 127;
	}
	if (pid == 0) {
		/* An ignored SIGPIPE would survive exec: give the game the defaults. */
		sa.sa_handler = SIG_DFL;
		for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
			sigaction(sigs[i], &sa, NULL);
		sigaction(SIGPIPE, &sa, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "savekeeperctl: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	wrapped_pid = pid;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	wrapped_pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* wrap [GAME] -- COMMAND...: a snapshot before, the game, a final snapshot after. */
static int
cmd_wrap(int argc, char **argv)
{
	const char *game = NULL;
	int i = 0, status;
	bool begun;

	if (i < argc && strcmp(argv[i], "--") != 0)
		game = argv[i++];
	if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
		complain("usage: savekeeperctl wrap [GAME] -- COMMAND...");
		return EXIT_USAGE;
	}
	if (game && !game_name_valid(game)) {
		complain("bad game name '%s'", game);
		return EXIT_USAGE;
	}
	begun = wrap_session(game, true);
	status = wrap_run(argv + i + 1);
	if (begun)
		wrap_session(game, false);
	return status;
}

static void
usage(FILE *f)
{
	fputs("Usage: savekeeperctl [OPTION...] COMMAND [GAME] [ARG...]\n"
	      "Talks to savekeeperd. GAME may be left out when one game is configured.\n"
	      "Commands:\n"
	      "  ping                              check that the daemon answers\n"
	      "  status [GAME]                     games, last and next snapshots, the core\n"
	      "  start [GAME] | stop [GAME]        resume or pause the schedule\n"
	      "  backup [GAME] [--wait]            take a snapshot now (--wait: until done)\n"
	      "  list [GAME] [--remote]            archives: ID, time, age, size, files\n"
	      "                                    (--remote: what the remote holds)\n"
	      "  pull [GAME] [ID|latest]           download an archive from the remote\n"
	      "  verify [GAME] [ID|all|latest]     check archives against their SHA-256 lists\n"
	      "  restore [GAME] [ID|latest] [--dry-run]\n"
	      "                                    put a snapshot back (undoable)\n"
	      "  restore [GAME] --undo             go back to before the last restore\n"
	      "  prune [GAME] [--remote] [--dry-run]\n"
	      "                                    apply retention (here, or on the remote);\n"
	      "                                    show what goes and why\n"
	      "  pin [GAME] ID | unpin [GAME] ID   keep an archive for ever, or not\n"
	      "  reload                            re-read the configuration\n"
	      "  wrap [GAME] -- COMMAND...         run a game between two snapshots\n"
	      "  session [GAME] begin|end          a game started or exited (what wrap sends)\n"
	      "  discover                          Steam games installed, their save folders\n"
	      "                                    (no daemon needed)\n"
	      "  add TITLE|STEAM_APP_ID            add a [game] section per save folder found\n"
	      "                                    to the config, then reload the daemon\n"
	      "Options (--socket, --json and --help may also follow the command):\n"
	      "  -s, --socket PATH   the daemon's socket (default $SAVEKEEPER_SOCKET, else\n"
	      "                      $XDG_RUNTIME_DIR/savekeeper/control.sock)\n"
	      "  -j, --json          print the daemon's replies as JSON lines\n"
	      "  -c, --config FILE   the config discover reads and add writes (default\n"
	      "                      $XDG_CONFIG_HOME/savekeeper/savekeeper.ini)\n"
	      "  -h, --help          show this help\n"
	      "  -V, --version       show the version\n"
	      "Exit status: 0 done, 1 refused or failed, 2 usage, 3 no daemon at the socket.\n",
	      f);
}

/* Parses the options before the command; returns the index of the command, or -1 with the
 * exit status in *ret_exit (--help, --version, usage errors). */
static int
parse_options(int argc, char **argv, int *ret_exit)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},	      {"version", no_argument, NULL, 'V'},
	    {"config", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
	};
	int ch;

	/* "+": stop at the command, so its own options (--wait) and wrap's command stay put.
	 * ":": report a missing argument ourselves, as every other usage error. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:s:c:jhV", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			socket_path = optarg;
			break;
		case 'j':
			json_output = true;
			break;
		case 'c':
			config_file = optarg;
			break;
		case 'h':
			usage(stdout);
			*ret_exit = EXIT_OK;
			return -1;
		case 'V':
			printf("savekeeperctl %s\n", SK_VERSION);
			*ret_exit = EXIT_OK;
			return -1;
		case ':':
			complain("option '%s' needs an argument (see savekeeperctl --help)",
				 argv[optind - 1]);
			*ret_exit = EXIT_USAGE;
			return -1;
		default:
			complain("unknown option '%s' (see savekeeperctl --help)", argv[optind - 1]);
			*ret_exit = EXIT_USAGE;
			return -1;
		}
	}
	if (optind >= argc) {
		complain("no command given");
		usage(stderr);
		*ret_exit = EXIT_USAGE;
		return -1;
	}
	return optind;
}

/* Takes --json, --socket PATH and --help from among the command's words too ("status --json"),
 * up to wrap's "--". Returns the words left, or -1 with the exit status in *ret_exit. */
static int
take_late_options(int n, char **words, int *ret_exit)
{
	int kept = 0, i;

	for (i = 0; i < n && strcmp(words[i], "--") != 0; i++) {
		if (strcmp(words[i], "--json") == 0) {
			json_output = true;
		} else if (strncmp(words[i], "--socket=", 9) == 0) {
			socket_path = words[i] + 9;
		} else if (strcmp(words[i], "--socket") == 0) {
			if (++i == n) {
				complain("option '--socket' needs an argument (see savekeeperctl --help)");
				*ret_exit = EXIT_USAGE;
				return -1;
			}
			socket_path = words[i];
		} else if (strcmp(words[i], "--help") == 0 || strcmp(words[i], "-h") == 0) {
			usage(stdout);
			*ret_exit = EXIT_OK;
			return -1;
		} else {
			words[kept++] = words[i];
		}
	}
	while (i < n)
		words[kept++] = words[i++];
	return kept;
}

int
main(int argc, char **argv)
{
	_cleanup_free_ char *def = NULL;
	char line[PROTO_MAX_LINE + 1];
	struct proto_request req;
	enum proto_cmd cmd;
	int status = EXIT_USAGE, n, i = parse_options(argc, argv, &status);

	if (i < 0)
		return status;
	n = take_late_options(argc - i - 1, argv + i + 1, &status);
	if (n < 0)
		return status;
	if (strcmp(argv[i], "discover") == 0)
		return cmd_discover(n, argv + i + 1);
	if (strcmp(argv[i], "add") == 0)
		return cmd_add(n, argv + i + 1);
	if (!socket_path)
		socket_path = conn_socket_path(NULL, &def);
	else if (!socket_path[0]) /* --socket "": the default, not $SAVEKEEPER_SOCKET */
		socket_path = def = config_default_socket_path();
	if (!socket_path) {
		complain("out of memory");
		return EXIT_REFUSED;
	}
	/* A broken connection is reported from write()'s error, not by dying. */
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[i], "wrap") == 0)
		return cmd_wrap(n, argv + i + 1);
	if (proto_cmd_from_name(argv[i], &cmd) < 0) {
		complain("unknown command '%s' (see savekeeperctl --help)", argv[i]);
		return EXIT_USAGE;
	}
	if (build_line(argv + i, n + 1, line, sizeof(line), &req) < 0)
		return EXIT_USAGE;
	return run_request(line, &req);
}

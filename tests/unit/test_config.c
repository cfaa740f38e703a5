/* The config file: every key and default, XDG fallbacks, ~ expansion, long lines, and the exact
 * "FILE:LINE: ..." text of every kind of error. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "harness.h"
#include "util.h"

/* A scratch folder for the whole run; HOME points into it so ~ is predictable. */
static char tmpdir[64];
static char home[sizeof(tmpdir) + 8];
static char ini_path[sizeof(tmpdir) + 16];

static int
setup(void **state)
{
	(void)state;
	if (!mkdtemp(scratch_template(tmpdir, sizeof(tmpdir), "sk-test-config")))
		return -1;
	snprintf(home, sizeof(home), "%s/home", tmpdir);
	snprintf(ini_path, sizeof(ini_path), "%s/sk.ini", tmpdir);
	if (mkdir(home, 0700) < 0)
		return -1;
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	setenv("XDG_DATA_HOME", "/xdg/data", 1);
	setenv("XDG_RUNTIME_DIR", "/xdg/run", 1);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(ini_path);
	rmdir(home);
	return rmdir(tmpdir);
}

static void
write_ini(const char *text)
{
	FILE *f = fopen(ini_path, "we");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads text from a real file; fails the test on an error. */
static struct sk_config *
load_ok(const char *text)
{
	struct sk_config *cfg = NULL;
	char err[512] = "";

	write_ini(text);
	if (config_load(ini_path, &cfg, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_non_null(cfg);
	assert_string_equal(cfg->file, ini_path);
	return cfg;
}

/* Loads text and checks the error is exactly "FILE:<line>: <msg>" and *ret was left alone. */
static void
load_fails(const char *text, unsigned line, const char *msg)
{
	struct sk_config *sentinel = (struct sk_config *)&sentinel, *cfg = sentinel;
	char err[8192] = "", want[8192];

	write_ini(text);
	assert_int_equal(config_load(ini_path, &cfg, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(cfg, sentinel);
	snprintf(want, sizeof(want), "%s:%u: %s", ini_path, line, msg);
	assert_string_equal(err, want);
}

static char *
home_path(const char *rest)
{
	char *s;

	assert_int_not_equal(asprintf(&s, "%s%s", home, rest), -1);
	return s;
}

static void
assert_defaults(const struct sk_config *cfg)
{
	assert_int_equal(cfg->interval_usec, 10 * USEC_PER_MINUTE);
	assert_int_equal(cfg->interval_playing_usec, 0);
	assert_int_equal(cfg->settle_usec, 3 * USEC_PER_SEC);
	assert_int_equal(cfg->settle_max_usec, 60 * USEC_PER_SEC);
	assert_int_equal(cfg->slice_usec, 5 * USEC_PER_MSEC);
	assert_int_equal(cfg->core, SK_CORE_THREAD);
	assert_int_equal(cfg->notify, SK_NOTIFY_ALL);
	assert_true(cfg->autostart);
	assert_false(cfg->snapshot_on_change);
	assert_int_equal(cfg->keep.last, 50);
	assert_int_equal(cfg->keep.hourly + cfg->keep.daily + cfg->keep.weekly + cfg->keep.monthly, 0);
	assert_int_equal(cfg->min_free_bytes, 500ULL << 20);
	assert_int_equal(cfg->min_free_percent, 0);
	assert_int_equal(cfg->compress_threads, 0);
	assert_int_equal(cfg->nice, 19);
	assert_true(cfg->io_idle);
}

static void
test_defaults(void **state)
{
	struct sk_config *cfg = NULL;

	(void)state;
	assert_int_equal(config_new_default(&cfg), 0);
	assert_defaults(cfg);
	assert_int_equal(cfg->compression, SK_COMPRESSION_AUTO);
	assert_int_equal(cfg->n_games, 0);
	assert_null(cfg->file);
	assert_string_equal(cfg->archive_dir, "/xdg/data/savekeeper");
	assert_string_equal(cfg->socket_path, "/xdg/run/savekeeper/control.sock");
	config_free(cfg);

	/* An empty file and one with only an empty [daemon] give the same. */
	cfg = load_ok("");
	assert_defaults(cfg);
	assert_int_equal(cfg->compression, SK_COMPRESSION_AUTO);
	config_free(cfg);
	cfg = load_ok("; nothing\n[daemon]\n");
	assert_defaults(cfg);
	assert_int_equal(cfg->compression, SK_COMPRESSION_AUTO);
	assert_int_equal(cfg->n_games, 0);
	config_free(cfg);

	char *p = config_default_path();
	assert_string_equal(p, "/xdg/config/savekeeper/savekeeper.ini");
	free(p);
}

/* Without XDG variables (or with relative ones, which the XDG rules ignore) the ~ fallbacks hold. */
static void
test_xdg_fallbacks(void **state)
{
	struct sk_config *cfg = NULL;
	char run[64], *want, *p;
	struct stat st;

	(void)state;
	unsetenv("XDG_DATA_HOME");
	setenv("XDG_CONFIG_HOME", "relative/config", 1);
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(config_new_default(&cfg), 0);
	want = home_path("/.local/share/savekeeper");
	assert_string_equal(cfg->archive_dir, want);
	free(want);

	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)getuid());
	if (stat(run, &st) == 0 && S_ISDIR(st.st_mode))
		assert_int_not_equal(asprintf(&want, "%s/savekeeper/control.sock", run), -1);
	else
		assert_int_not_equal(asprintf(&want, "/tmp/savekeeper-%u/control.sock", (unsigned)getuid()),
				     -1);
	assert_string_equal(cfg->socket_path, want);
	free(want);
	config_free(cfg);

	p = config_default_path();
	want = home_path("/.config/savekeeper/savekeeper.ini");
	assert_string_equal(p, want);
	free(p);
	free(want);

	/* HOME unset: the passwd entry's home stands in; paths stay absolute. */
	unsetenv("HOME");
	p = config_default_path();
	assert_true(p[0] == '/');
	free(p);

	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	setenv("XDG_DATA_HOME", "/xdg/data", 1);
	setenv("XDG_RUNTIME_DIR", "/xdg/run", 1);
}

static void
test_every_daemon_key(void **state)
{
	struct sk_config *cfg;

	(void)state;
	cfg = load_ok("[daemon]\n"
		      "archive_dir = /srv/archives\n"
		      "socket = /tmp/sk.sock\n"
		      "interval = 1h30m\n"
		      "interval_playing = 2m\n"
		      "core = coroutine\n"
		      "compression = 9\n"
		      "notify = errors\n"
		      "autostart = no\n"
		      "settle = 500ms\n"
		      "settle_max = 2m\n"
		      "snapshot_on_change = on\n"
		      "keep_last = 7\n"
		      "keep_hourly = 24\n"
		      "keep_daily = 14\n"
		      "keep_weekly = 8\n"
		      "keep_monthly = 12\n"
		      "min_free = 2G\n"
		      "slice = 250us\n"
		      "compress_threads = 4\n"
		      "nice = -5\n"
		      "io_idle = false\n");
	assert_string_equal(cfg->archive_dir, "/srv/archives");
	assert_string_equal(cfg->socket_path, "/tmp/sk.sock");
	assert_int_equal(cfg->interval_usec, 90 * USEC_PER_MINUTE);
	assert_int_equal(cfg->interval_playing_usec, 2 * USEC_PER_MINUTE);
	assert_int_equal(cfg->core, SK_CORE_COROUTINE);
	assert_int_equal(cfg->compression, 9);
	assert_int_equal(cfg->notify, SK_NOTIFY_ERRORS);
	assert_false(cfg->autostart);
	assert_int_equal(cfg->settle_usec, 500 * USEC_PER_MSEC);
	assert_int_equal(cfg->settle_max_usec, 2 * USEC_PER_MINUTE);
	assert_true(cfg->snapshot_on_change);
	assert_int_equal(cfg->keep.last, 7);
	assert_int_equal(cfg->keep.hourly, 24);
	assert_int_equal(cfg->keep.daily, 14);
	assert_int_equal(cfg->keep.weekly, 8);
	assert_int_equal(cfg->keep.monthly, 12);
	assert_int_equal(cfg->min_free_bytes, 2ULL << 30);
	assert_int_equal(cfg->min_free_percent, 0);
	assert_int_equal(cfg->slice_usec, 250);
	assert_int_equal(cfg->compress_threads, 4);
	assert_int_equal(cfg->nice, -5);
	assert_false(cfg->io_idle);
	config_free(cfg);

	cfg = load_ok("[daemon]\ncore = process\nnotify = off\nmin_free = 5%\nnice = -20\n");
	assert_int_equal(cfg->core, SK_CORE_PROCESS);
	assert_int_equal(cfg->notify, SK_NOTIFY_OFF);
	assert_int_equal(cfg->min_free_bytes, 0);
	assert_int_equal(cfg->min_free_percent, 5);
	assert_int_equal(cfg->nice, -20);
	config_free(cfg);
}

static void
test_game_keys(void **state)
{
	struct sk_config *cfg;
	const struct sk_game *g;

	(void)state;
	cfg = load_ok("[daemon]\ninterval_playing = 3m\n"
		      "[game \"sod\"]\npath = /games/sod/\nexclude = *.tmp, ,*.log ,  cache/*\n"
		      "interval = 45s\ninterval_playing = 20s\n"
		      "[game \"b.2_x-y\"]\npath = /games/b\n");
	assert_int_equal(cfg->n_games, 2);
	g = config_find_game(cfg, "sod");
	assert_non_null(g);
	assert_string_equal(g->path, "/games/sod");
	assert_int_equal(g->n_exclude, 3);
	assert_string_equal(g->exclude[0], "*.tmp");
	assert_string_equal(g->exclude[1], "*.log");
	assert_string_equal(g->exclude[2], "cache/*");
	assert_int_equal(g->interval_usec, 45 * USEC_PER_SEC);
	assert_int_equal(g->interval_playing_usec, 20 * USEC_PER_SEC);
	/* Without its own values a game follows the daemon's. */
	g = config_find_game(cfg, "b.2_x-y");
	assert_non_null(g);
	assert_int_equal(g->n_exclude, 0);
	assert_int_equal(g->interval_usec, 0);
	assert_int_equal(g->interval_playing_usec, 3 * USEC_PER_MINUTE);
	assert_null(config_find_game(cfg, "nope"));
	config_free(cfg);
}

/* The remote: the daemon's applies to every game unless a game names its own or says off. */
static void
test_remote_keys(void **state)
{
	struct sk_config *cfg;

	(void)state;
	cfg = load_ok("[daemon]\nremote = nas:saves/sk\nrclone_config = /etc/rc.conf\nrclone = /opt/rclone\n"
		      "remote_bwlimit = 1M\nremote_retry = 5s\n"
		      "[game \"a\"]\npath = /a\n[game \"b\"]\npath = /b\nremote = crypt:b\n"
		      "[game \"c\"]\npath = /c\nremote = off\n");
	assert_string_equal(config_game_remote(cfg, config_find_game(cfg, "a")), "nas:saves/sk");
	assert_string_equal(config_game_remote(cfg, config_find_game(cfg, "b")), "crypt:b");
	assert_null(config_game_remote(cfg, config_find_game(cfg, "c")));
	assert_string_equal(cfg->rclone_config, "/etc/rc.conf");
	assert_string_equal(cfg->rclone, "/opt/rclone");
	assert_string_equal(cfg->remote_bwlimit, "1M");
	assert_int_equal(cfg->remote_retry_usec, 5 * USEC_PER_SEC);
	config_free(cfg);
	cfg = load_ok("[game \"a\"]\npath = /a\n");
	assert_null(config_game_remote(cfg, &cfg->games[0]));
	config_free(cfg);
	load_fails("[daemon]\nremote = /just/a/path\n", 2,
		   "remote: bad value '/just/a/path' (expected an rclone remote such as nas:saves, or off)");
	load_fails("[daemon]\nremote_bwlimit =\n", 2,
		   "remote_bwlimit: bad value '' (expected an rclone --bwlimit such as 1M)");
}

/* The remote's retention, rule by rule: the game's remote_keep_X, else [daemon]'s, else keep_X. */
static void
test_remote_keep(void **state)
{
	struct sk_config *cfg;
	struct sk_keep k;

	(void)state;
	cfg = load_ok("[daemon]\nkeep_last = 20\nkeep_daily = 7\nremote_keep_last = 5\n"
		      "remote_prune_foreign = yes\n"
		      "[game \"a\"]\npath = /a\n[game \"b\"]\npath = /b\nremote_keep_daily = 0\n"
		      "remote_keep_monthly = 12\n");
	assert_true(cfg->remote_prune_foreign);
	config_remote_keep(cfg, config_find_game(cfg, "a"), &k);
	assert_int_equal(k.last, 5);
	assert_int_equal(k.daily, 7);
	assert_int_equal(k.monthly, 0);
	config_remote_keep(cfg, config_find_game(cfg, "b"), &k);
	assert_int_equal(k.last, 5);
	assert_int_equal(k.daily, 0);
	assert_int_equal(k.monthly, 12);
	config_free(cfg);
	cfg = load_ok("[game \"a\"]\npath = /a\n");
	assert_false(cfg->remote_prune_foreign);
	config_remote_keep(cfg, &cfg->games[0], &k);
	assert_int_equal(k.last, 50);
	config_free(cfg);
	load_fails("[game \"a\"]\npath = /a\nremote_keep_last = -1\n", 3,
		   "remote_keep_last: bad value '-1' (expected a whole number from 0 to 1000000)");
}

/* DESIGN.md's example, inline comments and all, loads as written. */
static void
test_design_example(void **state)
{
	struct sk_config *cfg;
	char *want;

	(void)state;
	cfg = load_ok("[daemon]\n"
		      "archive_dir = ~/.local/share/savekeeper ; default $XDG_DATA_HOME/savekeeper\n"
		      "socket = /run/user/1000/savekeeper/control.sock ; default "
		      "$XDG_RUNTIME_DIR/savekeeper/control.sock\n"
		      "interval = 10m          ; 45s, 10m, 2h\n"
		      "core = thread           ; thread | coroutine | process\n"
		      "compression = 6         ; gzip level 1-9\n"
		      "notify = all            ; all | errors | off\n"
		      "autostart = true        ; schedule runs from start-up; false waits for `start`\n"
		      "settle = 3s             ; quiet period after a change before a snapshot\n"
		      "keep_last = 50          ; retention, restic-style\n"
		      "min_free = 500M         ; skip a snapshot rather than fill the disk\n"
		      "slice = 5ms             ; coroutine core: work between yields\n"
		      "compress_threads = 0    ; 0 = automatic\n"
		      "\n"
		      "[game \"state-of-decay\"]\n"
		      "path = ~/Games/sod/Saved/SaveGames\n"
		      "exclude = *.tmp, *.log   ; optional globs, relative to path\n");
	want = home_path("/.local/share/savekeeper");
	assert_string_equal(cfg->archive_dir, want);
	free(want);
	assert_string_equal(cfg->socket_path, "/run/user/1000/savekeeper/control.sock");
	assert_defaults(cfg);
	assert_int_equal(cfg->compression, 6);
	assert_int_equal(cfg->n_games, 1);
	want = home_path("/Games/sod/Saved/SaveGames");
	assert_string_equal(cfg->games[0].path, want);
	free(want);
	assert_int_equal(cfg->games[0].n_exclude, 2);
	assert_string_equal(cfg->games[0].exclude[1], "*.log");
	config_free(cfg);
}

static void
test_tilde(void **state)
{
	struct sk_config *cfg;
	char *s;

	(void)state;
	s = expand_home("~");
	assert_string_equal(s, home);
	free(s);
	s = expand_home("~user/x"); /* only the user's own ~ is expanded */
	assert_string_equal(s, "~user/x");
	free(s);
	s = expand_home("/a/~/b");
	assert_string_equal(s, "/a/~/b");
	free(s);

	cfg = load_ok("[daemon]\narchive_dir = ~/arch\nsocket = ~/sk.sock\n[game \"g\"]\npath = ~/saves\n");
	s = home_path("/arch");
	assert_string_equal(cfg->archive_dir, s);
	free(s);
	s = home_path("/sk.sock");
	assert_string_equal(cfg->socket_path, s);
	free(s);
	s = home_path("/saves");
	assert_string_equal(cfg->games[0].path, s);
	free(s);
	config_free(cfg);
}

struct parse_case {
	const char *s;
	uint64_t want;
};

/* Runs a number parser over inputs it must accept, reject as garbage, and reject as too big;
 * a rejected input leaves the result alone. */
static void
check_parser(int (*parse)(const char *, uint64_t *), const struct parse_case *good, size_t n_good,
	     const char *const *bad, size_t n_bad, const char *const *overflow, size_t n_overflow)
{
	uint64_t v;

	for (size_t i = 0; i < n_good; i++) {
		v = 12345;
		if (parse(good[i].s, &v) != 0 || v != good[i].want)
			fail_msg("'%s' -> %llu", good[i].s, (unsigned long long)v);
	}
	for (size_t i = 0; i < n_bad; i++) {
		v = 12345;
		if (parse(bad[i], &v) != -EINVAL || v != 12345)
			fail_msg("'%s' accepted", bad[i]);
	}
	for (size_t i = 0; i < n_overflow; i++) {
		v = 12345;
		if (parse(overflow[i], &v) != -ERANGE || v != 12345)
			fail_msg("'%s' did not overflow", overflow[i]);
	}
}

#define CHECK_PARSER(f, good, bad, overflow)                                                                 \
	check_parser(f, good, ARRAY_SIZE(good), bad, ARRAY_SIZE(bad), overflow, ARRAY_SIZE(overflow))

static void
test_parse_duration(void **state)
{
	static const struct parse_case good[] = {
	    {"45s", 45 * USEC_PER_SEC},
	    {"10m", 10 * USEC_PER_MINUTE},
	    {"2h", 2 * USEC_PER_HOUR},
	    {"1h30m", 90 * USEC_PER_MINUTE},
	    {"1h 30m", 90 * USEC_PER_MINUTE},
	    {"5ms", 5000},
	    {"500us", 500},
	    {"90", 90 * USEC_PER_SEC},
	    {"0", 0},
	    {"1d", 24 * USEC_PER_HOUR},
	    {"2m30s", 150 * USEC_PER_SEC},
	    {"007s", 7 * USEC_PER_SEC},
	    {"18446744073709551615us", UINT64_MAX},
	};
	static const char *const bad[] = {
	    "",	    " ",    "s",   "-5s", "+5s", "1.5h", "10x",	  "10 m",
	    "1h30", "10mm", "10M", "h1",  "1h,", "5 ",	 "0x10s",
	};
	static const char *const overflow[] = {
	    "18446744073709551616us",	  "99999999999999999999", "5124095577h", "5124095576d",
	    "18446744073709551615us 1us",
	};

	(void)state;
	CHECK_PARSER(parse_duration, good, bad, overflow);
}

static void
test_parse_size(void **state)
{
	static const struct parse_case good[] = {
	    {"4096", 4096},	{"10K", 10240},	    {"10k", 10240}, {"500M", 500ULL << 20},
	    {"2G", 2ULL << 30}, {"1T", 1ULL << 40}, {"0", 0},	    {"16777215T", 16777215ULL << 40},
	};
	static const char *const bad[] = {"", "M", "1.5G", "-1", "10KB", "10 K", "10X", "1e6", " 1"};
	static const char *const overflow[] = {"16777216T", "18446744073709551616", "17179869184G"};

	(void)state;
	CHECK_PARSER(parse_size, good, bad, overflow);
}

static void
test_parse_bool(void **state)
{
	static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
	static const char *const no[] = {"false", "no", "off", "0", "Off"};
	static const char *const bad[] = {"", "2", "y", "enabled", "true ", "nope"};
	bool b;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		b = false;
		assert_int_equal(parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		b = true;
		assert_int_equal(parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(parse_bool(bad[i], &b), -EINVAL);
}

/* Proton paths run past inih's default 200-byte lines; they must come back whole, and the line
 * numbers after them must stay right. */
static void
test_long_lines(void **state)
{
	char path[400], text[9000], msg[128];
	struct sk_config *cfg;
	size_t n;

	(void)state;
	n = (size_t)snprintf(path, sizeof(path),
			     "%s/.local/share/Steam/steamapps/compatdata/495420/pfx/drive_c/"
			     "users/steamuser/AppData/Local/StateOfDecay2/Saved/SaveGames/",
			     home);
	while (n < 320)
		n += (size_t)snprintf(path + n, sizeof(path) - n, "Sub Folder %zu/", n);
	path[--n] = '\0';
	assert_true(strlen(path) > 300);
	snprintf(text, sizeof(text), "[game \"sod2\"]\npath = ~%s ; Proton\n", path + strlen(home));
	cfg = load_ok(text);
	assert_string_equal(cfg->games[0].path, path);
	config_free(cfg);

	/* A line of exactly SK_CONFIG_LINE_MAX bytes is read whole; one more byte is an error. */
	n = (size_t)snprintf(text, sizeof(text), "[game \"g\"]\npath = /");
	memset(text + n, 'p', SK_CONFIG_LINE_MAX - strlen("path = /"));
	strcpy(text + n + SK_CONFIG_LINE_MAX - strlen("path = /"), "\n");
	cfg = load_ok(text);
	assert_int_equal(strlen(cfg->games[0].path), SK_CONFIG_LINE_MAX - strlen("path = "));
	config_free(cfg);

	n = (size_t)snprintf(text, sizeof(text), "[daemon]\n; long\n;");
	memset(text + n, 'c', SK_CONFIG_LINE_MAX);
	strcpy(text + n + SK_CONFIG_LINE_MAX, "\n");
	snprintf(msg, sizeof(msg), "line too long (%d bytes, at most %d)", SK_CONFIG_LINE_MAX + 1,
		 SK_CONFIG_LINE_MAX);
	load_fails(text, 3, msg);

	/* After a 300-byte line the next error still names its own line. */
	snprintf(text, sizeof(text), "[game \"sod2\"]\npath = %s\n\nintervall = 1m\n", path);
	load_fails(text, 4, "unknown key 'intervall' in [game \"sod2\"]");
}

static void
test_errors_structure(void **state)
{
	(void)state;
	load_fails("interval = 1m\n", 1,
		   "key 'interval' outside any section (put it under [daemon] or [game \"NAME\"])");
	load_fails("[daemon]\n\n[deamon]\n", 3,
		   "unknown section [deamon] (expected [daemon] or [game \"NAME\"])");
	load_fails("[game sod]\npath = /x\n", 1,
		   "unknown section [game sod] (expected [daemon] or [game \"NAME\"])");
	load_fails("[daemon\n", 1, "syntax error: section header without ']'");
	load_fails("[daemon] x\n", 1, "syntax error: text after the section header");
	load_fails("[daemon]\ninterval 10m\n", 2, "syntax error (expected 'key = value' or a [section])");
	/* Indented lines are lines of their own, not continuations. */
	load_fails("[daemon]\ninterval = 10m\n   5m\n", 3,
		   "syntax error (expected 'key = value' or a [section])");
	load_fails("[daemon]\nintervall = 10m\n", 2, "unknown key 'intervall' in [daemon]");
	load_fails("[daemon]\npath = /x\n", 2, "unknown key 'path' in [daemon]");
	load_fails("[game \"g\"]\npath = /x\ncore = thread\n", 3, "unknown key 'core' in [game \"g\"]");
	load_fails("[daemon]\ninterval = 10m\ncore = thread\n[daemon]\ninterval = 1m\n", 5,
		   "duplicate key 'interval' (first set on line 2)");
	load_fails("[game \"g\"]\npath = /x\npath = /y\n", 3, "duplicate key 'path' (first set on line 2)");
	load_fails("[game \"g\"]\npath = /x\n\n[game \"g\"]\npath = /y\n", 4, "duplicate game 'g'");
	load_fails("[game \"a b\"]\npath = /x\n", 1,
		   "invalid game name 'a b' (use letters, digits, '.', '_' and '-')");
	load_fails("[game \"..\"]\npath = /x\n", 1,
		   "invalid game name '..' (use letters, digits, '.', '_' and '-')");
	load_fails("[game \"\"]\npath = /x\n", 1,
		   "invalid game name '' (use letters, digits, '.', '_' and '-')");
	load_fails("[daemon]\n[game \"g\"]\nexclude = *.tmp\n[daemon]\n", 2,
		   "game 'g' has no path (add 'path = /folder/of/the/saves')");
	load_fails("[game \"h\"]\n", 1, "game 'h' has no path (add 'path = /folder/of/the/saves')");
	load_fails("[game \"g\"]\npath = Games/sod\n", 2,
		   "path: relative path 'Games/sod' (start it with / or ~/)");
	load_fails("[game \"g\"]\npath = ~bob/sod\n", 2,
		   "path: relative path '~bob/sod' (start it with / or ~/)");
	load_fails("[daemon]\narchive_dir = archives ; here\n", 2,
		   "archive_dir: relative path 'archives' (start it with / or ~/)");
	load_fails("[daemon]\nsocket = run/sk.sock\n", 2,
		   "socket: relative path 'run/sk.sock' (start it with / or ~/)");
	load_fails("[game \"g\"]\npath =\n", 2, "path: relative path '' (start it with / or ~/)");
}

static void
test_errors_values(void **state)
{
	static const struct {
		const char *line, *msg;
	} cases[] = {
	    {"interval = ten", "interval: bad value 'ten' (expected a duration from 1s to 366d, such as 45s, "
			       "10m, 2h or 1h30m)"},
	    {"interval = 0",
	     "interval: bad value '0' (expected a duration from 1s to 366d, such as 45s, 10m, 2h or 1h30m)"},
	    {"interval = 99999999999999999999h", "interval: bad value '99999999999999999999h' (expected a "
						 "duration from 1s to 366d, such as 45s, 10m, 2h or 1h30m)"},
	    {"interval_playing = 1x",
	     "interval_playing: bad value '1x' (expected a duration up to 366d, such as 2m; 0 for interval)"},
	    {"settle = 2d", "settle: bad value '2d' (expected a duration up to 1d, such as 3s)"},
	    {"settle_max = -1s", "settle_max: bad value '-1s' (expected a duration up to 1d, such as 60s)"},
	    {"slice = 2s", "slice: bad value '2s' (expected a duration from 100us to 1s, such as 5ms)"},
	    {"core = threads", "core: bad value 'threads' (expected thread, coroutine or process)"},
	    {"compression = 10", "compression: bad value '10' (expected auto, or a gzip level from 1 to 9)"},
	    {"compression = 0", "compression: bad value '0' (expected auto, or a gzip level from 1 to 9)"},
	    {"compression = Auto",
	     "compression: bad value 'Auto' (expected auto, or a gzip level from 1 to 9)"},
	    {"compression = -1", "compression: bad value '-1' (expected auto, or a gzip level from 1 to 9)"},
	    {"notify = some", "notify: bad value 'some' (expected all, errors or off)"},
	    {"autostart = maybe", "autostart: bad value 'maybe' (expected true or false)"},
	    {"snapshot_on_change = 2", "snapshot_on_change: bad value '2' (expected true or false)"},
	    {"io_idle =", "io_idle: bad value '' (expected true or false)"},
	    {"keep_last = -1", "keep_last: bad value '-1' (expected a whole number from 0 to 1000000)"},
	    {"keep_hourly = 1.5", "keep_hourly: bad value '1.5' (expected a whole number from 0 to 1000000)"},
	    {"keep_daily = 99999999999999999999",
	     "keep_daily: bad value '99999999999999999999' (expected a whole number from 0 to 1000000)"},
	    {"keep_weekly = x", "keep_weekly: bad value 'x' (expected a whole number from 0 to 1000000)"},
	    {"keep_monthly = 1000001",
	     "keep_monthly: bad value '1000001' (expected a whole number from 0 to 1000000)"},
	    {"min_free = 5 GB", "min_free: bad value '5 GB' (expected a size such as 500M or 2G, or a share "
				"of the disk such as 5%)"},
	    {"min_free = 100%", "min_free: bad value '100%' (expected a size such as 500M or 2G, or a share "
				"of the disk such as 5%)"},
	    {"min_free = %", "min_free: bad value '%' (expected a size such as 500M or 2G, or a share of the "
			     "disk such as 5%)"},
	    {"min_free = 99999999999T", "min_free: bad value '99999999999T' (expected a size such as 500M or "
					"2G, or a share of the disk such as 5%)"},
	    {"compress_threads = 257",
	     "compress_threads: bad value '257' (expected a whole number from 0 to 256)"},
	    {"nice = 20", "nice: bad value '20' (expected a nice value from -20 to 19)"},
	    {"nice = -21", "nice: bad value '-21' (expected a nice value from -20 to 19)"},
	    {"nice = --1", "nice: bad value '--1' (expected a nice value from -20 to 19)"},
	};
	char text[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(text, sizeof(text), "[daemon]\n%s\n", cases[i].line);
		load_fails(text, 2, cases[i].msg);
	}
	load_fails(
	    "[game \"g\"]\npath = /x\ninterval = 0\n", 3,
	    "interval: bad value '0' (expected a duration from 1s to 366d, such as 45s, 10m, 2h or 1h30m)");
	load_fails("[game \"g\"]\npath = /x\ninterval_playing = 0\n", 3,
		   "interval_playing: bad value '0' (expected a duration from 1s to 366d, such as 2m)");
}

static void
test_errors_misc(void **state)
{
	struct sk_config *sentinel = (struct sk_config *)&sentinel, *cfg = sentinel;
	char err[512], want[512], longval[300], text[512];

	(void)state;
	/* A long bad value is cut in the message so the cause still shows. */
	memset(longval, 'x', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	snprintf(text, sizeof(text), "[daemon]\ncore = %s\n", longval);
	snprintf(want, sizeof(want), "core: bad value '%.77s...' (expected thread, coroutine or process)",
		 longval);
	load_fails(text, 2, want);

	load_fails("[daemon]\nsocket = "
		   "/tmp/"
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaaaaaaaaaa\n",
		   2, "socket: path too long for a Unix socket (109 bytes, at most 107)");

	assert_int_equal(config_load_string("mem.ini", "[daemon]\n\0x = 1\n",
					    sizeof("[daemon]\n\0x = 1\n") - 1, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "mem.ini:2: line holds a NUL byte");

	assert_int_equal(config_load("/nonexistent/sk.ini", &cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot read '/nonexistent/sk.ini': No such file or directory");
	assert_int_equal(config_load(tmpdir, &cfg, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "cannot read '%s': Is a directory", tmpdir);
	assert_string_equal(err, want);
	assert_ptr_equal(cfg, sentinel);

	/* A BOM and CRLF line ends, as Windows editors write them, are fine. */
	cfg = NULL;
	const char *bom = "\xEF\xBB\xBF[daemon]\r\ncore = process\r\n";
	assert_int_equal(config_load_string("mem.ini", bom, strlen(bom), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->core, SK_CORE_PROCESS);
	config_free(cfg);
	assert_int_equal(config_load_string("empty", "", 0, &cfg, err, sizeof(err)), 0);
	assert_defaults(cfg);
	assert_int_equal(cfg->compression, SK_COMPRESSION_AUTO);
	config_free(cfg);
}

static void
test_add_game(void **state)
{
	struct sk_config *cfg = NULL;
	char err[256] = "", *cwd, *want;

	(void)state;
	assert_int_equal(config_new_default(&cfg), 0);
	cfg->interval_playing_usec = 42;
	assert_int_equal(config_add_game(cfg, NULL, "/games/My Saves (1)/", err, sizeof(err)), 0);
	assert_string_equal(cfg->games[0].name, "My_Saves__1_");
	assert_string_equal(cfg->games[0].path, "/games/My Saves (1)");
	assert_int_equal(cfg->games[0].interval_playing_usec, 42);
	assert_int_equal(config_add_game(cfg, "sod", "~/sod", err, sizeof(err)), 0);
	want = home_path("/sod");
	assert_string_equal(config_find_game(cfg, "sod")->path, want);
	free(want);
	assert_int_equal(config_add_game(cfg, NULL, "/", err, sizeof(err)), 0);
	assert_string_equal(cfg->games[2].name, "game");
	assert_string_equal(cfg->games[2].path, "/");

	cwd = get_current_dir_name();
	assert_int_equal(config_add_game(cfg, "rel", "saves/slot", err, sizeof(err)), 0);
	assert_int_not_equal(asprintf(&want, "%s/saves/slot", cwd), -1);
	assert_string_equal(config_find_game(cfg, "rel")->path, want);
	free(want);
	free(cwd);

	assert_int_equal(config_add_game(cfg, "sod", "/x", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "duplicate game 'sod'");
	assert_int_equal(config_add_game(cfg, "a/b", "/x", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid game name 'a/b' (use letters, digits, '.', '_' and '-')");
	assert_int_equal(cfg->n_games, 4);
	assert_string_equal(core_name(cfg->core), "thread");
	config_free(cfg);
}

/* Like load_fails, with the message made by printf from fmt (for messages naming the file). */
static void load_fails_fmt(const char *text, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
load_fails_fmt(const char *text, unsigned line, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	load_fails(text, line, msg);
}

#define APART_GAMES "; a restore of one would change the other: give each game a folder of its own"
#define APART_ARCHIVES                                                                                       \
	"; a restore of 'g' would %s the archives: keep the archives and every save folder apart"

/* A restore replaces one save folder: two games may not have the same or nested folders; the
 * refusal names the line of the second and the first. */
static void
test_folders_games_apart(void **state)
{
	struct sk_config *cfg;

	(void)state;
	load_fails_fmt(
	    "[game \"a\"]\npath = /games/a\n[game \"b\"]\npath = /games/a/\n", 4,
	    "game 'b': path '/games/a' is the save folder of game 'a' ('/games/a', %s:2)" APART_GAMES,
	    ini_path);
	load_fails_fmt("[game \"a\"]\npath = /games/a\n\n[game \"b\"]\npath = /games/a/sub\n", 5,
		       "game 'b': path '/games/a/sub' lies inside the save folder of game 'a' ('/games/a', "
		       "%s:2)" APART_GAMES,
		       ini_path);
	load_fails_fmt(
	    "[game \"a\"]\npath = /games/a/sub\n[game \"b\"]\npath = /games\n", 4,
	    "game 'b': path '/games' holds the save folder of game 'a' ('/games/a/sub', %s:2)" APART_GAMES,
	    ini_path);
	/* Names that only share a prefix are apart. */
	cfg = load_ok("[game \"a\"]\npath = /games/a\n[game \"ab\"]\npath = /games/ab\n");
	assert_int_equal(cfg->games[1].path_line, 4);
	config_free(cfg);
}

/* The same through a symlink: folders are compared where they really are, also when the rest of
 * the path does not exist yet. */
static void
test_folders_through_symlink(void **state)
{
	char text[1024], real[256], link[256];

	(void)state;
	snprintf(real, sizeof(real), "%s/drive", tmpdir);
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0);
	snprintf(text, sizeof(text), "[game \"a\"]\npath = %s\n[game \"b\"]\npath = %s/saves\n", link, real);
	load_fails_fmt(
	    text, 4,
	    "game 'b': path '%s/saves' lies inside the save folder of game 'a' ('%s', %s:2)" APART_GAMES,
	    real, link, ini_path);
	snprintf(text, sizeof(text), "[daemon]\narchive_dir = %s/not-yet/archives\n[game \"g\"]\npath = %s\n",
		 link, real);
	load_fails_fmt(text, 2,
		       "archive_dir '%s/not-yet/archives' lies inside the save folder '%s' of game 'g' "
		       "(%s:4)" APART_ARCHIVES,
		       link, real, ini_path, "replace");
	assert_int_equal(unlink(link), 0);
	assert_int_equal(rmdir(real), 0);
}

/* The archives in a save folder, or a save folder among the archives, from the file, the default
 * or the command line: refused, naming where each was set. */
static void
test_folders_archives_apart(void **state)
{
	struct sk_config *cfg;
	char err[2048] = "";

	(void)state;
	load_fails_fmt(
	    "[game \"g\"]\npath = /data/saves\n[daemon]\narchive_dir = /data/saves\n", 4,
	    "archive_dir '/data/saves' is the save folder '/data/saves' of game 'g' (%s:2)" APART_ARCHIVES,
	    ini_path, "replace");
	load_fails_fmt(
	    "[daemon]\narchive_dir = /data\n[game \"g\"]\npath = /data/g\n", 2,
	    "archive_dir '/data' holds the save folder '/data/g' of game 'g' (%s:4)" APART_ARCHIVES, ini_path,
	    "write into");
	/* The default archive folder is $XDG_DATA_HOME/savekeeper = /xdg/data/savekeeper here. */
	load_fails(
	    "[game \"g\"]\npath = /xdg\n", 2,
	    "game 'g': path '/xdg' holds archive_dir '/xdg/data/savekeeper' (the default)"
	    "; a restore of 'g' would replace the archives: keep the archives and every save folder apart");

	/* --archive-dir into a save folder of the file. */
	cfg = load_ok("[game \"g\"]\npath = /games/g\n");
	free(cfg->archive_dir);
	cfg->archive_dir = strdup("/games/g/backups");
	assert_int_equal(config_check_folders(cfg, "--archive-dir", err, sizeof(err)), -EINVAL);
	char want[2048];
	snprintf(want, sizeof(want),
		 "--archive-dir: archive_dir '/games/g/backups' lies inside the save folder "
		 "'/games/g' of game 'g' (%s:2)" APART_ARCHIVES,
		 ini_path, "replace");
	assert_string_equal(err, want);
	config_free(cfg);

	/* --save-dir holding the default archive folder. */
	assert_int_equal(config_new_default(&cfg), 0);
	assert_int_equal(config_add_game(cfg, "g", "/xdg/data", err, sizeof(err)), 0);
	assert_int_equal(config_check_folders(cfg, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(
	    err, "--save-dir: game 'g': path '/xdg/data' holds archive_dir '/xdg/data/savekeeper' "
		 "(the default); a restore of 'g' would replace the archives: keep the archives and "
		 "every save folder apart");
	config_free(cfg);
}

/* The shipped example loads cleanly, and the defaults it shows are the real ones. */
static void
test_example_file(void **state)
{
	char path[4096], err[512] = "";
	struct sk_config *cfg = NULL, *def = NULL;
	const char *src = __FILE__;

	(void)state;
	snprintf(path, sizeof(path), "%.*s../../conf/savekeeper.ini", (int)(strrchr(src, '/') + 1 - src),
		 src);
	if (config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(config_new_default(&def), 0);
	assert_defaults(cfg);
	assert_int_equal(cfg->compression, SK_COMPRESSION_AUTO);
	assert_string_equal(cfg->archive_dir, def->archive_dir);
	assert_string_equal(cfg->socket_path, def->socket_path);
	config_free(cfg);
	config_free(def);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_xdg_fallbacks),
	    cmocka_unit_test(test_every_daemon_key),
	    cmocka_unit_test(test_game_keys),
	    cmocka_unit_test(test_remote_keys),
	    cmocka_unit_test(test_remote_keep),
	    cmocka_unit_test(test_design_example),
	    cmocka_unit_test(test_tilde),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_size),
	    cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_errors_structure),
	    cmocka_unit_test(test_errors_values),
	    cmocka_unit_test(test_errors_misc),
	    cmocka_unit_test(test_add_game),
	    cmocka_unit_test(test_example_file),
	    cmocka_unit_test(test_folders_games_apart),
	    cmocka_unit_test(test_folders_through_symlink),
	    cmocka_unit_test(test_folders_archives_apart),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

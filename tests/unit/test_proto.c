/* The request parser: every command, every option, every kind of refusal, and the formatter
 * that the client uses (which must produce what the parser reads back). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "proto.h"

#define ID1 "20261126T030643.123Z"

static struct proto_request
parse_ok(const char *line)
{
	struct proto_request req;
	char err[256] = "";
	int r = proto_parse(line, strlen(line), &req, err, sizeof(err));

	if (r != 0)
		fail_msg("'%s' refused: %s", line, err);
	return req;
}

/* Asserts the line is refused with a message that contains want. */
static void
parse_bad_n(const char *line, size_t len, const char *want)
{
	struct proto_request req = {.cmd = CMD_RELOAD, .flags = 77};
	char err[256] = "";
	int r = proto_parse(line, len, &req, err, sizeof(err));

	assert_int_equal(r, -EINVAL);
	if (!strstr(err, want))
		fail_msg("'%.*s': got '%s', want '%s'", (int)len, line, err, want);
	assert_null(strchr(err, '\n'));
	/* The output is untouched on failure. */
	assert_int_equal(req.cmd, CMD_RELOAD);
	assert_int_equal(req.flags, 77);
}

static void
parse_bad(const char *line, const char *want)
{
	parse_bad_n(line, strlen(line), want);
}

/* Parses line and checks every field of the request. */
static void
expect(const char *line, enum proto_cmd cmd, const char *game, const char *id, unsigned flags)
{
	struct proto_request req = parse_ok(line);

	assert_int_equal(req.cmd, cmd);
	assert_string_equal(req.game, game);
	assert_string_equal(req.id, id);
	assert_int_equal(req.flags, flags);
}

static void
test_simple_commands(void **state)
{
	static const struct {
		const char *line;
		enum proto_cmd cmd;
	} t[] = {
	    {"ping", CMD_PING},	    {"status", CMD_STATUS}, {"start", CMD_START},
	    {"stop", CMD_STOP},	    {"backup", CMD_BACKUP}, {"list", CMD_LIST},
	    {"verify", CMD_VERIFY}, {"prune", CMD_PRUNE},   {"reload", CMD_RELOAD},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct proto_request req = parse_ok(t[i].line);
		assert_int_equal(req.cmd, t[i].cmd);
		assert_string_equal(req.tag, "");
		assert_string_equal(req.game, "");
		assert_string_equal(req.id, "");
		assert_int_equal(req.flags, 0);
		assert_string_equal(proto_cmd_name(t[i].cmd), t[i].line);
	}
}

static void
test_game_commands(void **state)
{
	static const char *const cmds[] = {"status", "start", "stop", "backup", "list", "prune"};

	(void)state;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char line[64];
		struct proto_request req;
		snprintf(line, sizeof(line), "%s state-of_decay.2", cmds[i]);
		req = parse_ok(line);
		assert_string_equal(req.game, "state-of_decay.2");
		assert_string_equal(proto_cmd_name(req.cmd), cmds[i]);
	}
}

static void
test_tag_and_spaces(void **state)
{
	struct proto_request req = parse_ok("#a-1.b:c   backup   sod  --wait  ");

	(void)state;
	assert_string_equal(req.tag, "a-1.b:c");
	expect("#a-1.b:c   backup   sod  --wait  ", CMD_BACKUP, "sod", "", PF_WAIT);
	/* A trailing CR (from telnet-like clients) is ignored. */
	expect("ping\r", CMD_PING, "", "", 0);
	/* Options may come before the game. */
	expect("backup --wait sod", CMD_BACKUP, "sod", "", PF_WAIT);
}

static void
test_verify(void **state)
{
	(void)state;
	expect("verify sod all", CMD_VERIFY, "sod", "", PF_ALL);
	expect("verify all", CMD_VERIFY, "", "", PF_ALL);
	expect("verify " ID1, CMD_VERIFY, "", ID1, 0);
	expect("verify sod latest", CMD_VERIFY, "sod", "", 0);
	expect("verify latest", CMD_VERIFY, "", "", 0);
	/* A game called "latest" is reached with both words. */
	expect("verify latest latest", CMD_VERIFY, "latest", "", 0);
	expect("verify sod", CMD_VERIFY, "sod", "", 0);
}

static void
test_restore(void **state)
{
	(void)state;
	expect("restore", CMD_RESTORE, "", "", PF_WAIT);
	expect("restore sod " ID1 " --dry-run", CMD_RESTORE, "sod", ID1, PF_WAIT | PF_DRY_RUN);
	expect("restore latest", CMD_RESTORE, "", "", PF_WAIT);
	expect("restore " ID1, CMD_RESTORE, "", ID1, PF_WAIT);
	expect("restore sod --undo", CMD_RESTORE, "sod", "", PF_WAIT | PF_UNDO);
	expect("restore --undo", CMD_RESTORE, "", "", PF_WAIT | PF_UNDO);
	parse_bad("restore --undo " ID1, "--undo takes no archive ID");
	parse_bad("restore --undo --dry-run", "--undo takes no archive ID and no --dry-run");
	parse_bad("restore sod all", "bad archive ID 'all'");
}

static void
test_prune(void **state)
{
	(void)state;
	expect("prune sod --dry-run", CMD_PRUNE, "sod", "", PF_DRY_RUN);
	expect("prune sod --remote --dry-run", CMD_PRUNE, "sod", "", PF_REMOTE | PF_DRY_RUN);
	parse_bad("prune sod " ID1, "too many arguments: prune [GAME] [--remote] [--dry-run]");
}

static void
test_pin_unpin(void **state)
{
	(void)state;
	expect("pin " ID1, CMD_PIN, "", ID1, 0);
	expect("unpin sod " ID1, CMD_UNPIN, "sod", ID1, 0);
	parse_bad("pin", "missing archive ID: pin [GAME] ID");
	parse_bad("unpin sod", "missing archive ID");
	parse_bad("pin 20261126T0306", "bad archive ID '20261126T0306'");
	parse_bad("pin sod 20261126T030643.123", "bad archive ID");
	parse_bad("pin sod 2026112XT030643.123Z", "bad archive ID");
	parse_bad("pin sod latest", "bad archive ID 'latest'");
}

static void
test_session(void **state)
{
	(void)state;
	expect("session sod begin", CMD_SESSION, "sod", "", PF_BEGIN);
	expect("session sod end", CMD_SESSION, "sod", "", PF_END);
	expect("session end", CMD_SESSION, "", "", PF_END);
	parse_bad("session sod", "missing begin or end");
	parse_bad("session", "missing begin or end");
	parse_bad("session sod start", "session takes begin or end, not 'start'");
}

static void
test_text_errors(void **state)
{
	char big[PROTO_MAX_LINE + 2];

	(void)state;
	parse_bad("", "empty request");
	parse_bad("    ", "empty request");
	parse_bad("\r", "empty request");
	parse_bad_n("ping\0x", 6, "request is not text");
	parse_bad("ping\tsod", "request is not text");
	parse_bad("ping\x1b[2J", "request is not text");
	parse_bad("ping \x7f", "request is not text");
	parse_bad("status \xff\xfe", "request is not text");
	parse_bad("status \xc0\xaf", "request is not text");	     /* overlong '/' */
	parse_bad("status \xed\xa0\x80", "request is not text");     /* a surrogate */
	parse_bad("status \xf4\x90\x80\x80", "request is not text"); /* above U+10FFFF */
	parse_bad("status \xe2\x82", "request is not text");	     /* cut short */
	/* Valid UTF-8 is text, but not a game name. */
	parse_bad("status caf\xc3\xa9", "bad game name 'caf\xc3\xa9'");
	memset(big, 'a', sizeof(big));
	parse_bad_n(big, PROTO_MAX_LINE + 1, "request is longer than 4096 bytes");
	/* Exactly PROTO_MAX_LINE is allowed through to the grammar. */
	parse_bad_n(big, PROTO_MAX_LINE, "unknown command 'aaaa");
}

static void
test_grammar_errors(void **state)
{
	(void)state;
	parse_bad("frobnicate", "unknown command 'frobnicate'");
	parse_bad("PING", "unknown command 'PING'");
	parse_bad("backup --now", "unknown option '--now' for backup: backup [GAME] [--wait]");
	parse_bad("list --wait", "unknown option '--wait' for list");
	parse_bad("prune --undo", "unknown option '--undo' for prune");
	parse_bad("ping sod", "too many arguments: ping");
	parse_bad("reload x", "too many arguments: reload");
	parse_bad("status a b", "too many arguments: status [GAME]");
	parse_bad("verify a b c", "too many arguments: verify");
	parse_bad("a b c d e f g h i", "too many arguments");
	parse_bad("status bad/name", "bad game name 'bad/name'");
	parse_bad("status ..", "bad game name '..'");
	parse_bad("restore a$b latest", "bad game name 'a$b'");
	parse_bad("#t", "missing command after the tag");
	parse_bad("# ping", "bad tag '#'");
	parse_bad("#a/b ping", "bad tag '#a/b'");
	parse_bad("#0123456789012345678901234567890123 ping", "bad tag");
	/* The limit the message and docs/protocol.md give: 31 characters, and not one more. */
	parse_bad("#0123456789012345678901234567890A ping", "use up to 31 letters");
	assert_string_equal(parse_ok("#012345678901234567890123456789A ping").tag,
			    "012345678901234567890123456789A");
}

static void
test_long_game_name(void **state)
{
	char line[PROTO_MAX_NAME + 32] = "status ";
	struct proto_request req;

	(void)state;
	memset(line + 7, 'g', PROTO_MAX_NAME);
	line[7 + PROTO_MAX_NAME] = '\0';
	req = parse_ok(line);
	assert_int_equal(strlen(req.game), PROTO_MAX_NAME);
	strcat(line, "g");
	parse_bad(line, "longer than 128 bytes");
}

static void
test_format_round_trip(void **state)
{
	static const char *const lines[] = {
	    "ping",
	    "#7 status sod",
	    "backup sod --wait",
	    "backup",
	    "verify sod all",
	    "verify " ID1,
	    "restore sod " ID1 " --dry-run",
	    "restore --undo",
	    "restore sod",
	    "prune --dry-run",
	    "pin sod " ID1,
	    "unpin " ID1,
	    "reload",
	    "session sod begin",
	    "session end",
	    "list x",
	    "verify all all",
	    "restore latest latest --undo",
	    "restore 20261126Tx latest",
	    "session begin end",
	    "pin end " ID1,
	};
	char buf[256], small[6];

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct proto_request a = parse_ok(lines[i]), b;
		int n = proto_format(&a, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(buf));
		b = parse_ok(buf);
		assert_memory_equal(&a, &b, sizeof(a));
		/* Each of these lines is already in the canonical form. */
		assert_string_equal(buf, lines[i]);
	}
	struct proto_request req = parse_ok("status sod");
	assert_int_equal(proto_format(&req, small, sizeof(small)), -ENOSPC);
}

static void
test_cmd_names(void **state)
{
	enum proto_cmd c;

	(void)state;
	for (int i = 0; i < CMD__COUNT; i++) {
		assert_int_equal(proto_cmd_from_name(proto_cmd_name((enum proto_cmd)i), &c), 0);
		assert_int_equal(c, i);
	}
	assert_int_equal(proto_cmd_from_name("nope", &c), -EINVAL);
	assert_null(proto_cmd_name(CMD__COUNT));
}

/* Reads fd to its end through a reader of lines up to max bytes; the lines in out, one per
 * line of text, an overlong one as "TOO LONG". */
static void
read_lines(int fd, size_t max, char *out, size_t len)
{
	struct proto_lines l = PROTO_LINES(max);
	size_t o = 0;
	ssize_t n;

	out[0] = '\0';
	do {
		char *line;
		size_t k;
		int r;
		n = proto_lines_read(&l, fd);
		assert_true(n >= 0);
		while ((r = proto_lines_next(&l, n == 0, &line, &k)) != 0)
			o += (size_t)snprintf(out + o, len - o, "%s\n", r < 0 ? "TOO LONG" : line);
	} while (n > 0);
	proto_lines_free(&l);
}

/* Writes text into a pipe and reads it back through read_lines. */
static void
lines_of(const char *text, size_t max, char *out, size_t len)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, strlen(text)), (ssize_t)strlen(text));
	close(fds[1]);
	read_lines(fds[0], max, out, len);
	close(fds[0]);
}

/* The one bounded line reader: lines split across reads, an overlong line reported once and
 * skipped to its newline, a last line without one at end of file. */
static void
test_line_reader(void **state)
{
	static const char text[] = "ping\nstatus\n0123456789abcdefgh\nlist\n\nlast";
	char got[256];

	(void)state;
	/* 8 bytes at most: the buffer is smaller than the text, so lines cross reads. */
	lines_of(text, 8, got, sizeof(got));
	assert_string_equal(got, "ping\nstatus\nTOO LONG\nlist\n\nlast\n");
	lines_of(text, 4096, got, sizeof(got));
	assert_string_equal(got, "ping\nstatus\n0123456789abcdefgh\nlist\n\nlast\n");
}

/* proto_json_string into a buffer of exactly the size it asks for; checks the length. */
static char *
json_string(const char *s)
{
	size_t need = proto_json_string(NULL, 0, s);
	char *out = malloc(need + 1);

	assert_non_null(out);
	assert_int_equal(proto_json_string(out, need + 1, s), need);
	assert_int_equal(strlen(out), need);
	return out;
}

/* The bytes docs/protocol.md promises: quotes and backslashes escaped, control bytes by name
 * or as \u00xx, '/' and UTF-8 (valid or not) and DEL as they are. */
static void
test_json_string_escapes(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"", "\"\""},
	    {"plain-game_1.0", "\"plain-game_1.0\""},
	    {"say \"hi\"", "\"say \\\"hi\\\"\""},
	    {"C:\\Users\\me", "\"C:\\\\Users\\\\me\""},
	    {"a/b", "\"a/b\""},
	    {"\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
	    {"\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\""},
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xae", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xae\""},
	    {"\xff\xc3", "\"\xff\xc3\""},
	    {"'x\"\\\x1b[0m'", "\"'x\\\"\\\\\\u001b[0m'\""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = json_string(cases[i].in);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got, cases[i].want);
		free(got);
	}
}

/* Every byte value, alone and in a run, is written as json-c writes it in a reply. */
static void
test_json_string_as_json_c(void **state)
{
	char all[256], one[2] = "";

	(void)state;
	for (int b = 1; b < 256; b++)
		all[b - 1] = (char)b;
	all[255] = '\0';
	for (int b = 0; b < 257; b++) {
		const char *in = b < 256 ? one : all;
		struct json_object *o;
		char *got;
		one[0] = (char)b;
		o = json_object_new_string(in);
		got = json_string(in);
		assert_string_equal(got, json_object_to_json_string_ext(
					     o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		free(got);
	}
}

/* A buffer too small gets an unbroken prefix and its NUL; the length needed is returned. */
static void
test_json_string_bounded(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(proto_json_string(buf, sizeof(buf), "ab\ncd"), 8);
	assert_string_equal(buf, "\"ab\\ncd");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(proto_json_string(buf, 5, "ab\ncd"), 8);
	assert_string_equal(buf, "\"ab");
	assert_int_equal(proto_json_string(buf, 1, "ab"), 4);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_commands),
	    cmocka_unit_test(test_game_commands),
	    cmocka_unit_test(test_tag_and_spaces),
	    cmocka_unit_test(test_verify),
	    cmocka_unit_test(test_restore),
	    cmocka_unit_test(test_prune),
	    cmocka_unit_test(test_pin_unpin),
	    cmocka_unit_test(test_session),
	    cmocka_unit_test(test_text_errors),
	    cmocka_unit_test(test_grammar_errors),
	    cmocka_unit_test(test_long_game_name),
	    cmocka_unit_test(test_format_round_trip),
	    cmocka_unit_test(test_cmd_names),
	    cmocka_unit_test(test_line_reader),
	    cmocka_unit_test(test_json_string_escapes),
	    cmocka_unit_test(test_json_string_as_json_c),
	    cmocka_unit_test(test_json_string_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

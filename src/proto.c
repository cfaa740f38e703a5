/* The request grammar: "[#TAG] COMMAND [GAME] [ARG...]". A pure parser (no allocation, no
 * globals written) so that it can be fuzzed and shared by the daemon, the client and tests. */
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define PROTO_MAX_WORDS 8
#define ID_LEN 20 /* YYYYMMDDTHHMMSS.mmmZ */
/* printf arguments for "%.*s" that quote at most 40 bytes of a word in a message. */
#define SHOWN(w) (int)((w).len > 40 ? 40 : (w).len), (w).p

/* What may follow a command besides its options. */
enum proto_args {
	ARGS_NONE,    /* ping, reload */
	ARGS_GAME,    /* [GAME] */
	ARGS_VERIFY,  /* [GAME] [ID|all|latest] */
	ARGS_RESTORE, /* [GAME] [ID|latest] */
	ARGS_ID,      /* [GAME] ID */
	ARGS_SESSION, /* [GAME] begin|end */
};

struct proto_spec {
	const char *name;
	enum proto_args args;
	unsigned opts; /* the PF_* options it accepts */
	const char *usage;
};

static const struct proto_spec specs[CMD__COUNT] = {
    [CMD_PING] = {"ping", ARGS_NONE, 0, "ping"},
    [CMD_STATUS] = {"status", ARGS_GAME, 0, "status [GAME]"},
    [CMD_START] = {"start", ARGS_GAME, 0, "start [GAME]"},
    [CMD_STOP] = {"stop", ARGS_GAME, 0, "stop [GAME]"},
    [CMD_BACKUP] = {"backup", ARGS_GAME, PF_WAIT, "backup [GAME] [--wait]"},
    [CMD_LIST] = {"list", ARGS_GAME, PF_REMOTE, "list [GAME] [--remote]"},
    [CMD_VERIFY] = {"verify", ARGS_VERIFY, 0, "verify [GAME] [ID|all|latest]"},
    [CMD_RESTORE] = {"restore", ARGS_RESTORE, PF_DRY_RUN | PF_UNDO | PF_FORCE,
		     "restore [GAME] [ID|latest] [--dry-run] [--force] | restore [GAME] --undo"},
    [CMD_PRUNE] = {"prune", ARGS_GAME, PF_DRY_RUN | PF_REMOTE, "prune [GAME] [--remote] [--dry-run]"},
    [CMD_PIN] = {"pin", ARGS_ID, 0, "pin [GAME] ID"},
    [CMD_UNPIN] = {"unpin", ARGS_ID, 0, "unpin [GAME] ID"},
    [CMD_RELOAD] = {"reload", ARGS_NONE, 0, "reload"},
    [CMD_SESSION] = {"session", ARGS_SESSION, 0, "session [GAME] begin|end"},
    [CMD_PULL] = {"pull", ARGS_RESTORE, 0, "pull [GAME] [ID|latest]"},
};

static const struct {
	const char *name;
	unsigned flag;
} options[] = {
    {"--wait", PF_WAIT},     {"--dry-run", PF_DRY_RUN}, {"--undo", PF_UNDO},
    {"--remote", PF_REMOTE}, {"--force", PF_FORCE},
};

struct word {
	const char *p;
	size_t len;
};

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool
word_is(struct word w, const char *s)
{
	return strlen(s) == w.len && memcmp(w.p, s, w.len) == 0;
}

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if it is not valid: overlong
 * forms, surrogates and code points above U+10FFFF are refused. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* True if the line is UTF-8 text without control bytes (tabs and NULs included). */
static bool
is_text(const char *line, size_t len)
{
	const unsigned char *s = (const unsigned char *)line;

	for (size_t i = 0; i < len;) {
		size_t n;
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
		n = utf8_seq(s + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Splits at spaces; returns the word count, or -E2BIG when there are too many. */
static int
split(const char *line, size_t len, struct word *w, size_t max)
{
	size_t n = 0, i = 0;

	for (;;) {
		size_t start;
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			return (int)n;
		if (n == max)
			return -E2BIG;
		start = i;
		while (i < len && line[i] != ' ')
			i++;
		w[n++] = (struct word){line + start, i - start};
	}
}

static bool
tag_valid(struct word w)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-";

	/* '#' and up to sizeof(tag) - 1 characters: the tag and its NUL fill the field. */
	if (w.len < 2 || w.len - 1 > sizeof(((struct proto_request *)0)->tag) - 1)
		return false;
	for (size_t i = 1; i < w.len; i++)
		if (!strchr(ok, w.p[i]) || w.p[i] == '\0')
			return false;
	return true;
}

/* An archive ID: YYYYMMDDTHHMMSS.mmmZ. */
static bool
id_valid(struct word w)
{
	static const char shape[] = "DDDDDDDDTDDDDDD.DDDZ";

	if (w.len != ID_LEN)
		return false;
	for (size_t i = 0; i < ID_LEN; i++) {
		bool digit = w.p[i] >= '0' && w.p[i] <= '9';
		if (shape[i] == 'D' ? !digit : w.p[i] != shape[i])
			return false;
	}
	return true;
}

/* Starts like an ID (a date and a 'T'): meant as one, even if it is malformed. */
static bool
id_shaped(struct word w)
{
	if (w.len < 9 || w.p[8] != 'T')
		return false;
	for (size_t i = 0; i < 8; i++)
		if (w.p[i] < '0' || w.p[i] > '9')
			return false;
	return true;
}

static int
set_game(struct proto_request *req, struct word w, char *err, size_t errlen)
{
	char name[PROTO_MAX_NAME + 1];

	if (w.len > PROTO_MAX_NAME)
		return fail(err, errlen, "bad game name '%.32s...': longer than %d bytes", w.p,
			    PROTO_MAX_NAME);
	memcpy(name, w.p, w.len);
	name[w.len] = '\0';
	if (!game_name_valid(name))
		return fail(err, errlen, "bad game name '%s': use letters, digits, '.', '_' and '-'", name);
	memcpy(req->game, name, w.len + 1);
	return 0;
}

static int
set_id(struct proto_request *req, struct word w, char *err, size_t errlen)
{
	if (!id_valid(w))
		return fail(err, errlen, "bad archive ID '%.*s': expected YYYYMMDDTHHMMSS.mmmZ", SHOWN(w));
	memcpy(req->id, w.p, w.len);
	req->id[w.len] = '\0';
	return 0;
}

/* The word after GAME for verify and restore: an ID, "latest", or for verify "all". */
static int
set_target(struct proto_request *req, struct word w, char *err, size_t errlen)
{
	if (word_is(w, "latest"))
		return 0;
	if (req->cmd == CMD_VERIFY && word_is(w, "all")) {
		req->flags |= PF_ALL;
		return 0;
	}
	return set_id(req, w, err, errlen);
}

/* True if a lone positional word is the ID-like argument rather than a game name. */
static bool
is_target(enum proto_args args, struct word w)
{
	switch (args) {
	case ARGS_VERIFY:
		return word_is(w, "all") || word_is(w, "latest") || id_shaped(w);
	case ARGS_RESTORE:
		return word_is(w, "latest") || id_shaped(w);
	case ARGS_ID:
		return id_shaped(w);
	case ARGS_SESSION:
		return word_is(w, "begin") || word_is(w, "end");
	default:
		return false;
	}
}

static int
set_session(struct proto_request *req, struct word w, char *err, size_t errlen)
{
	if (word_is(w, "begin"))
		req->flags |= PF_BEGIN;
	else if (word_is(w, "end"))
		req->flags |= PF_END;
	else
		return fail(err, errlen, "session takes begin or end, not '%.*s'", SHOWN(w));
	return 0;
}

static int
set_second(struct proto_request *req, enum proto_args args, struct word w, char *err, size_t errlen)
{
	if (args == ARGS_SESSION)
		return set_session(req, w, err, errlen);
	if (args == ARGS_ID)
		return set_id(req, w, err, errlen);
	return set_target(req, w, err, errlen);
}

/* Fills game and the ID-like argument from the positional words. */
static int
parse_positionals(struct proto_request *req, const struct word *pos, size_t n, char *err, size_t errlen)
{
	const struct proto_spec *sp = &specs[req->cmd];
	size_t max = sp->args == ARGS_NONE ? 0 : sp->args == ARGS_GAME ? 1 : 2;
	int r = 0;

	if (n > max)
		return fail(err, errlen, "too many arguments: %s", sp->usage);
	if (n == 2) {
		r = set_game(req, pos[0], err, errlen);
		if (r >= 0)
			r = set_second(req, sp->args, pos[1], err, errlen);
	} else if (n == 1 && is_target(sp->args, pos[0]))
		r = set_second(req, sp->args, pos[0], err, errlen);
	else if (n == 1)
		r = set_game(req, pos[0], err, errlen);
	if (r < 0)
		return r;
	if (sp->args == ARGS_ID && !req->id[0])
		return fail(err, errlen, "missing archive ID: %s", sp->usage);
	if (sp->args == ARGS_SESSION && !(req->flags & (PF_BEGIN | PF_END)))
		return fail(err, errlen, "missing begin or end: %s", sp->usage);
	return 0;
}

static int
parse_option(struct proto_request *req, struct word w, char *err, size_t errlen)
{
	const struct proto_spec *sp = &specs[req->cmd];

	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (word_is(w, options[i].name) && (sp->opts & options[i].flag)) {
			req->flags |= options[i].flag;
			return 0;
		}
	return fail(err, errlen, "unknown option '%.*s' for %s: %s", SHOWN(w), sp->name, sp->usage);
}

static int
parse_command(struct proto_request *req, struct word w, char *err, size_t errlen)
{
	for (size_t i = 0; i < CMD__COUNT; i++)
		if (word_is(w, specs[i].name)) {
			req->cmd = (enum proto_cmd)i;
			return 0;
		}
	return fail(err, errlen, "unknown command '%.*s'", SHOWN(w));
}

/* Parses the words after the tag: the command, its options (anywhere) and positionals. */
static int
parse_words(struct proto_request *req, const struct word *w, size_t n, char *err, size_t errlen)
{
	struct word pos[PROTO_MAX_WORDS];
	size_t npos = 0;
	int r = parse_command(req, w[0], err, errlen);

	for (size_t i = 1; r >= 0 && i < n; i++) {
		if (w[i].len > 1 && w[i].p[0] == '-')
			r = parse_option(req, w[i], err, errlen);
		else
			pos[npos++] = w[i];
	}
	if (r >= 0)
		r = parse_positionals(req, pos, npos, err, errlen);
	if (r >= 0 && (req->flags & PF_UNDO) && (req->id[0] || (req->flags & PF_DRY_RUN)))
		r = fail(err, errlen, "restore --undo takes no archive ID and no --dry-run");
	if (r >= 0 && req->cmd == CMD_RESTORE)
		req->flags |= PF_WAIT;
	return r;
}

int
proto_parse(const char *line, size_t len, struct proto_request *ret, char *err, size_t errlen)
{
	struct proto_request req = {0};
	struct word w[PROTO_MAX_WORDS];
	int n, r;

	if (len > PROTO_MAX_LINE)
		return fail(err, errlen, "request is longer than %d bytes", PROTO_MAX_LINE);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (!is_text(line, len))
		return fail(err, errlen, "request is not text");
	n = split(line, len, w, ARRAY_SIZE(w));
	if (n == -E2BIG)
		return fail(err, errlen, "too many arguments");
	if (n == 0)
		return fail(err, errlen, "empty request");
	if (w[0].p[0] == '#') {
		if (!tag_valid(w[0]))
			return fail(err, errlen,
				    "bad tag '%.*s': use up to 31 letters, digits, '.', '_', ':' and '-'",
				    SHOWN(w[0]));
		memcpy(req.tag, w[0].p + 1, w[0].len - 1);
		if (n == 1)
			return fail(err, errlen, "missing command after the tag");
	}
	r = parse_words(&req, w + !!req.tag[0], (size_t)n - !!req.tag[0], err, errlen);
	if (r < 0)
		return r;
	*ret = req;
	return 0;
}

/* Appends " word" (or "word" at the start) to buf at *pos; false when it does not fit. */
static bool
append(char *buf, size_t len, size_t *pos, const char *prefix, const char *word)
{
	int n = snprintf(buf + *pos, len - *pos, "%s%s%s", *pos ? " " : "", prefix, word);

	if (n < 0 || (size_t)n >= len - *pos)
		return false;
	*pos += (size_t)n;
	return true;
}

/* A lone game word that reads as an ID or keyword ("verify all") needs "latest" after it. */
static bool
game_needs_latest(const struct proto_request *req)
{
	struct word g = {req->game, strlen(req->game)};
	enum proto_args args = specs[req->cmd].args;

	if (args != ARGS_VERIFY && args != ARGS_RESTORE)
		return false;
	return g.len > 0 && !req->id[0] && !(req->flags & PF_ALL) && is_target(args, g);
}

int
proto_format(const struct proto_request *req, char *buf, size_t len)
{
	size_t pos = 0;
	bool ok;

	if (len == 0 || req->cmd >= CMD__COUNT)
		return -ENOSPC;
	buf[0] = '\0';
	ok = (!req->tag[0] || append(buf, len, &pos, "#", req->tag)) &&
	     append(buf, len, &pos, "", specs[req->cmd].name) &&
	     (!req->game[0] || append(buf, len, &pos, "", req->game)) &&
	     (!game_needs_latest(req) || append(buf, len, &pos, "", "latest")) &&
	     (!req->id[0] || append(buf, len, &pos, "", req->id)) &&
	     (!(req->flags & PF_ALL) || append(buf, len, &pos, "", "all")) &&
	     (!(req->flags & PF_BEGIN) || append(buf, len, &pos, "", "begin")) &&
	     (!(req->flags & PF_END) || append(buf, len, &pos, "", "end")) &&
	     (!(req->flags & PF_WAIT) || req->cmd != CMD_BACKUP || append(buf, len, &pos, "", "--wait")) &&
	     (!(req->flags & PF_DRY_RUN) || append(buf, len, &pos, "", "--dry-run")) &&
	     (!(req->flags & PF_UNDO) || append(buf, len, &pos, "", "--undo")) &&
	     (!(req->flags & PF_REMOTE) || append(buf, len, &pos, "", "--remote")) &&
	     (!(req->flags & PF_FORCE) || append(buf, len, &pos, "", "--force"));
	return ok ? (int)pos : -ENOSPC;
}

/* The escape of byte c inside a JSON string into esc (at most 6 bytes); its length, or 0 when
 * c stands for itself. */
static size_t
json_escape_byte(unsigned char c, char esc[6])
{
	static const char hex[] = "0123456789abcdef";
	char name = 0;

	switch (c) {
	case '"':
	case '\\':
		name = (char)c;
		break;
	case '\b':
		name = 'b';
		break;
	case '\f':
		name = 'f';
		break;
	case '\n':
		name = 'n';
		break;
	case '\r':
		name = 'r';
		break;
	case '\t':
		name = 't';
		break;
	default:
		if (c >= 0x20)
			return 0;
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4], esc[5] = hex[c & 0xf];
		return 6;
	}
	esc[0] = '\\', esc[1] = name;
	return 2;
}

/* A bounded output: bytes are copied while they fit before the NUL, and counted always. */
struct json_out {
	char *buf;
	size_t len, need, written;
};

/* Once a piece does not fit, no later one does either (need only grows): what is written
 * stays one unbroken prefix. */
static void
put_bytes(struct json_out *o, const void *p, size_t n)
{
	if (o->need + n < o->len) {
		if (n == 1) /* quotes: no call for one byte */
			o->buf[o->need] = *(const char *)p;
		else
			memcpy(o->buf + o->need, p, n);
		o->written = o->need + n;
	}
	o->need += n;
}

/* Appends s as a JSON string. */
static void
put_json_string(struct json_out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	put_bytes(o, "\"", 1);
	while (*p) {
		char esc[6];
		size_t run = 0, n;
		/* Bytes that stand for themselves go in one copy. */
		while (p[run] >= 0x20 && p[run] != '"' && p[run] != '\\')
			run++;
		put_bytes(o, p, run);
		p += run;
		if (*p && (n = json_escape_byte(*p++, esc)) > 0)
			put_bytes(o, esc, n);
	}
	put_bytes(o, "\"", 1);
}

/* Ends what o holds with its NUL and returns the length it needs. */
static size_t
json_out_end(struct json_out *o)
{
	if (o->len > 0)
		o->buf[o->written] = '\0';
	return o->need;
}

size_t
proto_json_string(char *out, size_t len, const char *s)
{
	struct json_out o = {.buf = out, .len = len};

	put_json_string(&o, s);
	return json_out_end(&o);
}

size_t
proto_reply_fixed(char *out, size_t len, const char *re, const char *cmd, bool ok, const char *key,
		  const char *value)
{
	struct json_out o = {.buf = out, .len = len};

	put_bytes(&o, "{", 1);
	if (re) {
		put_bytes(&o, "\"re\":", 5);
		put_json_string(&o, re);
		put_bytes(&o, ",", 1);
	}
	if (cmd) {
		put_bytes(&o, "\"cmd\":", 6);
		put_json_string(&o, cmd);
		put_bytes(&o, ",", 1);
	}
	put_bytes(&o, ok ? "\"ok\":true" : "\"ok\":false", ok ? 9 : 10);
	if (key && value) {
		put_bytes(&o, ",", 1);
		put_json_string(&o, key);
		put_bytes(&o, ":", 1);
		put_json_string(&o, value);
	}
	put_bytes(&o, "}", 1);
	return json_out_end(&o);
}

const char *
proto_cmd_name(enum proto_cmd cmd)
{
	return (unsigned)cmd < CMD__COUNT ? specs[cmd].name : NULL;
}

int
proto_cmd_from_name(const char *name, enum proto_cmd *ret)
{
	for (size_t i = 0; i < CMD__COUNT; i++)
		if (strcmp(name, specs[i].name) == 0) {
			*ret = (enum proto_cmd)i;
			return 0;
		}
	return -EINVAL;
}

/* Makes room for at least one more byte and the NUL after it; -EMSGSIZE when the buffer is at
 * its bound (a caller then takes the overlong line from proto_lines_next). */
static int
lines_room(struct proto_lines *l)
{
	size_t bound = l->max + 2, cap;
	char *b;

	if (l->start > 0) {
		l->len -= l->start;
		memmove(l->buf, l->buf + l->start, l->len);
		l->start = 0;
	}
	if (l->cap - l->len >= 2)
		return 0;
	if (l->cap >= bound)
		return -EMSGSIZE;
	cap = l->cap ? l->cap * 2 : 16384;
	cap = cap < bound ? cap : bound;
	b = realloc(l->buf, cap);
	if (!b)
		return -ENOMEM;
	l->buf = b;
	l->cap = cap;
	return 0;
}

ssize_t
proto_lines_read(struct proto_lines *l, int fd)
{
	ssize_t n;
	int r = lines_room(l);

	if (r < 0)
		return r;
	do
		n = read(fd, l->buf + l->len, l->cap - l->len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	l->len += (size_t)n;
	return n;
}

/* Hands out buf[start..start+n) as a line and consumes it and skip more bytes. */
static int
lines_take(struct proto_lines *l, size_t n, size_t skip, char **ret_line, size_t *ret_len)
{
	char *p = l->buf + l->start;

	p[n] = '\0';
	l->start += n + skip;
	*ret_line = p;
	*ret_len = n;
	return 1;
}

int
proto_lines_next(struct proto_lines *l, bool eof, char **ret_line, size_t *ret_len)
{
	if (!l->buf)
		return 0;
	for (;;) {
		size_t avail = l->len - l->start;
		char *p = l->buf + l->start, *nl = avail ? memchr(p, '\n', avail) : NULL;

		if (nl && l->skipping) {
			l->start += (size_t)(nl - p) + 1;
			l->skipping = false;
			continue;
		}
		if (nl)
			return lines_take(l, (size_t)(nl - p), 1, ret_line, ret_len);
		if (avail > l->max && !l->skipping) {
			l->skipping = true;
			lines_take(l, avail, 0, ret_line, ret_len);
			return -EMSGSIZE;
		}
		if (l->skipping || (eof && avail == 0)) {
			l->start = l->len;
			l->skipping = l->skipping && !eof;
			return 0;
		}
		return eof ? lines_take(l, avail, 0, ret_line, ret_len) : 0;
	}
}

void
proto_lines_free(struct proto_lines *l)
{
	free(l->buf);
	*l = PROTO_LINES(l->max);
}

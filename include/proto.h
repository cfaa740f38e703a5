/* The control protocol, shared by savekeeperd, savekeeperctl and the tests. A request is one
 * line of at most PROTO_MAX_LINE bytes: "[#TAG] COMMAND [GAME] [ARG...]", words separated by
 * spaces. Every reply is one line of JSON; a reply that ends a request has "ok", events
 * (progress) have "event". Each carries "re": the request's tag, or its 1-based sequence
 * number on the connection. docs/protocol.md is the reference. Parsing is a pure function. */
#ifndef SK_PROTO_H
#define SK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTO_MAX_LINE 4096
#define PROTO_MAX_NAME 128

enum proto_cmd {
	CMD_PING,
	CMD_STATUS,
	CMD_START,
	CMD_STOP,
	CMD_BACKUP,
	CMD_LIST,
	CMD_VERIFY,
	CMD_RESTORE,
	CMD_PRUNE,
	CMD_PIN,
	CMD_UNPIN,
	CMD_RELOAD,
	CMD_SESSION, /* session GAME begin|end: a wrapped game started or exited */
	CMD_PULL,    /* pull GAME [ID|latest]: download an archive from the remote */
	CMD__COUNT
};

enum proto_flag {
	PF_WAIT = 1 << 0,    /* backup --wait, restore (always waits) */
	PF_DRY_RUN = 1 << 1, /* restore --dry-run, prune --dry-run */
	PF_UNDO = 1 << 2,    /* restore --undo */
	PF_ALL = 1 << 3,     /* verify all */
	PF_BEGIN = 1 << 4,   /* session begin */
	PF_END = 1 << 5,     /* session end */
	PF_REMOTE = 1 << 6,  /* list --remote */
	PF_FORCE = 1 << 7,   /* restore --force: pass the stale-over-newer guard */
};

struct proto_request {
	enum proto_cmd cmd;
	char tag[32];		       /* "" when the request had none */
	char game[PROTO_MAX_NAME + 1]; /* "" when left out */
	char id[64];		       /* archive ID, "" for none or "latest" */
	unsigned flags;
};

/* Parses one request line (without its newline). Returns 0 and fills *ret, or -EINVAL with a
 * one-line reason in err ("unknown command 'x'", "request is not text", ...). Pure. */
int proto_parse(const char *line, size_t len, struct proto_request *ret, char *err, size_t errlen);

/* Formats req back into a request line (for the client); returns its length or -ENOSPC. */
int proto_format(const struct proto_request *req, char *buf, size_t len);

/* A bounded line reader, the one every reader of newline-ended lines uses (the control socket,
 * the process core's pipe, savekeeperctl): bytes gather in a buffer that grows up to the
 * longest line accepted; a longer line is reported once and skipped to its newline. */
struct proto_lines {
	char *buf;
	size_t start, len, cap; /* unread bytes are buf[start..len) */
	size_t max;		/* the longest line accepted, without its newline */
	bool skipping;		/* the rest of an overlong line is being dropped */
};

/* A reader of lines up to max bytes. */
#define PROTO_LINES(max_bytes) ((struct proto_lines){.max = (max_bytes)})

/* Reads once from fd into the buffer; returns the count, 0 at end of file, -EAGAIN when fd
 * has nothing now, or -errno. */
ssize_t proto_lines_read(struct proto_lines *l, int fd);
/* Takes the next complete line: returns 1 with *ret_line (NUL-terminated in the buffer, valid
 * until the next call) and *ret_len; 0 when no line is complete; -EMSGSIZE once for a line
 * longer than max (*ret_line holds its first max + 1 bytes, *ret_len > max), whose rest is then
 * skipped. With eof set, what is left without a newline counts as a last line. */
int proto_lines_next(struct proto_lines *l, bool eof, char **ret_line, size_t *ret_len);
/* Frees the buffer; the reader can be used again. */
void proto_lines_free(struct proto_lines *l);

/* Writes s as a JSON string, quotes included, escaped byte for byte as json-c writes it with
 * JSON_C_TO_STRING_NOSLASHESCAPE (the replies' format): '"' and '\\' as \" and \\\\, \b \f \n
 * \r \t by name, other bytes below 0x20 as \u00xx; UTF-8 and DEL pass as they are. Writes at
 * most len bytes, NUL included, and returns the length the whole string needs (as snprintf). */
size_t proto_json_string(char *out, size_t len, const char *s);

/* Formats the reply {"re":RE,"cmd":CMD,"ok":OK,KEY:VALUE} into out (len bytes), leaving out re,
 * cmd and the last member when they are NULL: the bytes json-c writes for that object, without
 * building one. Returns the length it needs without the NUL, as snprintf does; out holds it
 * whole only when that is < len. */
size_t proto_reply_fixed(char *out, size_t len, const char *re, const char *cmd, bool ok, const char *key,
			 const char *value);

const char *proto_cmd_name(enum proto_cmd cmd);
int proto_cmd_from_name(const char *name, enum proto_cmd *ret);

#endif

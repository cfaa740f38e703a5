/* The control socket: listens on a Unix stream socket (or the one systemd passed), accepts
 * clients whose uid is the daemon's, reads bounded request lines, and hands each parsed
 * request to the daemon. Replies are queued per client with a bound on what is left unread
 * from earlier replies; a client that does not read is dropped rather than allowed to grow the
 * daemon's memory. */
#ifndef SK_CONTROL_H
#define SK_CONTROL_H

#include <stdbool.h>

#include "proto.h"

struct loop;
struct ctl;
struct ctl_client;
struct json_object;

/* At most this many clients at once; more are refused with an error line. */
#define CTL_MAX_CLIENTS 1024
/* Unread replies queued for one client; a client that lets more pile up before its next reply
 * is dropped. One reply is always queued whole, however long. */
#define CTL_MAX_OUTPUT (256 * 1024)

/* Called for each well-formed request; req->tag is always set (the client's tag or the
 * request's sequence number). Reply now or later with ctl_reply(). */
typedef void ctl_request_fn(struct ctl_client *c, const struct proto_request *req, void *data);

/* Opens the listener at socket_path: takes a lock beside it (a second daemon fails with
 * -EADDRINUSE), refuses a symlink there, replaces a stale socket, creates its folder 0700 and
 * the socket 0600. With socket activation the passed fd is used instead. Returns 0 or -errno
 * with a message in err. */
int ctl_open(struct loop *loop, const char *socket_path, ctl_request_fn *fn, void *data, struct ctl **ret,
	     char *err, size_t errlen);
/* Closes the listener and every client, removes the socket if it created it. Accepts NULL. */
void ctl_close(struct ctl *ctl);

/* Sends one JSON reply line to c, adding "re": re first. Takes ownership of obj. Returns 0, or
 * -EPIPE if the client is gone or was dropped now because more than CTL_MAX_OUTPUT of its earlier
 * replies were still unread (then nothing is sent). May close c: hold a reference across a call made outside
 * its handler. */
int ctl_reply(struct ctl_client *c, const char *re, struct json_object *obj);
/* Sends a reply of fixed shape, {"re":RE,"cmd":CMD,"ok":OK,"KEY":VALUE} (cmd NULL: no "cmd";
 * key or value NULL: no last member), formatted in place without building a json-c object:
 * the same bytes ctl_reply would send, at a fraction of the cost (ping, failures). Returns as
 * ctl_reply. */
int ctl_reply_fixed(struct ctl_client *c, const char *re, const char *cmd, bool ok, const char *key,
		    const char *value);
/* Shortcut for {"re":RE,"ok":false,"error":msg}, the reply to a request that could not be
 * parsed. */
int ctl_reply_error(struct ctl_client *c, const char *re, const char *msg);
/* A new reply object {"re":TAG,"cmd":NAME,"ok":ok} for req, to fill and pass to ctl_reply();
 * with "re" already first, ctl_reply sends it as it is. NULL when out of memory. */
struct json_object *ctl_result_new(const struct proto_request *req, bool ok);

/* Keeps a client's memory alive across an asynchronous reply. */
struct ctl_client *ctl_client_ref(struct ctl_client *c);
void ctl_client_unref(struct ctl_client *c);
/* False once the client disconnected or was dropped. */
bool ctl_client_alive(const struct ctl_client *c);

/* Number of connected clients. */
unsigned ctl_clients(const struct ctl *ctl);

#endif

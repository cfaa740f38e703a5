/* rclone as a child process: never linked, run under a time bound, its
 * stderr kept (bounded) for the message a failure reports. Above it sits the copy job
 * (remote.c); below it only jobctx's waiting, so it runs the same under every core. */
#ifndef SK_RCLONE_H
#define SK_RCLONE_H

#include <stddef.h>
#include <stdint.h>

#include "jobctx.h"

/* How long one rclone command may run before it is stopped (SIGTERM, then SIGKILL). */
#define RCLONE_TIMEOUT_USEC (30ULL * 60 * 1000000)
/* The suffix an upload carries until it is complete: never a name that reads as an archive. */
#define RCLONE_PARTIAL_SUFFIX ".partial"

struct rclone_opts {
	const char *binary;    /* "rclone" (searched in PATH) or a path; NULL: "rclone" */
	const char *config;    /* --config FILE, or NULL for rclone's own */
	const char *bwlimit;   /* --bwlimit VALUE, or NULL */
	uint64_t timeout_usec; /* 0: RCLONE_TIMEOUT_USEC */
};

/* Runs `rclone ARGS... [--config F] [--bwlimit B]` at low priority (nice 19, idle I/O) and
 * waits for it through hooks (may be NULL). With ret_out, up to out_max bytes of its stdout
 * are kept, malloc'd and NUL-terminated. Returns 0 when rclone exits 0; otherwise -errno
 * (-ENOENT: the binary is missing, -ENODATA: the remote has no such file or folder (rclone's
 * exit status 3 or 4), -ETIMEDOUT, -ECANCELED, -EIO: rclone failed otherwise) with a
 * one-line message in err that ends with rclone's last error line. */
int rclone_run(const struct rclone_opts *o, const char *const *args, const struct job_hooks *hooks,
	       char **ret_out, size_t out_max, char *err, size_t errlen);

/* A running `rclone rcd` that a copy job's uploads go through: one rclone start per job, not
 * two per file. It listens on a loopback port it picks and takes only a user and password of
 * 128 random bits, given in its environment (RCLONE_RC_USER/PASS), not on its command line. */
struct rclone_rc;

/* Starts rcd with o's options (config, bwlimit, retries) at low priority and waits (through
 * hooks) until it listens. Returns 0 with *ret set, or -errno as rclone_run with err filled. */
int rclone_rc_start(const struct rclone_opts *o, const struct job_hooks *hooks, struct rclone_rc **ret,
		    char *err, size_t errlen);

/* Uploads the local file to DIR/NAME so that DIR/NAME never exists half-written: rc's
 * operations/copyfile to DIR/NAME.partial, then operations/movefile to DIR/NAME. Each call is
 * bounded by o's timeout; past it, on cancel, or when rcd dies, rcd is stopped (ending the
 * transfer) and later calls fail. Returns 0, or -errno (-ENODATA: not found, -EACCES: the
 * remote control refused us, -EIO: rclone failed, -ETIMEDOUT, -ECANCELED) with the message
 * in err. */
int rclone_rc_upload(struct rclone_rc *rc, const char *local, const char *dir, const char *name,
		     const struct job_hooks *hooks, char *err, size_t errlen);

/* Stops rcd and frees rc. Accepts NULL. */
void rclone_rc_stop(struct rclone_rc *rc);

#endif

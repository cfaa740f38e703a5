/* rclone as a child process: never linked, run with posix_spawn under a time bound, its
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

/* Uploads the local file to DIR/NAME so that DIR/NAME never exists half-written: it goes to
 * DIR/NAME.partial first and is then renamed on the remote (rclone moveto). Returns as
 * rclone_run. */
int rclone_upload(const struct rclone_opts *o, const char *local, const char *dir, const char *name,
		  const struct job_hooks *hooks, char *err, size_t errlen);

#endif

/* rclone as a child process: never linked, run under a time bound, its
 * stderr kept (bounded) for the message a failure reports. Above it sits the copy job
 * (remote.c); below it only jobctx's waiting, so it runs the same under every core. rclone.c
 * runs one command (rclone_run); rclone_rc.c starts or borrows an rclone rcd and uploads
 * through it (rclone_rc_*). */
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

/* A running `rclone rcd` that copy jobs' uploads go through: no rclone start per file, and
 * none per job when the daemon keeps one (rclone_keep.h) and lends it to its jobs. It listens
 * on a loopback port it picks and takes only a user and password of 128 random bits, given in
 * its environment (RCLONE_RC_USER/PASS), not on its command line. */
struct rclone_rc;

/* Starts rcd with o's options (config, bwlimit, retries) at low priority and waits (through
 * hooks) until it listens. o's strings must outlive rc. Returns 0 with *ret set, or -errno as
 * rclone_run with err filled. */
int rclone_rc_start(const struct rclone_opts *o, const struct job_hooks *hooks, struct rclone_rc **ret,
		    char *err, size_t errlen);

/* Starts rcd as rclone_rc_start does without waiting: for an owner on the daemon's loop, which
 * watches rclone_rc_fd(rc) for input and calls rclone_rc_poll, which returns 1 once rcd
 * listens, 0 while it starts, and -errno with err filled once it has ended (reaped; its fd is
 * closed by then, so stop watching it). */
int rclone_rc_spawn(const struct rclone_opts *o, struct rclone_rc **ret, char *err, size_t errlen);
int rclone_rc_fd(const struct rclone_rc *rc);
int rclone_rc_poll(struct rclone_rc *rc, char *err, size_t errlen);

/* Where a listening rcd is (127.0.0.1:PORT) and its Basic credentials, for rclone_rc_attach. */
const char *rclone_rc_addr(const struct rclone_rc *rc);
const char *rclone_rc_auth(const struct rclone_rc *rc);

/* A handle on an rcd that another process or thread owns (the daemon's), for a job's calls:
 * this handle never stops that rcd; a call it cannot finish closes its connection, which
 * makes rcd cancel it. When that rcd is gone (the connection is refused), the handle starts
 * one of its own with o's options, as rclone_rc_start. Returns 0 or -errno. */
int rclone_rc_attach(const struct rclone_opts *o, const char *addr, const char *auth, struct rclone_rc **ret);

/* Uploads the n (at most 4) local files to DIR/names[i] so that no DIR/names[i] ever exists
 * half-written, and DIR/names[i] appears only after DIR/names[i-1]: each goes up under
 * names[i].partial (rc's operations/copyfile; the later ones as async jobs of rcd, beside the
 * first's rename), then each is renamed in order (operations/movefile). Each call is bounded by o's
 * timeout; past it, on cancel, or when rcd dies, the call is ended (an own rcd is stopped,
 * ending its transfer) and later calls fail. Returns 0, or -errno (-ENODATA: not found,
 * -EACCES: the remote control refused us, -EIO: rclone failed, -ETIMEDOUT, -ECANCELED) with
 * the message in err. rclone_rc_upload is the same for one file. */
int rclone_rc_upload_files(struct rclone_rc *rc, const char *const *local, const char *dir,
			   const char *const *names, size_t n, const struct job_hooks *hooks, char *err,
			   size_t errlen);
int rclone_rc_upload(struct rclone_rc *rc, const char *local, const char *dir, const char *name,
		     const struct job_hooks *hooks, char *err, size_t errlen);

/* Stops rcd if it is rc's own, and frees rc. Accepts NULL. */
void rclone_rc_stop(struct rclone_rc *rc);

#endif

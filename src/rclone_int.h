/* Private to rclone (rclone.c: rclone as a bounded child and one command, rclone_run;
 * rclone_rc.c: the client of an rclone rcd and the uploads through it). */
#ifndef SK_RCLONE_INT_H
#define SK_RCLONE_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rclone.h"
#include "util.h"

#define RCLONE_ARGS_MAX 24
#define RCLONE_POLL_USEC (20 * USEC_PER_MSEC)
#define RCLONE_ERR_MAX 4096

/* A running rclone: its pid and our ends of its stdout and stderr. */
struct rclone_child {
	pid_t pid;
	int out_fd, err_fd; /* our ends, non-blocking; -EBADF once at end of file */
	char err[RCLONE_ERR_MAX];
	size_t err_len;
	char *out;
	size_t out_len, out_max;
};

/* The argument vector (at most RCLONE_ARGS_MAX entries): rclone, the command's words args, then
 * the options every command shares. Returns 0 or -E2BIG. */
int rclone_argv(const struct rclone_opts *o, const char *const *args, const char **argv);

/* Starts the child with its pipes (envp NULL: ours); fills err when rclone cannot even start.
 * Returns 0 or -errno (-ENOENT: no such program). */
int rclone_child_start(struct rclone_child *c, const char **argv, char *const *envp, char *err,
		       size_t errlen);

/* Reads what *fd (c's stderr with is_err, else its stdout) has now, keeping stderr's tail and
 * stdout's head up to its bound; true at end of file (*fd is closed then). */
bool rclone_child_drain(struct rclone_child *c, int *fd, bool is_err);

/* Fills err for a child that ran and did not succeed (status: its wait status, or -ETIMEDOUT /
 * -ECANCELED when it was stopped), ending with rclone's last error line; returns the -errno. */
int rclone_child_report(struct rclone_child *c, const char *cmd, int status, char *err, size_t errlen);

/* The wait status, as waitpid would give it, of the child that waitid reported in si. */
static inline int
rclone_wait_status(const siginfo_t *si)
{
	return si->si_code == CLD_EXITED ? si->si_status << 8 : si->si_status;
}

/* Closes c's pipes and frees its output; the child itself must be reaped already. */
void rclone_child_clear(struct rclone_child *c);

#endif

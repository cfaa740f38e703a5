/* rclone as a child: spawned like the process core's worker (posix_spawn, default signal
 * dispositions, an empty mask), polled through jobctx so that a coroutine parks on the loop
 * while rclone works, stopped when it runs past its bound or the job is cancelled. */
#include "rclone.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "util.h"

#define RCLONE_ARGS_MAX 24
#define RCLONE_POLL_USEC (20 * USEC_PER_MSEC)
#define RCLONE_KILL_GRACE_USEC (5 * USEC_PER_SEC)
#define RCLONE_ERR_MAX 4096

struct rclone_child {
	pid_t pid;
	int out_fd, err_fd; /* our ends, non-blocking; -EBADF once at end of file */
	char err[RCLONE_ERR_MAX];
	size_t err_len;
	char *out;
	size_t out_len, out_max;
};

/* The argument vector: rclone, the command's words, then the options every command shares.
 * --retries 1 and few low-level retries: the copy job retries on its own schedule, with
 * backoff, and a server that went away shows in status within seconds. A connection that
 * hangs is given up after --timeout of silence. */
static int
build_argv(const struct rclone_opts *o, const char *const *args, const char **argv)
{
	size_t n = 0;

	argv[n++] = o->binary ? o->binary : "rclone";
	for (size_t i = 0; args[i]; i++) {
		if (n + 10 >= RCLONE_ARGS_MAX)
			return -E2BIG;
		argv[n++] = args[i];
	}
	if (o->config) {
		argv[n++] = "--config";
		argv[n++] = o->config;
	}
	if (o->bwlimit) {
		argv[n++] = "--bwlimit";
		argv[n++] = o->bwlimit;
	}
	argv[n++] = "--retries=1";
	argv[n++] = "--low-level-retries=2";
	argv[n++] = "--contimeout=15s";
	argv[n++] = "--timeout=60s";
	argv[n] = NULL;
	return 0;
}

/* A pipe whose write end (for the child) sits above stderr, so dup2 onto 1 or 2 clears its
 * close-on-exec flag, and whose read end does not block. */
static int
child_pipe(int *ret_read, int *ret_write)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (p[1] <= STDERR_FILENO) {
		int fd = fcntl(p[1], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		int r = -errno;
		close(p[1]);
		if (fd < 0) {
			close(p[0]);
			return r;
		}
		p[1] = fd;
	}
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	*ret_read = p[0];
	*ret_write = p[1];
	return 0;
}

/* rclone's stdin is /dev/null; its stdout and stderr go to our pipes. */
static int
spawn_child(const char **argv, int out_w, int err_w, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
	/* A name without a slash is looked up in PATH, as a shell would. */
	r = spawn_clean(ret_pid, argv[0], !strchr(argv[0], '/'), &fa, (char *const *)(uintptr_t)argv);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

/* Keeps the tail of stderr (the last error is what explains a failure) and the head of
 * stdout up to its bound; returns true at end of file. */
static bool
drain(struct rclone_child *c, int *fd, bool is_err)
{
	char buf[4096];
	ssize_t n;

	while (*fd >= 0 && (n = read(*fd, buf, sizeof(buf))) != 0) {
		if (n < 0)
			return errno != EAGAIN && errno != EINTR ? (*fd = safe_close(*fd), true) : false;
		if (is_err) {
			size_t keep = (size_t)n > sizeof(c->err) - 1 ? sizeof(c->err) - 1 : (size_t)n;
			if (c->err_len + keep > sizeof(c->err) - 1) {
				size_t drop = c->err_len + keep - (sizeof(c->err) - 1);
				memmove(c->err, c->err + drop, c->err_len - drop);
				c->err_len -= drop;
			}
			memcpy(c->err + c->err_len, buf + (size_t)n - keep, keep);
			c->err_len += keep;
		} else if (c->out && c->out_len < c->out_max) {
			size_t keep =
			    c->out_max - c->out_len < (size_t)n ? c->out_max - c->out_len : (size_t)n;
			memcpy(c->out + c->out_len, buf, keep);
			c->out_len += keep;
		}
	}
	*fd = safe_close(*fd);
	return true;
}

/* Waits for the child to end, stopping it past the deadline or on cancel. Returns its wait
 * status, or -ETIMEDOUT / -ECANCELED when it had to be stopped. */
static int
wait_child(struct rclone_child *c, const struct job_hooks *hooks, uint64_t timeout_usec)
{
	uint64_t deadline = now_usec() + timeout_usec, kill_at = 0;
	int stopped = 0;
	siginfo_t si;

	for (;;) {
		drain(c, &c->err_fd, true);
		drain(c, &c->out_fd, false);
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG) < 0 && errno != EINTR)
			return -errno;
		if (si.si_pid == c->pid)
			break;
		if (job_cancelled(hooks)) {
			/* An upload stopped half-way left only a .partial name behind. */
			kill(c->pid, SIGKILL);
			stopped = -ECANCELED;
			while (waitid(P_PID, (id_t)c->pid, &si, WEXITED) < 0 && errno == EINTR)
				;
			break;
		}
		if (!stopped && now_usec() > deadline) {
			kill(c->pid, SIGTERM);
			stopped = -ETIMEDOUT;
			kill_at = now_usec() + RCLONE_KILL_GRACE_USEC;
		} else if (stopped && kill_at && now_usec() > kill_at) {
			kill(c->pid, SIGKILL);
			kill_at = 0;
		}
		job_sleep(hooks, RCLONE_POLL_USEC);
	}
	drain(c, &c->err_fd, true);
	drain(c, &c->out_fd, false);
	if (stopped)
		return stopped;
	return si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status;
}

/* The last non-empty line of rclone's stderr, without its timestamp and level prefix. */
static const char *
last_line(struct rclone_child *c)
{
	char *end, *start, *p;

	c->err[c->err_len] = '\0';
	end = c->err + c->err_len;
	while (end > c->err && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		*--end = '\0';
	start = end;
	while (start > c->err && start[-1] != '\n')
		start--;
	p = strstr(start, "ERROR : ");
	if (p)
		return p + strlen("ERROR : ");
	p = strstr(start, "Failed to ");
	return p ? p : start;
}

/* Fills err for a child that ran and did not succeed; returns the -errno. */
static int
report(struct rclone_child *c, const char *cmd, int status, char *err, size_t errlen)
{
	char msg[1024];
	int r = status < 0 ? status : -EIO;

	/* rclone's exit status 3 and 4: directory or file not found. */
	if (status > 0 && WIFEXITED(status) && (WEXITSTATUS(status) == 3 || WEXITSTATUS(status) == 4))
		r = -ENODATA;
	if (status == -ETIMEDOUT)
		snprintf(msg, sizeof(msg), "rclone %s took too long and was stopped", cmd);
	else if (status == -ECANCELED)
		snprintf(msg, sizeof(msg), "rclone %s was cancelled", cmd);
	else if (WIFSIGNALED(status))
		snprintf(msg, sizeof(msg), "rclone %s died of signal %d: %s", cmd, WTERMSIG(status),
			 last_line(c));
	else
		snprintf(msg, sizeof(msg), "rclone %s failed (exit %d): %s", cmd, WEXITSTATUS(status),
			 last_line(c));
	msg_fit(err, errlen, msg);
	return r;
}

static void
child_clear(struct rclone_child *c)
{
	safe_close(c->out_fd);
	safe_close(c->err_fd);
	free(c->out);
}

/* Starts the child with its pipes; fills err when rclone cannot even start. */
static int
child_start(struct rclone_child *c, const char **argv, char *err, size_t errlen)
{
	_cleanup_close_ int out_w = -EBADF, err_w = -EBADF;
	int r = child_pipe(&c->out_fd, &out_w);

	if (r == 0)
		r = child_pipe(&c->err_fd, &err_w);
	if (r == 0)
		r = spawn_child(argv, out_w, err_w, &c->pid);
	if (r < 0)
		snprintf(err, errlen, "cannot run %s: %s%s", argv[0], strerror(-r),
			 r == -ENOENT ? " (install the rclone package or set rclone = PATH)" : "");
	return r;
}

int
rclone_run(const struct rclone_opts *o, const char *const *args, const struct job_hooks *hooks,
	   char **ret_out, size_t out_max, char *err, size_t errlen)
{
	const char *argv[RCLONE_ARGS_MAX];
	struct rclone_child c = {.out_fd = -EBADF, .err_fd = -EBADF, .out_max = out_max};
	int r = build_argv(o, args, argv), status;

	if (r == 0 && ret_out && !(c.out = malloc(out_max + 1)))
		r = -ENOMEM;
	if (r < 0) {
		snprintf(err, errlen, "cannot run rclone %s: %s", args[0], strerror(-r));
		return r;
	}
	r = child_start(&c, argv, err, errlen);
	if (r < 0) {
		child_clear(&c);
		return r;
	}
	lower_priority(c.pid, 19, true);
	status = wait_child(&c, hooks, o->timeout_usec ? o->timeout_usec : RCLONE_TIMEOUT_USEC);
	if (status != 0) {
		r = report(&c, args[0], status, err, errlen);
		child_clear(&c);
		return r;
	}
	if (ret_out) {
		c.out[c.out_len] = '\0';
		*ret_out = TAKE_PTR(c.out);
	}
	child_clear(&c);
	return 0;
}

int
rclone_upload(const struct rclone_opts *o, const char *local, const char *dir, const char *name,
	      const struct job_hooks *hooks, char *err, size_t errlen)
{
	char final[4096], partial[4096 + sizeof(RCLONE_PARTIAL_SUFFIX)];
	int r;

	if ((size_t)snprintf(final, sizeof(final), "%s/%s", dir, name) >= sizeof(final))
		return -ENAMETOOLONG;
	snprintf(partial, sizeof(partial), "%s%s", final, RCLONE_PARTIAL_SUFFIX);
	r = rclone_run(o, (const char *const[]){"copyto", local, partial, NULL}, hooks, NULL, 0, err, errlen);
	if (r == 0)
		r = rclone_run(o, (const char *const[]){"moveto", partial, final, NULL}, hooks, NULL, 0, err,
			       errlen);
	return r;
}

/* rclone as a child: forked with default signal dispositions, an empty mask and a parent-death
 * signal, polled through jobctx so that a coroutine parks on the loop while rclone works,
 * stopped when it runs past its bound or the job is cancelled; its stderr's tail kept for the
 * message a failure reports. One command is rclone_run; rclone_rc.c starts rclone rcd with the
 * same pieces (rclone_int.h). */
#include "rclone_int.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "util.h"

#define RCLONE_KILL_GRACE_USEC (5 * USEC_PER_SEC)

/* The argument vector: rclone, the command's words, then the options every command shares.
 * --retries 1 and few low-level retries: the copy job retries on its own schedule, with
 * backoff, and a server that went away shows in status within seconds. A connection that
 * hangs is given up after --timeout of silence. */
int
rclone_argv(const struct rclone_opts *o, const char *const *args, const char **argv)
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

/* In the child, between fork and exec: only async-signal-safe calls. The parent's death (a
 * killed daemon, or a worker) kills rclone too, so no rclone rcd serves on for ever; signals
 * are as a new program expects them (the daemon blocks its own for signalfd). An exec that
 * fails sends its errno up the report pipe. */
static void __attribute__((noreturn))
child_exec(const char **argv, char *const *envp, int out_w, int err_w, int report_w, pid_t parent)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int fd, e;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && dup2(fd, STDIN_FILENO) >= 0 && dup2(out_w, STDOUT_FILENO) >= 0 &&
	    dup2(err_w, STDERR_FILENO) >= 0)
		/* A name without a slash is looked up in PATH, as a shell would. */
		execvpe(argv[0], (char *const *)(uintptr_t)argv, envp);
	e = errno;
	(void)!write(report_w, &e, sizeof(e));
	_exit(127);
}

/* rclone's stdin is /dev/null; its stdout and stderr go to our pipes. envp NULL: ours.
 * fork, not posix_spawn, for the parent-death signal. Returns 0 or -errno (-ENOENT: no such
 * program). */
static int
spawn_child(const char **argv, char *const *envp, int out_w, int err_w, pid_t *ret_pid)
{
	extern char **environ;
	pid_t parent = getpid(), pid;
	int p[2], e = 0;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid == 0)
		child_exec(argv, envp ? envp : environ, out_w, err_w, p[1], parent);
	e = pid < 0 ? errno : 0;
	close(p[1]);
	while (pid > 0 && (n = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (pid > 0 && e)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	if (e)
		return -e;
	*ret_pid = pid;
	return 0;
}

/* Keeps the tail of stderr (the last error is what explains a failure) and the head of
 * stdout up to its bound; returns true at end of file. */
bool
rclone_child_drain(struct rclone_child *c, int *fd, bool is_err)
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
		rclone_child_drain(c, &c->err_fd, true);
		rclone_child_drain(c, &c->out_fd, false);
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
	rclone_child_drain(c, &c->err_fd, true);
	rclone_child_drain(c, &c->out_fd, false);
	if (stopped)
		return stopped;
	return rclone_wait_status(&si);
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
int
rclone_child_report(struct rclone_child *c, const char *cmd, int status, char *err, size_t errlen)
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

void
rclone_child_clear(struct rclone_child *c)
{
	safe_close(c->out_fd);
	safe_close(c->err_fd);
	free(c->out);
}

/* Starts the child with its pipes; fills err when rclone cannot even start. */
int
rclone_child_start(struct rclone_child *c, const char **argv, char *const *envp, char *err, size_t errlen)
{
	_cleanup_close_ int out_w = -EBADF, err_w = -EBADF;
	int r = child_pipe(&c->out_fd, &out_w);

	if (r == 0)
		r = child_pipe(&c->err_fd, &err_w);
	if (r == 0)
		r = spawn_child(argv, envp, out_w, err_w, &c->pid);
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
	int r = rclone_argv(o, args, argv), status;

	if (r == 0 && ret_out && !(c.out = malloc(out_max + 1)))
		r = -ENOMEM;
	if (r < 0) {
		snprintf(err, errlen, "cannot run rclone %s: %s", args[0], strerror(-r));
		return r;
	}
	r = rclone_child_start(&c, argv, NULL, err, errlen);
	if (r < 0) {
		rclone_child_clear(&c);
		return r;
	}
	lower_priority(c.pid, 19, true);
	status = wait_child(&c, hooks, o->timeout_usec ? o->timeout_usec : RCLONE_TIMEOUT_USEC);
	if (status != 0) {
		r = rclone_child_report(&c, args[0], status, err, errlen);
		rclone_child_clear(&c);
		return r;
	}
	if (ret_out) {
		c.out[c.out_len] = '\0';
		*ret_out = TAKE_PTR(c.out);
	}
	rclone_child_clear(&c);
	return 0;
}

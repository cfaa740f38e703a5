/* rclone as a child: forked with default signal dispositions, an empty mask and a parent-death
 * signal, polled through jobctx so that a coroutine parks on the loop while rclone works,
 * stopped when it runs past its bound or the job is cancelled. Uploads go through one rclone
 * rcd per copy job, spoken to over HTTP on loopback. */
#include "rclone.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
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
child_start(struct rclone_child *c, const char **argv, char *const *envp, char *err, size_t errlen)
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
	int r = build_argv(o, args, argv), status;

	if (r == 0 && ret_out && !(c.out = malloc(out_max + 1)))
		r = -ENOMEM;
	if (r < 0) {
		snprintf(err, errlen, "cannot run rclone %s: %s", args[0], strerror(-r));
		return r;
	}
	r = child_start(&c, argv, NULL, err, errlen);
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

/* One `rclone rcd` serves the uploads of copy jobs through its remote control (HTTP on a
 * loopback port it picks, with a user and password of 128 random bits that reach it through its
 * environment, never its command line). Either a job starts its own (own: stopped with the
 * handle, and killed to end a call that cannot finish), or it borrows the daemon's
 * (rclone_rc_attach: the daemon owns that process; a call that cannot finish closes its
 * connection, which makes rcd cancel it). */
struct rclone_rc {
	struct rclone_child c; /* own: pid > 0 while it runs */
	struct rclone_opts o;  /* for taking over when a borrowed rcd is gone; strings borrowed */
	bool own;
	bool broken; /* borrowed, and it hung up or stopped answering: later calls fail */
	uint64_t timeout_usec;
	char addr[64];	/* 127.0.0.1:PORT */
	char auth[128]; /* the Basic credentials, base64 */
};

#define RC_READY_USEC (30 * USEC_PER_SEC)
#define RC_REPLY_MAX (64 * 1024)
#define RC_READY_LINE "Serving remote control on http://"
/* How many files one rclone_rc_upload_files call takes: an archive, its manifest, its pin. */
#define RC_FILES_MAX 4

static void
base64(const char *in, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 | (i + 1 < n ? (unsigned char)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? (unsigned char)in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

/* Whether entry is NAME=... for one of the variables rc_environment sets itself. */
static bool
rc_credential(const char *entry)
{
	return strncmp(entry, "RCLONE_RC_USER=", 15) == 0 || strncmp(entry, "RCLONE_RC_PASS=", 15) == 0;
}

/* Our environment (malloc'd) with RCLONE_RC_USER and RCLONE_RC_PASS first, as its own strings,
 * and any inherited values of the two left out: rcd must take these credentials, which go into
 * auth (the Basic credentials), not a user's. */
static char **
rc_environment(char *auth)
{
	extern char **environ;
	unsigned char key[16];
	char pass[33], cred[64], **env;
	size_t n = 0, k = 2;

	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		return NULL;
	for (size_t i = 0; i < sizeof(key); i++)
		snprintf(pass + 2 * i, 3, "%02x", key[i]);
	snprintf(cred, sizeof(cred), "savekeeper:%s", pass);
	base64(cred, auth);
	while (environ[n])
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (!env)
		return NULL;
	if (asprintf(&env[0], "RCLONE_RC_USER=savekeeper") < 0 ||
	    asprintf(&env[1], "RCLONE_RC_PASS=%s", pass) < 0) {
		free(env[0]);
		free(env);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!rc_credential(environ[i]))
			env[k++] = environ[i];
	return env;
}

/* Frees what rc_environment made: its two strings and the array, never an inherited string. */
static void
rc_environment_free(char **env)
{
	if (!env)
		return;
	free(env[0]);
	free(env[1]);
	free(env);
}

/* Reads what rcd wrote; finds where it listens, or reaps it once its stderr ended. */
int
rclone_rc_poll(struct rclone_rc *rc, char *err, size_t errlen)
{
	siginfo_t si = {0};
	char *p;

	drain(&rc->c, &rc->c.err_fd, true);
	rc->c.err[rc->c.err_len] = '\0';
	if (!rc->addr[0] && (p = strstr(rc->c.err, RC_READY_LINE)))
		(void)sscanf(p + strlen(RC_READY_LINE), "%63[0-9.:]", rc->addr);
	if (rc->c.err_fd >= 0 || rc->c.pid <= 0)
		return rc->addr[0] ? 1 : 0;
	/* Its stderr ends as it exits; one that closed it and lives on is stopped. */
	if (waitid(P_PID, (id_t)rc->c.pid, &si, WEXITED | WNOHANG) < 0 || si.si_pid != rc->c.pid) {
		kill(rc->c.pid, SIGKILL);
		while (waitid(P_PID, (id_t)rc->c.pid, &si, WEXITED) < 0 && errno == EINTR)
			;
	}
	rc->c.pid = 0;
	return report(&rc->c, "rcd", si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status, err,
		      errlen);
}

int
rclone_rc_fd(const struct rclone_rc *rc)
{
	return rc->c.err_fd;
}

const char *
rclone_rc_addr(const struct rclone_rc *rc)
{
	return rc->addr;
}

const char *
rclone_rc_auth(const struct rclone_rc *rc)
{
	return rc->auth;
}

/* Waits for rcd to say where it listens. */
static int
rc_wait_ready(struct rclone_rc *rc, const struct job_hooks *hooks, char *err, size_t errlen)
{
	uint64_t deadline = now_usec() + RC_READY_USEC;

	for (;;) {
		int r = rclone_rc_poll(rc, err, errlen);
		if (r != 0)
			return r < 0 ? r : 0;
		if (job_cancelled(hooks) || now_usec() > deadline)
			return report(&rc->c, "rcd", job_cancelled(hooks) ? -ECANCELED : -ETIMEDOUT, err,
				      errlen);
		job_sleep(hooks, 5 * USEC_PER_MSEC);
	}
}

/* Ends rc's own rcd (reaping it) and forgets its address; a borrowed one is left alone. */
static void
rc_end(struct rclone_rc *rc)
{
	siginfo_t si;

	if (rc->own && rc->c.pid > 0) {
		/* Between calls rcd holds nothing of ours; in one, this is how it is stopped. */
		kill(rc->c.pid, SIGKILL);
		while (waitid(P_PID, (id_t)rc->c.pid, &si, WEXITED) < 0 && errno == EINTR)
			;
	}
	rc->c.pid = 0;
	child_clear(&rc->c);
	rc->c = (struct rclone_child){.out_fd = -EBADF, .err_fd = -EBADF};
}

void
rclone_rc_stop(struct rclone_rc *rc)
{
	if (!rc)
		return;
	rc_end(rc);
	free(rc);
}

/* Forks rcd as rc's own with new credentials, without waiting for it. */
static int
rc_launch(struct rclone_rc *rc, char *err, size_t errlen)
{
	const char *argv[RCLONE_ARGS_MAX];
	char **env;
	int r;

	rc_end(rc);
	rc->addr[0] = '\0';
	rc->own = true;
	rc->broken = false;
	rc->timeout_usec = rc->o.timeout_usec ? rc->o.timeout_usec : RCLONE_TIMEOUT_USEC;
	env = rc_environment(rc->auth);
	r = env ? build_argv(&rc->o, (const char *const[]){"rcd", "--rc-addr", "127.0.0.1:0", NULL}, argv)
		: -ENOMEM;
	if (r < 0)
		snprintf(err, errlen, "cannot run rclone rcd: %s", strerror(-r));
	if (r == 0)
		r = child_start(&rc->c, argv, env, err, errlen);
	rc_environment_free(env);
	if (r == 0)
		lower_priority(rc->c.pid, 19, true);
	return r;
}

int
rclone_rc_spawn(const struct rclone_opts *o, struct rclone_rc **ret, char *err, size_t errlen)
{
	struct rclone_rc *rc = calloc(1, sizeof(*rc));
	int r;

	if (!rc) {
		snprintf(err, errlen, "cannot run rclone rcd: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	rc->c = (struct rclone_child){.out_fd = -EBADF, .err_fd = -EBADF};
	rc->o = *o;
	r = rc_launch(rc, err, errlen);
	if (r < 0) {
		rclone_rc_stop(rc);
		return r;
	}
	*ret = rc;
	return 0;
}

int
rclone_rc_start(const struct rclone_opts *o, const struct job_hooks *hooks, struct rclone_rc **ret, char *err,
		size_t errlen)
{
	struct rclone_rc *rc = NULL;
	int r = rclone_rc_spawn(o, &rc, err, errlen);

	if (r == 0 && (r = rc_wait_ready(rc, hooks, err, errlen)) < 0)
		rclone_rc_stop(rc);
	if (r == 0)
		*ret = rc;
	return r;
}

int
rclone_rc_attach(const struct rclone_opts *o, const char *addr, const char *auth, struct rclone_rc **ret)
{
	struct rclone_rc *rc;

	if (strlen(addr) >= sizeof(rc->addr) || strlen(auth) >= sizeof(rc->auth))
		return -EINVAL;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->c = (struct rclone_child){.out_fd = -EBADF, .err_fd = -EBADF};
	rc->o = *o;
	rc->timeout_usec = o->timeout_usec ? o->timeout_usec : RCLONE_TIMEOUT_USEC;
	snprintf(rc->addr, sizeof(rc->addr), "%s", addr);
	snprintf(rc->auth, sizeof(rc->auth), "%s", auth);
	*ret = rc;
	return 0;
}

/* Whether calls can go to rc's rcd. */
static bool
rc_running(const struct rclone_rc *rc)
{
	return rc->own ? rc->c.pid > 0 : !rc->broken && rc->addr[0];
}
/* A connected, non-blocking socket to rcd. */
static int
rc_connect(const struct rclone_rc *rc, const struct job_hooks *hooks)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	char host[64], *colon;
	int e = 0;
	socklen_t len = sizeof(e);

	snprintf(host, sizeof(host), "%s", rc->addr);
	colon = strrchr(host, ':');
	if (fd < 0 || !colon)
		return fd < 0 ? -errno : -EINVAL;
	*colon = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return -errno;
	(void)job_wait_fd(hooks, fd, POLLOUT);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e)
		return e ? -e : -errno;
	return TAKE_FD(fd);
}

/* Sends the whole request; the socket buffer takes a request of this size at once. */
static int
rc_send(int fd, const char *path, const char *auth, const char *body, const struct job_hooks *hooks)
{
	_cleanup_free_ char *req = NULL;
	int n =
	    asprintf(&req,
		     "POST /%s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic %s\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     path, auth, strlen(body), body);
	size_t off = 0;

	if (n < 0)
		return -ENOMEM;
	while (off < (size_t)n) {
		ssize_t k = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EAGAIN)
			(void)job_wait_fd(hooks, fd, POLLOUT);
		else if (k < 0 && errno != EINTR)
			return -errno;
		else if (k > 0)
			off += (size_t)k;
	}
	return 0;
}

/* How long to wait before looking at a call again, started at start: a sixteenth of the time it
 * has taken so far, from 1 to 20 ms. A call is then seen to end at most some 6% after it did
 * (a rename on WebDAV takes some 50 ms; a doubling nap would see it up to 20 ms late), with
 * few wake-ups for a transfer that takes minutes. */
static uint64_t
rc_nap(uint64_t start)
{
	uint64_t nap = (now_usec() - start) / 16;

	return nap < USEC_PER_MSEC ? USEC_PER_MSEC : nap > RCLONE_POLL_USEC ? RCLONE_POLL_USEC : nap;
}

/* Reads the reply to its end, looking again after rc_nap; gives up past the deadline or on
 * cancel, and notices when an own rcd dies (a borrowed one that dies closes the connection).
 * Returns the bytes read or -errno. */
static ssize_t
rc_receive(struct rclone_rc *rc, int fd, char *buf, size_t max, const struct job_hooks *hooks)
{
	uint64_t start = now_usec(), deadline = start + rc->timeout_usec;
	size_t len = 0;
	siginfo_t si;

	for (;;) {
		ssize_t k = recv(fd, buf + len, max - len, 0);
		if (k == 0 || (k > 0 && (len += (size_t)k) == max))
			return len ? (ssize_t)len : -ECONNRESET;
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (k > 0)
			continue;
		drain(&rc->c, &rc->c.err_fd, true);
		si.si_pid = 0;
		if (rc->own && waitid(P_PID, (id_t)rc->c.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid)
			return -EPIPE;
		if (job_cancelled(hooks))
			return -ECANCELED;
		if (now_usec() > deadline)
			return -ETIMEDOUT;
		job_sleep(hooks, rc_nap(start));
	}
}

/* The -errno and message of a reply: its HTTP status and rc's "error"; with ret, its body. */
static int
rc_reply(const char *method, char *reply, struct json_object **ret, char *err, size_t errlen)
{
	int status = 0, r;
	char *body = strstr(reply, "\r\n\r\n"), *brace = body ? strchr(body, '{') : NULL;
	struct json_object *o = brace ? json_tokener_parse(brace) : NULL, *e;
	const char *why = o && json_object_object_get_ex(o, "error", &e) ? json_object_get_string(e) : NULL;

	if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	r = status == 200 ? 0 : status == 404 ? -ENODATA : status == 401 ? -EACCES : -EIO;
	if (r < 0)
		snprintf(err, errlen, "rclone %s failed (HTTP %d): %s", method, status,
			 why ? why : "no reason given");
	if (r == 0 && ret && !o)
		r = -EBADMSG;
	if (r == 0 && ret)
		*ret = TAKE_PTR(o);
	json_object_put(o);
	return r;
}

/* After a call that could not finish: an own rcd is stopped (its transfer ends with it); a
 * borrowed one ended the call when the connection closed, and is not used again. Says why. */
static int
rc_fail(struct rclone_rc *rc, const char *method, int r, char *err, size_t errlen)
{
	siginfo_t si = {0};

	if (rc->own) {
		kill(rc->c.pid, SIGKILL);
		while (waitid(P_PID, (id_t)rc->c.pid, &si, WEXITED) < 0 && errno == EINTR)
			;
		rc->c.pid = 0;
		drain(&rc->c, &rc->c.err_fd, true);
	}
	rc->broken = true;
	if (r == -EPIPE && rc->own)
		return report(&rc->c, method, si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status,
			      err, errlen);
	if (r == -ETIMEDOUT || r == -ECANCELED)
		return report(&rc->c, method, r, err, errlen);
	snprintf(err, errlen, "rclone %s: cannot talk to rclone rcd at %s: %s", method, rc->addr,
		 strerror(-r));
	return r;
}

/* Connects to rcd. A borrowed rcd that is gone (the daemon's, which stopped) is replaced by one
 * of the job's own, started here. */
static int
rc_open(struct rclone_rc *rc, const struct job_hooks *hooks, char *err, size_t errlen)
{
	int fd = rc_connect(rc, hooks), r;

	if (fd != -ECONNREFUSED || rc->own)
		return fd;
	r = rc_launch(rc, err, errlen);
	if (r == 0)
		r = rc_wait_ready(rc, hooks, err, errlen);
	return r < 0 ? r : rc_connect(rc, hooks);
}

/* Calls rc method (such as "operations/copyfile") with the JSON object in; with ret, the
 * reply's body. */
static int
rc_call(struct rclone_rc *rc, const char *method, struct json_object *in, struct json_object **ret,
	const struct job_hooks *hooks, char *err, size_t errlen)
{
	_cleanup_free_ char *reply = malloc(RC_REPLY_MAX + 1);
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;
	int r;

	if (!reply || !in)
		return -ENOMEM;
	if (!rc_running(rc)) {
		snprintf(err, errlen, "rclone %s: rclone rcd is not running", method);
		return -EIO;
	}
	fd = rc_open(rc, hooks, err, errlen);
	if (fd < 0 && rc->own && rc->c.pid <= 0)
		return fd; /* the take-over failed, err says why */
	r = fd < 0 ? fd : rc_send(fd, method, rc->auth, json_object_to_json_string(in), hooks);
	n = r < 0 ? r : rc_receive(rc, fd, reply, RC_REPLY_MAX, hooks);
	if (n < 0)
		return rc_fail(rc, method, (int)n, err, errlen);
	reply[n] = '\0';
	return rc_reply(method, reply, ret, err, errlen);
}

/* operations/copyfile or movefile of srcFs/srcRemote to dstFs/dstRemote. With check false the
 * destination is not looked up first (--no-check-dest: one request less to the remote, which
 * on a WebDAV server costs a round of rclone's pacing, 10 ms). With ret_job the call runs as
 * an async job of rcd and *ret_job is its ID. */
static int
rc_file_op(struct rclone_rc *rc, const char *op, const char *const fs_file[4], bool check, int64_t *ret_job,
	   const struct job_hooks *hooks, char *err, size_t errlen)
{
	static const char *const keys[] = {"srcFs", "srcRemote", "dstFs", "dstRemote"};
	struct json_object *in = json_object_new_object(), *cfg = NULL, *out = NULL, *id;
	char method[64];
	int r;

	snprintf(method, sizeof(method), "operations/%s", op);
	for (size_t i = 0; in && i < ARRAY_SIZE(keys); i++)
		json_object_object_add(in, keys[i], json_object_new_string(fs_file[i]));
	if (in && !check && (cfg = json_object_new_object())) {
		json_object_object_add(cfg, "NoCheckDest", json_object_new_boolean(true));
		json_object_object_add(in, "_config", cfg);
	}
	if (in && ret_job)
		json_object_object_add(in, "_async", json_object_new_boolean(true));
	r = rc_call(rc, method, in, ret_job ? &out : NULL, hooks, err, errlen);
	if (r == 0 && ret_job)
		*ret_job = json_object_object_get_ex(out, "jobid", &id) ? json_object_get_int64(id) : 0;
	if (r == 0 && ret_job && *ret_job <= 0)
		r = -EBADMSG;
	json_object_put(out);
	json_object_put(in);
	return r;
}

/* Whether rcd's async job has ended: 1 with 0 or its failure in *ret_r, 0 while it runs. */
static int
rc_job_status(struct rclone_rc *rc, int64_t job, const char *what, int *ret_r, const struct job_hooks *hooks,
	      char *err, size_t errlen)
{
	struct json_object *in = json_object_new_object(), *out = NULL, *v;
	int r;

	if (in)
		json_object_object_add(in, "jobid", json_object_new_int64(job));
	r = rc_call(rc, "job/status", in, &out, hooks, err, errlen);
	json_object_put(in);
	if (r == 0 && !(json_object_object_get_ex(out, "finished", &v) && json_object_get_boolean(v)))
		r = -EAGAIN;
	if (r == 0 && !(json_object_object_get_ex(out, "success", &v) && json_object_get_boolean(v))) {
		snprintf(err, errlen, "rclone %s failed: %s", what,
			 json_object_object_get_ex(out, "error", &v) ? json_object_get_string(v)
								     : "no reason given");
		*ret_r = -EIO;
	} else if (r == 0)
		*ret_r = 0;
	json_object_put(out);
	return r == -EAGAIN ? 0 : r < 0 ? r : 1;
}

/* Waits for rcd's async job as rc_receive waits for a reply; returns its result. */
static int
rc_job_wait(struct rclone_rc *rc, int64_t job, const char *what, const struct job_hooks *hooks, char *err,
	    size_t errlen)
{
	uint64_t start = now_usec(), deadline = start + rc->timeout_usec;
	int r, result = -EIO;

	while ((r = rc_job_status(rc, job, what, &result, hooks, err, errlen)) == 0) {
		if (job_cancelled(hooks) || now_usec() > deadline)
			return rc_fail(rc, what, job_cancelled(hooks) ? -ECANCELED : -ETIMEDOUT, err, errlen);
		job_sleep(hooks, rc_nap(start));
	}
	return r < 0 ? r : result;
}

/* Renames srcFs/srcRemote to dstFs/dstRemote (one Fs and folder, as rc_file_op's fs_file) on
 * the remote. The move first skips looking the destination up (it is not there, unless an
 * upload got this far before and the job stopped); a remote that refuses to move over a file
 * (WebDAV's MOVE with Overwrite: F) is asked again with the look-up, which replaces it. */
static int
rc_rename(struct rclone_rc *rc, const char *const fs_file[4], const struct job_hooks *hooks, char *err,
	  size_t errlen)
{
	int r = rc_file_op(rc, "movefile", fs_file, false, NULL, hooks, err, errlen);

	if (r == -EIO && rc_running(rc))
		r = rc_file_op(rc, "movefile", fs_file, true, NULL, hooks, err, errlen);
	return r;
}

/* DIR as seen from its parent: in side_fs the parent ("nas:sk" for "nas:sk/game"; "nas:" for
 * "nas:game"; a slash right after the colon or at the start stays, as it names the root), in
 * side_prefix the last part with a slash ("game/"). rcd makes one Fs (a backend instance) per
 * distinct string, each with its own pacer (on WebDAV: requests at least 10 ms apart), so a call
 * through the parent's Fs does not wait out the pacing of one through DIR's. Returns false for
 * a DIR without a parent part (then DIR's Fs serves all). */
static bool
rc_side(const char *dir, char *side_fs, size_t fs_len, char *side_prefix, size_t prefix_len)
{
	const char *slash = strrchr(dir, '/'), *cut = slash ? slash : strrchr(dir, ':');
	size_t keep;

	if (!cut || !cut[1])
		return false;
	keep = (size_t)(cut - dir) + (!slash || cut == dir || cut[-1] == ':');
	return (size_t)snprintf(side_fs, fs_len, "%.*s", (int)keep, dir) < fs_len &&
	       (size_t)snprintf(side_prefix, prefix_len, "%s/", cut + 1) < prefix_len;
}

/* One file of an upload: its copy to DIR/NAME.partial and its rename to DIR/NAME, as the
 * srcFs, srcRemote, dstFs, dstRemote of rc's calls. */
struct rc_file {
	char folder[4096], partial[512], from[512], to[512];
	const char *copy[4], *move[4];
};

/* Plans local's upload to DIR/name: the copy through DIR's Fs, the rename through fs, which
 * sees DIR as prefix (empty for DIR's own Fs, "game/" for its parent's). */
static int
rc_file_plan(struct rc_file *f, const char *local, const char *dir, const char *name, const char *fs,
	     const char *prefix)
{
	const char *base = strrchr(local, '/');

	if (!base || (size_t)(base - local) >= sizeof(f->folder) ||
	    (size_t)snprintf(f->partial, sizeof(f->partial), "%s%s", name, RCLONE_PARTIAL_SUFFIX) >=
		sizeof(f->partial) ||
	    (size_t)snprintf(f->from, sizeof(f->from), "%s%s", prefix, f->partial) >= sizeof(f->from) ||
	    (size_t)snprintf(f->to, sizeof(f->to), "%s%s", prefix, name) >= sizeof(f->to))
		return -ENAMETOOLONG;
	snprintf(f->folder, sizeof(f->folder), "%.*s", (int)(base - local), local);
	f->copy[0] = f->folder[0] ? f->folder : "/";
	f->copy[1] = base + 1;
	f->copy[2] = dir;
	f->copy[3] = f->partial;
	f->move[0] = f->move[2] = fs;
	f->move[1] = f->from;
	f->move[3] = f->to;
	return 0;
}

int
rclone_rc_upload_files(struct rclone_rc *rc, const char *const *local, const char *dir,
		       const char *const *names, size_t n, const struct job_hooks *hooks, char *err,
		       size_t errlen)
{
	struct rc_file f[RC_FILES_MAX];
	char side_fs[4096], prefix[256];
	int64_t job[RC_FILES_MAX] = {0};
	int r = n && n <= RC_FILES_MAX ? 0 : -EINVAL;

	if (!rc_side(dir, side_fs, sizeof(side_fs), prefix, sizeof(prefix)))
		snprintf(side_fs, sizeof(side_fs), "%s", dir), prefix[0] = '\0';
	/* The first file's rename goes through the parent's Fs: its first request need not wait
	 * out the pacing of the upload before it, and the later files go up through DIR's Fs
	 * beside it. */
	for (size_t i = 0; r == 0 && i < n; i++)
		r = rc_file_plan(&f[i], local[i], dir, names[i], i ? dir : side_fs, i ? "" : prefix);
	if (r == 0)
		r = rc_file_op(rc, "copyfile", f[0].copy, false, NULL, hooks, err, errlen);
	/* The later files (a manifest is small) go up as async jobs of rcd beside the first's
	 * rename, not beside its upload: their requests would go ahead of its PUT in the pacer. */
	for (size_t i = 1; r == 0 && i < n; i++)
		r = rc_file_op(rc, "copyfile", f[i].copy, false, &job[i], hooks, err, errlen);
	if (r == 0)
		r = rc_rename(rc, f[0].move, hooks, err, errlen);
	for (size_t i = 1; r == 0 && i < n; i++)
		r = rc_job_wait(rc, job[i], "operations/copyfile", hooks, err, errlen);
	/* Renamed in order: a manifest's name appears only after its archive's. */
	for (size_t i = 1; r == 0 && i < n; i++)
		r = rc_rename(rc, f[i].move, hooks, err, errlen);
	return r;
}

int
rclone_rc_upload(struct rclone_rc *rc, const char *local, const char *dir, const char *name,
		 const struct job_hooks *hooks, char *err, size_t errlen)
{
	return rclone_rc_upload_files(rc, &local, dir, &name, 1, hooks, err, errlen);
}

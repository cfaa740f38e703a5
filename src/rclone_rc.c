/* The client of an rclone rcd: starting one (rclone_rc_start, or rclone_rc_spawn for an owner
 * on the loop) or borrowing one by address (rclone_rc_attach), its remote control spoken over
 * loopback HTTP, and the upload of a copy job's files through it (.partial names, then
 * renames). */
#include "rclone_int.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "util.h"

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

	rclone_child_drain(&rc->c, &rc->c.err_fd, true);
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
	return rclone_child_report(&rc->c, "rcd", rclone_wait_status(&si), err, errlen);
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
			return rclone_child_report(
			    &rc->c, "rcd", job_cancelled(hooks) ? -ECANCELED : -ETIMEDOUT, err, errlen);
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
	rclone_child_clear(&rc->c);
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
	r = env ? rclone_argv(&rc->o, (const char *const[]){"rcd", "--rc-addr", "127.0.0.1:0", NULL}, argv)
		: -ENOMEM;
	if (r < 0)
		snprintf(err, errlen, "cannot run rclone rcd: %s", strerror(-r));
	if (r == 0)
		r = rclone_child_start(&rc->c, argv, env, err, errlen);
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
		rclone_child_drain(&rc->c, &rc->c.err_fd, true);
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
		rclone_child_drain(&rc->c, &rc->c.err_fd, true);
	}
	rc->broken = true;
	if (r == -EPIPE && rc->own)
		return rclone_child_report(&rc->c, method, rclone_wait_status(&si), err, errlen);
	if (r == -ETIMEDOUT || r == -ECANCELED)
		return rclone_child_report(&rc->c, method, r, err, errlen);
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

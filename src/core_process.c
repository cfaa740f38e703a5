/* The process core: each job runs in a child, savekeeperd re-executed as `savekeeperd --worker`
 * (posix_spawn, so nothing runs between fork and exec in a daemon that libnotify made
 * multi-threaded), or, where the settings allow it and this process has a single thread
 * (--once), a plain fork of it that runs the job it already holds. One socketpair links them:
 * the child's end is its stdin, carrying the job spec to a re-executed worker, and its fd
 * CORE_WORKER_FD, carrying "progress {json}" lines and one "result {json}" line back. The
 * loop watches that socket and a pidfd of the child; a child that ends without a result is a
 * failed job, and what it left is swept at once, as at start-up. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core_internal.h"
#include "loop.h"
#include "proto.h"
#include "runner.h"
#include "util.h"

extern char **environ;

/* A result carries a listing or a dry run of any size a save folder gives (the client reads
 * lines up to 1 GiB too); a longer line is a broken worker. */
#define LINE_MAX_BYTES (1u << 30)
/* How long core_free waits for a cancelled child before it kills it. */
#define STOP_TIMEOUT_MSEC 10000

struct proc_job {
	pid_t pid;
	int pidfd;
	int sock;
	struct proto_lines in;
	bool has_result;
	struct job_result result;
};

static void
proc_job_free(struct proc_job *p)
{
	safe_close(p->pidfd);
	safe_close(p->sock);
	proto_lines_free(&p->in);
	job_result_clear(&p->result);
	free(p);
}

/* Handles one complete line from the worker; unknown lines are ignored. */
static void
handle_line(struct core_job *job, struct proc_job *p, const char *line)
{
	struct job_progress prog;
	struct job_result r;

	if (!strncmp(line, "progress ", 9)) {
		if (job_progress_from_json(line + 9, &prog) >= 0)
			core_job_progress(job, &prog);
	} else if (!strncmp(line, "result ", 7) && !p->has_result) {
		if (job_result_from_json(line + 7, &r) >= 0) {
			p->result = r;
			p->has_result = true;
		}
	}
}

/* Reads what the worker sent; returns 0 at end of file, -EAGAIN when more may come, or -errno. */
static int
read_worker(struct core_job *job, struct proc_job *p)
{
	ssize_t n;
	char *line;
	size_t len;
	int r;

	while ((n = proto_lines_read(&p->in, p->sock)) > 0)
		while ((r = proto_lines_next(&p->in, false, &line, &len)) != 0) {
			if (r < 0)
				return r;
			handle_line(job, p, line);
		}
	return (int)n;
}

static void
failure_message(struct job_result *r, const siginfo_t *si, bool cancelled)
{
	if (si->si_code == CLD_EXITED) {
		r->err = -EPIPE;
		snprintf(r->message, sizeof(r->message), "worker process exited with status %d and no result",
			 si->si_status);
	} else if (cancelled && si->si_status == SIGTERM) {
		r->err = -ECANCELED;
		snprintf(r->message, sizeof(r->message), "cancelled");
	} else {
		r->err = -ECHILD;
		snprintf(r->message, sizeof(r->message), "worker process killed by signal %d (%s)",
			 si->si_status, strsignal(si->si_status));
	}
}

/* The child has exited: reaps it, takes the rest of its output and ends the job. */
static void
proc_reap(struct core_job *job)
{
	struct proc_job *p = job->impl;
	siginfo_t si = {0};
	struct job_result r = {0};

	loop_del_fd(job->core->loop, p->pidfd);
	loop_del_fd(job->core->loop, p->sock);
	while (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	/* Everything the child wrote is queued in the socket now; reading stops at end of file. */
	(void)read_worker(job, p);
	if (p->has_result) {
		/* The job takes what the result owns (archives, changes). */
		r = p->result;
		p->has_result = false;
		p->result = (struct job_result){0};
	} else {
		failure_message(&r, &si, atomic_load(&job->cancel));
		/* What a worker that died without a result left, among the archives and beside
		 * the save folder, as the next start would. */
		if (job->spec->game_dir)
			(void)runner_sweep(job->spec->game_dir, job->spec->save_dir, 0);
	}
	proc_job_free(p);
	job->impl = NULL;
	core_job_done(job, &r);
}

static void
on_output(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct core_job *job = data;
	struct proc_job *p = job->impl;
	int r = read_worker(job, p);

	(void)events;
	/* At end of file the pidfd alone tells when the child is gone. A worker that floods
	 * the stream is broken: it is killed rather than left blocked on a full socket. */
	if (r != -EAGAIN)
		loop_del_fd(loop, fd);
	if (r < 0 && r != -EAGAIN)
		(void)syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
}

static void
on_child_exit(struct loop *loop, int fd, uint32_t events, void *data)
{
	(void)loop, (void)fd, (void)events;
	proc_reap(data);
}

/* Starts the worker with its end of the socket as stdin and CORE_WORKER_FD, default signal
 * dispositions and an empty mask: the daemon blocks its signals for signalfd, and the worker
 * needs SIGTERM to cancel. */
static int
spawn_worker(const struct core *core, int child_fd, pid_t *ret_pid)
{
	const char *exe = core->s.self_exe ? core->s.self_exe : "/proc/self/exe";
	char *const argv[] = {(char *)"savekeeperd", (char *)"--worker", NULL};
	posix_spawn_file_actions_t fa;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, child_fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, child_fd, CORE_WORKER_FD);
	r = spawn_clean(ret_pid, exe, false, &fa, argv);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

static int worker_run(const struct job_spec *spec, int out_fd);
static void worker_signals(void);

/* True when this process has one thread. Only then may a worker be a plain fork: a fork of a
 * multi-threaded process may call only async-signal-safe functions until it execs, since
 * another thread may have held a lock (malloc's, stdio's, libnotify's) at the fork. */
static bool
single_threaded(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return false;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n == 1;
}

/* The forked child: what posix_spawn gives a re-executed worker (default signal dispositions,
 * an empty mask, no fd but stdio and the socket), its priority lowered before it starts any
 * thread, then the job, which is in memory already. Returns the exit status. */
static int
forked_worker(const struct job_spec *spec, const struct core_settings *s, int child_fd, pid_t parent)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(child_fd, STDIN_FILENO) < 0 || dup2(child_fd, CORE_WORKER_FD) < 0 ||
	    close_range(CORE_WORKER_FD + 1, ~0U, 0) < 0)
		return 1;
	core_lower_priority(getpid(), s);
	worker_signals();
	/* The daemon ended before the parent-death signal was armed. */
	if (getppid() != parent)
		return 1;
	return worker_run(spec, CORE_WORKER_FD);
}

/* Starts the worker as a fork: the libraries are loaded and the spec is in memory, so the job
 * starts at once, where a re-executed worker first pays a program start (about 5 ms: the
 * dynamic loader binding some 8,000 symbols of 26 libraries, the kernel's exec and faults). */
static int
fork_worker(const struct core_job *job, int child_fd, pid_t *ret_pid)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(forked_worker(job->spec, &job->core->s, child_fd, parent));
	*ret_pid = pid;
	return 0;
}

/* Makes the socketpair; the child's end is kept clear of the fds it is dup'ed onto, since
 * dup2 onto itself would leave its close-on-exec flag set. */
static int
make_socketpair(int *ret_parent, int *ret_child)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (sv[1] <= CORE_WORKER_FD) {
		int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, CORE_WORKER_FD + 1);
		if (fd < 0) {
			int r = -errno;
			close(sv[0]);
			close(sv[1]);
			return r;
		}
		close(sv[1]);
		sv[1] = fd;
	}
	*ret_parent = sv[0];
	*ret_child = sv[1];
	return 0;
}

/* Sends the spec and closes the sending side, so the worker reads to end of file. */
static int
send_spec(int sock, const struct job_spec *spec)
{
	_cleanup_free_ char *json = job_spec_to_json(spec);
	size_t len, off = 0;

	if (!json)
		return -ENOMEM;
	len = strlen(json);
	while (off < len) {
		ssize_t n = send(sock, json + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	if (shutdown(sock, SHUT_WR) < 0)
		return -errno;
	return 0;
}

/* Starts the child; a re-executed one gets the spec, and is lowered in priority before it
 * reads it, so any thread it starts inherits the lower priority (a fork lowers itself). */
static int
launch(struct core_job *job, struct proc_job *p)
{
	_cleanup_close_ int child_fd = -EBADF;
	bool forked = job->core->s.fork_worker && single_threaded();
	int r = make_socketpair(&p->sock, &child_fd);

	if (r < 0)
		return r;
	r = forked ? fork_worker(job, child_fd, &p->pid) : spawn_worker(job->core, child_fd, &p->pid);
	if (r < 0)
		return r;
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0) {
		r = -errno;
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		return r;
	}
	if (!forked) {
		core_lower_priority(p->pid, &job->core->s);
		/* A worker that dies before reading surfaces through the pidfd, not here. */
		(void)send_spec(p->sock, job->spec);
	}
	if (fcntl(p->sock, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int
proc_start(struct core_job *job)
{
	struct proc_job *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->pidfd = p->sock = -EBADF;
	p->in = PROTO_LINES(LINE_MAX_BYTES);
	r = launch(job, p);
	if (r >= 0)
		r = loop_add_fd(job->core->loop, p->sock, EPOLLIN, on_output, job);
	if (r >= 0) {
		r = loop_add_fd(job->core->loop, p->pidfd, EPOLLIN, on_child_exit, job);
		if (r < 0)
			loop_del_fd(job->core->loop, p->sock);
	}
	if (r < 0) {
		if (p->pidfd >= 0) {
			syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
			waitid(P_PIDFD, (id_t)p->pidfd, &(siginfo_t){0}, WEXITED);
		}
		proc_job_free(p);
		return r;
	}
	job->impl = p;
	return 0;
}

static void
proc_cancel(struct core_job *job)
{
	struct proc_job *p = job->impl;

	/* The worker turns SIGTERM into its cancel flag and removes its temporaries. */
	(void)syscall(SYS_pidfd_send_signal, p->pidfd, SIGTERM, NULL, 0);
}

/* Waits for a cancelled child, reading its output meanwhile so it never blocks on a full
 * socket; a child that ignores SIGTERM for too long is killed. */
static void
proc_wait(struct core_job *job)
{
	struct proc_job *p = job->impl;
	uint64_t deadline = now_usec() + STOP_TIMEOUT_MSEC * USEC_PER_MSEC;
	bool eof = false;

	for (;;) {
		struct pollfd fds[2] = {{.fd = p->pidfd, .events = POLLIN},
					{.fd = eof ? -1 : p->sock, .events = POLLIN}};
		uint64_t now = now_usec();
		int timeout = now < deadline ? (int)((deadline - now) / USEC_PER_MSEC) : 0;
		int n = poll(fds, 2, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (fds[0].revents & POLLIN))
			break;
		eof = read_worker(job, p) != -EAGAIN;
	}
	(void)syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
}

static void
proc_stop_all(struct core *core)
{
	while (core->jobs) {
		proc_wait(core->jobs);
		proc_reap(core->jobs);
	}
}

const struct core_ops core_process_ops = {
    .name = "process",
    .start = proc_start,
    .cancel = proc_cancel,
    .stop_all = proc_stop_all,
};

/* The worker side. */

static atomic_bool worker_cancel;

static void
on_term(int sig)
{
	(void)sig;
	atomic_store(&worker_cancel, true);
}

static void
worker_progress(const struct job_progress *prog, void *ctx)
{
	int *out_fd = ctx;
	_cleanup_free_ char *json = job_progress_to_json(prog);

	/* The daemon is gone (its end of the pipe closed): stop rather than work for nobody. */
	if (json && dprintf(*out_fd, "progress %s\n", json) < 0 && errno == EPIPE)
		atomic_store(&worker_cancel, true);
}

/* Reads the spec: all of stdin, which the daemon closes after sending it. */
static int
read_spec(struct job_spec **ret)
{
	struct proto_lines in = PROTO_LINES(LINE_MAX_BYTES);
	char *line;
	size_t len;
	ssize_t n;
	int r;

	while ((n = proto_lines_read(&in, STDIN_FILENO)) > 0)
		;
	r = n < 0 ? (int)n : proto_lines_next(&in, true, &line, &len);
	if (r == 0)
		r = -ENODATA;
	if (r > 0)
		r = job_spec_from_json(line, ret);
	proto_lines_free(&in);
	return r;
}

/* SIGTERM and SIGINT set the cancel flag instead of killing, so the work removes its
 * temporaries; SIGPIPE is ignored so that a vanished daemon shows as a write error. */
static void
worker_signals(void)
{
	struct sigaction sa = {.sa_handler = on_term, .sa_flags = SA_RESTART};
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	/* A daemon that dies without cancelling the job still stops it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Writes the result line; returns the worker's exit status. */
static int
worker_report(int out_fd, struct job_result *r)
{
	_cleanup_free_ char *json = job_result_to_json(r);

	job_result_clear(r);
	return json && dprintf(out_fd, "result %s\n", json) >= 0 ? 0 : 1;
}

/* Runs the job and reports its result, in a re-executed or a forked worker. */
static int
worker_run(const struct job_spec *spec, int out_fd)
{
	struct job_hooks hooks = {.progress = worker_progress,
				  .helper_start = core_helper_batch,
				  .ctx = &out_fd,
				  .cancel = &worker_cancel};
	struct job_result r = {0};

	runner_execute(spec, &hooks, &r);
	return worker_report(out_fd, &r);
}

int
core_worker_main(int out_fd)
{
	struct job_spec *spec = NULL;
	struct job_result r = {0};
	int e;

	worker_signals();
	e = read_spec(&spec);
	if (e < 0) {
		r.err = e;
		snprintf(r.message, sizeof(r.message), "worker: cannot read the job: %s", strerror(-e));
		return worker_report(out_fd, &r);
	}
	e = worker_run(spec, out_fd);
	job_spec_free(spec);
	return e;
}

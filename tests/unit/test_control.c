/* The control socket on a real loop (run by a thread) with real clients: round trips, refusals
 * of bad requests, bounded output, hundreds of clients, and how the socket is set up. */
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "control.h"
#include "harness.h"
#include "loop.h"
#include "util.h"

#define BLOB_SIZE (64 * 1024)
/* A message with every kind of byte a reply must escape or pass: quotes, backslashes, '/',
 * control bytes, DEL and UTF-8. */
#define ODD_MESSAGE "game \"q\" at C:\\saves/slot\t1\n\x01\x1b[0m \x7f caf\xc3\xa9 \xf0\x9f\x8e\xae"
#define BIG_REPLY (16 * CTL_MAX_OUTPUT)

struct fixture {
	char dir[64];
	char path[128];
	struct loop *loop;
	struct ctl *ctl;
	pthread_t thread;
	struct ctl_client *held; /* a client kept by "backup" for a late reply */
	char *blob;
};

/* The daemon side: answers on the loop thread. */
static void
handler(struct ctl_client *c, const struct proto_request *req, void *data)
{
	struct fixture *f = data;
	struct json_object *o;

	/* prune and reload answer the same object, formatted in place and by json-c. */
	if (req->cmd == CMD_PRUNE) {
		ctl_reply_fixed(c, req->tag, "prune", false, "error", ODD_MESSAGE);
		return;
	}
	o = ctl_result_new(req, req->cmd != CMD_RELOAD);
	switch (req->cmd) {
	case CMD_RELOAD:
		json_object_object_del(o, "cmd");
		json_object_object_add(o, "cmd", json_object_new_string("prune"));
		json_object_object_del(o, "ok");
		json_object_object_add(o, "ok", json_object_new_boolean(false));
		json_object_object_add(o, "error", json_object_new_string(ODD_MESSAGE));
		break;
	case CMD_STATUS:
		json_object_object_add(o, "clients", json_object_new_int((int)ctl_clients(f->ctl)));
		break;
	case CMD_LIST:
		json_object_object_add(o, "blob", json_object_new_string(f->blob));
		break;
	case CMD_VERIFY:
		/* One reply far over the output bound, like a long list or dry run. */
		for (int i = 0; i < BIG_REPLY / BLOB_SIZE; i++) {
			char key[16];
			snprintf(key, sizeof(key), "blob%d", i);
			json_object_object_add(o, key, json_object_new_string(f->blob));
		}
		break;
	case CMD_BACKUP:
		/* Answered again later, by "start", perhaps after the client left. */
		f->held = ctl_client_ref(c);
		break;
	case CMD_START:
		if (f->held) {
			bool alive = ctl_client_alive(f->held);
			int r = ctl_reply(f->held, "late", ctl_result_new(req, true));
			json_object_object_add(o, "alive", json_object_new_boolean(alive));
			json_object_object_add(o, "late", json_object_new_int(r));
			if (!alive) {
				ctl_client_unref(f->held);
				f->held = NULL;
			}
		}
		break;
	default:
		break;
	}
	ctl_reply(c, req->tag, o);
}

static void *
run_loop(void *arg)
{
	struct fixture *f = arg;

	assert_int_equal(loop_run(f->loop), 0);
	return NULL;
}

static int
make_dirs(struct fixture *f)
{
	if (!mkdtemp(scratch_template(f->dir, sizeof(f->dir), "sk-test-control")))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/run/savekeeper/control.sock", f->dir);
	return 0;
}

/* make_dirs, plus the socket's folder (for tests that put something at the path first). */
static void
make_socket_dir(struct fixture *f)
{
	assert_int_equal(make_dirs(f), 0);
	assert_int_equal(mkdir_p(f->path, 0700), 0);
	assert_int_equal(rmdir(f->path), 0);
}

/* A socket bound at path, listening (backlog) or not (0); the fd or -1. */
static int
bind_at(const char *path, int backlog)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (backlog && listen(fd, backlog) < 0))
		return -1;
	return fd;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
remove_dirs(struct fixture *f)
{
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (!f || make_dirs(f) < 0)
		return -1;
	f->blob = malloc(BLOB_SIZE + 1);
	memset(f->blob, 'b', BLOB_SIZE);
	f->blob[BLOB_SIZE] = '\0';
	f->loop = loop_new();
	if (!f->loop || ctl_open(f->loop, f->path, handler, f, &f->ctl, err, sizeof(err)) < 0) {
		fprintf(stderr, "ctl_open: %s\n", err);
		return -1;
	}
	if (pthread_create(&f->thread, NULL, run_loop, f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	loop_stop(f->loop);
	loop_wake(f->loop);
	pthread_join(f->thread, NULL);
	ctl_client_unref(f->held);
	ctl_close(f->ctl);
	loop_free(f->loop);
	remove_dirs(f);
	free(f->blob);
	free(f);
	return 0;
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 60};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* A hung test fails instead of blocking the suite. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
send_str(int fd, const char *s)
{
	assert_int_equal(write_all(fd, s, strlen(s)), 0);
}

/* Reads one reply line into buf (byte by byte: replies here are short), without its newline;
 * false at end of file. */
static bool
read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return false;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return true;
}

/* Reads one reply line and parses it. */
static struct json_object *
read_reply(int fd)
{
	static char buf[BLOB_SIZE + 256];

	return read_line(fd, buf, sizeof(buf)) ? json_tokener_parse(buf) : NULL;
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static int
jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_int(v);
}

/* Sends one line and checks the reply answers it: re, ok and (for failures) the error. */
static struct json_object *
ask(int fd, const char *line, const char *re, bool ok, const char *error)
{
	struct json_object *o;

	send_str(fd, line);
	o = read_reply(fd);
	assert_non_null(o);
	assert_string_equal(jstr(o, "re"), re);
	assert_int_equal(json_object_get_boolean(json_object_object_get(o, "ok")), ok);
	if (error && !strstr(jstr(o, "error"), error))
		fail_msg("'%s': error '%s', want '%s'", line, jstr(o, "error"), error);
	return o;
}

static void
ask_put(int fd, const char *line, const char *re, bool ok, const char *error)
{
	json_object_put(ask(fd, line, re, ok, error));
}

/* Asks for the client count until it is want (closes are noticed asynchronously). */
static void
wait_clients(const char *path, int want)
{
	for (int i = 0; i < 3000; i++) {
		int fd = connect_to(path);
		struct json_object *o = ask(fd, "status\n", "1", true, NULL);
		int n = jint(o, "clients");
		json_object_put(o);
		close(fd);
		if (n == want + 1)
			return;
		usleep(10000);
	}
	fail_msg("clients never became %d", want);
}

static void
test_ping_round_trip(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	struct json_object *o = ask(fd, "ping\n", "1", true, NULL);

	assert_string_equal(jstr(o, "cmd"), "ping");
	assert_null(jstr(o, "error"));
	json_object_put(o);
	ask_put(fd, "#mine ping\n", "mine", true, NULL);
	/* Untagged requests are numbered per connection, counting tagged ones. */
	ask_put(fd, "ping\r\n", "3", true, NULL);
	close(fd);
}

/* Replies of fixed shape (ping, failures) are formatted without json-c: their bytes are those
 * json-c writes for the same object, as docs/protocol.md shows them. */
static void
test_fixed_replies_bytes(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	char fixed[1024], tree[1024];

	send_str(fd, "#same prune\n#same reload\n");
	assert_true(read_line(fd, fixed, sizeof(fixed)));
	assert_true(read_line(fd, tree, sizeof(tree)));
	assert_string_equal(fixed, tree);
	assert_string_equal(fixed,
			    "{\"re\":\"same\",\"cmd\":\"prune\",\"ok\":false,\"error\":\"game \\\"q\\\" at "
			    "C:\\\\saves/slot\\t1\\n\\u0001\\u001b[0m \x7f caf\xc3\xa9 \xf0\x9f\x8e\xae\"}");
	/* A refused request: no "cmd", and the quoted word escaped. */
	send_str(fd, "x\"\\\xc3\xa9\n");
	assert_true(read_line(fd, fixed, sizeof(fixed)));
	assert_string_equal(fixed,
			    "{\"re\":\"3\",\"ok\":false,\"error\":\"unknown command 'x\\\"\\\\\xc3\xa9'\"}");
	close(fd);
}

static void
test_bad_requests_answered(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	char *big = malloc(3 * PROTO_MAX_LINE + 2);

	ask_put(fd, "\n", "1", false, "empty request");
	ask_put(fd, "ping\x01\xff\n", "2", false, "request is not text");
	assert_int_equal(write_all(fd, "pi\0ng\n", 6), 0);
	json_object_put(read_reply(fd));
	ask_put(fd, "frobnicate\n", "4", false, "unknown command 'frobnicate'");
	ask_put(fd, "backup --now\n", "5", false, "unknown option '--now'");
	ask_put(fd, "status a/b\n", "6", false, "bad game name");
	ask_put(fd, "pin\n", "7", false, "missing archive ID");
	/* Three buffers' worth in one line: one answer, the rest skipped up to its newline. */
	memset(big, 'x', 3 * PROTO_MAX_LINE);
	strcpy(big + 3 * PROTO_MAX_LINE, "\n");
	ask_put(fd, big, "8", false, "request is longer than 4096 bytes");
	/* The longest allowed line is still read as a request. */
	memset(big, ' ', PROTO_MAX_LINE);
	memcpy(big + PROTO_MAX_LINE - 4, "ping\n", 6);
	ask_put(fd, big, "9", true, NULL);
	ask_put(fd, "ping\n", "10", true, NULL);
	free(big);
	close(fd);
}

static void
test_last_line_without_newline(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	struct json_object *o;
	char c;

	send_str(fd, "#a ping\n#b ping");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	o = read_reply(fd);
	assert_string_equal(jstr(o, "re"), "a");
	json_object_put(o);
	o = read_reply(fd);
	assert_string_equal(jstr(o, "re"), "b");
	json_object_put(o);
	/* Then the daemon closes its end. */
	assert_int_equal(read(fd, &c, 1), 0);
	close(fd);
}

static void
test_reader_that_never_reads_is_dropped(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	size_t total = 0;
	char buf[65536];
	ssize_t n;

	/* 200 replies of 64 KiB each would be 12.5 MiB. The daemon may drop us before all the
	 * requests are written: then the rest fail with EPIPE. */
	for (int i = 0; i < 200; i++)
		if (write_all(fd, "list\n", 5) < 0)
			break;
	wait_clients(f->path, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	/* What reached the client is bounded by the queue plus the socket's own buffers. */
	assert_true(total < CTL_MAX_OUTPUT + 2 * 1024 * 1024);
	assert_true(total < 200 * BLOB_SIZE);
	close(fd);
	/* Everyone else is still served. */
	fd = connect_to(f->path);
	ask_put(fd, "ping\n", "1", true, NULL);
	close(fd);
}

static void
test_big_reply_reaches_a_reader(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	size_t total = 0;
	char buf[65536];
	ssize_t n = 0;

	send_str(fd, "verify\n");
	/* Let the daemon fill the socket and queue the rest before anything is read. */
	usleep(200 * 1000);
	while (total == 0 || buf[n - 1] != '\n') {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	print_message("# one reply of %zu bytes read\n", total);
	assert_true(n > 0);
	assert_true(total > BIG_REPLY);
	close(fd);
}

static void
test_300_clients(void **state)
{
	struct fixture *f = *state;
	int fds[300];

	for (int i = 0; i < 300; i++)
		fds[i] = connect_to(f->path);
	for (int i = 0; i < 300; i++) {
		char line[32];
		snprintf(line, sizeof(line), "#c%d ping\n", i);
		send_str(fds[i], line);
	}
	for (int i = 299; i >= 0; i--) {
		struct json_object *o = read_reply(fds[i]);
		char re[16];
		snprintf(re, sizeof(re), "c%d", i);
		assert_non_null(o);
		assert_string_equal(jstr(o, "re"), re);
		json_object_put(o);
	}
	wait_clients(f->path, 300);
	for (int i = 0; i < 300; i++)
		close(fds[i]);
	wait_clients(f->path, 0);
}

static void
test_late_reply_to_gone_client(void **state)
{
	struct fixture *f = *state;
	int a = connect_to(f->path), b = connect_to(f->path);
	struct json_object *o;

	/* A client still there gets the late reply. */
	ask_put(a, "backup\n", "1", true, NULL);
	o = ask(b, "start\n", "1", true, NULL);
	assert_int_equal(jint(o, "late"), 0);
	json_object_put(o);
	o = read_reply(a);
	assert_string_equal(jstr(o, "re"), "late");
	json_object_put(o);
	/* One that left does not, and nothing breaks. */
	close(a);
	for (int i = 0;; i++) {
		bool alive;
		char tag[32];
		snprintf(tag, sizeof(tag), "%d", i + 2);
		o = ask(b, "start\n", tag, true, NULL);
		alive = json_object_get_boolean(json_object_object_get(o, "alive"));
		if (!alive)
			assert_int_equal(jint(o, "late"), -EPIPE);
		json_object_put(o);
		if (!alive)
			break;
		assert_true(i < 3000);
		usleep(10000);
	}
	close(b);
}

static void
test_other_user_refused(void **state)
{
	struct fixture *f = *state;
	char dir[160];
	pid_t pid;
	int status;

	skip_unless_root("connects as another user");
	/* Open the file modes so that only the peer check stands in the way. */
	snprintf(dir, sizeof(dir), "%s/run/savekeeper", f->dir);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/run", f->dir);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(f->path, 0666), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[512] = "";
		int fd;
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		/* The refusal comes unasked, right after the connection is accepted. */
		fd = connect_to(f->path);
		if (read(fd, buf, sizeof(buf) - 1) < 0)
			_exit(3);
		_exit(strstr(buf, "permission denied") && !strstr(buf, "\"ok\":true") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Setup checks, on a loop that does not run. */
static void
test_modes_and_second_daemon(void **state)
{
	struct fixture f = {0};
	struct loop *loop = loop_new();
	struct ctl *ctl, *second = NULL;
	char err[256], dir[160];
	struct stat st;

	(void)state;
	assert_int_equal(make_dirs(&f), 0);
	assert_int_equal(ctl_open(loop, f.path, handler, &f, &ctl, err, sizeof(err)), 0);
	snprintf(dir, sizeof(dir), "%s/run/savekeeper", f.dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(f.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(ctl_open(loop, f.path, handler, &f, &second, err, sizeof(err)), -EADDRINUSE);
	assert_null(second);
	assert_non_null(strstr(err, "another savekeeperd is already running on"));
	assert_non_null(strstr(err, f.path));
	/* The first daemon's socket survived the attempt. */
	assert_int_equal(lstat(f.path, &st), 0);
	ctl_close(ctl);
	assert_int_equal(lstat(f.path, &st), -1);
	/* Once the first is gone a new one starts. */
	assert_int_equal(ctl_open(loop, f.path, handler, &f, &ctl, err, sizeof(err)), 0);
	ctl_close(ctl);
	loop_free(loop);
	remove_dirs(&f);
}

static void
test_symlink_refused(void **state)
{
	struct fixture f = {0};
	struct loop *loop = loop_new();
	struct ctl *ctl = NULL;
	char err[256], target[160], buf[160];
	ssize_t n;

	(void)state;
	make_socket_dir(&f);
	snprintf(target, sizeof(target), "%s/elsewhere", f.dir);
	assert_int_equal(symlink(target, f.path), 0);
	assert_int_equal(ctl_open(loop, f.path, handler, &f, &ctl, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symlink"));
	n = readlink(f.path, buf, sizeof(buf) - 1);
	assert_int_equal(n, (ssize_t)strlen(target));
	assert_int_equal(access(target, F_OK), -1);
	/* A plain file there is not ours to remove either. */
	assert_int_equal(unlink(f.path), 0);
	close(open(f.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	assert_int_equal(ctl_open(loop, f.path, handler, &f, &ctl, err, sizeof(err)), -EEXIST);
	loop_free(loop);
	remove_dirs(&f);
}

static void
test_stale_socket_replaced(void **state)
{
	struct fixture f = {0};
	struct loop *loop = loop_new();
	struct ctl *ctl;
	char err[256];

	(void)state;
	make_socket_dir(&f);
	/* What a killed daemon leaves: a socket file nobody listens on. */
	close(bind_at(f.path, 0));
	assert_int_equal(access(f.path, F_OK), 0);
	assert_int_equal(ctl_open(loop, f.path, handler, &f, &ctl, err, sizeof(err)), 0);
	/* It listens now: a connection is taken into the backlog. */
	close(connect_to(f.path));
	ctl_close(ctl);
	loop_free(loop);
	remove_dirs(&f);
}

static void
test_unsafe_folder_refused(void **state)
{
	struct fixture f = {0};
	struct loop *loop = loop_new();
	struct ctl *ctl = NULL;
	char err[256], dir[160];

	(void)state;
	assert_int_equal(make_dirs(&f), 0);
	snprintf(dir, sizeof(dir), "%s/run/savekeeper", f.dir);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(ctl_open(loop, f.path, handler, &f, &ctl, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable by others"));
	assert_null(ctl);
	loop_free(loop);
	remove_dirs(&f);
}

/* In a child: systemd passes the socket as fd 3, with LISTEN_PID naming the receiver. */
static int
activated_child(const char *path)
{
	struct loop *loop;
	struct ctl *ctl;
	char err[256], pid[16];
	int fd = bind_at(path, 8);

	if (fd < 0)
		return 10;
	/* dup2 replaces whatever the test runner left open as fd 3. */
	if (fd != 3 && (dup2(fd, 3) != 3 || close(fd) < 0))
		return 11;
	loop = loop_new();
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	/* The path given is ignored: the passed socket is used. */
	if (ctl_open(loop, "/nonexistent/x.sock", handler, NULL, &ctl, err, sizeof(err)) < 0)
		return 12;
	if (getenv("LISTEN_FDS") || !(fcntl(3, F_GETFD) & FD_CLOEXEC))
		return 13;
	ctl_close(ctl);
	/* Closing does not remove a socket that systemd owns. */
	if (access(path, F_OK) < 0 || fcntl(3, F_GETFD) != -1)
		return 14;
	loop_free(loop);
	return 0;
}

static void
test_socket_activation(void **state)
{
	struct fixture f = {0};
	pid_t pid;
	int status;

	(void)state;
	make_socket_dir(&f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(activated_child(f.path));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	remove_dirs(&f);
}

int
main(void)
{
	/* Test clients write to connections the daemon side drops on purpose. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ping_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fixed_replies_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests_answered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_line_without_newline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reader_that_never_reads_is_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_reply_reaches_a_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_300_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_late_reply_to_gone_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_user_refused, setup, teardown),
	    cmocka_unit_test(test_modes_and_second_daemon),
	    cmocka_unit_test(test_symlink_refused),
	    cmocka_unit_test(test_stale_socket_replaced),
	    cmocka_unit_test(test_unsafe_folder_refused),
	    cmocka_unit_test(test_socket_activation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

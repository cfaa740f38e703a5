/* The three concurrency cores on a real loop: a job's progress and result arrive on the loop
 * thread, cancellation, two jobs at once, core_free with jobs running, a worker process killed
 * mid-job, a loop that stays responsive under the coroutine core, and nothing left behind.
 * The process core runs twice: re-executing its worker, and forking it (fork_worker, as
 * --once does), which it may do only while the process has a single thread. */
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"
#include "harness.h"
#include "loop.h"
#include "../helpers/testjob.h"

struct variant {
	enum sk_core kind;
	bool fork_worker;
};
static struct variant kinds[] = {
    {SK_CORE_THREAD, false}, {SK_CORE_COROUTINE, false}, {SK_CORE_PROCESS, false}, {SK_CORE_PROCESS, true}};
static char worker_exe[PATH_MAX];

struct fx {
	struct loop *loop;
	struct core *core;
	struct loop_timer *guard;
	char dir[64];
	unsigned fds, tasks;
	/* What the callbacks saw. */
	unsigned done, progress, expect;
	int lock;      /* a hold on the game's lock taken by the test, or -1 */
	bool forks;    /* the process core may fork its workers */
	bool off_loop; /* a callback ran outside loop_run */
	bool in_loop;
	struct job_result last;
	int errs[4];
};

static unsigned
count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool
has_children(void)
{
	char path[64], buf[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	f = fopen(path, "re");
	assert_non_null(f);
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] != '\0';
}

static void
on_guard(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)loop, (void)t, (void)data;
	fail_msg("the loop waited 30 s for a job");
}

static int
setup(void **state)
{
	const struct variant *v = *state;
	struct core_settings s = {.slice_usec = 2 * USEC_PER_MSEC,
				  .nice = 19,
				  .io_idle = true,
				  .self_exe = worker_exe,
				  .fork_worker = v->fork_worker};
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(mkdtemp(scratch_template(f->dir, sizeof(f->dir), "sk-core")));
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->guard = loop_timer_new(f->loop, on_guard, f);
	assert_non_null(f->guard);
	f->fds = count_dir("/proc/self/fd");
	f->tasks = count_dir("/proc/self/task");
	f->core = core_new(v->kind, f->loop, &s);
	f->forks = v->fork_worker;
	assert_non_null(f->core);
	*state = f;
	return 0;
}

/* Frees the core and checks that no thread, fd or child outlived it. */
static int
teardown(void **state)
{
	struct fx *f = *state;

	core_free(f->core);
	assert_int_equal(count_dir("/proc/self/fd"), f->fds);
	assert_int_equal(count_dir("/proc/self/task"), f->tasks);
	assert_false(has_children());
	job_result_clear(&f->last);
	loop_timer_free(f->guard);
	loop_free(f->loop);
	assert_int_equal(count_dir(f->dir), 0);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
on_progress(struct core_job *job, const struct job_progress *p, void *data)
{
	struct fx *f = data;

	(void)job, (void)p;
	f->progress++;
	f->off_loop |= !f->in_loop;
}

static void
on_done(struct core_job *job, const struct job_result *r, void *data)
{
	struct fx *f = data;

	(void)job;
	f->off_loop |= !f->in_loop;
	if (f->done < ARRAY_SIZE(f->errs))
		f->errs[f->done] = r->err;
	job_result_clear(&f->last);
	f->last = *r;
	/* What the result owns is freed after this callback. */
	f->last.archives = NULL;
	f->last.n_archives = 0;
	f->last.changes = NULL;
	f->last.n_changes = 0;
	if (++f->done == f->expect)
		loop_stop(f->loop);
}

static struct core_job *
start_in(struct fx *f, const char *tag, char *game_dir)
{
	char tagbuf[64];
	struct job_spec spec = {.kind = JOB_SNAPSHOT,
				.game = (char *)"test",
				.game_dir = game_dir,
				.tag = tagbuf,
				.level = 1,
				.threads = 1};
	struct core_callbacks cb = {on_progress, on_done, f};
	struct core_job *job = NULL;

	snprintf(tagbuf, sizeof(tagbuf), "%s", tag);
	assert_int_equal(core_run(f->core, &spec, &cb, &job), 0);
	assert_non_null(job);
	f->expect++;
	return job;
}

static struct core_job *
start(struct fx *f, const char *tag)
{
	return start_in(f, tag, f->dir);
}

static void
run(struct fx *f)
{
	assert_int_equal(loop_timer_arm(f->guard, 30 * USEC_PER_SEC), 0);
	f->in_loop = true;
	assert_int_equal(loop_run(f->loop), 0);
	f->in_loop = false;
	assert_false(f->off_loop);
}

static void
test_job_runs(void **state)
{
	struct fx *f = *state;
	int pid, tid, nice, loaded_by;

	start(f, "work 100");
	assert_int_equal(core_running(f->core), 1);
	run(f);
	assert_int_equal(f->done, 1);
	assert_int_equal(core_running(f->core), 0);
	assert_int_equal(f->last.err, 0);
	assert_string_equal(f->last.id, "test");
	assert_true(f->last.usec >= 100 * USEC_PER_MSEC);
	assert_true(f->progress > 0);
	assert_int_equal(
	    sscanf(f->last.message, "pid=%d tid=%d nice=%d loaded_by=%d", &pid, &tid, &nice, &loaded_by), 4);
	/* Each core runs the work where it says it does, the workers at low priority. */
	if (!strcmp(core_kind_name(f->core), "thread")) {
		assert_int_equal(pid, getpid());
		assert_int_not_equal(tid, gettid());
		assert_int_equal(nice, 19);
	} else if (!strcmp(core_kind_name(f->core), "coroutine")) {
		assert_int_equal(tid, gettid());
		assert_int_equal(nice, getpriority(PRIO_PROCESS, 0));
	} else {
		assert_int_not_equal(pid, getpid());
		assert_int_equal(nice, 19);
		/* A forked worker runs this program's code as loaded; a re-executed one starts anew. */
		assert_int_equal(loaded_by, f->forks ? getpid() : 0);
	}
}

/* A job's helper threads (the gzip stream's) run at the worker's nice; on a thread or process
 * of its own they run SCHED_BATCH, so that the job's thread, which feeds them, wins a CPU from
 * them; beside the loop (coroutine) they are lowered below it instead. */
static void
test_helper_priority(void **state)
{
	struct fx *f = *state;
	int policy, nice;

	start(f, "helper");
	run(f);
	assert_int_equal(f->last.err, 0);
	assert_int_equal(sscanf(f->last.message, "policy=%d nice=%d", &policy, &nice), 2);
	assert_int_equal(nice, 19);
	assert_int_equal(policy, strcmp(core_kind_name(f->core), "coroutine") ? SCHED_BATCH : SCHED_OTHER);
}

static void *
wait_on_pipe(void *arg)
{
	char c;

	(void)!read(*(int *)arg, &c, 1);
	return NULL;
}

/* With another thread alive the worker is re-executed, even where it could be forked. */
static void
test_no_fork_beside_a_thread(void **state)
{
	struct fx *f = *state;
	int p[2], pid, tid, nice, loaded_by;
	pthread_t t;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&t, NULL, wait_on_pipe, &p[0]), 0);
	start(f, "work 10");
	run(f);
	assert_int_equal(close(p[1]), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(p[0]);
	assert_int_equal(f->last.err, 0);
	assert_int_equal(
	    sscanf(f->last.message, "pid=%d tid=%d nice=%d loaded_by=%d", &pid, &tid, &nice, &loaded_by), 4);
	assert_int_not_equal(pid, getpid());
	assert_int_equal(nice, 19);
	assert_int_equal(loaded_by, 0);
}

static void
test_job_fails(void **state)
{
	struct fx *f = *state;

	start(f, "fail");
	run(f);
	assert_int_equal(f->last.err, -EIO);
	assert_string_equal(f->last.message, "cannot read 'slot1.sav': Input/output error");
}

static void
on_cancel_timer(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)loop, (void)t;
	core_cancel(data);
}

static void
test_cancel(void **state)
{
	struct fx *f = *state;
	struct core_job *job = start(f, "work 20000");
	struct loop_timer *t = loop_timer_new(f->loop, on_cancel_timer, job);

	assert_non_null(t);
	assert_int_equal(loop_timer_arm(t, 100 * USEC_PER_MSEC), 0);
	run(f);
	loop_timer_free(t);
	assert_int_equal(f->last.err, -ECANCELED);
	assert_true(f->last.usec < 20 * USEC_PER_SEC);
}

/* Two games' jobs run side by side (each game's folder has its own lock). */
static void
test_two_jobs(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *other = path_join(f->dir, "other");

	assert_int_equal(mkdir(other, 0700), 0);
	start(f, "work 150");
	start_in(f, "fail", other);
	assert_int_equal(core_running(f->core), 2);
	run(f);
	assert_int_equal(f->done, 2);
	assert_int_equal(core_running(f->core), 0);
	/* Each got its own result, in whichever order they ended. */
	assert_int_equal(f->errs[0] + f->errs[1], -EIO);
	assert_true(f->errs[0] == 0 || f->errs[1] == 0);
	assert_int_equal(rmdir(other), 0);
}

/* core_free with a job running cancels it and delivers its done callback before returning. */
static void
test_free_cancels(void **state)
{
	struct fx *f = *state;

	start(f, "work 20000");
	f->in_loop = true; /* core_free runs on the loop thread, as the daemon calls it */
	core_free(f->core);
	f->in_loop = false;
	f->core = NULL;
	assert_int_equal(f->done, 1);
	assert_int_equal(f->last.err, -ECANCELED);
}

/* Kills the worker once it has reported progress, so it is surely mid-job. */
static void
on_progress_kill(struct core_job *job, const struct job_progress *p, void *data)
{
	struct fx *f = data;
	char path[64], buf[64] = "";
	FILE *file;

	(void)job, (void)p;
	if (f->progress++)
		return;
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	file = fopen(path, "re");
	assert_non_null(file);
	assert_non_null(fgets(buf, sizeof(buf), file));
	fclose(file);
	assert_int_equal(kill(atoi(buf), SIGKILL), 0);
}

static void
test_worker_killed(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = {.kind = JOB_SNAPSHOT, .game_dir = f->dir, .tag = (char *)"work 20000"};
	struct core_callbacks cb = {on_progress_kill, on_done, f};
	struct core_job *job;

	assert_int_equal(core_run(f->core, &spec, &cb, &job), 0);
	f->expect = 1;
	run(f);
	assert_int_equal(f->last.err, -ECHILD);
	assert_non_null(strstr(f->last.message, "worker process killed by signal 9"));
	/* The worker's temporary was swept (teardown checks the folder is empty), and the core
	 * carries on. */
	start(f, "work 50");
	run(f);
	assert_int_equal(f->last.err, 0);
}

/* Kills the worker, then takes the game's lock as another job would, before the loop sees
 * the worker's end. */
static void
on_progress_kill_lock(struct core_job *job, const struct job_progress *p, void *data)
{
	struct fx *f = data;

	if (f->progress)
		return;
	on_progress_kill(job, p, data);
	f->lock = runner_lock_game(f->dir, NULL, 10 * USEC_PER_SEC);
	assert_true(f->lock >= 0);
}

/* A dead worker's temporaries are swept only when no other job holds the game: those files
 * may be the other job's own. */
static void
test_worker_killed_sweep_respects_lock(void **state)
{
	struct fx *f = *state;
	struct job_spec spec = {.kind = JOB_SNAPSHOT, .game_dir = f->dir, .tag = (char *)"work 20000"};
	struct core_callbacks cb = {on_progress_kill_lock, on_done, f};
	struct core_job *job;
	char partial[PATH_MAX];

	assert_int_equal(core_run(f->core, &spec, &cb, &job), 0);
	f->expect = 1;
	run(f);
	assert_int_equal(f->last.err, -ECHILD);
	snprintf(partial, sizeof(partial), "%s/test.tar.gz.partial", f->dir);
	assert_int_equal(access(partial, F_OK), 0);
	assert_int_equal(unlink(partial), 0);
	close(f->lock);
}

static void
write_file(const char *dir, const char *name, size_t size)
{
	char path[PATH_MAX];
	char *data = malloc(size);
	FILE *file;

	assert_non_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)(i * 7 + size);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	file = fopen(path, "we");
	assert_non_null(file);
	assert_int_equal(fwrite(data, 1, size, file), size);
	assert_int_equal(fclose(file), 0);
	free(data);
}

/* The real snapshot code runs the same under each core and publishes an archive. Three
 * compression threads: the coroutine parks on their eventfd through the loop meanwhile. */
static void
test_real_snapshot(void **state)
{
	struct fx *f = *state;
	char save[128], game[128], path[512];
	struct job_spec spec = {.kind = JOB_SNAPSHOT,
				.game = (char *)"test",
				.save_dir = save,
				.game_dir = game,
				.level = 1,
				.threads = 3};
	struct core_callbacks cb = {on_progress, on_done, f};
	struct stat st;

	snprintf(save, sizeof(save), "%s/save", f->dir);
	snprintf(game, sizeof(game), "%s/game", f->dir);
	assert_int_equal(mkdir(save, 0755), 0);
	assert_int_equal(mkdir(game, 0755), 0);
	write_file(save, "slot1.sav", 3 << 20);
	write_file(save, "slot2.sav", 1000);
	assert_int_equal(core_run(f->core, &spec, &cb, NULL), 0);
	f->expect = 1;
	run(f);
	assert_int_equal(f->last.err, 0);
	assert_int_equal(f->last.files, 2);
	snprintf(path, sizeof(path), "%s/%s%s", game, f->last.id, SNAP_SUFFIX);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 0);
	snprintf(path, sizeof(path), "rm -rf '%s' '%s'", save, game);
	assert_int_equal(system(path), 0);
}

struct gaps {
	uint64_t last, max, last_cpu, max_cpu;
	unsigned ticks;
};

static uint64_t
thread_cpu_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static void
on_tick(struct loop *loop, struct loop_timer *t, void *data)
{
	struct gaps *g = data;
	uint64_t now = now_usec(), cpu = thread_cpu_usec();

	(void)loop;
	if (g->ticks && now - g->last > g->max)
		g->max = now - g->last;
	if (g->ticks && cpu - g->last_cpu > g->max_cpu)
		g->max_cpu = cpu - g->last_cpu;
	g->last = now;
	g->last_cpu = cpu;
	g->ticks++;
	assert_int_equal(loop_timer_arm(t, USEC_PER_MSEC), 0);
}

/* While a long job runs as a coroutine, the loop still serves its timers between slices. */
static void
test_loop_responsive(void **state)
{
	struct fx *f = *state;
	struct gaps g = {0};
	struct loop_timer *t = loop_timer_new(f->loop, on_tick, &g);

	assert_non_null(t);
	assert_int_equal(loop_timer_arm(t, USEC_PER_MSEC), 0);
	start(f, "work 1000");
	run(f);
	loop_timer_free(t);
	assert_int_equal(f->last.err, 0);
	assert_true(g.ticks >= 10);
	/* The bound is on the loop thread's own CPU time between two turns, which the slices
	 * control; wall time also counts whatever else this machine is doing. */
	print_message("# %u ticks, longest gap %lu us (%lu us of CPU)\n", g.ticks, (unsigned long)g.max,
		      (unsigned long)g.max_cpu);
	assert_true(g.max_cpu < 200 * USEC_PER_MSEC);
}

static void
cancel_soon(struct loop *loop, struct loop_timer *t, void *data)
{
	(void)loop, (void)t;
	core_cancel(data);
}

/* A waiting job parks: the loop thread spends next to no CPU while it sleeps (a coroutine
 * waits on a loop timer, not by yielding until a deadline), and a cancel ends the wait. */
static void
test_sleep_parks(void **state)
{
	struct fx *f = *state;
	uint64_t begin = now_usec(), cpu = thread_cpu_usec(), wall, used;
	struct loop_timer *t = loop_timer_new(f->loop, cancel_soon, NULL);
	struct core_job *job;

	start(f, "sleep 300");
	run(f);
	wall = now_usec() - begin;
	used = thread_cpu_usec() - cpu;
	print_message("# slept %lu us of wall time, %lu us of the loop's CPU\n", (unsigned long)wall,
		      (unsigned long)used);
	assert_int_equal(f->last.err, 0);
	assert_true(wall >= 300 * USEC_PER_MSEC);
	assert_true(used < 100 * USEC_PER_MSEC);

	job = start(f, "sleep 30000");
	loop_timer_free(t);
	t = loop_timer_new(f->loop, cancel_soon, job);
	assert_int_equal(loop_timer_arm(t, 50 * USEC_PER_MSEC), 0);
	run(f);
	loop_timer_free(t);
	assert_int_equal(f->last.err, -ECANCELED);
}

#define PER_CORE(fn, i, name)                                                                                \
	{                                                                                                    \
#fn " " name, fn, setup, teardown, &kinds[i]                                                 \
	}
#define ALL_CORES(fn)                                                                                        \
	PER_CORE(fn, 0, "thread"), PER_CORE(fn, 1, "coroutine"), PER_CORE(fn, 2, "process"),                 \
	    PER_CORE(fn, 3, "process (forked)")

int
main(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return 1;
	self[n] = '\0';
	snprintf(worker_exe, sizeof(worker_exe), "%s/sk-worker", dirname(self));
	runner_set_work(testjob_work);
	testjob_loaded_by = getpid();
	signal(SIGPIPE, SIG_IGN);

	const struct CMUnitTest tests[] = {
	    ALL_CORES(test_job_runs),
	    ALL_CORES(test_job_fails),
	    ALL_CORES(test_helper_priority),
	    ALL_CORES(test_cancel),
	    ALL_CORES(test_two_jobs),
	    ALL_CORES(test_free_cancels),
	    ALL_CORES(test_real_snapshot),
	    ALL_CORES(test_sleep_parks),
	    PER_CORE(test_worker_killed, 2, "process"),
	    PER_CORE(test_worker_killed, 3, "process (forked)"),
	    PER_CORE(test_worker_killed_sweep_respects_lock, 2, "process"),
	    PER_CORE(test_worker_killed_sweep_respects_lock, 3, "process (forked)"),
	    PER_CORE(test_no_fork_beside_a_thread, 3, "process (forked)"),
	    PER_CORE(test_loop_responsive, 1, "coroutine"),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

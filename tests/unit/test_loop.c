/* The event loop: fd events, timers, deferred calls and removal from inside callbacks. */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "loop.h"
#include "util.h"

struct pipe_pair {
	int r, w;
};

static void
make_pipe(struct pipe_pair *p)
{
	int fds[2];

	assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	p->r = fds[0];
	p->w = fds[1];
}

static void
close_pipe(struct pipe_pair *p)
{
	close(p->r);
	close(p->w);
}

/* Reads what is there, counts it, and stops the loop. */
struct reader {
	int calls;
	char buf[64];
	size_t len;
	bool stop;
};

static void
on_read(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct reader *rd = data;
	ssize_t n;

	assert_true(events & EPOLLIN);
	n = read(fd, rd->buf + rd->len, sizeof(rd->buf) - rd->len);
	assert_true(n > 0);
	rd->len += (size_t)n;
	rd->calls++;
	if (rd->stop)
		loop_stop(loop);
}

static void
test_fd_event(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_pair p;
	struct reader rd = {.stop = true};

	(void)state;
	assert_non_null(loop);
	make_pipe(&p);
	assert_int_equal(loop_add_fd(loop, p.r, EPOLLIN, on_read, &rd), 0);
	assert_int_equal(loop_add_fd(loop, p.r, EPOLLIN, on_read, &rd), -EEXIST);
	assert_int_equal(write(p.w, "hello", 5), 5);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(rd.calls, 1);
	assert_memory_equal(rd.buf, "hello", 5);

	/* Watching for nothing: a write then does not call back. */
	assert_int_equal(loop_mod_fd(loop, p.r, 0), 0);
	assert_int_equal(loop_mod_fd(loop, 12345, EPOLLIN), -ENOENT);
	loop_del_fd(loop, p.r);
	loop_del_fd(loop, p.r);
	close_pipe(&p);
	loop_free(loop);
}

/* Two pipes are ready in the same round; the first callback removes the second fd (and closes
 * it), which must then not be called with its stale event. */
struct killer {
	struct pipe_pair *victim;
	int victim_calls;
	int calls;
};

static void
on_kill(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct killer *k = data;
	char c;

	(void)events;
	k->calls++;
	if (read(fd, &c, 1) != 1)
		fail();
	/* Also remove itself: the registration must survive until the round is over. */
	loop_del_fd(loop, fd);
	if (k->victim) {
		loop_del_fd(loop, k->victim->r);
		k->victim = NULL;
	}
	loop_stop(loop);
}

static void
test_del_inside_callback(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_pair a, b;
	struct killer ka = {0}, kb = {0};

	(void)state;
	make_pipe(&a);
	make_pipe(&b);
	ka.victim = &b;
	kb.victim = &a;
	assert_int_equal(loop_add_fd(loop, a.r, EPOLLIN, on_kill, &ka), 0);
	assert_int_equal(loop_add_fd(loop, b.r, EPOLLIN, on_kill, &kb), 0);
	assert_int_equal(write(a.w, "x", 1), 1);
	assert_int_equal(write(b.w, "y", 1), 1);
	assert_int_equal(loop_run(loop), 0);
	/* Whichever ran first removed the other: exactly one callback ran. */
	assert_int_equal(ka.calls + kb.calls, 1);
	/* The fd can be registered again once removed. */
	assert_int_equal(loop_add_fd(loop, a.r, EPOLLIN, on_kill, &ka), 0);
	close_pipe(&a);
	close_pipe(&b);
	loop_free(loop);
}

struct tick {
	int fired;
	int rearm;
	bool free_self;
};

static void
on_timer(struct loop *loop, struct loop_timer *t, void *data)
{
	struct tick *tk = data;

	tk->fired++;
	if (tk->rearm-- > 0) {
		assert_int_equal(loop_timer_arm(t, 1000), 0);
		return;
	}
	if (tk->free_self)
		loop_timer_free(t);
	loop_stop(loop);
}

static void
test_timer_rearm_and_free_self(void **state)
{
	struct loop *loop = loop_new();
	struct tick tk = {.rearm = 3, .free_self = true};
	struct loop_timer *t = loop_timer_new(loop, on_timer, &tk);

	(void)state;
	assert_non_null(t);
	assert_int_equal(loop_timer_arm(t, 1000), 0);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(tk.fired, 4);
	loop_free(loop);
}

static void
test_timer_disarm(void **state)
{
	struct loop *loop = loop_new();
	struct tick quiet = {0}, tk = {0};
	struct loop_timer *t1 = loop_timer_new(loop, on_timer, &quiet);
	struct loop_timer *t2 = loop_timer_new(loop, on_timer, &tk);

	(void)state;
	/* Disarming (arm 0) cancels a pending expiry; the other timer ends the run. */
	assert_int_equal(loop_timer_arm(t1, 1000), 0);
	assert_int_equal(loop_timer_arm(t1, 0), 0);
	assert_int_equal(loop_timer_arm(t2, 20000), 0);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(quiet.fired, 0);
	assert_int_equal(tk.fired, 1);
	loop_timer_free(t1);
	/* t2 is left for loop_free to release. */
	loop_free(loop);
}

/* A deferred call that re-queues itself (like a coroutine slice) must let a ready fd be
 * served between its runs, and calls queued during a round wait for the next round. */
struct slicer {
	int slices;
	int served_at; /* the slice count when the fd was served */
	struct reader rd;
};

static void
slice(struct loop *loop, void *data)
{
	struct slicer *s = data;

	s->slices++;
	if (s->rd.calls > 0 && s->served_at < 0)
		s->served_at = s->slices;
	if (s->slices < 5)
		assert_int_equal(loop_defer(loop, slice, s), 0);
	else
		loop_stop(loop);
}

static void
test_defer_interleaves_fds(void **state)
{
	struct loop *loop = loop_new();
	struct slicer s = {.served_at = -1};
	struct pipe_pair p;

	(void)state;
	make_pipe(&p);
	assert_int_equal(loop_add_fd(loop, p.r, EPOLLIN, on_read, &s.rd), 0);
	assert_int_equal(write(p.w, "z", 1), 1);
	assert_int_equal(loop_defer(loop, slice, &s), 0);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(s.slices, 5);
	/* Served in the very first round, before the second slice. */
	assert_int_equal(s.rd.calls, 1);
	assert_int_equal(s.served_at, 1);
	loop_del_fd(loop, p.r);
	close_pipe(&p);
	loop_free(loop);
}

struct orderer {
	int log[8];
	int n;
};

static void
record_b(struct loop *loop, void *data)
{
	struct orderer *o = data;

	(void)loop;
	o->log[o->n++] = 2;
	loop_stop(loop);
}

static void
record_a(struct loop *loop, void *data)
{
	struct orderer *o = data;

	o->log[o->n++] = 1;
	assert_int_equal(loop_defer(loop, record_b, o), 0);
}

static void
record_c(struct loop *loop, void *data)
{
	struct orderer *o = data;

	(void)loop;
	o->log[o->n++] = 3;
}

static void
test_defer_order(void **state)
{
	struct loop *loop = loop_new();
	struct orderer o = {0};

	(void)state;
	/* a and c were queued first and run in order; b, queued by a, runs a round later. */
	assert_int_equal(loop_defer(loop, record_a, &o), 0);
	assert_int_equal(loop_defer(loop, record_c, &o), 0);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.log[0], 1);
	assert_int_equal(o.log[1], 3);
	assert_int_equal(o.log[2], 2);
	/* Calls still queued when the loop is freed are dropped without leaking. */
	assert_int_equal(loop_defer(loop, record_c, &o), 0);
	loop_free(loop);
	assert_int_equal(o.n, 3);
}

/* A cancelled call never runs; the others keep their order, and the queue still takes more. */
static void
test_defer_cancel(void **state)
{
	struct loop *loop = loop_new();
	struct orderer o = {0}, other = {0};

	(void)state;
	assert_int_equal(loop_defer(loop, record_c, &o), 0);
	assert_int_equal(loop_defer(loop, record_c, &other), 0);
	assert_int_equal(loop_defer(loop, record_c, &o), 0);
	loop_defer_cancel(loop, record_c, &o);
	assert_int_equal(loop_defer(loop, record_a, &o), 0);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(other.n, 1);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.log[0], 1);
	assert_int_equal(o.log[1], 2);
	loop_free(loop);
}

static void *
stopper(void *arg)
{
	struct loop *loop = arg;

	usleep(20000);
	loop_stop(loop);
	loop_wake(loop);
	return NULL;
}

static void
test_wake_from_thread(void **state)
{
	struct loop *loop = loop_new();
	pthread_t th;

	(void)state;
	/* Nothing is registered: only loop_wake can end this sleep. */
	assert_int_equal(pthread_create(&th, NULL, stopper, loop), 0);
	assert_int_equal(loop_run(loop), 0);
	pthread_join(th, NULL);
	loop_free(loop);
}

/* A stop asked for before loop_run() (a thread's teardown can race the loop thread's start)
 * makes it return at once rather than sleep; the stop is then used up, so the next loop_run()
 * runs until it is stopped again. The timer only ends the run if the stop was lost. */
static void
on_fallback(struct loop *loop, struct loop_timer *t, void *data)
{
	bool *fired = data;

	(void)t;
	*fired = true;
	loop_stop(loop);
}

static void
stop_deferred(struct loop *loop, void *data)
{
	int *ran = data;

	(*ran)++;
	loop_stop(loop);
}

static void
test_stop_before_run(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer *t;
	bool fired = false;
	int ran = 0;

	(void)state;
	t = loop_timer_new(loop, on_fallback, &fired);
	assert_non_null(t);
	assert_int_equal(loop_timer_arm(t, 3 * USEC_PER_SEC), 0);
	loop_stop(loop);
	assert_int_equal(loop_run(loop), 0);
	assert_false(fired);
	assert_int_equal(loop_defer(loop, stop_deferred, &ran), 0);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(ran, 1);
	assert_false(fired);
	loop_timer_free(t);
	loop_free(loop);
}

static void
on_hup(struct loop *loop, int fd, uint32_t events, void *data)
{
	int *hups = data;

	if (events & EPOLLHUP)
		(*hups)++;
	loop_del_fd(loop, fd);
	loop_stop(loop);
}

static void
test_hangup(void **state)
{
	struct loop *loop = loop_new();
	struct pipe_pair p;
	int hups = 0;

	(void)state;
	make_pipe(&p);
	assert_int_equal(loop_add_fd(loop, p.r, EPOLLIN, on_hup, &hups), 0);
	close(p.w);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(hups, 1);
	close(p.r);
	loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fd_event),
	    cmocka_unit_test(test_defer_cancel),
	    cmocka_unit_test(test_del_inside_callback),
	    cmocka_unit_test(test_timer_rearm_and_free_self),
	    cmocka_unit_test(test_timer_disarm),
	    cmocka_unit_test(test_defer_interleaves_fds),
	    cmocka_unit_test(test_defer_order),
	    cmocka_unit_test(test_wake_from_thread),
	    cmocka_unit_test(test_stop_before_run),
	    cmocka_unit_test(test_hangup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

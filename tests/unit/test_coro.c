/* Coroutines: switching back and forth, the guard page, many at once, nesting. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coro.h"

struct trace {
	char log[64];
	size_t n;
	char tag;
	int steps;
};

static void
append(struct trace *t, char c)
{
	t->log[t->n++] = c;
	t->log[t->n] = '\0';
}

static void
stepper(void *arg)
{
	struct trace *t = arg;

	for (int i = 0; i < t->steps; i++) {
		append(t, t->tag);
		coro_yield();
	}
}

static void
test_yields_interleave(void **state)
{
	(void)state;
	struct trace t = {.steps = 3};
	struct coro *a = coro_new(stepper, &t, 0);
	assert_non_null(a);

	t.tag = 'a';
	assert_null(coro_current());
	while (coro_resume(a))
		append(&t, 'm');
	assert_string_equal(t.log, "amamam");
	assert_true(coro_done(a));
	assert_false(coro_resume(a));
	coro_free(a);
}

struct pair {
	struct coro *self;
	bool saw_self;
	int count;
};

static void
counter(void *arg)
{
	struct pair *p = arg;

	p->saw_self = coro_current() == p->self;
	for (int i = 0; i < 10; i++) {
		p->count++;
		coro_yield();
	}
}

static void
test_many(void **state)
{
	(void)state;
	enum { N = 1000 };
	static struct pair pairs[N];
	struct coro *c[N];

	for (int i = 0; i < N; i++) {
		pairs[i] = (struct pair){0};
		c[i] = coro_new(counter, &pairs[i], 64 * 1024);
		assert_non_null(c[i]);
		pairs[i].self = c[i];
	}
	/* Round robin until every one has finished. */
	for (bool more = true; more;) {
		more = false;
		for (int i = 0; i < N; i++)
			more |= coro_resume(c[i]);
	}
	for (int i = 0; i < N; i++) {
		assert_true(pairs[i].saw_self);
		assert_int_equal(pairs[i].count, 10);
		assert_true(coro_done(c[i]));
		coro_free(c[i]);
	}
	assert_null(coro_current());
}

static void
inner(void *arg)
{
	struct trace *t = arg;

	append(t, 'i');
	coro_yield();
	append(t, 'j');
}

static void
outer(void *arg)
{
	struct trace *t = arg;
	struct coro *in = coro_new(inner, t, 0);

	append(t, 'o');
	coro_resume(in);
	assert_ptr_not_equal(coro_current(), in);
	coro_yield();
	coro_resume(in);
	append(t, 'p');
	coro_free(in);
}

static void
test_nested(void **state)
{
	(void)state;
	struct trace t = {0};
	struct coro *o = coro_new(outer, &t, 0);

	while (coro_resume(o))
		append(&t, 'm');
	assert_string_equal(t.log, "oimjp");
	coro_free(o);
}

static size_t
recurse(size_t depth)
{
	volatile char buf[1024];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)depth;
	return depth ? recurse(depth - 1) + buf[depth % sizeof(buf)] : 0;
}

static void
deep(void *arg)
{
	size_t *depth = arg;

	*depth = recurse(*depth);
}

static void
test_stack_used(void **state)
{
	(void)state;
	size_t depth = 100; /* about 100 KiB */
	struct coro *c = coro_new(deep, &depth, 0);

	assert_non_null(c);
	assert_false(coro_resume(c));
	assert_true(coro_stack_used(c) >= 100 * 1024);
	assert_true(coro_stack_used(c) < CORO_STACK_DEFAULT);
	coro_free(c);
}

/* Overflowing the stack must hit the guard page: the child dies of SIGSEGV rather than
 * writing past the stack. */
static void
test_guard_page(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		size_t depth = 1000; /* about 1 MiB on a 64 KiB stack */
		struct coro *c = coro_new(deep, &depth, 64 * 1024);
		if (!c)
			_exit(2);
		coro_resume(c);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yields_interleave),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_stack_used),
	    cmocka_unit_test(test_guard_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Stackful coroutines on ucontext. One mmap holds, from low to high addresses, a PROT_NONE
 * guard page, the stack, and struct coro itself: the stack grows down, so an overflow runs
 * into the guard page and faults instead of corrupting the heap. */
#include "coro.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

struct coro {
	ucontext_t ctx;	   /* the coroutine's own context */
	ucontext_t caller; /* where coro_yield() returns to */
	struct coro *prev; /* the coroutine that resumed this one, for nesting */
	coro_fn *fn;
	void *arg;
	void *map; /* the whole region, guard page first */
	size_t map_size;
	char *stack;
	size_t stack_size;
	bool done;
	/* For AddressSanitizer: the resumer's stack, and this stack's fake frames. */
	const void *caller_bottom;
	size_t caller_size;
	void *fake_stack;
};

static __thread struct coro *current;

/* AddressSanitizer must be told about every stack switch or it reports false overflows. */
static void
switch_begin(void **fake, const void *bottom, size_t size)
{
#ifdef __SANITIZE_ADDRESS__
	__sanitizer_start_switch_fiber(fake, bottom, size);
#else
	(void)fake, (void)bottom, (void)size;
#endif
}

static void
switch_end(void *fake, const void **old_bottom, size_t *old_size)
{
#ifdef __SANITIZE_ADDRESS__
	__sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#else
	(void)fake, (void)old_bottom, (void)old_size;
#endif
}

/* makecontext() passes int arguments only; a pointer travels as two 32-bit halves. */
static void
trampoline(unsigned hi, unsigned lo)
{
	struct coro *c = (struct coro *)(((uintptr_t)hi << 32) | (uintptr_t)lo);

	switch_end(NULL, &c->caller_bottom, &c->caller_size);
	c->fn(c->arg);
	c->done = true;
	current = c->prev;
	/* This stack is abandoned for good: a NULL save slot lets ASan forget it. */
	switch_begin(NULL, c->caller_bottom, c->caller_size);
	setcontext(&c->caller);
}

static size_t
page_round(size_t n, size_t page)
{
	return (n + page - 1) / page * page;
}

/* Kept apart from coro_new: getcontext() returns twice, which would pin its locals. */
static void
init_context(struct coro *c)
{
	uintptr_t p = (uintptr_t)c;

	getcontext(&c->ctx);
	c->ctx.uc_stack.ss_sp = c->stack;
	c->ctx.uc_stack.ss_size = c->stack_size;
	c->ctx.uc_link = NULL;
	makecontext(&c->ctx, (void (*)(void))trampoline, 2, (unsigned)(p >> 32), (unsigned)p);
}

struct coro *
coro_new(coro_fn *fn, void *arg, size_t stack_size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t stack = page_round(stack_size ? stack_size : CORO_STACK_DEFAULT, page);
	size_t size = page + stack + page_round(sizeof(struct coro), page);

	char *map =
	    mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map, page, PROT_NONE) < 0) {
		int saved = errno;
		munmap(map, size);
		errno = saved;
		return NULL;
	}

	struct coro *c = (struct coro *)(map + page + stack);
	*c = (struct coro){
	    .fn = fn, .arg = arg, .map = map, .map_size = size, .stack = map + page, .stack_size = stack};
	init_context(c);
	return c;
}

bool
coro_resume(struct coro *c)
{
	void *fake = NULL;

	if (c->done)
		return false;
	c->prev = current;
	current = c;
	switch_begin(&fake, c->stack, c->stack_size);
	swapcontext(&c->caller, &c->ctx);
	switch_end(fake, NULL, NULL);
	return !c->done;
}

void
coro_yield(void)
{
	struct coro *c = current;

	if (!c)
		return;
	current = c->prev;
	switch_begin(&c->fake_stack, c->caller_bottom, c->caller_size);
	swapcontext(&c->ctx, &c->caller);
	switch_end(c->fake_stack, &c->caller_bottom, &c->caller_size);
}

struct coro *
coro_current(void)
{
	return current;
}

bool
coro_done(const struct coro *c)
{
	return c->done;
}

size_t
coro_stack_used(const struct coro *c)
{
	const uint64_t *w = (const uint64_t *)(const void *)c->stack;
	size_t n = c->stack_size / sizeof(*w);
	size_t i = 0;

	while (i < n && w[i] == 0)
		i++;
	return (n - i) * sizeof(*w);
}

void
coro_free(struct coro *c)
{
	if (!c)
		return;
	munmap(c->map, c->map_size);
}

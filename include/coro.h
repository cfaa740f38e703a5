/* Stackful coroutines on ucontext: one mmap'd region holds the coroutine and its stack, with
 * a guard page below the stack. Not thread-safe: a coroutine is resumed on one thread. */
#ifndef SK_CORO_H
#define SK_CORO_H

#include <stdbool.h>
#include <stddef.h>

/* The default stack. Pages are only backed once touched, so a generous reservation costs
 * address space, not memory. */
#define CORO_STACK_DEFAULT (256u * 1024u)

struct coro;
typedef void coro_fn(void *arg);

/* Creates a coroutine that will run fn(arg) on a stack of stack_size bytes (0: 256 KiB),
 * rounded up to whole pages. NULL with errno set on failure. */
struct coro *coro_new(coro_fn *fn, void *arg, size_t stack_size);
/* Runs the coroutine until it yields or returns; returns true while it has more to do. */
bool coro_resume(struct coro *c);
/* From inside a coroutine: switches back to whoever resumed it. */
void coro_yield(void);
/* The running coroutine, NULL on the normal stack. */
struct coro *coro_current(void);
/* True once fn has returned. */
bool coro_done(const struct coro *c);
/* The deepest the stack has been used so far, in bytes (pages never touched read as zero). */
size_t coro_stack_used(const struct coro *c);
/* Frees a coroutine (it must not be running). Accepts NULL. */
void coro_free(struct coro *c);

#endif

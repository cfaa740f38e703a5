/* The event loop: epoll for fds, one timerfd per timer, a queue of deferred calls. The only
 * file that calls epoll_*. */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util.h"

#define LOOP_MAX_EVENTS 64

/* One watched fd. A registration removed while events for it are still being dispatched is
 * only marked dead; it is freed once the round is over, so a stale event finds it and skips. */
struct loop_reg {
	int fd;
	bool dead;
	loop_fd_fn *fn;
	void *data;
	struct loop_reg *next_dead;
};

struct loop_defer {
	loop_defer_fn *fn;
	void *data;
	struct loop_defer *next;
};

struct loop_timer {
	struct loop *loop;
	int fd;
	loop_timer_fn *fn;
	void *data;
	struct loop_timer *prev, *next;
};

struct loop {
	int epfd;
	int wakefd;
	volatile sig_atomic_t stop;
	bool dispatching;
	struct loop_reg **regs; /* indexed by fd */
	size_t nregs;
	struct loop_reg *dead;
	struct loop_defer *defer_head, **defer_tail;
	struct loop_timer *timers;
};

static struct loop_reg *
reg_get(const struct loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nregs)
		return NULL;
	return loop->regs[fd];
}

static int
regs_grow(struct loop *loop, int fd)
{
	size_t n = loop->nregs ? loop->nregs : 64;
	struct loop_reg **r;

	if ((size_t)fd < loop->nregs)
		return 0;
	while (n <= (size_t)fd)
		n *= 2;
	r = realloc(loop->regs, n * sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r + loop->nregs, 0, (n - loop->nregs) * sizeof(*r));
	loop->regs = r;
	loop->nregs = n;
	return 0;
}

static void
free_dead(struct loop *loop)
{
	while (loop->dead) {
		struct loop_reg *r = loop->dead;
		loop->dead = r->next_dead;
		free(r);
	}
}

static void
wake_read(struct loop *loop, int fd, uint32_t events, void *data)
{
	uint64_t v;

	(void)loop, (void)events, (void)data;
	/* The counter only interrupts epoll_wait; its value does not matter. */
	if (read(fd, &v, sizeof(v)) < 0)
		return;
}

struct loop *
loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	int r;

	if (!loop)
		return NULL;
	loop->wakefd = -EBADF;
	loop->defer_tail = &loop->defer_head;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto fail;
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wakefd < 0)
		goto fail;
	r = loop_add_fd(loop, loop->wakefd, EPOLLIN, wake_read, NULL);
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	return loop;
fail:
	loop_free(loop);
	return NULL;
}

void
loop_free(struct loop *loop)
{
	int saved = errno;

	if (!loop)
		return;
	while (loop->timers)
		loop_timer_free(loop->timers);
	while (loop->defer_head) {
		struct loop_defer *d = loop->defer_head;
		loop->defer_head = d->next;
		free(d);
	}
	for (size_t i = 0; i < loop->nregs; i++)
		free(loop->regs[i]);
	free(loop->regs);
	free_dead(loop);
	safe_close(loop->wakefd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop);
	errno = saved;
}

int
loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn *fn, void *data)
{
	struct epoll_event ev = {.events = events};
	struct loop_reg *r;

	if (fd < 0 || !fn)
		return -EINVAL;
	if (reg_get(loop, fd))
		return -EEXIST;
	if (regs_grow(loop, fd) < 0)
		return -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct loop_reg){.fd = fd, .fn = fn, .data = data};
	ev.data.ptr = r;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = -errno;
		free(r);
		return e;
	}
	loop->regs[fd] = r;
	return 0;
}

int
loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
	struct loop_reg *r = reg_get(loop, fd);
	struct epoll_event ev = {.events = events};

	if (!r)
		return -ENOENT;
	ev.data.ptr = r;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void
loop_del_fd(struct loop *loop, int fd)
{
	struct loop_reg *r = reg_get(loop, fd);

	if (!r)
		return;
	/* Fails only if the fd was already closed, which removed it from epoll anyway. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->regs[fd] = NULL;
	if (!loop->dispatching) {
		free(r);
		return;
	}
	r->dead = true;
	r->next_dead = loop->dead;
	loop->dead = r;
}

static void
timer_read(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct loop_timer *t = data;
	uint64_t ticks;

	(void)events;
	/* A timer re-armed after epoll reported it has nothing to read: it has not fired. */
	if (read(fd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks))
		return;
	/* Last: the callback may free t. */
	t->fn(loop, t, t->data);
}

struct loop_timer *
loop_timer_new(struct loop *loop, loop_timer_fn *fn, void *data)
{
	struct loop_timer *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return NULL;
	*t = (struct loop_timer){.loop = loop, .fn = fn, .data = data};
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0) {
		free(t);
		return NULL;
	}
	r = loop_add_fd(loop, t->fd, EPOLLIN, timer_read, t);
	if (r < 0) {
		close(t->fd);
		free(t);
		errno = -r;
		return NULL;
	}
	t->next = loop->timers;
	if (t->next)
		t->next->prev = t;
	loop->timers = t;
	return t;
}

int
loop_timer_arm(struct loop_timer *t, uint64_t usec)
{
	struct itimerspec its = {0};

	its.it_value.tv_sec = (time_t)(usec / USEC_PER_SEC);
	its.it_value.tv_nsec = (long)(usec % USEC_PER_SEC * NSEC_PER_USEC);
	/* Setting the timer also clears expirations not read yet, so a re-armed timer waits anew. */
	if (timerfd_settime(t->fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

void
loop_timer_free(struct loop_timer *t)
{
	if (!t)
		return;
	loop_del_fd(t->loop, t->fd);
	close(t->fd);
	if (t->prev)
		t->prev->next = t->next;
	else
		t->loop->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
}

int
loop_defer(struct loop *loop, loop_defer_fn *fn, void *data)
{
	struct loop_defer *d = malloc(sizeof(*d));

	if (!d)
		return -ENOMEM;
	*d = (struct loop_defer){.fn = fn, .data = data};
	*loop->defer_tail = d;
	loop->defer_tail = &d->next;
	return 0;
}

static void
dispatch_fds(struct loop *loop, const struct epoll_event *evs, int n)
{
	loop->dispatching = true;
	for (int i = 0; i < n; i++) {
		struct loop_reg *r = evs[i].data.ptr;
		if (!r->dead)
			r->fn(loop, r->fd, evs[i].events, r->data);
	}
	loop->dispatching = false;
	free_dead(loop);
}

void
loop_defer_cancel(struct loop *loop, loop_defer_fn *fn, void *data)
{
	struct loop_defer **p = &loop->defer_head;

	while (*p) {
		struct loop_defer *d = *p;
		if (d->fn == fn && d->data == data) {
			*p = d->next;
			free(d);
		} else {
			p = &d->next;
		}
	}
	loop->defer_tail = p;
}

/* Runs the calls that were queued before this round; those they queue wait for the next one,
 * so fds are served between, say, the slices of a coroutine that defers itself. */
static void
run_deferred(struct loop *loop, struct loop_defer *d)
{
	while (d) {
		struct loop_defer *next = d->next;
		loop_defer_fn *fn = d->fn;
		void *data = d->data;
		free(d);
		fn(loop, data);
		d = next;
	}
}

/* Runs one round: wait (not at all if calls are queued), serve ready fds, run queued calls. */
static int
loop_iterate(struct loop *loop)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	struct loop_defer *batch = loop->defer_head;
	int n;

	loop->defer_head = NULL;
	loop->defer_tail = &loop->defer_head;
	n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, batch ? 0 : -1);
	if (n < 0) {
		int e = errno;
		/* Keep the batch for the next round: put it back in front of anything new. */
		struct loop_defer **tail = &batch;
		while (*tail)
			tail = &(*tail)->next;
		*tail = loop->defer_head;
		if (!loop->defer_head)
			loop->defer_tail = tail;
		loop->defer_head = batch;
		return e == EINTR ? 0 : -e;
	}
	dispatch_fds(loop, evs, n);
	run_deferred(loop, batch);
	return 0;
}

bool
loop_fds_ready(struct loop *loop)
{
	struct pollfd p = {.fd = loop->epfd, .events = POLLIN};

	return poll(&p, 1, 0) > 0;
}

int
loop_run(struct loop *loop)
{
	int r = 0;

	/* A stop asked for before the run is honoured: another thread may stop a loop whose thread
	 * has not reached loop_run() yet. It is used up on return, so that the loop can run again. */
	while (!loop->stop && r >= 0)
		r = loop_iterate(loop);
	loop->stop = 0;
	return r;
}

void
loop_stop(struct loop *loop)
{
	loop->stop = 1;
}

void
loop_wake(struct loop *loop)
{
	uint64_t one = 1;

	/* Only fails when the counter is saturated, which wakes the loop just as well. */
	if (write(loop->wakefd, &one, sizeof(one)) < 0)
		return;
}

/* The event loop: one epoll instance that owns every fd of the daemon, timers on timerfd,
 * and deferred calls that run before the loop next sleeps. Single-threaded: only the loop
 * thread calls these, except loop_wake(). */
#ifndef SK_LOOP_H
#define SK_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

/* Called with the ready events (EPOLLIN, EPOLLOUT, EPOLLHUP, ...) of fd. */
typedef void loop_fd_fn(struct loop *loop, int fd, uint32_t events, void *data);
/* Called when a timer fires; the timer stays allocated and can be re-armed. */
typedef void loop_timer_fn(struct loop *loop, struct loop_timer *t, void *data);
/* A deferred call, run once. */
typedef void loop_defer_fn(struct loop *loop, void *data);

/* Creates a loop; NULL with errno set on failure. */
struct loop *loop_new(void);
/* Frees the loop and the timers still alive; fds still registered are not closed (their
 * owners close them). Deferred calls still queued are dropped. Accepts NULL. */
void loop_free(struct loop *loop);

/* Watches fd for events (EPOLLIN/EPOLLOUT); returns 0 or -errno. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn *fn, void *data);
/* Changes the events watched on fd; returns 0 or -errno. */
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
/* Stops watching fd (call before closing it). Safe to call from inside its callback. */
void loop_del_fd(struct loop *loop, int fd);

/* Creates a disarmed timer with its own timerfd; NULL with errno set on failure. Its callback
 * may re-arm or free it. */
struct loop_timer *loop_timer_new(struct loop *loop, loop_timer_fn *fn, void *data);
/* Arms the timer to fire once, usec from now (0 disarms); returns 0 or -errno. */
int loop_timer_arm(struct loop_timer *t, uint64_t usec);
/* Disarms and frees the timer. Accepts NULL. */
void loop_timer_free(struct loop_timer *t);

/* Queues fn(data) to run on the loop before it next waits; returns 0 or -ENOMEM.
 * While calls are queued the loop polls without sleeping, so ready fds are served between them. */
int loop_defer(struct loop *loop, loop_defer_fn *fn, void *data);
/* Drops the queued calls of fn(data) that have not run yet. */
void loop_defer_cancel(struct loop *loop, loop_defer_fn *fn, void *data);

/* True when a watched fd is ready now, so a round would serve it: one poll of the epoll fd,
 * which consumes no event. Lets work that shares the loop's thread give it back early. */
bool loop_fds_ready(struct loop *loop);

/* Runs until loop_stop(); returns 0, or -errno if epoll_wait fails. A stop asked for before
 * the call makes it return at once; each return uses the stop up, so a later call runs again. */
int loop_run(struct loop *loop);
/* Makes loop_run() return after the current iteration (or at once, if it has not started). */
void loop_stop(struct loop *loop);
/* Interrupts a sleeping loop_run() so it iterates once more. Safe from any thread and from a
 * signal handler (loop_stop() then loop_wake() stops the loop from outside it). */
void loop_wake(struct loop *loop);

#endif

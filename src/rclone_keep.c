/* The daemon's rclone rcd for its copy jobs. It is forked from the loop thread, so its
 * parent-death signal fires only when the daemon itself ends (a worker thread that forked it
 * would take it along when the thread exits); its stderr is watched on the loop, which learns
 * where it listens and when it ends. Jobs reach it over loopback HTTP, whichever core runs
 * them: a thread, a coroutine or a worker process. */
#include "rclone_keep.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "rclone.h"
#include "util.h"

struct rclone_keep {
	struct loop *loop;
	struct loop_timer *linger;
	uint64_t linger_usec;
	rclone_keep_fn *settled;
	void *data;
	struct rclone_rc *rc; /* NULL: none runs */
	int fd;		      /* rc's stderr, watched while it runs */
	bool listening;
	unsigned lent;			 /* copy jobs using it now */
	char *binary, *config, *bwlimit; /* the options it runs with */
};

static bool
same_opt(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool
same_opts(const struct rclone_keep *k, const struct rclone_opts *o)
{
	return same_opt(k->binary, o->binary) && same_opt(k->config, o->config) &&
	       same_opt(k->bwlimit, o->bwlimit);
}

/* Stops rcd (reaping it), if one runs, and forgets it and its options. */
static void
keep_stop(struct rclone_keep *k)
{
	if (k->rc) {
		loop_del_fd(k->loop, k->fd);
		rclone_rc_stop(k->rc);
		k->rc = NULL;
		k->listening = false;
	}
	free(k->binary);
	free(k->config);
	free(k->bwlimit);
	k->binary = k->config = k->bwlimit = NULL;
}

/* While nobody uses rcd: the linger once it listens, the bound on its start before. */
static void
keep_arm(struct rclone_keep *k)
{
	if (k->lent == 0)
		loop_timer_arm(k->linger, k->listening ? k->linger_usec : RCLONE_KEEP_START_USEC);
}

/* rcd wrote to stderr or ended: it listens now, or it is gone. */
static void
on_output(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct rclone_keep *k = data;
	bool was_listening = k->listening;
	char err[512];
	int r = rclone_rc_poll(k->rc, err, sizeof(err));

	(void)loop;
	(void)fd;
	(void)events;
	if (r == 1 && !k->listening) {
		k->listening = true;
		keep_arm(k);
		k->settled(k->data);
	} else if (r < 0) {
		/* Its fd is closed already; loop_del_fd in keep_stop only forgets it. */
		log_warn("%s", err);
		keep_stop(k);
		if (!was_listening)
			k->settled(k->data);
	}
}

static void
on_linger(struct loop *loop, struct loop_timer *t, void *data)
{
	struct rclone_keep *k = data;
	bool starting = k->rc && !k->listening;

	(void)loop;
	(void)t;
	if (k->lent > 0)
		return;
	/* One that did not come to listen in time is given up; copies that waited for it go on. */
	keep_stop(k);
	if (starting)
		k->settled(k->data);
}

/* Forks rcd with o's options and watches its stderr. */
static int
keep_start(struct rclone_keep *k, const struct rclone_opts *o)
{
	char err[512];
	int r = -ENOMEM;

	if ((o->binary && !(k->binary = strdup(o->binary))) ||
	    (o->config && !(k->config = strdup(o->config))) ||
	    (o->bwlimit && !(k->bwlimit = strdup(o->bwlimit))))
		goto fail;
	/* The copy of o whose strings rc borrows: the keeper's own, not the config's, which a
	 * reload frees. */
	r = rclone_rc_spawn(
	    &(struct rclone_opts){.binary = k->binary, .config = k->config, .bwlimit = k->bwlimit}, &k->rc,
	    err, sizeof(err));
	if (r < 0)
		goto fail;
	k->fd = rclone_rc_fd(k->rc);
	r = loop_add_fd(k->loop, k->fd, EPOLLIN, on_output, k);
	if (r < 0)
		goto fail;
	return 0;
fail:
	keep_stop(k);
	return r;
}

int
rclone_keep_want(struct rclone_keep *k, const struct rclone_opts *o)
{
	int r = 0;

	if (k->rc && !same_opts(k, o) && k->lent == 0)
		keep_stop(k);
	if (!k->rc)
		r = keep_start(k, o);
	keep_arm(k);
	if (r < 0)
		return r;
	return !same_opts(k, o) ? -EBUSY : k->listening ? 1 : 0;
}

int
rclone_keep_lend(struct rclone_keep *k, const struct rclone_opts *o, char **ret_addr, char **ret_auth)
{
	int r = rclone_keep_want(k, o);
	char *addr, *auth;

	if (r <= 0)
		return r == 0 ? -EAGAIN : r;
	addr = strdup(rclone_rc_addr(k->rc));
	auth = strdup(rclone_rc_auth(k->rc));
	if (!addr || !auth) {
		free(addr);
		free(auth);
		return -ENOMEM;
	}
	k->lent++;
	loop_timer_arm(k->linger, 0);
	*ret_addr = addr;
	*ret_auth = auth;
	return 0;
}

void
rclone_keep_return(struct rclone_keep *k)
{
	if (k->lent > 0 && --k->lent == 0)
		keep_arm(k);
}

struct rclone_keep *
rclone_keep_new(struct loop *loop, uint64_t linger_usec, rclone_keep_fn *settled, void *data)
{
	struct rclone_keep *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	*k = (struct rclone_keep){.loop = loop,
				  .linger_usec = linger_usec ? linger_usec : 1,
				  .settled = settled,
				  .data = data,
				  .fd = -EBADF};
	k->linger = loop_timer_new(loop, on_linger, k);
	if (!k->linger) {
		free(k);
		return NULL;
	}
	return k;
}

void
rclone_keep_free(struct rclone_keep *k)
{
	if (!k)
		return;
	keep_stop(k);
	loop_timer_free(k->linger);
	free(k);
}

/* The daemon's own rclone rcd, kept on its loop for the copy jobs: started when a snapshot
 * that will be copied begins (so it is listening by the time the copy starts), lent to each
 * copy job (its address and credentials go into the job's spec), and stopped once no job has
 * used it for a linger time. Loop thread only. */
#ifndef SK_RCLONE_KEEP_H
#define SK_RCLONE_KEEP_H

#include <stdint.h>

struct loop;
struct rclone_opts;
struct rclone_keep;

/* How long rcd stays after the last copy job that used it: a burst of archives (several
 * games at once, or one saved again soon) shares one start; an idle rcd costs some 40-70 MB. */
#define RCLONE_KEEP_LINGER_USEC (30ULL * 1000000)
/* How long it may take to start listening before it is given up. */
#define RCLONE_KEEP_START_USEC (30ULL * 1000000)

/* Called when rcd has started listening, or failed to: copies that waited may go. */
typedef void rclone_keep_fn(void *data);

/* A keeper without rcd; NULL with errno set on failure. */
struct rclone_keep *rclone_keep_new(struct loop *loop, uint64_t linger_usec, rclone_keep_fn *settled,
				    void *data);

/* Makes sure rcd runs with o's options, starting it without waiting when none runs (one with
 * other options is stopped first, when no job uses it), and arms the linger if no job uses
 * it. Returns 1 when it listens, 0 while it starts, -errno when it cannot be started. */
int rclone_keep_want(struct rclone_keep *k, const struct rclone_opts *o);

/* Lends rcd to a copy job: *ret_addr and *ret_auth (malloc'd) for its spec, counted until
 * rclone_keep_return. Returns 0, -EAGAIN while rcd starts (settled follows), or another -errno
 * when there is none to lend (the job then starts its own). */
int rclone_keep_lend(struct rclone_keep *k, const struct rclone_opts *o, char **ret_addr, char **ret_auth);
void rclone_keep_return(struct rclone_keep *k);

/* Stops rcd and frees the keeper. Accepts NULL. */
void rclone_keep_free(struct rclone_keep *k);

#endif

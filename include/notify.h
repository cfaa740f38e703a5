/* Desktop notifications through libnotify, sent from a thread of their own with a bounded
 * queue, so a slow or missing notification server never delays the loop. Best effort: when
 * no session bus or no server answers, one warning is logged and notifications are dropped
 * quietly, with a new attempt on the first notification a minute later.
 *
 * Each game has one notification on screen, updated in place (same replaces-id). A failure
 * identical to the last one of the same game is not shown again until it changes or a
 * success clears it. */
#ifndef SK_NOTIFY_H
#define SK_NOTIFY_H

#include <stdint.h>

#include "config.h"
#include "job.h"

enum notify_kind { NOTE_BACKUP, NOTE_FAILURE, NOTE_RESTORE, NOTE_UNDO };

/* Starts the notifier thread; returns 0 or -errno (-EBUSY while a thread given up by
 * notify_stop still hangs in a call). With SK_NOTIFY_OFF nothing starts. */
int notify_start(enum sk_notify mode);
/* Changes the mode (on reload); starts the thread when it was off. */
void notify_set_mode(enum sk_notify mode);
/* Queues a notification for game; the oldest is dropped when the queue is full. Never blocks
 * on D-Bus: it takes a mutex and copies the strings. */
void notify_send(enum notify_kind kind, const char *game, const char *summary, const char *body);
/* Queues the notification for a finished job, in words for the user: a snapshot taken (files,
 * size, time) or failed (the cause), a restore done or failed. Nothing for verify, for an
 * unchanged snapshot, for a dry run, or for a job cancelled at shutdown. Takes the arguments
 * of sched_event_fn, so an event handler can pass them on. */
void notify_job(const char *game, enum job_kind kind, const struct job_result *r);
/* Waits until every queued notification was shown or dropped, at most timeout_usec;
 * 0 or -ETIMEDOUT. For `--once` and tests. */
int notify_flush(uint64_t timeout_usec);
/* Stops the thread after it sends what is queued, waiting at most two seconds. A thread still
 * stuck in a call to a hung server after that is detached, not waited for: it ends by itself
 * when the call times out, and the process may exit before. */
void notify_stop(void);

#endif

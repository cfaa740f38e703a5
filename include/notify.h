/* Desktop notifications through libnotify, sent from a thread of their own with a bounded
 * queue, so a slow or missing notification server never delays the loop. Best effort. */
#ifndef SK_NOTIFY_H
#define SK_NOTIFY_H

#include "config.h"

enum notify_kind { NOTE_BACKUP, NOTE_FAILURE, NOTE_RESTORE, NOTE_UNDO };

/* Starts the notifier thread; returns 0 or -errno. With SK_NOTIFY_OFF nothing starts. */
int notify_start(enum sk_notify mode);
/* Changes the mode (on reload). */
void notify_set_mode(enum sk_notify mode);
/* Queues a notification for game; the oldest is dropped when the queue is full. Never blocks. */
void notify_send(enum notify_kind kind, const char *game, const char *summary, const char *body);
/* Stops the thread, waiting at most a moment for a call in progress. */
void notify_stop(void);

#endif

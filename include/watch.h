/* Change detection for a save folder: inotify watches on the folder and every folder below it,
 * read on the loop. It only says "something changed, at this time"; what changed is the
 * snapshot's business. */
#ifndef SK_WATCH_H
#define SK_WATCH_H

#include <stdbool.h>

struct loop;
struct watch;

/* Called on the loop after a batch of events under the folder. */
typedef void watch_fn(struct watch *w, void *data);

/* Watches path (followed when it is a symlink) and its sub-folders (never through a symlink);
 * returns 0 or -errno (e.g. -ENOENT, or -ENOSPC when the inotify watch limit is reached: the
 * caller then falls back to comparing with the last manifest). */
int watch_new(struct loop *loop, const char *path, watch_fn *fn, void *data, struct watch **ret);
/* False once the watched folder itself was removed or moved, or events were lost: then only a
 * full comparison can tell what changed. */
bool watch_reliable(const struct watch *w);
/* Stops watching and frees. Accepts NULL. */
void watch_free(struct watch *w);

#endif

/* Desktop notifications on a thread of their own. Callers only copy a notification into a
 * bounded queue under a mutex; the notifier thread owns every libnotify and GDBus object.
 * libnotify calls are synchronous with a 25 s D-Bus timeout, so a hung server stalls this
 * thread alone, and notify_stop gives up waiting for it after a short while.
 *
 * libnotify is loaded (dlopen) by the notifier thread when it starts, not linked: it brings
 * GIO, GObject, GLib and a dozen more libraries whose loading took about 3 ms of every start
 * of the program, which `savekeeperd --once` and each worker of the process core paid without
 * ever showing a notification. */
#include <dlfcn.h>
#include <glib.h>
#include <libnotify/notify.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "util.h"

#define QUEUE_MAX 32
#define RETRY_USEC (60 * USEC_PER_SEC)
#define STOP_WAIT_USEC (2 * USEC_PER_SEC)

struct note {
	enum notify_kind kind;
	char *game, *summary, *body;
};

/* The last failure shown per game, for suppressing repeats; kept by the senders. */
struct seen {
	char *game;
	char *failure; /* summary and body, NULL after a success */
};

/* What the senders and the thread share, under lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* to the thread: work or stop */
	pthread_cond_t changed; /* from the thread: queue drained or thread ended (monotonic) */
	struct note queue[QUEUE_MAX];
	unsigned head, len;
	enum sk_notify mode;
	bool running; /* a thread serves the queue */
	bool alive;   /* the thread has not returned (it may be detached) */
	bool busy;    /* the thread holds a note it took off the queue */
	bool stopping;
	pthread_t thread;
	struct seen *seen;
	size_t n_seen;
} N = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .mode = SK_NOTIFY_OFF,
};

/* One notification object per game, so a new one replaces the last on screen. */
struct shown {
	char *game;
	NotifyNotification *n;
};

#define LIBNOTIFY "libnotify.so.4"

/* The functions of libnotify and of the GLib libraries it depends on that are called here,
 * looked up in the loaded library; the notifier thread sets them once. */
static struct {
	void *handle;
	gboolean (*init)(const char *app_name);
	void (*uninit)(void);
	NotifyNotification *(*notification_new)(const char *summary, const char *body, const char *icon);
	gboolean (*notification_update)(NotifyNotification *n, const char *summary, const char *body,
					const char *icon);
	void (*notification_set_urgency)(NotifyNotification *n, NotifyUrgency urgency);
	gboolean (*notification_show)(NotifyNotification *n, GError **error);
	void (*object_unref)(gpointer object);
	void (*error_free)(GError *error);
	GDBusConnection *(*bus_get_sync)(GBusType type, GCancellable *cancellable, GError **error);
	void (*set_exit_on_close)(GDBusConnection *c, gboolean exit_on_close);
	GMainContext *(*context_new)(void);
	void (*context_push)(GMainContext *ctx);
	void (*context_pop)(GMainContext *ctx);
	gboolean (*context_iteration)(GMainContext *ctx, gboolean may_block);
	void (*context_unref)(GMainContext *ctx);
} L;

/* The notifier thread's own state; no lock. */
static struct {
	GDBusConnection *bus;
	struct shown *shown;
	size_t n_shown;
	uint64_t retry_at; /* while unavailable: no attempt before this time */
	bool warned;
} T;

static pthread_once_t changed_once = PTHREAD_ONCE_INIT;

static void
changed_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&N.changed, &attr);
	pthread_condattr_destroy(&attr);
}

/* Waits on N.changed until pred() is false or deadline (monotonic usec) passes; under lock. */
static bool
wait_while(bool (*pred)(void), uint64_t deadline)
{
	struct timespec ts = {
	    .tv_sec = deadline / USEC_PER_SEC,
	    .tv_nsec = (deadline % USEC_PER_SEC) * NSEC_PER_USEC,
	};

	while (pred())
		if (pthread_cond_timedwait(&N.changed, &N.lock, &ts) == ETIMEDOUT)
			return !pred();
	return true;
}

static void
note_clear(struct note *n)
{
	free(n->game);
	free(n->summary);
	free(n->body);
	*n = (struct note){0};
}

static const char *
kind_icon(enum notify_kind kind)
{
	switch (kind) {
	case NOTE_BACKUP:
		return "document-save";
	case NOTE_FAILURE:
		return "dialog-error";
	case NOTE_RESTORE:
		return "document-revert";
	case NOTE_UNDO:
		return "edit-undo";
	}
	return NULL;
}

/* Drops every libnotify object and the bus, so the next attempt starts from nothing (a new
 * server hands out new ids; a new bus needs a new connection). */
static void
forget_all(void)
{
	for (size_t i = 0; i < T.n_shown; i++) {
		free(T.shown[i].game);
		L.object_unref(T.shown[i].n);
	}
	free(T.shown);
	T.shown = NULL;
	T.n_shown = 0;
	if (L.handle)
		L.uninit();
	if (T.bus)
		L.object_unref(T.bus);
	T.bus = NULL;
}

static void
unavailable(const char *why)
{
	if (!T.warned)
		log_warn("desktop notifications unavailable: %s", why ? why : "unknown error");
	T.warned = true;
	T.retry_at = now_usec() + RETRY_USEC;
	forget_all();
}

/* Connects to the session bus the way libnotify will (the shared connection), but keeps the
 * daemon alive when the bus goes away: GDBus raises SIGTERM by default then. */
static bool
bus_connect(void)
{
	GError *e = NULL;

	if (T.bus)
		return true;
	T.bus = L.bus_get_sync(G_BUS_TYPE_SESSION, NULL, &e);
	if (!T.bus) {
		unavailable(e ? e->message : NULL);
		L.error_free(e);
		return false;
	}
	L.set_exit_on_close(T.bus, FALSE);
	L.init("savekeeper");
	return true;
}

static NotifyNotification *
shown_for(const struct note *n)
{
	struct shown *s;

	for (size_t i = 0; i < T.n_shown; i++)
		if (strcmp(T.shown[i].game, n->game) == 0) {
			L.notification_update(T.shown[i].n, n->summary, n->body, kind_icon(n->kind));
			return T.shown[i].n;
		}
	s = realloc(T.shown, (T.n_shown + 1) * sizeof(*s));
	if (!s)
		return NULL;
	T.shown = s;
	s = &T.shown[T.n_shown];
	s->game = strdup(n->game);
	if (!s->game)
		return NULL;
	s->n = L.notification_new(n->summary, n->body, kind_icon(n->kind));
	T.n_shown++;
	return s->n;
}

static void
show(const struct note *n)
{
	NotifyNotification *nn;
	GError *e = NULL;

	if (T.retry_at && now_usec() < T.retry_at)
		return;
	if (!bus_connect())
		return;
	nn = shown_for(n);
	if (!nn)
		return;
	L.notification_set_urgency(nn,
				   n->kind == NOTE_FAILURE ? NOTIFY_URGENCY_CRITICAL : NOTIFY_URGENCY_NORMAL);
	if (!L.notification_show(nn, &e)) {
		unavailable(e ? e->message : NULL);
		L.error_free(e);
		return;
	}
	if (T.warned)
		log_info("desktop notifications available again");
	T.warned = false;
	T.retry_at = 0;
}

/* Moves the oldest note into *ret; under lock, with the queue not empty. */
static void
queue_take_locked(struct note *ret)
{
	*ret = N.queue[N.head];
	N.queue[N.head] = (struct note){0};
	N.head = (N.head + 1) % QUEUE_MAX;
	N.len--;
}

/* Takes the next note off the queue, waiting for one; false when stopping with none left. */
static bool
queue_pop(struct note *ret)
{
	bool got;

	pthread_mutex_lock(&N.lock);
	N.busy = false;
	pthread_cond_broadcast(&N.changed);
	while (N.len == 0 && !N.stopping)
		pthread_cond_wait(&N.wake, &N.lock);
	got = N.len > 0;
	if (got)
		queue_take_locked(ret);
	N.busy = got;
	pthread_mutex_unlock(&N.lock);
	return got;
}

/* Looks up one symbol; false (and a warning, once) when the library lacks it. */
static bool
sym(void *dst, const char *name)
{
	void *p = dlsym(L.handle, name);

	memcpy(dst, &p, sizeof(p));
	if (!p)
		log_warn("desktop notifications unavailable: %s has no %s", LIBNOTIFY, name);
	return p != NULL;
}

/* Loads libnotify and the functions called here, once; false when that cannot be done. The
 * library stays loaded until the program exits: GLib's types cannot be unloaded. */
static bool
library_load(void)
{
	if (L.handle)
		return true;
	if (!(L.handle = dlopen(LIBNOTIFY, RTLD_NOW | RTLD_LOCAL))) {
		log_warn("desktop notifications unavailable: %s", dlerror());
		return false;
	}
	if (sym(&L.init, "notify_init") && sym(&L.uninit, "notify_uninit") &&
	    sym(&L.notification_new, "notify_notification_new") &&
	    sym(&L.notification_update, "notify_notification_update") &&
	    sym(&L.notification_set_urgency, "notify_notification_set_urgency") &&
	    sym(&L.notification_show, "notify_notification_show") && sym(&L.object_unref, "g_object_unref") &&
	    sym(&L.error_free, "g_error_free") && sym(&L.bus_get_sync, "g_bus_get_sync") &&
	    sym(&L.set_exit_on_close, "g_dbus_connection_set_exit_on_close") &&
	    sym(&L.context_new, "g_main_context_new") &&
	    sym(&L.context_push, "g_main_context_push_thread_default") &&
	    sym(&L.context_pop, "g_main_context_pop_thread_default") &&
	    sym(&L.context_iteration, "g_main_context_iteration") &&
	    sym(&L.context_unref, "g_main_context_unref"))
		return true;
	dlclose(L.handle);
	L.handle = NULL;
	return false;
}

/* Shows the notes as they come, until stopped; without the library it only empties the queue. */
static void
serve(void)
{
	/* Signals from the proxy (a notification closed) are dispatched here, not on a default
	 * context nobody runs, where they would pile up. */
	GMainContext *ctx = L.context_new();
	struct note n;

	L.context_push(ctx);
	while (queue_pop(&n)) {
		show(&n);
		note_clear(&n);
		while (L.context_iteration(ctx, FALSE))
			;
	}
	forget_all();
	L.context_pop(ctx);
	L.context_unref(ctx);
}

static void *
notifier_main(void *arg)
{
	struct note n;

	(void)arg;
	if (library_load()) {
		serve();
	} else {
		while (queue_pop(&n))
			note_clear(&n);
	}
	T.warned = false;
	T.retry_at = 0;

	pthread_mutex_lock(&N.lock);
	N.alive = false;
	N.busy = false;
	pthread_cond_broadcast(&N.changed);
	pthread_mutex_unlock(&N.lock);
	return NULL;
}

/* Starts the thread with every signal blocked, so the loop's signalfd gets them all; the
 * GDBus threads it starts inherit the mask. Under lock. */
static int
thread_start_locked(void)
{
	sigset_t all, old;
	int r;

	if (N.running)
		return 0;
	if (N.alive)
		return -EBUSY;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	N.stopping = false;
	r = pthread_create(&N.thread, NULL, notifier_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	N.running = N.alive = true;
	return 0;
}

int
notify_start(enum sk_notify mode)
{
	int r = 0;

	pthread_once(&changed_once, changed_init);
	pthread_mutex_lock(&N.lock);
	N.mode = mode;
	if (mode != SK_NOTIFY_OFF)
		r = thread_start_locked();
	pthread_mutex_unlock(&N.lock);
	return r;
}

void
notify_set_mode(enum sk_notify mode)
{
	int r = notify_start(mode);

	if (r < 0)
		log_warn("cannot start the notifier thread: %s", strerror(-r));
}

static struct seen *
seen_find(const char *game)
{
	struct seen *s;

	for (size_t i = 0; i < N.n_seen; i++)
		if (strcmp(N.seen[i].game, game) == 0)
			return &N.seen[i];
	s = realloc(N.seen, (N.n_seen + 1) * sizeof(*s));
	if (!s)
		return NULL;
	N.seen = s;
	s = &N.seen[N.n_seen];
	*s = (struct seen){.game = strdup(game)};
	if (!s->game)
		return NULL;
	N.n_seen++;
	return s;
}

/* Records the outcome for game; true when it is a failure identical to the last one. */
static bool
seen_repeat(enum notify_kind kind, const char *game, const char *summary, const char *body)
{
	struct seen *s = seen_find(game);
	char *text = NULL;

	if (!s)
		return false;
	if (kind == NOTE_FAILURE) {
		if (asprintf(&text, "%s\n%s", summary, body) < 0)
			return false;
		if (s->failure && strcmp(s->failure, text) == 0) {
			free(text);
			return true;
		}
	}
	free(s->failure);
	s->failure = text;
	return false;
}

static bool
mode_wants(enum notify_kind kind)
{
	return N.mode == SK_NOTIFY_ALL || (N.mode == SK_NOTIFY_ERRORS && kind == NOTE_FAILURE);
}

/* Appends to the queue, dropping the oldest when it is full; under lock. */
static void
enqueue_locked(struct note *n)
{
	struct note old;

	if (N.len == QUEUE_MAX) {
		queue_take_locked(&old);
		note_clear(&old);
	}
	N.queue[(N.head + N.len) % QUEUE_MAX] = *n;
	N.len++;
	*n = (struct note){0};
	pthread_cond_signal(&N.wake);
}

void
notify_send(enum notify_kind kind, const char *game, const char *summary, const char *body)
{
	struct note n = {.kind = kind};

	body = body ? body : "";
	pthread_mutex_lock(&N.lock);
	/* The repeat check runs in every mode, so that a success seen in "errors" mode still
	 * clears the failure it follows. */
	if (!seen_repeat(kind, game, summary, body) && N.running && !N.stopping && mode_wants(kind)) {
		n.game = strdup(game);
		n.summary = strdup(summary);
		n.body = strdup(body);
		if (n.game && n.summary && n.body)
			enqueue_locked(&n);
	}
	pthread_mutex_unlock(&N.lock);
	note_clear(&n);
}

static void send_fmt(enum notify_kind kind, const char *game, const char *body, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
send_fmt(enum notify_kind kind, const char *game, const char *body, const char *fmt, ...)
{
	_cleanup_free_ char *summary = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&summary, fmt, ap);
	va_end(ap);
	if (r >= 0)
		notify_send(kind, game, summary, body);
}

static void
notify_snapshot(const char *game, const struct job_result *r)
{
	char in[32], out[32], files[32], took[32], body[160];

	if (r->err) {
		send_fmt(NOTE_FAILURE, game, r->message, "Backup of %s failed", game);
		return;
	}
	if (r->unchanged)
		return;
	snprintf(body, sizeof(body), "%s, %s (%s compressed) in %s",
		 fmt_count((int64_t)r->files, "file", NULL, files, sizeof(files)),
		 fmt_size(r->bytes_in, in, sizeof(in)), fmt_size(r->bytes_out, out, sizeof(out)),
		 fmt_duration((int64_t)r->usec, took, sizeof(took)));
	send_fmt(NOTE_BACKUP, game, body, "Backed up %s", game);
}

void
notify_job(const char *game, enum job_kind kind, const struct job_result *r)
{
	if (r->err == -ECANCELED)
		return;
	if (kind == JOB_SNAPSHOT)
		notify_snapshot(game, r);
	else if (kind == JOB_RESTORE && r->err)
		send_fmt(NOTE_FAILURE, game, r->message, "Restore of %s failed", game);
	else if (kind == JOB_RESTORE && !r->dry_run) /* a dry run lists, it changes nothing */
		send_fmt(NOTE_RESTORE, game, r->message, "Restored %s", game);
	else if (kind == JOB_COPY && r->err) /* the scheduler reports only the first failure */
		send_fmt(NOTE_FAILURE, game, r->message, "Copies of %s to the remote are failing", game);
	else if (kind == JOB_COPY)
		send_fmt(NOTE_BACKUP, game, "All archives are copied.",
			 "Copies of %s to the remote work again", game);
}

static bool
pending(void)
{
	return N.len > 0 || N.busy;
}

static bool
thread_alive(void)
{
	return N.alive;
}

int
notify_flush(uint64_t timeout_usec)
{
	bool done;

	pthread_once(&changed_once, changed_init);
	pthread_mutex_lock(&N.lock);
	done = !N.running || wait_while(pending, now_usec() + timeout_usec);
	pthread_mutex_unlock(&N.lock);
	return done ? 0 : -ETIMEDOUT;
}

static void
seen_free_locked(void)
{
	for (size_t i = 0; i < N.n_seen; i++) {
		free(N.seen[i].game);
		free(N.seen[i].failure);
	}
	free(N.seen);
	N.seen = NULL;
	N.n_seen = 0;
}

void
notify_stop(void)
{
	bool joinable = false;
	pthread_t thread = 0;
	struct note old;

	pthread_once(&changed_once, changed_init);
	pthread_mutex_lock(&N.lock);
	if (N.running) {
		thread = N.thread;
		N.stopping = true;
		pthread_cond_signal(&N.wake);
		joinable = wait_while(thread_alive, now_usec() + STOP_WAIT_USEC);
		if (!joinable) {
			/* Stuck in a call to a hung server: what is queued would only wait behind
			 * it, so it goes, and the thread ends on its own when the call times out. */
			while (N.len > 0) {
				queue_take_locked(&old);
				note_clear(&old);
			}
			pthread_detach(N.thread);
		}
		N.running = false;
	}
	seen_free_locked();
	pthread_mutex_unlock(&N.lock);
	if (joinable)
		pthread_join(thread, NULL);
}

/* Jobs: running one by kind, the hooks the work calls, and a JSON form of specs, progress and
 * results for the process core's pipe. */
#include "job.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "restore.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

static job_work_fn *work_override;

void
job_set_work(job_work_fn *fn)
{
	work_override = fn;
}

static job_work_fn *
job_work(enum job_kind kind)
{
	if (work_override)
		return work_override;
	switch (kind) {
	case JOB_SNAPSHOT:
		return snap_create;
	case JOB_VERIFY:
		return store_verify;
	case JOB_RESTORE:
		return restore_run;
	}
	return NULL;
}

int
job_lock_game(const char *game_dir, uint64_t wait_usec)
{
	uint64_t deadline = now_usec() + wait_usec;
	_cleanup_close_ int fd = open(game_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (now_usec() >= deadline)
			return -EWOULDBLOCK;
		usleep(20 * USEC_PER_MSEC);
	}
	return TAKE_FD(fd);
}

int
job_execute(const struct job_spec *spec, const struct job_hooks *hooks, struct job_result *ret)
{
	job_work_fn *fn = job_work(spec->kind);
	uint64_t start = now_usec();
	int lock = spec->game_dir ? job_lock_game(spec->game_dir, 0) : -EBADF;

	*ret = (struct job_result){ 0 };
	if (!fn || lock == -EWOULDBLOCK) {
		ret->err = fn ? -EBUSY : -EINVAL;
		if (fn)
			snprintf(ret->message, sizeof(ret->message),
				 "another savekeeper job is working on %s", spec->game_dir);
		else
			snprintf(ret->message, sizeof(ret->message), "unknown job kind %d", (int)spec->kind);
		return ret->err;
	}
	ret->err = fn(spec, hooks, ret);
	if (ret->err < 0 && !ret->message[0])
		snprintf(ret->message, sizeof(ret->message), "%s", strerror(-ret->err));
	/* Retention belongs to the job, under its lock and off the daemon's loop. */
	if (ret->err == 0 && spec->kind == JOB_SNAPSHOT && spec->prune && !ret->unchanged)
		ret->pruned = store_prune(spec->game_dir, &spec->keep, false, NULL);
	ret->usec = now_usec() - start;
	safe_close(lock);
	return ret->err;
}

bool
job_yield(const struct job_hooks *hooks)
{
	if (!hooks)
		return false;
	if (hooks->yield)
		hooks->yield(hooks->ctx);
	return hooks->cancel && atomic_load(hooks->cancel);
}

static char **
strv_dup(char *const *v, unsigned n)
{
	char **copy = calloc(n + 1, sizeof(*copy));

	if (!copy)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		copy[i] = strdup(v[i]);
		if (!copy[i]) {
			while (i > 0)
				free(copy[--i]);
			free(copy);
			return NULL;
		}
	}
	return copy;
}

/* strdup that keeps NULL as NULL; false when memory ran out. */
static bool
dup_opt(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst;
}

struct job_spec *
job_spec_dup(const struct job_spec *spec)
{
	struct job_spec *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	*d = *spec;
	d->game = d->save_dir = d->game_dir = d->id = d->tag = NULL;
	d->exclude = NULL;
	if (!dup_opt(&d->game, spec->game) || !dup_opt(&d->save_dir, spec->save_dir) ||
	    !dup_opt(&d->game_dir, spec->game_dir) || !dup_opt(&d->id, spec->id) ||
	    !dup_opt(&d->tag, spec->tag) ||
	    (spec->n_exclude && !(d->exclude = strv_dup(spec->exclude, spec->n_exclude)))) {
		d->n_exclude = 0;
		job_spec_free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

void
job_spec_free(struct job_spec *spec)
{
	if (!spec)
		return;
	free(spec->game);
	free(spec->save_dir);
	free(spec->game_dir);
	free(spec->id);
	free(spec->tag);
	for (unsigned i = 0; spec->exclude && i < spec->n_exclude; i++)
		free(spec->exclude[i]);
	free(spec->exclude);
	free(spec);
}

void
job_result_clear(struct job_result *r)
{
	if (!r)
		return;
	free(r->detail);
	r->detail = NULL;
}

/* JSON helpers: json-c objects are reference counted; these hide the puts and gets. */

static void
put_str(json_object *o, const char *key, const char *s)
{
	if (s)
		json_object_object_add(o, key, json_object_new_string(s));
}

static void
put_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void
put_int(json_object *o, const char *key, int v)
{
	json_object_object_add(o, key, json_object_new_int(v));
}

static void
put_bool(json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

static const char *
get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static uint64_t
get_u64(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static int
get_int(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int(v) : 0;
}

static bool
get_bool(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* Serialises o on one line (json-c escapes newlines) and drops it. */
static char *
to_line(json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return s;
}

/* Parses json into an object; -EINVAL unless it is a JSON object. */
static int
parse_object(const char *json, json_object **ret)
{
	json_object *o = json_tokener_parse(json);

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EINVAL;
	}
	*ret = o;
	return 0;
}

char *
job_spec_to_json(const struct job_spec *spec)
{
	json_object *o = json_object_new_object();
	json_object *ex = json_object_new_array();

	if (!o || !ex) {
		json_object_put(o);
		json_object_put(ex);
		return NULL;
	}
	put_int(o, "kind", (int)spec->kind);
	put_str(o, "game", spec->game);
	put_str(o, "save_dir", spec->save_dir);
	put_str(o, "game_dir", spec->game_dir);
	put_str(o, "id", spec->id);
	put_str(o, "tag", spec->tag);
	for (unsigned i = 0; i < spec->n_exclude; i++)
		json_object_array_add(ex, json_object_new_string(spec->exclude[i]));
	json_object_object_add(o, "exclude", ex);
	put_int(o, "level", spec->level);
	put_u64(o, "threads", spec->threads);
	put_bool(o, "dry_run", spec->dry_run);
	put_bool(o, "undo", spec->undo);
	put_bool(o, "pin", spec->pin);
	put_bool(o, "if_changed", spec->if_changed);
	put_bool(o, "prune", spec->prune);
	put_u64(o, "keep_last", spec->keep.last);
	put_u64(o, "keep_hourly", spec->keep.hourly);
	put_u64(o, "keep_daily", spec->keep.daily);
	put_u64(o, "keep_weekly", spec->keep.weekly);
	put_u64(o, "keep_monthly", spec->keep.monthly);
	return to_line(o);
}

/* Reads the exclude array of o into spec; false when memory ran out. */
static bool
spec_excludes_from(json_object *o, struct job_spec *spec)
{
	json_object *ex;

	if (!json_object_object_get_ex(o, "exclude", &ex) || !json_object_is_type(ex, json_type_array))
		return true;
	size_t n = json_object_array_length(ex);
	spec->exclude = calloc(n + 1, sizeof(char *));
	if (!spec->exclude)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(ex, i));
		if (!s)
			continue;
		spec->exclude[spec->n_exclude] = strdup(s);
		if (!spec->exclude[spec->n_exclude])
			return false;
		spec->n_exclude++;
	}
	return true;
}

int
job_spec_from_json(const char *json, struct job_spec **ret)
{
	json_object *o;
	int r = parse_object(json, &o);

	if (r < 0)
		return r;
	struct job_spec *spec = calloc(1, sizeof(*spec));
	bool ok = spec && dup_opt(&spec->game, get_str(o, "game")) &&
		  dup_opt(&spec->save_dir, get_str(o, "save_dir")) &&
		  dup_opt(&spec->game_dir, get_str(o, "game_dir")) &&
		  dup_opt(&spec->id, get_str(o, "id")) && dup_opt(&spec->tag, get_str(o, "tag")) &&
		  spec_excludes_from(o, spec);
	if (ok) {
		spec->kind = (enum job_kind)get_int(o, "kind");
		spec->level = get_int(o, "level");
		spec->threads = (unsigned)get_u64(o, "threads");
		spec->dry_run = get_bool(o, "dry_run");
		spec->undo = get_bool(o, "undo");
		spec->pin = get_bool(o, "pin");
		spec->if_changed = get_bool(o, "if_changed");
		spec->prune = get_bool(o, "prune");
		spec->keep.last = (unsigned)get_u64(o, "keep_last");
		spec->keep.hourly = (unsigned)get_u64(o, "keep_hourly");
		spec->keep.daily = (unsigned)get_u64(o, "keep_daily");
		spec->keep.weekly = (unsigned)get_u64(o, "keep_weekly");
		spec->keep.monthly = (unsigned)get_u64(o, "keep_monthly");
	}
	json_object_put(o);
	if (!ok) {
		job_spec_free(spec);
		return -ENOMEM;
	}
	if (spec->kind > JOB_RESTORE) {
		job_spec_free(spec);
		return -EINVAL;
	}
	*ret = spec;
	return 0;
}

char *
job_result_to_json(const struct job_result *r)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	put_int(o, "err", r->err);
	put_str(o, "message", r->message);
	put_str(o, "id", r->id);
	put_str(o, "pre_id", r->pre_id);
	put_bool(o, "unchanged", r->unchanged);
	put_int(o, "pruned", r->pruned);
	put_u64(o, "files", r->files);
	put_u64(o, "bytes_in", r->bytes_in);
	put_u64(o, "bytes_out", r->bytes_out);
	put_u64(o, "usec", r->usec);
	put_str(o, "detail", r->detail);
	return to_line(o);
}

int
job_result_from_json(const char *json, struct job_result *ret)
{
	json_object *o;
	struct job_result r = { 0 };
	const char *detail;
	int e = parse_object(json, &o);

	if (e < 0)
		return e;
	r.err = get_int(o, "err");
	snprintf(r.message, sizeof(r.message), "%s", get_str(o, "message") ?: "");
	snprintf(r.id, sizeof(r.id), "%s", get_str(o, "id") ?: "");
	snprintf(r.pre_id, sizeof(r.pre_id), "%s", get_str(o, "pre_id") ?: "");
	r.unchanged = get_bool(o, "unchanged");
	r.pruned = get_int(o, "pruned");
	r.files = get_u64(o, "files");
	r.bytes_in = get_u64(o, "bytes_in");
	r.bytes_out = get_u64(o, "bytes_out");
	r.usec = get_u64(o, "usec");
	detail = get_str(o, "detail");
	if (detail && !(r.detail = strdup(detail))) {
		json_object_put(o);
		return -ENOMEM;
	}
	json_object_put(o);
	*ret = r;
	return 0;
}

char *
job_progress_to_json(const struct job_progress *p)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	put_u64(o, "files_done", p->files_done);
	put_u64(o, "files_total", p->files_total);
	put_u64(o, "bytes_done", p->bytes_done);
	put_u64(o, "bytes_total", p->bytes_total);
	return to_line(o);
}

int
job_progress_from_json(const char *json, struct job_progress *ret)
{
	json_object *o;
	int r = parse_object(json, &o);

	if (r < 0)
		return r;
	*ret = (struct job_progress){
		.files_done = get_u64(o, "files_done"),
		.files_total = get_u64(o, "files_total"),
		.bytes_done = get_u64(o, "bytes_done"),
		.bytes_total = get_u64(o, "bytes_total"),
	};
	json_object_put(o);
	return 0;
}

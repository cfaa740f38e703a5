/* Jobs as data: copies of specs, and a JSON form of specs, progress and results for the
 * process core's pipe. */
#include "job.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "util.h"

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
	d->remote = d->rclone = d->rclone_config = d->remote_bwlimit = d->device = NULL;
	d->rc_addr = d->rc_auth = NULL;
	d->exclude = NULL;
	if (!dup_opt(&d->game, spec->game) || !dup_opt(&d->save_dir, spec->save_dir) ||
	    !dup_opt(&d->game_dir, spec->game_dir) || !dup_opt(&d->id, spec->id) ||
	    !dup_opt(&d->tag, spec->tag) || !dup_opt(&d->remote, spec->remote) ||
	    !dup_opt(&d->rclone, spec->rclone) || !dup_opt(&d->rclone_config, spec->rclone_config) ||
	    !dup_opt(&d->remote_bwlimit, spec->remote_bwlimit) || !dup_opt(&d->device, spec->device) ||
	    !dup_opt(&d->rc_addr, spec->rc_addr) || !dup_opt(&d->rc_auth, spec->rc_auth) ||
	    (spec->n_exclude && !(d->exclude = strv_dup(spec->exclude, spec->n_exclude)))) {
		d->n_exclude = 0;
		job_spec_free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

void
job_spec_clear(struct job_spec *spec)
{
	free(spec->game);
	free(spec->save_dir);
	free(spec->game_dir);
	free(spec->id);
	free(spec->tag);
	free(spec->remote);
	free(spec->rclone);
	free(spec->rclone_config);
	free(spec->remote_bwlimit);
	free(spec->device);
	free(spec->rc_addr);
	free(spec->rc_auth);
	for (unsigned i = 0; spec->exclude && i < spec->n_exclude; i++)
		free(spec->exclude[i]);
	free(spec->exclude);
	spec->game = spec->save_dir = spec->game_dir = spec->id = spec->tag = NULL;
	spec->remote = spec->rclone = spec->rclone_config = spec->remote_bwlimit = spec->device = NULL;
	spec->rc_addr = spec->rc_auth = NULL;
	spec->exclude = NULL;
	spec->n_exclude = 0;
}

void
job_spec_free(struct job_spec *spec)
{
	if (!spec)
		return;
	job_spec_clear(spec);
	free(spec);
}

/* The JSON form. Each struct's scalar members are listed once, in a table that both writes
 * and reads them, so the two directions cannot drift apart; only the arrays (exclude, archives)
 * are walked by hand. */

enum field_kind { F_INT, F_UNSIGNED, F_U64, F_I64, F_BOOL, F_CHARS, F_STRING };

struct field {
	const char *key;
	enum field_kind kind;
	size_t offset;
	size_t size; /* F_CHARS: the buffer */
};

#define FIELD(type, member, kind)                                                                            \
	{                                                                                                    \
#member, kind, offsetof(type, member), sizeof(((type *)0)->member)                           \
	}

_Static_assert(sizeof(enum job_kind) == sizeof(int), "job kinds travel as int");

static const struct field spec_fields[] = {
    FIELD(struct job_spec, kind, F_INT),
    FIELD(struct job_spec, game, F_STRING),
    FIELD(struct job_spec, save_dir, F_STRING),
    FIELD(struct job_spec, game_dir, F_STRING),
    FIELD(struct job_spec, id, F_STRING),
    FIELD(struct job_spec, tag, F_STRING),
    FIELD(struct job_spec, level, F_INT),
    FIELD(struct job_spec, threads, F_UNSIGNED),
    FIELD(struct job_spec, dry_run, F_BOOL),
    FIELD(struct job_spec, undo, F_BOOL),
    FIELD(struct job_spec, pin, F_BOOL),
    FIELD(struct job_spec, if_changed, F_BOOL),
    FIELD(struct job_spec, prune, F_BOOL),
    FIELD(struct job_spec, keep.last, F_UNSIGNED),
    FIELD(struct job_spec, keep.hourly, F_UNSIGNED),
    FIELD(struct job_spec, keep.daily, F_UNSIGNED),
    FIELD(struct job_spec, keep.weekly, F_UNSIGNED),
    FIELD(struct job_spec, keep.monthly, F_UNSIGNED),
    FIELD(struct job_spec, remote, F_STRING),
    FIELD(struct job_spec, rclone, F_STRING),
    FIELD(struct job_spec, rclone_config, F_STRING),
    FIELD(struct job_spec, remote_bwlimit, F_STRING),
    FIELD(struct job_spec, device, F_STRING),
    FIELD(struct job_spec, rc_addr, F_STRING),
    FIELD(struct job_spec, rc_auth, F_STRING),
    FIELD(struct job_spec, force, F_BOOL),
    FIELD(struct job_spec, want_disk, F_BOOL),
    FIELD(struct job_spec, prune_foreign, F_BOOL),
};

static const struct field result_fields[] = {
    FIELD(struct job_result, err, F_INT),
    FIELD(struct job_result, message, F_CHARS),
    FIELD(struct job_result, id, F_CHARS),
    FIELD(struct job_result, pre_id, F_CHARS),
    FIELD(struct job_result, unchanged, F_BOOL),
    FIELD(struct job_result, pruned, F_INT),
    FIELD(struct job_result, files, F_U64),
    FIELD(struct job_result, bytes_in, F_U64),
    FIELD(struct job_result, bytes_out, F_U64),
    FIELD(struct job_result, usec, F_U64),
    FIELD(struct job_result, dry_run, F_BOOL),
    FIELD(struct job_result, pending, F_UNSIGNED),
    FIELD(struct job_result, files_read, F_U64),
    FIELD(struct job_result, files_reused, F_U64),
    FIELD(struct job_result, groups_damaged, F_U64),
    FIELD(struct job_result, disk_known, F_BOOL),
    FIELD(struct job_result, disk_archives, F_U64),
    FIELD(struct job_result, disk_size, F_U64),
    FIELD(struct job_result, disk_shared, F_U64),
};

static const struct field archive_fields[] = {
    FIELD(struct job_archive, id, F_CHARS),	FIELD(struct job_archive, time_usec, F_I64),
    FIELD(struct job_archive, size, F_U64),	FIELD(struct job_archive, files, F_U64),
    FIELD(struct job_archive, bytes, F_U64),	FIELD(struct job_archive, pinned, F_BOOL),
    FIELD(struct job_archive, tag, F_CHARS),	FIELD(struct job_archive, keep, F_UNSIGNED),
    FIELD(struct job_archive, device, F_CHARS), FIELD(struct job_archive, shared, F_U64),
};

static const struct field change_fields[] = {
    FIELD(struct job_change, change, F_CHARS),
    FIELD(struct job_change, size, F_U64),
    FIELD(struct job_change, path, F_STRING),
};

/* An array of a result: a pointer member, its count (unsigned, named n_<member>), and the
 * table of one item's members. */
struct field_array {
	const char *key;
	size_t items, count, size;
	const struct field *fields;
	size_t n_fields;
};

#define RESULT_ARRAY(member, table)                                                                          \
	{                                                                                                    \
#member, offsetof(struct job_result, member), offsetof(struct job_result, n_##member),       \
		    sizeof(*((struct job_result *)0)->member), table, ARRAY_SIZE(table)                      \
	}

static const struct field_array result_arrays[] = {
    RESULT_ARRAY(archives, archive_fields),
    RESULT_ARRAY(changes, change_fields),
};

static const struct field progress_fields[] = {
    FIELD(struct job_progress, files_done, F_U64),
    FIELD(struct job_progress, files_total, F_U64),
    FIELD(struct job_progress, bytes_done, F_U64),
    FIELD(struct job_progress, bytes_total, F_U64),
};

static json_object *
field_value(const struct field *f, const char *p)
{
	switch (f->kind) {
	case F_INT:
		return json_object_new_int(*(const int *)(const void *)p);
	case F_UNSIGNED:
		return json_object_new_uint64(*(const unsigned *)(const void *)p);
	case F_U64:
		return json_object_new_uint64(*(const uint64_t *)(const void *)p);
	case F_I64:
		return json_object_new_int64(*(const int64_t *)(const void *)p);
	case F_BOOL:
		return json_object_new_boolean(*(const bool *)(const void *)p);
	case F_CHARS:
		return json_object_new_string(p);
	case F_STRING:
		return json_object_new_string(*(char *const *)(const void *)p);
	}
	return NULL;
}

/* A JSON object of the members of base that fields list; NULL when out of memory. */
static json_object *
fields_to_object(const void *base, const struct field *fields, size_t n)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < n; i++) {
		const char *p = (const char *)base + fields[i].offset;
		/* A NULL string is left out; the reader then leaves the member NULL. */
		if (fields[i].kind == F_STRING && !*(char *const *)(const void *)p)
			continue;
		json_object_object_add(o, fields[i].key, field_value(&fields[i], p));
	}
	return o;
}

/* o as one line (malloc'd), with extra added under key when not NULL; consumes both. */
static char *
object_to_line(json_object *o, const char *key, json_object *extra)
{
	char *line;

	if (!o) {
		json_object_put(extra);
		return NULL;
	}
	if (extra)
		json_object_object_add(o, key, extra);
	/* json-c escapes newlines, so the object stays on one line. */
	line = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return line;
}

/* Reads the members fields list from o into base; false when memory ran out. */
static bool
fields_from(json_object *o, void *base, const struct field *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *p = (char *)base + fields[i].offset;
		json_object *v;

		if (!json_object_object_get_ex(o, fields[i].key, &v))
			continue;
		switch (fields[i].kind) {
		case F_INT:
			*(int *)(void *)p = json_object_get_int(v);
			break;
		case F_UNSIGNED:
			*(unsigned *)(void *)p = (unsigned)json_object_get_uint64(v);
			break;
		case F_U64:
			*(uint64_t *)(void *)p = json_object_get_uint64(v);
			break;
		case F_I64:
			*(int64_t *)(void *)p = json_object_get_int64(v);
			break;
		case F_BOOL:
			*(bool *)(void *)p = json_object_get_boolean(v);
			break;
		case F_CHARS:
			snprintf(p, fields[i].size, "%s", json_object_get_string(v) ?: "");
			break;
		case F_STRING:
			if (json_object_is_type(v, json_type_string) &&
			    !dup_opt((char **)(void *)p, json_object_get_string(v)))
				return false;
			break;
		}
	}
	return true;
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
	json_object *ex = json_object_new_array();

	if (!ex)
		return NULL;
	for (unsigned i = 0; i < spec->n_exclude; i++)
		json_object_array_add(ex, json_object_new_string(spec->exclude[i]));
	return object_to_line(fields_to_object(spec, spec_fields, ARRAY_SIZE(spec_fields)), "exclude", ex);
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
	bool ok =
	    spec && fields_from(o, spec, spec_fields, ARRAY_SIZE(spec_fields)) && spec_excludes_from(o, spec);
	json_object_put(o);
	if (!ok) {
		job_spec_free(spec);
		return -ENOMEM;
	}
	if ((unsigned)spec->kind > JOB_KIND_LAST) {
		job_spec_free(spec);
		return -EINVAL;
	}
	*ret = spec;
	return 0;
}

/* The items of one array of r as a JSON array; NULL when r has none. */
static json_object *
array_to_json(const struct job_result *r, const struct field_array *fa)
{
	const char *items = *(char *const *)(const void *)((const char *)r + fa->items);
	unsigned n = *(const unsigned *)(const void *)((const char *)r + fa->count);
	json_object *a = n ? json_object_new_array() : NULL;

	for (unsigned i = 0; a && i < n; i++)
		json_object_array_add(a, fields_to_object(items + i * fa->size, fa->fields, fa->n_fields));
	return a;
}

char *
job_result_to_json(const struct job_result *r)
{
	json_object *o = fields_to_object(r, result_fields, ARRAY_SIZE(result_fields));

	for (size_t i = 0; o && i < ARRAY_SIZE(result_arrays); i++) {
		json_object *a = array_to_json(r, &result_arrays[i]);
		if (a)
			json_object_object_add(o, result_arrays[i].key, a);
	}
	return object_to_line(o, NULL, NULL);
}

/* Reads one array of o into r; false when memory ran out. */
static bool
array_from_json(json_object *o, struct job_result *r, const struct field_array *fa)
{
	char **items = (char **)(void *)((char *)r + fa->items);
	unsigned *n = (unsigned *)(void *)((char *)r + fa->count);
	json_object *a;
	size_t len;

	if (!json_object_object_get_ex(o, fa->key, &a) || !json_object_is_type(a, json_type_array))
		return true;
	len = json_object_array_length(a);
	*items = calloc(len ? len : 1, fa->size);
	if (!*items)
		return false;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_object))
			continue;
		if (!fields_from(e, *items + *n * fa->size, fa->fields, fa->n_fields))
			return false;
		(*n)++;
	}
	return true;
}

int
job_result_from_json(const char *json, struct job_result *ret)
{
	json_object *o;
	struct job_result r = {0};
	int e = parse_object(json, &o);
	bool ok;

	if (e < 0)
		return e;
	ok = fields_from(o, &r, result_fields, ARRAY_SIZE(result_fields));
	for (size_t i = 0; ok && i < ARRAY_SIZE(result_arrays); i++)
		ok = array_from_json(o, &r, &result_arrays[i]);
	if (!ok) {
		json_object_put(o);
		job_result_clear(&r);
		return -ENOMEM;
	}
	json_object_put(o);
	*ret = r;
	return 0;
}

char *
job_progress_to_json(const struct job_progress *p)
{
	return object_to_line(fields_to_object(p, progress_fields, ARRAY_SIZE(progress_fields)), NULL, NULL);
}

int
job_progress_from_json(const char *json, struct job_progress *ret)
{
	json_object *o;
	struct job_progress p = {0};
	int r = parse_object(json, &o);

	if (r < 0)
		return r;
	fields_from(o, &p, progress_fields, ARRAY_SIZE(progress_fields));
	json_object_put(o);
	*ret = p;
	return 0;
}

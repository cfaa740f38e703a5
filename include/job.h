/* Jobs as data: copying and freeing specs and results, and their one-line JSON form, which
 * the process core sends over its pipe. The contract itself (spec, result, progress and the
 * context a core supplies) is jobctx.h; what runs a job is runner.h. */
#ifndef SK_JOB_H
#define SK_JOB_H

#include "jobctx.h"

/* A deep copy of spec; NULL with errno set when memory ran out. */
struct job_spec *job_spec_dup(const struct job_spec *spec);
/* Frees what spec's members own and zeroes them; spec itself stays (it may be embedded). */
void job_spec_clear(struct job_spec *spec);
/* Frees a spec made by job_spec_dup or job_spec_from_json. Accepts NULL. */
void job_spec_free(struct job_spec *spec);

/* Serialises a spec or result as one line of JSON (malloc'd) and back; for the process core. */
char *job_spec_to_json(const struct job_spec *spec);
int job_spec_from_json(const char *json, struct job_spec **ret);
char *job_result_to_json(const struct job_result *r);
int job_result_from_json(const char *json, struct job_result *ret);
char *job_progress_to_json(const struct job_progress *p);
int job_progress_from_json(const char *json, struct job_progress *ret);

#endif

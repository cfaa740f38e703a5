/* Logging to stderr. One write(2) per line so lines from threads and children never mix. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_ident = "savekeeper";
static bool log_journal;
static bool log_verbose;

void
log_init(const char *ident)
{
	log_ident = ident;
	/* systemd sets JOURNAL_STREAM when stderr goes to the journal. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_verbose(bool on)
{
	log_verbose = on;
}

static void
log_vmsg(int prio, const char *suffix, const char *fmt, va_list ap)
{
	static const char *const names[] = {"emergency", "alert",  "critical", "error",
					    "warning",	 "notice", "info",     "debug"};
	char line[2048];
	int n;

	if (prio >= LOG_DEBUG && !log_verbose)
		return;
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", prio);
	else if (prio <= LOG_WARNING)
		n = snprintf(line, sizeof(line), "%s: %s: ", log_ident, names[prio & 7]);
	else
		n = snprintf(line, sizeof(line), "%s: ", log_ident);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if ((size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (suffix)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s", suffix);
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, NULL, fmt, ap);
	va_end(ap);
}

int
log_errno(int prio, int err, const char *fmt, ...)
{
	va_list ap;

	err = err < 0 ? -err : err;
	va_start(ap, fmt);
	log_vmsg(prio, strerror(err), fmt, ap);
	va_end(ap);
	return -err;
}

/* Logging to stderr, one line per message. Under systemd (JOURNAL_STREAM set) each line
 * starts with a "<N>" priority prefix that journald reads; elsewhere with the program name. */
#ifndef SK_LOG_H
#define SK_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Sets the name printed before messages and picks the prefix style from the environment. */
void log_init(const char *ident);

/* Shows LOG_DEBUG messages when on. */
void log_set_verbose(bool on);

/* Logs one line at priority prio (LOG_ERR ... LOG_DEBUG). Safe from any thread. */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs fmt followed by ": strerror(err)" and returns -|err|, for `return log_errno(...)`. */
int log_errno(int prio, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif

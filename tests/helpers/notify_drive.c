/* Drives the notifier for tests/integration/65-notify-queue.sh: starts it in a mode, runs the
 * steps given as arguments in order, stops it, and prints what it measured on stdout:
 *   send_max_us N   the longest notify_send or notify_job call
 *   tick_max_us N   the longest gap of a 10 ms timer loop run by a "tick" step
 *   flush R         the result of each "flush" step (0 or -110)
 *   stop_us N       how long notify_stop took
 * Steps: b|f|r|u:GAME:SUMMARY:BODY (backup, failure, restore, undo), mode:all|errors|off,
 * jobok:GAME, jobfail:GAME:MESSAGE, unchanged:GAME, cancelled:GAME, restored:GAME:MESSAGE,
 * flush, tick. Usage: notify_drive MODE STEP... */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "util.h"

static uint64_t send_max;

static int
mode_parse(const char *s, enum sk_notify *ret)
{
	static const char *const names[] = { [SK_NOTIFY_ALL] = "all", [SK_NOTIFY_ERRORS] = "errors",
					     [SK_NOTIFY_OFF] = "off" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum sk_notify)i;
			return 0;
		}
	return -EINVAL;
}

static void
timed_send(enum notify_kind kind, const char *game, const char *summary, const char *body)
{
	uint64_t t = now_usec();

	notify_send(kind, game, summary, body);
	t = now_usec() - t;
	send_max = t > send_max ? t : send_max;
}

static void
timed_job(const char *game, enum job_kind kind, const struct job_result *r)
{
	uint64_t t = now_usec();

	notify_job(game, kind, r);
	t = now_usec() - t;
	send_max = t > send_max ? t : send_max;
}

/* A job result: 3 files, 2 KiB in, 1 KiB out, 1.5 s; err and message as given. */
static void
job(const char *game, enum job_kind kind, int err, const char *message, bool unchanged)
{
	struct job_result r = {
		.err = err, .files = 3, .bytes_in = 2048, .bytes_out = 1024,
		.usec = 1500 * USEC_PER_MSEC, .unchanged = unchanged,
	};

	snprintf(r.message, sizeof(r.message), "%s", message ? message : "");
	timed_job(game, kind, &r);
}

static void
tick(void)
{
	struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
	uint64_t max = 0, last = now_usec(), t;

	for (int i = 0; i < 50; i++) {
		nanosleep(&ten_ms, NULL);
		t = now_usec();
		max = t - last > max ? t - last : max;
		last = t;
	}
	printf("tick_max_us %llu\n", (unsigned long long)max);
}

static int
step(char *s)
{
	/* kind:game:rest, where rest is summary:body or a message that may hold colons. */
	char *kind = strsep(&s, ":"), *game = strsep(&s, ":"), *rest = s, *summary;
	enum sk_notify mode;
	const char *kinds = "bfru";
	const char *k;

	if (strcmp(kind, "flush") == 0)
		printf("flush %d\n", notify_flush(10 * USEC_PER_SEC));
	else if (strcmp(kind, "tick") == 0)
		tick();
	else if (strcmp(kind, "mode") == 0 && game && mode_parse(game, &mode) == 0)
		notify_set_mode(mode);
	else if (strcmp(kind, "jobok") == 0 && game)
		job(game, JOB_SNAPSHOT, 0, NULL, false);
	else if (strcmp(kind, "unchanged") == 0 && game)
		job(game, JOB_SNAPSHOT, 0, NULL, true);
	else if (strcmp(kind, "cancelled") == 0 && game)
		job(game, JOB_SNAPSHOT, -ECANCELED, "cancelled", false);
	else if (strcmp(kind, "jobfail") == 0 && rest)
		job(game, JOB_SNAPSHOT, -EIO, rest, false);
	else if (strcmp(kind, "restored") == 0 && rest)
		job(game, JOB_RESTORE, 0, rest, false);
	else if (strlen(kind) == 1 && (k = strchr(kinds, kind[0])) && rest &&
		 (summary = strsep(&rest, ":")) && rest)
		timed_send((enum notify_kind)(k - kinds), game, summary, rest);
	else
		return -EINVAL;
	return 0;
}

int
main(int argc, char **argv)
{
	enum sk_notify mode;
	uint64_t t;
	int r;

	log_init("notify_drive");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || mode_parse(argv[1], &mode) < 0) {
		fprintf(stderr, "usage: notify_drive all|errors|off STEP...\n");
		return 2;
	}
	r = notify_start(mode);
	if (r < 0) {
		fprintf(stderr, "notify_start: %s\n", strerror(-r));
		return 1;
	}
	for (int i = 2; i < argc; i++)
		if (step(strdupa(argv[i])) < 0) {
			fprintf(stderr, "bad step '%s'\n", argv[i]);
			return 2;
		}
	printf("send_max_us %llu\n", (unsigned long long)send_max);
	t = now_usec();
	notify_stop();
	printf("stop_us %llu\n", (unsigned long long)(now_usec() - t));
	return 0;
}

/* savekeeperd's private wiring: the daemon's state, shared by its main and its request handlers. */
#ifndef SK_DAEMON_H
#define SK_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"

struct loop;
struct core;
struct sched;
struct ctl;
struct ctl_client;

/* Settings given on the command line; they win over the config file, also after reload. */
struct daemon_opts {
	const char *config_path; /* NULL: the default path, or none with save_dir */
	const char *save_dir;	 /* --save-dir: one game, no config file */
	const char *game;	 /* --game */
	const char *archive_dir; /* --archive-dir */
	const char *socket_path; /* --socket */
	const char *core;	 /* --core */
	bool once;
};

struct daemon {
	struct daemon_opts opts;
	struct sk_config *cfg;
	struct loop *loop;
	struct core *core;
	struct sched *sched;
	struct sessions *sessions; /* NULL with --once */
	struct ctl *ctl;
	uint64_t start_usec;
	bool watchdog;
	/* Re-reads the config (the program supplies it; the request handlers call it for
	 * `reload`); on error the old one stays in force and err says why. */
	int (*reload)(struct daemon *d, char *err, size_t errlen);
};

/* Reads the config named by opts (or builds one from --save-dir) and applies the overrides.
 * Returns 0 or a negative errno with the message in err. */
int daemon_load_config(const struct daemon_opts *opts, struct sk_config **ret, char *err, size_t errlen);
/* Handles one control request (the ctl_request_fn of the control socket). */
void daemon_handle_request(struct ctl_client *c, const struct proto_request *req, void *data);

#endif

/* The configuration: an INI file read with inih into struct sk_config, validated, with
 * defaults from the XDG base directories. */
#ifndef SK_CONFIG_H
#define SK_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USEC_PER_MINUTE (60 * 1000000ULL)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)

/* The longest line a config file may hold, not counting its line end. */
#define SK_CONFIG_LINE_MAX 4096

enum sk_core { SK_CORE_THREAD, SK_CORE_COROUTINE, SK_CORE_PROCESS };
enum sk_notify { SK_NOTIFY_ALL, SK_NOTIFY_ERRORS, SK_NOTIFY_OFF };
enum sk_sessions { SK_SESSIONS_STEAM, SK_SESSIONS_OFF };

/* Retention, restic-style: each count keeps that many of the newest archives of its kind
 * (one per hour, day, week, month); 0 means the rule is off. All zero keeps everything. */
struct sk_keep {
	unsigned last, hourly, daily, weekly, monthly;
};
/* A remote_keep_* rule the file does not set: the next level's rule applies. */
#define SK_KEEP_UNSET UINT_MAX
#define SK_KEEP_UNSET_ALL                                                                                    \
	{                                                                                                    \
		SK_KEEP_UNSET, SK_KEEP_UNSET, SK_KEEP_UNSET, SK_KEEP_UNSET, SK_KEEP_UNSET                    \
	}

struct sk_game {
	char *name;	    /* [A-Za-z0-9._-]+ */
	char *path;	    /* absolute, ~ expanded */
	unsigned path_line; /* where the file set path; 0: --save-dir */
	char **exclude;	    /* globs relative to path */
	size_t n_exclude;
	uint64_t interval_usec;		/* 0: the daemon's */
	uint64_t interval_playing_usec; /* 0: the game's interval; a loaded config fills in the
					 * daemon's interval_playing where the game sets none */
	unsigned steam_app;		/* 0: none; without a path in the file, the path was found from it */
	unsigned steam_app_line;	/* the line of steam_app when it stood for the path, else 0 */
	char *remote;			/* rclone NAME:PATH; NULL: the daemon's */
	bool remote_off;		/* remote = off: no copies of this game */
	struct sk_keep remote_keep;	/* remote_keep_*; SK_KEEP_UNSET: [daemon]'s */
};

/* The level "compression = auto" (the default) stands for: the lowest libdeflate level whose
 * archives are no larger than `tar -czf`'s (gzip -6), as measured by make bench on the
 * half-incompressible tree (docs/benchmarks.md, "Compression level"). */
#define SK_COMPRESSION_AUTO 5

struct sk_config {
	char *file;		   /* the file read, or NULL for built-in settings */
	char *archive_dir;	   /* absolute */
	unsigned archive_dir_line; /* where the file set it; 0: the default or an option */
	char *socket_path;	   /* absolute */
	uint64_t interval_usec;
	uint64_t interval_playing_usec; /* 0: interval; games without their own inherit it */
	uint64_t settle_usec;
	uint64_t settle_max_usec;
	uint64_t slice_usec;
	enum sk_core core;
	int compression; /* 1-9; "auto" is SK_COMPRESSION_AUTO */
	enum sk_notify notify;
	bool autostart;
	bool snapshot_on_change;
	struct sk_keep keep;
	struct sk_keep remote_keep; /* remote_keep_*; SK_KEEP_UNSET: keep_*'s rule */
	bool remote_prune_foreign;  /* remote retention also removes other devices' archives */
	uint64_t min_free_bytes;    /* 0: min_free_percent applies */
	unsigned min_free_percent;  /* 0-99; both 0: no free-space check */
	unsigned compress_threads;  /* 0: automatic */
	int nice;		    /* worker nice value, default 19 */
	bool io_idle;		    /* worker I/O class idle, default true */
	char *manifest;		    /* Ludusavi's manifest; NULL: ~/.config/ludusavi/manifest.yaml */
	enum sk_sessions sessions;  /* play sessions seen from Steam (games with steam_app) */
	char *remote;		    /* rclone NAME:PATH the archives are copied to; NULL: none */
	char *rclone;		    /* the rclone binary; NULL: "rclone" from PATH */
	char *rclone_config;	    /* rclone --config FILE; NULL: rclone's own */
	char *remote_bwlimit;	    /* rclone --bwlimit VALUE; NULL: none */
	uint64_t remote_retry_usec; /* first wait after a failed copy, doubled up to 30 min */
	char *device;		    /* this device's name in manifests; default: the hostname */
	struct sk_game *games;
	size_t n_games;
};

/* Reads the INI file at path into *ret. On error returns -errno or -EINVAL and writes a
 * message naming "path:line" and the key into err; *ret is then untouched. inih keeps its
 * options in globals, so configs are loaded from one thread at a time. */
int config_load(const char *path, struct sk_config **ret, char *err, size_t errlen);

/* Like config_load, for len bytes of INI text at data; name stands for the file in messages. */
int config_load_string(const char *name, const char *data, size_t len, struct sk_config **ret, char *err,
		       size_t errlen);

/* Returns a config with every default and no games in *ret; 0 or -ENOMEM. */
int config_new_default(struct sk_config **ret);

/* Adds a game to cfg (used by --save-dir). name NULL: the save dir's basename with characters
 * outside [A-Za-z0-9._-] replaced by '_'. A relative path is taken from the working directory.
 * Returns 0, -EINVAL (invalid or duplicate name, message in err) or -ENOMEM. */
int config_add_game(struct sk_config *cfg, const char *name, const char *path, char *err, size_t errlen);

/* Checks that a restore of one game can touch nothing of another and nothing of the archives:
 * no two games have the same or nested save folders, and archive_dir neither lies in a save
 * folder nor holds one. Paths are compared with their symlinks resolved as far as they exist.
 * archive_from says where archive_dir came from when the file did not set it: an option such as
 * "--archive-dir" (messages then start with it), a note such as "in use until restart", or NULL
 * for the default. Returns 0 or -EINVAL with "FILE:LINE: ..." (or the
 * option) in err. config_load runs it; call it again after changing archive_dir or games. */
int config_check_folders(const struct sk_config *cfg, const char *archive_from, char *err, size_t errlen);

/* The default config file: $XDG_CONFIG_HOME/savekeeper/savekeeper.ini (~/.config/...). malloc'd. */
char *config_default_path(void);

/* The default control socket: $XDG_RUNTIME_DIR/savekeeper/control.sock; without XDG_RUNTIME_DIR,
 * /run/user/UID/savekeeper/control.sock if /run/user/UID exists, else /tmp/savekeeper-UID/control.sock.
 * malloc'd, NULL on ENOMEM. */
char *config_default_socket_path(void);

/* The retention of a game's copies on its remote, rule by rule: the game's remote_keep_X if
 * set, else [daemon]'s remote_keep_X, else keep_X. */
void config_remote_keep(const struct sk_config *cfg, const struct sk_game *g, struct sk_keep *ret);

/* The remote a game's archives are copied to (its own, else the daemon's); NULL: none. */
const char *config_game_remote(const struct sk_config *cfg, const struct sk_game *g);

/* Looks up a game by name; NULL if none. */
const struct sk_game *config_find_game(const struct sk_config *cfg, const char *name);

/* Frees cfg. Accepts NULL. */
void config_free(struct sk_config *cfg);

/* "45s", "10m", "2h", "1h30m", "1h 30m", "5ms", "500us", "1d" -> microseconds; a plain number
 * counts seconds. 0, -EINVAL for anything else, -ERANGE when it does not fit. */
int parse_duration(const char *s, uint64_t *ret_usec);
/* "500M", "2G", "4096", "10K", "1T" (powers of 1024, suffix in either case) -> bytes; 0, -EINVAL
 * for anything else, -ERANGE when it does not fit. */
int parse_size(const char *s, uint64_t *ret_bytes);
/* "true/false", "yes/no", "on/off", "1/0" in any case; 0 or -EINVAL. */
int parse_bool(const char *s, bool *ret);

const char *core_name(enum sk_core core);
int core_from_name(const char *name, enum sk_core *ret);

#endif

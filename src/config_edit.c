/* Appending to a config file: read the old text, add the new at its end, check that the whole
 * loads, then write a temporary file beside it, fsync it and rename it over the old one. */
#include "config_edit.h"
#include "config.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *
config_value_problem(const char *value)
{
	size_t n = strlen(value);

	if (strpbrk(value, "\n\r"))
		return "it holds a line break";
	if (n && (strchr(" \t", value[0]) || strchr(" \t", value[n - 1])))
		return "it starts or ends with a blank";
	if (strstr(value, " ;") || strstr(value, "\t;"))
		return "it holds \" ;\", which starts a comment";
	if (n + 16 > SK_CONFIG_LINE_MAX)
		return "it is longer than a config line may be";
	return NULL;
}

/* The whole file into a malloc'd string; a missing file is empty text. */
static int
read_text(const char *path, char **ret, size_t *ret_len, mode_t *ret_mode)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;
	struct stat st;
	ssize_t n;

	if (!f && errno != ENOENT)
		return -errno;
	*ret_mode = 0644;
	*ret_len = 0;
	if (!f)
		return (*ret = strdup("")) ? 0 : -ENOMEM;
	if (fstat(fileno(f), &st) == 0)
		*ret_mode = st.st_mode & 07777;
	/* getdelim with NUL as the delimiter reads the text whole (a NUL in it fails the load later). */
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return (*ret = strdup("")) ? 0 : -ENOMEM;
	}
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

/* Writes len bytes to a temporary file beside path (in dir) and renames it into place. */
static int
write_atomic(const char *dir, const char *path, const char *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r >= 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	else
		(void)fsync_path_dir(dir);
	return r;
}

/* The folder of path, created if missing, into a malloc'd *ret. */
static int
make_parent(const char *path, char **ret)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;
	int r;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else
		slash[slash == dir] = '\0';
	r = mkdir_p(dir, 0755);
	if (r >= 0)
		*ret = TAKE_PTR(dir);
	return r;
}

int
config_append(const char *path, const char *text, char *err, size_t errlen)
{
	_cleanup_free_ char *old = NULL, *all = NULL, *dir = NULL;
	struct sk_config *cfg = NULL;
	size_t len = 0;
	mode_t mode = 0644;
	int r = read_text(path, &old, &len, &mode);

	if (r < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-r));
		return r;
	}
	/* A last line without its line end must not run into the new section. */
	if (asprintf(&all, "%s%s%s", old, len && old[len - 1] != '\n' ? "\n" : "", text) < 0)
		return -ENOMEM;
	r = config_load_string(path, all, strlen(all), &cfg, err, errlen);
	config_free(cfg);
	if (r < 0)
		return r;
	r = make_parent(path, &dir);
	if (r >= 0)
		r = write_atomic(dir, path, all, strlen(all), mode);
	if (r < 0)
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(-r));
	return r;
}

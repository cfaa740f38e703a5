/* Steam's installs: roots found by their usual places, deduplicated by canonical path (~/.steam/steam
 * is usually a symlink to ~/.local/share/Steam), libraries from libraryfolders.vdf, apps from their
 * appmanifest files. Nothing here writes or logs. */
#include "steam.h"
#include "config.h"
#include "strv.h"
#include "util.h"
#include "vdf.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The places a Steam root may be, relative to the home. */
static const char *const root_places[] = {
    ".local/share/Steam",
    ".steam/steam",
    ".steam/root",
    ".var/app/" STEAM_FLATPAK_ID "/.local/share/Steam",
    ".var/app/" STEAM_FLATPAK_ID "/data/Steam",
};

/* Steam's own tools are installed like games; they are not games and have no saves. */
static const char *const tool_names[] = {"Proton", "Steam Linux Runtime",
					 "Steamworks Common Redistributables"};

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
warn(struct steam *s, const char *msg)
{
	return strv_push(&s->warnings, &s->n_warnings, msg);
}

/* The ids of root/userdata/<digits> (0 is Steam's anonymous user, not a player). */
static int
scan_users(struct steam_root *root)
{
	_cleanup_free_ char *dir = path_join(root->path, "userdata");
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	d = opendir(dir);
	if (!d)
		return 0;
	while (r >= 0 && (e = readdir(d))) {
		if (!e->d_name[0] || e->d_name[strspn(e->d_name, "0123456789")] ||
		    strcmp(e->d_name, "0") == 0)
			continue;
		r = strv_push(&root->users, &root->n_users, e->d_name);
	}
	closedir(d);
	return r;
}

/* Adds the root at path if it holds steamapps and is not known under another name. */
static int
add_root(struct steam *s, const char *path, bool flatpak)
{
	char real[PATH_MAX];
	_cleanup_free_ char *apps = path_join(path, "steamapps");
	struct steam_root *v;

	if (!apps)
		return -ENOMEM;
	if (!is_dir(apps) || !realpath(path, real))
		return 0;
	for (size_t i = 0; i < s->n_roots; i++)
		if (strcmp(s->roots[i].path, real) == 0)
			return 0;
	v = reallocarray(s->roots, s->n_roots + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->roots = v;
	v[s->n_roots] = (struct steam_root){.path = strdup(real), .flatpak = flatpak};
	if (!v[s->n_roots].path)
		return -ENOMEM;
	return scan_users(&s->roots[s->n_roots++]);
}

/* Adds a library folder once, by its canonical path; one that does not exist is a warning. */
static int
add_library(struct steam *s, const char *path, const char *listed_in)
{
	char real[PATH_MAX], msg[PATH_MAX * 2 + 64];

	if (!realpath(path, real)) {
		snprintf(msg, sizeof(msg), "%s lists the library '%s', which is not there", listed_in, path);
		return warn(s, msg);
	}
	if (strv_contains(s->libraries, s->n_libraries, real))
		return 0;
	return strv_push(&s->libraries, &s->n_libraries, real);
}

/* The libraries of a root: itself, and each in steamapps/libraryfolders.vdf, in its old form
 * ("1" "/path") or its current one ("0" { "path" "/path" ... }). */
static int
scan_libraries(struct steam *s, const struct steam_root *root)
{
	_cleanup_free_ char *file = path_join(root->path, "steamapps/libraryfolders.vdf");
	struct vdf_node *tree = NULL;
	const struct vdf_node *lf;
	char err[PATH_MAX + 256];
	int r;

	if (!file)
		return -ENOMEM;
	r = add_library(s, root->path, root->path);
	if (r < 0 || access(file, F_OK) < 0)
		return r;
	if (vdf_load(file, &tree, err, sizeof(err)) < 0)
		return warn(s, err);
	lf = vdf_child(tree, "libraryfolders");
	for (size_t i = 0; lf && !lf->value && i < lf->n_children && r >= 0; i++) {
		const struct vdf_node *c = &lf->children[i];
		const char *path = c->value ? c->value : vdf_get(c, "path");
		/* Old files mix settings such as "TimeNextStatsReport" among the numbered folders. */
		if (path && c->key[strspn(c->key, "0123456789")] == '\0' && path[0] == '/')
			r = add_library(s, path, file);
	}
	vdf_free(tree);
	return r;
}

static bool
is_tool(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(tool_names); i++)
		if (strncmp(name, tool_names[i], strlen(tool_names[i])) == 0)
			return true;
	return false;
}

/* The Proton prefix of an app: in its own library's compatdata, else in its root's. */
static char *
find_prefix(const struct steam_root *root, const char *library, unsigned appid)
{
	const char *bases[] = {library, root->path};

	for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
		char *p;
		if (asprintf(&p, "%s/steamapps/compatdata/%u/pfx", bases[i], appid) < 0)
			return NULL;
		if (is_dir(p))
			return p;
		free(p);
	}
	return NULL;
}

static void
app_clear(struct steam_app *a)
{
	free(a->name);
	free(a->installdir);
	free(a->install_path);
	free(a->library);
	free(a->prefix);
}

/* Fills a from a parsed appmanifest; -EINVAL if it lacks an id, a name or a folder. */
static int
app_from_tree(struct steam_app *a, const struct vdf_node *tree, const char *library)
{
	const char *id = vdf_get(tree, "AppState/appid"), *name = vdf_get(tree, "AppState/name");
	const char *dir = vdf_get(tree, "AppState/installdir");
	unsigned long v;
	char *end;

	if (!id || !name || !dir || !*dir || strchr(dir, '/') || strcmp(dir, "..") == 0)
		return -EINVAL;
	errno = 0;
	v = strtoul(id, &end, 10);
	if (errno || *end || !*id || v == 0 || v > UINT_MAX)
		return -EINVAL;
	a->appid = (unsigned)v;
	a->name = strdup(name);
	a->installdir = strdup(dir);
	a->library = strdup(library);
	if (asprintf(&a->install_path, "%s/steamapps/common/%s", library, dir) < 0)
		a->install_path = NULL;
	return a->name && a->installdir && a->library && a->install_path ? 0 : -ENOMEM;
}

/* Reads one appmanifest_<appid>.acf of a library; a bad one is a warning. */
static int
scan_app(struct steam *s, size_t root, const char *library, const char *file)
{
	struct steam_app a = {.root = root}, *v;
	struct vdf_node *tree = NULL;
	char err[PATH_MAX + 256];
	int r;

	if (vdf_load(file, &tree, err, sizeof(err)) < 0)
		return warn(s, err);
	r = app_from_tree(&a, tree, library);
	vdf_free(tree);
	if (r == -EINVAL) {
		snprintf(err, sizeof(err), "%s: no AppState appid, name and installdir", file);
		app_clear(&a);
		return warn(s, err);
	}
	if (r < 0 || is_tool(a.name) || steam_find_app(s, a.appid)) {
		app_clear(&a);
		return r;
	}
	a.prefix = find_prefix(&s->roots[root], library, a.appid);
	v = reallocarray(s->apps, s->n_apps + 1, sizeof(*v));
	if (!v) {
		app_clear(&a);
		return -ENOMEM;
	}
	s->apps = v;
	v[s->n_apps++] = a;
	return 0;
}

/* The apps of one library, in the order of their file names. */
static int
scan_apps(struct steam *s, size_t root, const char *library)
{
	_cleanup_free_ char *dir = path_join(library, "steamapps");
	struct dirent **names = NULL;
	int n, r = 0;

	if (!dir)
		return -ENOMEM;
	n = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *e = names[i]->d_name;
		size_t len = strlen(e);
		if (r >= 0 && strncmp(e, "appmanifest_", 12) == 0 && len > 16 &&
		    strcmp(e + len - 4, ".acf") == 0) {
			_cleanup_free_ char *file = path_join(dir, e);
			r = file ? scan_app(s, root, library, file) : -ENOMEM;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* Libraries listed by a root that no earlier root listed are scanned as that root's. */
static int
scan_root(struct steam *s, size_t root)
{
	size_t first = s->n_libraries;
	int r = scan_libraries(s, &s->roots[root]);

	for (size_t i = first; r >= 0 && i < s->n_libraries; i++)
		r = scan_apps(s, root, s->libraries[i]);
	return r;
}

int
steam_scan(const char *home, struct steam **ret)
{
	_cleanup_free_ char *h = home ? strdup(home) : expand_home("~");
	struct steam *s = calloc(1, sizeof(*s));
	int r = h && s ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(root_places); i++) {
		_cleanup_free_ char *p = path_join(h, root_places[i]);
		r = p ? add_root(s, p, strstr(root_places[i], STEAM_FLATPAK_ID) != NULL) : -ENOMEM;
	}
	for (size_t i = 0; r >= 0 && s && i < s->n_roots; i++)
		r = scan_root(s, i);
	if (r < 0) {
		steam_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

const struct steam_app *
steam_find_app(const struct steam *s, unsigned appid)
{
	for (size_t i = 0; i < s->n_apps; i++)
		if (s->apps[i].appid == appid)
			return &s->apps[i];
	return NULL;
}

void
steam_free(struct steam *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_roots; i++) {
		free(s->roots[i].path);
		strv_free(s->roots[i].users, s->roots[i].n_users);
	}
	for (size_t i = 0; i < s->n_apps; i++)
		app_clear(&s->apps[i]);
	free(s->roots);
	free(s->apps);
	strv_free(s->libraries, s->n_libraries);
	strv_free(s->warnings, s->n_warnings);
	free(s);
}

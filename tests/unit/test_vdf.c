/* The VDF parser: Steam's two file formats read as Steam writes them, values found by path with
 * keys in any case, and every malformed input refused with its line, never crashing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include "util.h"
#include "vdf.h"

static struct vdf_node *
parse_ok(const char *text)
{
	struct vdf_node *n = NULL;
	char err[256] = "";

	assert_int_equal(vdf_parse(text, strlen(text), &n, err, sizeof(err)), 0);
	assert_non_null(n);
	return n;
}

static void
parse_fails(const char *text, const char *want)
{
	struct vdf_node *n = NULL;
	char err[256] = "";

	assert_int_equal(vdf_parse(text, strlen(text), &n, err, sizeof(err)), -EINVAL);
	assert_null(n);
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
}

static void
test_libraryfolders(void **state)
{
	static const char text[] =
	    "\"libraryfolders\"\n{\n\t\"0\"\n\t{\n\t\t\"path\"\t\t\"/home/p/.local/share/Steam\"\n"
	    "\t\t\"apps\"\n\t\t{\n\t\t\t\"228980\"\t\t\"123\"\n\t\t}\n\t}\n"
	    "\t\"1\" { \"path\" \"/mnt/Games Disk/SteamLibrary\" }\n}\n";
	struct vdf_node *n = parse_ok(text);
	const struct vdf_node *lf = vdf_child(n, "LibraryFolders");

	(void)state;
	assert_non_null(lf);
	assert_int_equal(lf->n_children, 2);
	assert_string_equal(vdf_get(n, "libraryfolders/0/path"), "/home/p/.local/share/Steam");
	assert_string_equal(vdf_get(n, "libraryfolders/1/path"), "/mnt/Games Disk/SteamLibrary");
	assert_string_equal(vdf_get(n, "libraryfolders/0/apps/228980"), "123");
	assert_null(vdf_get(n, "libraryfolders/0/apps"));
	assert_null(vdf_get(n, "libraryfolders/2/path"));
	assert_null(vdf_child(vdf_child(lf, "0")->children, "path"));
	vdf_free(n);
}

static void
test_appmanifest_and_syntax(void **state)
{
	static const char text[] = "// written by Steam\r\n\"AppState\"\r\n{\r\n"
				   "\t\"appid\"\t\"489830\" // a comment after a value\r\n"
				   "\t\"name\"\t\"Say \\\"hi\\\" \\\\ there\"\r\n"
				   "\t\"installdir\"\t\"Game\"\t[$WIN32]\r\n"
				   "\tbare_key bare_value\r\n"
				   "\t\"multi\" \"line\nvalue\"\r\n}";
	struct vdf_node *n = parse_ok(text);

	(void)state;
	assert_string_equal(vdf_get(n, "AppState/appid"), "489830");
	assert_string_equal(vdf_get(n, "appstate/NAME"), "Say \"hi\" \\ there");
	assert_string_equal(vdf_get(n, "AppState/installdir"), "Game");
	assert_string_equal(vdf_get(n, "AppState/bare_key"), "bare_value");
	assert_string_equal(vdf_get(n, "AppState/multi"), "line\nvalue");
	vdf_free(n);
	n = parse_ok("");
	assert_int_equal(n->n_children, 0);
	vdf_free(n);
}

static void
test_errors(void **state)
{
	char deep[1024] = "";

	(void)state;
	parse_fails("\"a\"\n{\n\"b\" \"unterminated\n", "line 3: string without its closing quote");
	parse_fails("\"a\"\n{\n\"b\" \"c\"\n", "line 4: block without its closing '}'");
	parse_fails("\"a\" \"b\"\n}\n", "line 2: '}' without a block");
	parse_fails("\"a\"\n", "key 'a' has no value");
	parse_fails("{ \"a\" \"b\" }", "'{' without a key");
	parse_fails("\"a\" }", "key 'a' has no value");
	for (int i = 0; i < VDF_DEPTH_MAX + 1; i++)
		strcat(deep, "k {");
	parse_fails(deep, "nested deeper than 32");
}

static void
test_load(void **state)
{
	char path[256], err[512];
	struct vdf_node *n = NULL;
	int fd = mkstemp(scratch_template(path, sizeof(path), "sk-vdf"));

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\"x\" {\n \"y\"", 10), 10);
	close(fd);
	assert_int_equal(vdf_load(path, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 2: key 'y' has no value"));
	unlink(path);
	assert_int_equal(vdf_load(path, &n, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(vdf_load("/tmp", &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_libraryfolders),
	    cmocka_unit_test(test_appmanifest_and_syntax),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

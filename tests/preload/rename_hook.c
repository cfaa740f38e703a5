/* LD_PRELOAD shim for tests: makes one rename happen at a moment the test chooses. The file
 * $RENAME_HOOK, when present, holds "stop SUFFIX" or "fail SUFFIX"; the first rename, renameat
 * or renameat2 (in any process carrying the shim) whose new name ends with SUFFIX claims the
 * file by removing it, then either stops its process with SIGSTOP before renaming (so the test
 * can kill it at exactly that step) or fails with EIO (a failing disk). Absent file: nothing. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int rename(const char *oldpath, const char *newpath);
int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/* 1 to stop, -1 to fail, 0 to rename as usual. */
static int
hook(const char *newpath)
{
	const char *file = getenv("RENAME_HOOK");
	char text[1100], action[8], suffix[1024];
	size_t n = strlen(newpath), k;
	int saved = errno, r = 0;
	FILE *f = file ? fopen(file, "re") : NULL;

	if (!f)
		goto out;
	k = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[k] = '\0';
	if (sscanf(text, "%7s %1023s", action, suffix) != 2)
		goto out;
	k = strlen(suffix);
	if (n < k || strcmp(newpath + n - k, suffix) != 0 || unlink(file) < 0)
		goto out;
	r = strcmp(action, "stop") == 0 ? 1 : strcmp(action, "fail") == 0 ? -1 : 0;
out:
	errno = saved;
	if (r > 0)
		raise(SIGSTOP);
	return r;
}

int
renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
	if (hook(newpath) < 0) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int
renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	return renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

int
rename(const char *oldpath, const char *newpath)
{
	return renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

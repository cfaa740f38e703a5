#!/bin/bash
# Security: only the daemon's own uid is served (root too is refused), archives are 0600 and
# folders 0700 whatever the umask, planted symlinks (the game's archive folder, temporaries,
# the restore staging folder, the socket) are never followed, and the daemon writes nowhere but
# the archive folder, its runtime folder, its log and (on restore) the save folder.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/reliability.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CFG=$T/savekeeper.ini
GD=$T/archives/demo
U=sk-sec-$$
S=$T/save

"$ROOT/tests/mktree.sh" --no-fifo "$S" >/dev/null
make_config "$CFG" thread "autostart = false
min_free = 0"

# --- Peers: a daemon of an unprivileged user refuses root and any other user.
peers() {
	add_user "$U" || { fail "useradd $U"; done_testing; }
	UH=$T/u
	mkdir -p "$UH/run"
	cp -a "$S" "$UH/save"
	sed -e "s|^archive_dir = .*|archive_dir = $UH/archives|" -e "s|^path = .*|path = $UH/save|" "$CFG" >"$UH/cfg.ini"
	chown -R "$U" "$UH" && chmod 700 "$UH/run"
	USOCK=$UH/run/sk.sock
	HOME=$UH XDG_RUNTIME_DIR=$UH/run daemon_as "$U" "$T/daemon-u.log" -c "$UH/cfg.ini" --socket "$USOCK"
	if wait_for 10 as_user "$U" "$SKCTL" --socket "$USOCK" ping; then
		"$SKCTL" --socket "$USOCK" ping >/dev/null 2>"$T/err"; rc=$?
		check "root is refused by a user's daemon (exit $rc)" test $rc -eq 1
		check "root is told why" grep -q "permission denied" "$T/err"
		chmod 755 "$UH" "$UH/run" "$UH/run/savekeeper" 2>/dev/null; chmod 777 "$USOCK"
		as_user nobody "$SKCTL" --socket "$USOCK" ping >/dev/null 2>"$T/err"; rc=$?
		check "another user is refused (exit $rc)" test $rc -eq 1
		check "the other user is told why" grep -q "permission denied" "$T/err"
		check "the owner is served" as_user "$U" "$SKCTL" --socket "$USOCK" ping
		kill -TERM "$UPID"; wait "$UPID"
		check "the user's daemon stops cleanly" test $? -eq 0
	else
		fail "a daemon of user $U starts"; sed 's/^/#   /' "$T/daemon-u.log"
	fi
}
if is_root; then
	peers
else
	skip "peers: a user's daemon refuses root and other users" "needs root (useradd, setpriv)"
fi

# --- Modes: with umask 000 the archives are still 0600 and the folders 0700.
umask 000
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
umask 022
check "backup under umask 000" test "$(ctl backup --wait demo | jget 'r["ok"]')" = True
id=$(ctl list demo | jget 'r["archives"][-1]["id"]')
check "a restore under umask 000" test "$(ctl restore demo "$id" | jget 'r["ok"]')" = True
check "a pin under umask 000" test "$(ctl pin demo "$id" | jget 'r["ok"]')" = True
bad_modes() {
	find "$T/archives" "$(dirname "$SAVEKEEPER_SOCKET")" \
		\( -type d ! -perm 0700 \) -o \( -name '*.tar.gz' ! -perm 0600 \) \
		-o \( -name '*.manifest' ! -perm 0600 \) -o \( -type s ! -perm 0600 \) -o -perm /022 \
		-o \( -type f ! -perm 0600 \)
}
check "archives, manifests, pins and every other file 0600, folders 0700" test -z "$(bad_modes)"
bad_modes | sed 's/^/# bad mode: /'
check "the game's archive folder is 0700" test "$(stat -c %a "$GD")" = 700

# --- Symlinks planted where the daemon writes.
mkdir -p "$T/elsewhere" && echo victim >"$T/victim"
victims_untouched() { test -z "$(ls -A "$T/elsewhere")" && test "$(cat "$T/victim")" = victim; }

# Temporaries: symlinks at the names of the next 3 seconds of IDs, to a file and to nowhere.
/usr/bin/python3 - "$GD" "$T" <<'PY'
import os, sys, time
gd, t = sys.argv[1], sys.argv[2]
now = int(time.time() * 1000)
for ms in range(now, now + 3000):
    id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)
    os.symlink(t + "/victim", f"{gd}/{id}.tar.gz.partial")
    os.symlink(f"{t}/elsewhere/{id}", f"{gd}/{id}.manifest.partial")
PY
out=$(ctl backup --wait demo)
diag "backup beside planted temporaries: $(echo "$out" | jget 'r.get("id") or r.get("error")')"
check "planted temporaries: the backup is not written through them" victims_untouched
check "planted temporaries: the daemon still answers" ctl ping
stop_daemon
start_daemon -c "$CFG"
check "planted temporaries: removed at start-up" test -z "$(find "$GD" -name '*.partial')"
check "planted temporaries: their targets survive the sweep" victims_untouched
check "after the sweep a backup works" test "$(ctl backup --wait demo | jget 'r["ok"]')" = True

# The restore staging folder.
ln -s "$T/elsewhere" "$T/.save.savekeeper-staging"
ctl restore demo latest >/dev/null
check "planted staging folder: not followed" victims_untouched
check "planted staging folder: the save folder is still there" test -f "$S/slot1.sav"
rm -f "$T/.save.savekeeper-staging"

# The game's archive folder.
mv "$GD" "$T/gd.keep" && ln -s "$T/elsewhere" "$GD"
out=$(ctl backup --wait demo)
check "archive folder is a symlink: the backup fails" test "$(echo "$out" | jget 'r["ok"]')" = False
check "archive folder is a symlink: says so" grep -qi symlink <<<"$(echo "$out" | jget 'r["error"]')"
check "archive folder is a symlink: not followed" victims_untouched
rm "$GD" && mv "$T/gd.keep" "$GD"
stop_daemon

# The socket path.
ln -s "$T/victim" "$SAVEKEEPER_SOCKET"
"$SKD" -c "$CFG" 2>"$T/err" & p=$!; on_exit "kill -9 $p"; wait $p; rc=$?
check "symlink at the socket path: refuses to start" test $rc -ne 0
check "symlink at the socket path: its target is untouched" victims_untouched
rm -f "$SAVEKEEPER_SOCKET"

# --- Where the daemon writes: every write-like system call of a session, and a listing of the
# test's own folders before and after.
allowed=("$T/archives" "$XDG_RUNTIME_DIR" "$S" "$T/.save.savekeeper-staging" "$T/.save.savekeeper-old"
	"$T/daemon.log" /dev/null)
listing() {
	local prune=() a
	for a in "${allowed[@]}"; do prune+=(-path "$a" -prune -o); done
	find "$T" -mindepth 1 "${prune[@]}" ! -path "$T/strace.log" ! -path "$T/err" ! -path "$T/before" \
		! -path "$T/outside" -printf '%y %m %s %T@ %p\n' | LC_ALL=C sort
}
listing >"$T/before"
strace -f -y -qq -o "$T/strace.log" \
	-e trace=%file,write,pwrite64,writev,pwritev,fchmod,fchown,ftruncate,fallocate,fchdir,fsetxattr \
	"$SKD" -c "$CFG" >>"$T/daemon.log" 2>&1 &
STRACE_PID=$!
on_exit "kill -9 $STRACE_PID"
if wait_for 20 ctl ping; then
	echo "changed" >>"$S/slot1.sav"
	ctl backup --wait demo >/dev/null
	first=$(ctl list demo | jget 'r["archives"][0]["id"]')
	ctl verify demo all >/dev/null
	check "traced: a restore" test "$(ctl restore demo "$first" | jget 'r["ok"]')" = True
	ctl restore demo --undo >/dev/null
	ctl pin demo "$first" >/dev/null
	ctl reload >/dev/null
	kill -TERM "$(pgrep -P "$STRACE_PID" -x savekeeperd)"
	wait "$STRACE_PID"
	/usr/bin/python3 - "$T/strace.log" "${allowed[@]}" >"$T/outside" <<'PY'
import re, sys
log, allowed = sys.argv[1], sys.argv[2:]
WRITE_FD = {"write", "pwrite64", "writev", "pwritev", "fchmod", "fchown", "ftruncate", "fallocate",
            "fsetxattr"}
# Calls that change the path in their first argument (or, for *at, their dirfd + path).
PATH_CALLS = {"mkdir", "rmdir", "unlink", "chmod", "chown", "lchown", "truncate", "utimes", "utime",
              "setxattr", "lsetxattr", "mknod", "creat"}
AT_CALLS = {"mkdirat", "unlinkat", "fchmodat", "fchownat", "utimensat", "mknodat", "futimesat"}
TWO_PATHS = {"rename", "link"}
TWO_AT = {"renameat", "renameat2", "linkat"}
cwd = "/"
def inside(p):
    return any(p == a or p.startswith(a.rstrip("/") + "/") for a in allowed) or p.startswith("/proc/self/fd/")
def resolve(dirpath, p):
    if p.startswith("/"):
        return p
    return (dirpath or cwd).rstrip("/") + "/" + p
def args(s):
    # fd annotations and quoted strings, in order: [("fd", path) or ("str", text) or ("tok", x)]
    return re.findall(r'(?:AT_FDCWD|\d+)<([^>]*)>|"((?:[^"\\]|\\.)*)"', s)
bad = []
for line in open(log):
    m = re.match(r"\d+ (\w+)\((.*)\) += (-?\d+)", line)
    if not m or m.group(3).startswith("-"):
        continue
    call, rest = m.group(1), m.group(2)
    a = args(rest)
    targets = []
    if call in ("chdir", "fchdir"):
        cwd = a[0][0] or resolve(None, a[0][1])
        continue
    if call in ("open", "openat", "creat") and (call == "creat" or re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", rest)):
        d = a[0][0] if call == "openat" else None
        targets.append(resolve(d, a[1][1] if call == "openat" else a[0][1]))
    elif call in WRITE_FD:
        if a and a[0][0].startswith("/"):
            targets.append(a[0][0])
    elif call in PATH_CALLS:
        targets.append(resolve(None, a[0][1]))
    elif call in AT_CALLS:
        if len(a) >= 2 and a[1][1] != "":
            targets.append(resolve(a[0][0], a[1][1]))
        elif a and a[0][0].startswith("/"):
            targets.append(a[0][0])
    elif call in TWO_PATHS:
        targets += [resolve(None, a[0][1]), resolve(None, a[1][1])]
    elif call in TWO_AT:
        targets += [resolve(a[0][0], a[1][1]), resolve(a[2][0], a[3][1])]
    elif call in ("symlink", "symlinkat"):
        targets.append(resolve(a[1][0] if call == "symlinkat" else None, a[-1][1]))
    for t in targets:
        if not inside(t):
            bad.append(f"{call}: {t}")
for b in sorted(set(bad)):
    print(b)
PY
	check "traced: the daemon wrote nowhere else" test ! -s "$T/outside"
	sed 's/^/# outside: /' "$T/outside" | head -20
	check "traced: the log holds the calls" grep -q 'renameat2(.*\.tar\.gz' "$T/strace.log"
	check "nothing else changed under the test's folder" diff "$T/before" <(listing)
else
	fail "the daemon starts under strace"
fi
done_testing

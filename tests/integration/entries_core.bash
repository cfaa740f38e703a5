# What a save folder really holds, through the daemon under the core in $CORE (issue 14,
# classes 1, 5 and 6): a Proton prefix whose symlinks leave it (dosdevices/z: -> /, a config
# shared with the folder beside it, absolute targets), a FIFO and a socket, a sparse file, a
# path longer than PATH_MAX, a tree thousands of folders deep, and a dry run whose reply is far
# over the control socket's output bound. Every backup that says ok verifies and restores;
# GNU tar reproduces it by hand. Sourced by 66-entries-thread.sh, 67-entries-coroutine.sh and
# 68-entries-process.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
CFG=$T/savekeeper.ini
PFX=$T/prefix/pfx
DEEP_LEVELS=${DEEP_LEVELS:-3000}
diag "core: $CORE, a tree $DEEP_LEVELS folders deep"

cat >"$CFG" <<INI
[daemon]
archive_dir = $T/archives
core = $CORE
interval = 1h
notify = off
autostart = false
compression = 1

[game "proton"]
path = $PFX

[game "deep"]
path = $T/deep

[game "many"]
path = $T/many
INI

# py CODE ARGS...: a few lines of Python (for what the shell cannot do with paths over PATH_MAX).
py() { /usr/bin/python3 -c "$@"; }
# chain DIR NAME LEVELS [TEXT]: NAME/NAME/... LEVELS deep below DIR, end.sav holding TEXT in the
# deepest; without TEXT prints what end.sav holds ("" when missing).
chain() {
	py '
import os, sys
top, name, levels = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
for _ in range(levels):
    if len(sys.argv) > 4:
        os.mkdir(name, dir_fd=fd)
    try:
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    except OSError:
        sys.exit(0)
    os.close(fd)
    fd = sub
if len(sys.argv) > 4:
    f = os.open("end.sav", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(f, sys.argv[4].encode())
else:
    try:
        f = os.open("end.sav", os.O_RDONLY, dir_fd=fd)
        print(os.read(f, 100).decode(), end="")
    except OSError:
        pass' "$@"
}
# special_list DIR: the FIFOs and sockets below DIR with their inodes.
special_list() { (cd "$1" && find . \( -type p -o -type s \) -printf '%y %i %p\n' | LC_ALL=C sort); }
# same_tree A B: tree_equal, FIFOs and sockets aside (diff would read a FIFO).
same_tree() {
	diff <(cd "$1" && find . -mindepth 1 ! -type p ! -type s -printf '%y %m %T@ %l %p\n' | LC_ALL=C sort) \
	     <(cd "$2" && find . -mindepth 1 ! -type p ! -type s -printf '%y %m %T@ %l %p\n' | LC_ALL=C sort) &&
	diff -r --no-dereference -x game.fifo -x game.sock "$1" "$2"
}
blocks() { stat -c %b "$1"; }

# --- The Proton prefix.
mkdir -p "$PFX/dosdevices" "$PFX/drive_c/users/steamuser/Saved" "$T/outside"
echo "shared between prefixes" >"$T/prefix/shared.cfg"
echo secret >"$T/outside/secret"
echo "slot one" >"$PFX/drive_c/users/steamuser/Saved/slot1.sav"
ln -s ../drive_c "$PFX/dosdevices/c:"
ln -s / "$PFX/dosdevices/z:"
ln -s ../shared.cfg "$PFX/shared.cfg"
ln -s "$T/outside/secret" "$PFX/abs-secret"
ln -s "$T/outside" "$PFX/abs-dir"
mkfifo "$PFX/game.fifo"
py 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$PFX/drive_c/game.sock"
# A sparse file: 40 MiB with a few bytes of data.
printf head >"$PFX/world.sparse"
printf middle | dd of="$PFX/world.sparse" bs=1 seek=$((16 << 20)) conv=notrunc status=none
truncate -s $((40 << 20)) "$PFX/world.sparse"
sum_sparse=$(sha256sum <"$PFX/world.sparse")
cp -a "$PFX" "$T/orig"
(cd "$T/outside" && find . -printf '%y %m %T@ %p\n' | sort; cat secret) >"$T/outside.before"
specials=$(special_list "$PFX")

# --- Many files, for a dry run far over the output bound; a path over PATH_MAX; a deep tree.
mkdir -p "$T/many" "$T/deep"
py 'import os, sys
for i in range(12000):
    open(os.path.join(sys.argv[1], "slot-%05d-%s.sav" % (i, "x" * 60)), "w").write("s")' "$T/many"
chain "$T/many" "long-folder-name-$(printf 'n%.0s' $(seq 200))" 45 "long"
chain "$T/deep" d "$DEEP_LEVELS" "deep"

start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }

out=$(ctl backup --wait proton)
check "a Proton prefix with symlinks leaving it: backup ok" test "$(jget 'r["ok"]' <<<"$out")" = True
pid=$(jget 'r["id"]' <<<"$out")
out=$(ctl verify proton "$pid")
check "... verify ok" test "$(jget 'r["ok"]' <<<"$out")" = True
mkdir "$T/byhand" && tar -xzf "$T/archives/proton/$pid.tar.gz" -C "$T/byhand"
check "... tar -xzf by hand gives the tree, symlinks as they were" same_tree "$T/byhand" "$T/orig"
check "... tar -xzf by hand: the sparse file's exact bytes" test "$(sha256sum <"$T/byhand/world.sparse")" = "$sum_sparse"
check "... the archive holds no FIFO or socket" test -z "$(special_list "$T/byhand")"

echo "a worse slot" >"$PFX/drive_c/users/steamuser/Saved/slot1.sav"
rm "$PFX/dosdevices/z:" "$PFX/world.sparse"
out=$(ctl restore proton "$pid" --dry-run)
check "... the dry run does not remove the FIFO or socket" \
	test "$(jget '[c["path"] for c in r["changes"] if c["change"] == "removed"]' <<<"$out")" = "[]"
out=$(ctl restore proton "$pid")
check "... restore ok" test "$(jget 'r["ok"]' <<<"$out")" = True
check "... restored tree equals the snapshot, links included" same_tree "$PFX" "$T/orig"
check "... the FIFO and the socket are left alone (same inodes)" test "$(special_list "$PFX")" = "$specials"
check "... the sparse file comes back sparse ($(blocks "$PFX/world.sparse") blocks)" \
	test "$(blocks "$PFX/world.sparse")" -lt 2048
check "... and with every byte" test "$(sha256sum <"$PFX/world.sparse")" = "$sum_sparse"
check "... nothing outside changed" diff "$T/outside.before" <(cd "$T/outside" && find . -printf '%y %m %T@ %p\n' | sort; cat secret)
check "... the shared config was not written through" test "$(cat "$T/prefix/shared.cfg")" = "shared between prefixes"
out=$(ctl restore proton --undo)
check "... undo of that restore ok" test "$(jget 'r["ok"]' <<<"$out")" = True
check "... undo: the state before, z: gone again" test ! -L "$PFX/dosdevices/z:" -a -L "$PFX/dosdevices/c:"
check "... undo leaves the FIFO and the socket" test "$(special_list "$PFX")" = "$specials"
out=$(ctl restore proton --undo)
check "... undo of the undo ok" test "$(jget 'r["ok"]' <<<"$out")" = True
check "... back to the snapshot" same_tree "$PFX" "$T/orig"
check "nothing left beside the save folder" test -z "$(ls -a "$T/prefix" | grep savekeeper)"

# --- A path over PATH_MAX and 12,000 files: a dry run far over the output bound.
out=$(ctl backup --wait many)
check "12,000 files and a path over PATH_MAX: backup ok" test "$(jget 'r["ok"]' <<<"$out")" = True
mid=$(jget 'r["id"]' <<<"$out")
check "... verify ok" test "$(ctl verify many "$mid" | jget 'r["ok"]')" = True
find "$T/many" -mindepth 1 -delete 2>/dev/null || rm -rf "${T:?}/many/"*
out=$(ctl restore many "$mid" --dry-run)
n=$(jget 'len(r["changes"])' <<<"$out")
check "... the dry run reply reaches the client whole ($n changes, ${#out} bytes)" test "$n" -eq 12046 -a "${#out}" -gt 1048576
human=$("$SKCTL" restore many "$mid" --dry-run | grep -c '^added ')
check "... savekeeperctl prints every line of it ($human)" test "$human" -eq 12046
out=$(ctl restore many "$mid")
check "... restore ok" test "$(jget 'r["ok"]' <<<"$out")" = True
check "... the path over PATH_MAX is back" test "$(chain "$T/many" "long-folder-name-$(printf 'n%.0s' $(seq 200))" 45)" = long
check "... and the 12,000 files" test "$(find "$T/many" -maxdepth 1 -name 'slot-*' | wc -l)" -eq 12000

# --- A tree $DEEP_LEVELS folders deep: no walker recurses on the job's stack.
out=$(ctl backup --wait deep)
check "a tree $DEEP_LEVELS deep: backup ok" test "$(jget 'r["ok"]' <<<"$out")" = True
did=$(jget 'r["id"]' <<<"$out")
check "... verify ok" test "$(ctl verify deep "$did" | jget 'r["ok"]')" = True
chain "$T/deep" j "$DEEP_LEVELS" junk
# Before, the dry run's recursive scan of the live folder overflowed the coroutine's stack here
# and killed the daemon.
out=$(ctl restore deep "$did" --dry-run)
check "... a dry run over a junk tree as deep lists it whole" \
	test "$(jget 'len([c for c in r["changes"] if c["change"] == "removed"])' <<<"$out")" -eq $((DEEP_LEVELS + 1))
out=$(ctl restore deep "$did")
check "... restore ok, a junk tree as deep removed" test "$(jget 'r["ok"]' <<<"$out")" = True
check "... the deepest file is back" test "$(chain "$T/deep" d "$DEEP_LEVELS")" = deep
check "... the junk is gone" test ! -e "$T/deep/j"
check "... the daemon's message counts 1 file, not '1 files'" grep -q "game 'deep': $did: 1 file, " "$T/daemon.log"
# (GNU tar cannot extract a path over PATH_MAX, so the deep tree is not tried by hand.)
check "the daemon is alive" "$SKCTL" ping
stop_daemon
check "the daemon stops cleanly" test $? -eq 0
done_testing

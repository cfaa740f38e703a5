#!/bin/bash
# Faults around a running daemon: a full disk, a read-only archive folder, unreadable save
# files, the save folder deleted and made again, the archive folder deleted. Each must give a
# failed job whose status error names the cause, leave no partial archive, keep the daemon
# serving, and let a later snapshot succeed.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/reliability.bash"
CFG=$T/savekeeper.ini
GD=$T/archives/demo
U=sk-fault-$$

# The last job's error as status reports it.
last_error() { ctl status | jget 'r["games"][0]["last_error"]'; }
backup_fails() { test "$(ctl backup --wait demo | jget 'r["ok"]')" = False; }
backup_works() { test "$(ctl backup --wait demo | jget 'r["ok"]')" = True; }
no_partial() { test -z "$(leftovers "$1")" && test -z "$(find "$1" -name '*.tar.gz*' -newer "$T/mark")"; }
# after_fault NAME CAUSE-REGEX DIR: the failed backup's status error, the folder, the daemon.
after_fault() {
	check "$1: status names the cause" grep -Eqi "$2" <<<"$(last_error)"
	check "$1: no partial archive" no_partial "$3"
	check "$1: the daemon still answers" ctl ping
}

mkdir -p "$T/save" && echo "slot" >"$T/save/slot1.sav"
make_config "$CFG" thread "autostart = false
min_free = 0
compression = 1"
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
check "a first snapshot" backup_works

# A full disk: the game's archive folder on a 1 MiB tmpfs, a save folder of 3 MiB of noise.
if is_root; then
	mv "$GD" "$T/gd.keep" && mkdir -m 0700 "$GD"
	mount -t tmpfs -o size=1m,mode=0700 sk-full "$GD" && on_exit "umount -l '$GD'"
	head -c 3M /dev/urandom >"$T/save/big.bin"
	touch "$T/mark"
	check "full disk: the backup fails" backup_fails
	after_fault "full disk" "no space left on device" "$GD"
	check "full disk: nothing left on the tmpfs" test -z "$(ls -A "$GD")"
	rm "$T/save/big.bin"
	check "full disk: a small snapshot fits afterwards" backup_works
	check "full disk: and verifies" test "$(ctl verify demo latest | jget 'r["ok"]')" = True
	umount "$GD"

	# A read-only archive folder.
	mount -t tmpfs -o size=4m,mode=0700 sk-ro "$GD" && mount -o remount,ro "$GD"
	touch "$T/mark"
	check "read-only: the backup fails" backup_fails
	after_fault "read-only" "read-only file system" "$GD"
	mount -o remount,rw "$GD"
	check "read-only: works once writable again" backup_works
	umount "$GD"
	rmdir "$GD" && mv "$T/gd.keep" "$GD"
else
	skip "full disk" "needs root (mounts a tmpfs)"
	skip "read-only archive folder" "needs root (mounts a tmpfs)"
fi

# The save folder deleted, then made again while the daemon runs.
rm -rf "$T/save"
touch "$T/mark"
check "save folder deleted: the backup fails" backup_fails
after_fault "save folder deleted" "save folder '$T/save' does not exist" "$GD"
mkdir "$T/save" && echo "new life" >"$T/save/slot2.sav"
check "save folder made again: the backup works" backup_works
id=$(ctl list demo | jget 'r["archives"][-1]["id"]')
check "save folder made again: the archive holds the new tree" \
	test "$(tar -tzf "$GD/$id.tar.gz")" = slot2.sav

# The archive folder deleted while the daemon runs: the next snapshot makes it again, 0700.
rm -rf "$T/archives"
check "archive folder deleted: the backup works" backup_works
check "archive folder deleted: made again 0700" test "$(stat -c %a "$GD")" = 700
check "archive folder deleted: list shows the new archive" \
	test "$(ctl list demo | jget 'len(r["archives"])')" -eq 1
check "archive folder deleted: the daemon still answers" ctl ping
stop_daemon

# Unreadable save files need a daemon that is not root: a system user of our own, or the
# user running the test.
if is_root; then
	add_user "$U" || { fail "useradd $U"; done_testing; }
else
	U=$(id -un)
fi
UH=$T/u
mkdir -p "$UH/run" "$UH/save/sub" "$UH/archives"
echo "fine" >"$UH/save/ok.sav"
echo "secret" >"$UH/save/sub/locked.sav"
cat >"$UH/cfg.ini" <<INI
[daemon]
archive_dir = $UH/archives
socket = $UH/run/sk.sock
core = process
autostart = false
notify = off
min_free = 0

[game "demo"]
path = $UH/save
INI
chown -R "$U" "$UH" && chmod 700 "$UH/run"
chmod 000 "$UH/save/sub/locked.sav"
uctl() { as_user "$U" env HOME="$UH" XDG_RUNTIME_DIR="$UH/run" "$SKCTL" --json --socket "$UH/run/sk.sock" "$@"; }
HOME=$UH XDG_RUNTIME_DIR=$UH/run daemon_as "$U" "$T/daemon-u.log" -c "$UH/cfg.ini"
if wait_for 10 uctl ping; then
	touch "$T/mark"
	check "unreadable file: the backup fails" test "$(uctl backup --wait demo | jget 'r["ok"]')" = False
	err=$(uctl status | jget 'r["games"][0]["last_error"]')
	check "unreadable file: status names the file and the cause" \
		grep -Eq "locked\.sav.*Permission denied" <<<"$err"
	check "unreadable file: no partial archive" no_partial "$UH/archives"
	check "unreadable file: the daemon still answers" uctl ping
	chmod 600 "$UH/save/sub/locked.sav"
	check "unreadable file: works once readable" test "$(uctl backup --wait demo | jget 'r["ok"]')" = True
	kill -TERM "$UPID"; wait "$UPID"
	check "unreadable file: the daemon stops cleanly" test $? -eq 0
else
	fail "a daemon of user $U starts"; sed 's/^/#   /' "$T/daemon-u.log"
fi
done_testing

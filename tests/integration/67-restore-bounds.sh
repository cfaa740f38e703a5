#!/bin/bash
# A restore changes the save folder and nothing else, and a failed one leaves no trace.
# The config loader refuses games whose folders are the same or nested and archives inside a
# save folder (or holding one), naming the file and line, also for --save-dir/--archive-dir and on
# reload (the old config stays). Then, under each core, with the save folder a symlink to a folder
# on "another drive": restore and undo through the link (the link kept); a swap that fails and a
# corrupted archive leave no pre-restore snapshot, pin or undo record, and undo still undoes the
# last restore that succeeded; the job killed (SIGKILL) at three chosen steps of a restore leaves
# nothing once swept, at once under the process core (its worker is killed, the daemon lives) and
# at the restart otherwise; a mounted tmpfs inside the save folder, or the save folder itself a
# mount point, is refused with nothing changed (root only).
# The moments come from tests/preload/rename_hook.c: the chosen rename stops its process.
source "$(dirname "$0")/../lib.sh"
HOOK_SO=$SK_BUILD/rename_hook.so
# The shim is preloaded before the ASan runtime in the ASAN=1 pass; the order does not matter to it.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
CRAFT=$SK_BUILD/sk-craft
CFG=$T/savekeeper.ini
[ -f "$HOOK_SO" ] && [ -x "$CRAFT" ] || { fail "rename_hook.so and sk-craft are built"; done_testing; }

# refused_config NAME EXPECT ARGS...: savekeeperd ARGS exits 1 at once, EXPECT in its message.
refused_config() {
	local name=$1 expect=$2 out rc
	shift 2
	out=$(timeout 10 "$SKD" --socket "$T/refused.sock" "$@" 2>&1); rc=$?
	diag "$name: $out"
	check "$name: the daemon refuses to start" test "$rc" -eq 1
	check "$name: the message says where and why" grep -qF -- "$expect" <<<"$out"
}
# games_config FILE PATH-A PATH-B [ARCHIVE-DIR]: two games; b's path is on line 9.
games_config() {
	cat >"$1" <<-INI
	[daemon]
	archive_dir = ${4:-$T/archives}
	notify = off
	autostart = false

	[game "a"]
	path = $2
	[game "b"]
	path = $3
	INI
}

mkdir -p "$T/games/a/sub" "$T/games/drive0" "$T/data"
ln -s drive0 "$T/games/link"
games_config "$CFG" "$T/games/a" "$T/games/a/"
refused_config "same folder" "$CFG:9: game 'b': path '$T/games/a' is the save folder of game 'a'" -c "$CFG"
games_config "$CFG" "$T/games/a" "$T/games/a/sub/deeper"
refused_config "nested folder" "$CFG:9: game 'b': path '$T/games/a/sub/deeper' lies inside the save folder of game 'a'" -c "$CFG"
games_config "$CFG" "$T/games/link" "$T/games/drive0/x"
refused_config "nested through a symlink" "$CFG:9: game 'b': path '$T/games/drive0/x' lies inside the save folder of game 'a' ('$T/games/link'" -c "$CFG"
games_config "$CFG" "$T/games/a" "$T/games/b" "$T/games/a/archives"
refused_config "archives in a save folder" "$CFG:2: archive_dir '$T/games/a/archives' lies inside the save folder '$T/games/a' of game 'a' ($CFG:7); a restore of 'a' would replace the archives" -c "$CFG"
games_config "$CFG" "$T/data/a" "$T/games/b" "$T/data"
refused_config "a save folder among the archives" "$CFG:2: archive_dir '$T/data' holds the save folder '$T/data/a' of game 'a' ($CFG:7); a restore of 'a' would write into the archives" -c "$CFG"
refused_config "--archive-dir in --save-dir" "--archive-dir: archive_dir '$T/data/archives' lies inside the save folder '$T/data' of game 'data' (--save-dir)" \
	--save-dir "$T/data" --archive-dir "$T/data/archives"
refused_config "--save-dir holding the default archives" "--save-dir: game 'home': path '$HOME' holds archive_dir '$XDG_DATA_HOME/savekeeper' (the default)" \
	--save-dir "$HOME"
games_config "$CFG" "$T/games/a" "$T/games/b"
games_config "$T/moved.ini" "$T/games/a" "$T/games/b" "$T/games/b/archives"
refused_config "--archive-dir is checked against the file's games" "--archive-dir: archive_dir '$T/games/b/archives' lies inside the save folder '$T/games/b' of game 'b' ($CFG:9)" \
	-c "$CFG" --archive-dir "$T/games/b/archives"

# A reload with nested games fails, naming the line, and the old games stay.
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
games_config "$CFG" "$T/games/a" "$T/games/a/sub"
out=$("$SKCTL" reload 2>&1); rc=$?
diag "reload: $out"
check "reload of nested games fails" test "$rc" -eq 1
check "reload: the message names the line" grep -qF "$CFG:9: game 'b': path '$T/games/a/sub' lies inside" <<<"$out"
check "reload: the old config stays" test "$(ctl status | jget '[g["name"] + ":" + g["path"] for g in r["games"]]')" = \
	"[\"a:$T/games/a\", \"b:$T/games/b\"]"
# A reload may not move the games around the archive folder in use either.
games_config "$CFG" "$T/games/a" "$T/archives/b" "$T/elsewhere"
out=$("$SKCTL" reload 2>&1); rc=$?
diag "reload into the archives in use: $out"
check "reload of a game inside the archive folder in use fails" test "$rc" -eq 1
check "reload: the message names the game's line" \
	grep -qF "$CFG:9: game 'b': path '$T/archives/b' lies inside archive_dir '$T/archives' (in use until restart)" <<<"$out"
stop_daemon

# --- Per core: the save folder is the symlink $C/link -> drive/save.
# start_hooked: the daemon with the rename hook armed by the file $T/hook.
start_hooked() {
	LD_PRELOAD=$HOOK_SO RENAME_HOOK=$T/hook start_daemon -c "$CFG"
}
# stopped_pid: the daemon or its worker, whichever the hook stopped.
stopped_pid() {
	local p
	for p in "$SKD_PID" $(pgrep -P "$SKD_PID"); do
		[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = T ] && { echo "$p"; return 0; }
	done
	return 1
}
# state: what a failed restore must leave as it was: the archive folder's names, the undo
# record, and the save tree.
state() {
	ls -a "$GD"
	echo "last-restore: $(head -n1 "$GD/last-restore" 2>/dev/null)"
	(cd "$C/drive/save" && find . -printf '%y %m %s %T@ %p\n' | LC_ALL=C sort)
}
# leftovers_beside: anything of a restore beside the save folder or among the archives.
leftovers_beside() {
	{ ls -a "$C" "$C/drive"; ls -a "$GD"; } 2>/dev/null | grep -E 'savekeeper-(staging|old)|\.partial$|restore-pending' || true
}
no_trace() { diff <(echo "$1") <(state) && test -z "$(leftovers_beside)"; }
# kill_at SUFFIX ID: restore ID with the rename to ...SUFFIX stopped, then SIGKILL the stopped
# process. Under the process core that is the worker, and the daemon sweeps at once; otherwise
# it is the daemon, which is started again (its start-up sweeps).
kill_at() {
	local p client
	echo "stop $1" >"$T/hook"
	"$SKCTL" restore demo "$2" >"$T/client.out" 2>&1 &
	client=$!
	if ! wait_for 30 stopped_pid; then
		fail "the hook stopped a process at $1"
		rm -f "$T/hook"
		wait "$client"
		return 1
	fi
	p=$(stopped_pid)
	kill -9 "$p"
	wait "$client"
	if [ "$p" = "$SKD_PID" ]; then
		wait "$SKD_PID" 2>/dev/null
		start_hooked || { fail "the daemon restarts"; done_testing; }
	else
		check "killed at $1 ($core): the daemon lives on" kill -0 "$SKD_PID"
		check "killed at $1 ($core): the client is told" grep -q "worker process killed" "$T/client.out"
	fi
}
# refused_restore NAME EXPECT [ID]: restore ID (default $id1) fails with EXPECT in its message,
# leaving no trace: no pre-restore snapshot, pin or record, nothing changed.
refused_restore() {
	local before out rc
	before=$(state)
	out=$("$SKCTL" restore demo "${3:-$id1}" 2>&1); rc=$?
	diag "$1 ($core): $out"
	check "$1: refused ($core)" test "$rc" -eq 1
	check "$1: the message says why ($core)" grep -qF "$2" <<<"$out"
	check "$1: nothing changed ($core)" no_trace "$before"
}
newest_pre_restore() { ctl list demo | jget '[a["id"] for a in r["archives"] if a["tag"] == "pre-restore"][-1]'; }
is_pinned() { test "$(ctl list demo | jget "[a['pinned'] for a in r['archives'] if a['id'] == '$1']")" = '[true]'; }
link_kept() { test -L "$C/link" && test "$(readlink "$C/link")" = drive/save; }

read -ra cores <<<"$CORES"
for core in "${cores[@]}"; do
	C=$T/$core GD=$T/$core/archives/demo
	mkdir -p "$C/drive/save/profile"
	ln -s drive/save "$C/link"
	cat >"$CFG" <<-INI
	[daemon]
	archive_dir = $C/archives
	core = $core
	interval = 1h
	notify = off
	autostart = false
	compression = 1
	min_free = 0

	[game "demo"]
	path = $C/link
	INI
	start_hooked || { fail "daemon starts ($core)"; continue; }

	# Restore and undo through the link.
	echo "slot one" >"$C/drive/save/slot1.sav"
	echo "[video]" >"$C/drive/save/profile/settings.ini"
	ln -s profile/settings.ini "$C/drive/save/shortcut"
	cp -a "$C/drive/save" "$C/orig"
	id1=$(ctl backup --wait demo | jget 'r["id"]')
	echo "a worse slot" >"$C/drive/save/slot1.sav"
	echo "stale" >"$C/drive/save/stale.sav"
	cp -a "$C/drive/save" "$C/modified"
	out=$(ctl restore demo "$id1")
	check "restore through a symlinked save folder ($core)" test "$(jget 'r["ok"]' <<<"$out")" = True
	check "the symlink is kept ($core)" link_kept
	check "its target holds the restored tree ($core)" tree_equal "$C/drive/save" "$C/orig"
	check "no staging beside the link or its target ($core)" test -z "$(leftovers_beside)"
	out=$(ctl restore demo --undo)
	check "undo through the symlink ($core)" test "$(jget 'r["ok"]' <<<"$out")" = True
	check "undo keeps the symlink ($core)" link_kept
	check "undo brings back the tree before ($core)" tree_equal "$C/drive/save" "$C/modified"
	good_undo=$(head -n1 "$GD/last-restore")

	# A swap that fails, then a corrupted archive: no trace, and undo still undoes the last
	# restore that succeeded.
	echo "fail /drive/save" >"$T/hook"
	refused_restore "a failing swap" "cannot swap '$C/drive/save' into place"
	bad=20200101T000001.000Z
	sed "s/^id .*/id $bad/" "$GD/$id1.manifest" >"$GD/$bad.manifest"
	# The damage changes a saved byte: a flipped compressed byte can land where readers look
	# at nothing (a gzip header field, tar padding) and leave every file as it was.
	gzip -dc "$GD/$id1.tar.gz" | LC_ALL=C sed 's/slot one/slot onE/' | gzip -1 >"$GD/$bad.tar.gz"
	"$CRAFT" --rehash "$GD" "$bad"
	refused_restore "a corrupted archive" "archive '$bad.tar.gz'" "$bad"
	rm -f "$GD/$bad.tar.gz" "$GD/$bad.manifest"
	out=$(ctl restore demo --undo)
	check "undo after failed restores undoes the last good one ($core)" test "$(jget 'r["id"]' <<<"$out")" = "$good_undo"
	check "and brings back its tree ($core)" tree_equal "$C/drive/save" "$C/orig"
	good_undo=$(head -n1 "$GD/last-restore")
	echo "played on" >"$C/drive/save/slot1.sav"

	# Killed while staging is done and the pre-restore snapshot is being published (its
	# manifest is, its archive a .partial), and just before the swap: swept, no trace.
	for at in .tar.gz /drive/save; do
		before=$(state)
		kill_at "$at" "$id1"
		check "killed at ...$at ($core): no staging, temporary, orphan or record left, nothing changed" \
			no_trace "$before"
	done
	check "the undo record is still the last good one ($core)" test "$(head -n1 "$GD/last-restore")" = "$good_undo"

	# Killed after the swap, before the undo record: the sweep finishes the restore.
	cp -a "$C/drive/save" "$C/played"
	kill_at /last-restore "$id1"
	pre=$(newest_pre_restore)
	check "killed after the swap ($core): the restored tree is in place" tree_equal "$C/drive/save" "$C/orig"
	check "killed after the swap ($core): its pre-restore snapshot is the undo record" \
		test "$(head -n1 "$GD/last-restore")" = "$pre"
	check "killed after the swap ($core): and it is pinned" is_pinned "$pre"
	check "killed after the swap ($core): nothing left" test -z "$(leftovers_beside)"
	out=$(ctl restore demo --undo)
	check "killed after the swap ($core): undo brings back the tree before" tree_equal "$C/drive/save" "$C/played"

	# Mount points: a tmpfs inside the save folder, and the save folder itself.
	if [ "$(id -u)" != 0 ]; then
		ok "mount points are refused ($core) # SKIP mounting a tmpfs needs root"
	elif mkdir -p "$C/drive/save/cloud" && mount -t tmpfs -o size=1m tmpfs "$C/drive/save/cloud" 2>/dev/null; then
		# Wherever a broken restore may have moved it, every mount under $T goes at exit.
		on_exit "findmnt -rn -o TARGET | grep '^$T/' | LC_ALL=C sort -r | xargs -r umount -l"
		echo "not a save" >"$C/drive/save/cloud/other.dat"
		refused_restore "a mount inside the save folder" "holds the mount point '$C/drive/save/cloud'"
		check "the mounted file is there ($core)" test "$(cat "$C/drive/save/cloud/other.dat")" = "not a save"
		umount "$C/drive/save/cloud" && rmdir "$C/drive/save/cloud"
		mount -t tmpfs -o size=1m tmpfs "$C/drive/save"
		echo "on its own filesystem" >"$C/drive/save/slot1.sav"
		refused_restore "a save folder that is a mount point" "save folder '$C/drive/save' is a mount point"
		umount "$C/drive/save"
	else
		ok "mount points are refused ($core) # SKIP no tmpfs can be mounted here"
	fi
	stop_daemon
	check "no daemon or worker left ($core)" test -z "$(own_processes savekeeperd)"
done
done_testing

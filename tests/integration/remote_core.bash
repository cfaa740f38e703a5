# Copies to an rclone remote under the core in $CORE (--once only queues them for the daemon),
# with the real rclone against a real
# protocol on loopback (rclone serve webdav, started and stopped here) and the local backend:
# uploads match the local bytes; the server killed mid-upload and started again (the copy
# completes later, no partial file ever has an archive's name, the daemon keeps answering);
# refused auth (failing status with rclone's message, retries, local archives untouched, then
# recovery); a daemon restart with a queue pending; a second daemon with an empty archive folder
# and the same remote lists, pulls and restores the first one's archives, past the
# stale-over-newer guard only with --force while it holds unarchived progress; the remote's
# retention (only this device's archives, pins kept, manifests before archives, a failing
# remote leaving everything here); the daemon's rclone rcd (shared by a burst of copies,
# replaced when it died, never outliving the daemon); rclone missing.
# Sourced by 71-remote-thread.sh, 72-remote-coroutine.sh and 73-remote-process.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
CFG=$T/savekeeper.ini
RCONF=$T/rclone.conf
GD=$T/archives/demo
SRV=$T/served
diag "core: $CORE"

if ! command -v rclone >/dev/null; then
	ok "remote tests # SKIP rclone is not installed (apt-get install rclone)"
	done_testing
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$SRV" "$T/local-remote"

# serve: rclone serve webdav of $SRV on the port, user sk, password right; pid in SRV_PID.
serve() {
	rclone serve webdav "$SRV" --addr "127.0.0.1:$PORT" --user sk --pass right >>"$T/serve.log" 2>&1 &
	SRV_PID=$!
	on_exit "kill -9 $SRV_PID; wait $SRV_PID"
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
}
unserve() { kill -9 "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; }

# rclone_config PASSWORD: remotes "dav" (the webdav server) and "loc" (the local backend).
rclone_config() {
	cat >"$RCONF" <<-INI
	[dav]
	type = webdav
	url = http://127.0.0.1:$PORT
	vendor = other
	user = sk
	pass = $(rclone obscure "$1")

	[loc]
	type = local
	INI
}

# write_config REMOTE [EXTRA-DAEMON-LINES]: lib.sh's config of game "demo" with the remote.
write_config() {
	make_config "$CFG" "$CORE" "autostart = false
compression = 1
remote = $1
rclone_config = $RCONF
remote_retry = 1s
${2:-}"
}

remote_state() { ctl status | jget 'r["games"][0]["remote"]["state"]'; }
state_is() { test "$(remote_state)" = "$1"; }
# same_bytes DIR: every local archive and manifest has an identical copy in DIR/demo.
same_bytes() {
	local f n=0
	for f in "$GD"/*.tar.gz "$GD"/*.manifest; do
		cmp "$f" "$1/demo/$(basename "$f")" || return 1
		n=$((n + 1))
	done
	((n > 0))
}
# no_partial_archive DIR: every name that reads as an archive on the remote is complete.
no_partial_archive() {
	local f
	for f in "$1"/demo/*.tar.gz; do
		[[ -e $f ]] || continue
		cmp -s "$f" "$GD/$(basename "$f")" || { echo "incomplete: $f"; return 1; }
	done
}

mkdir -p "$T/save"
head -c 4096 /dev/urandom >"$T/save/slot1.sav"
rclone_config right

# The local backend.
write_config "loc:$T/local-remote" "device = deviceA"
check "--once with a remote" bash -c "'$SKD' -c '$CFG' --once --core '$CORE' >/dev/null 2>'$T/once.err'"
check "--once queued its archive for the daemon" test -s "$GD/remote-queue"
check "--once copied nothing itself" test ! -e "$T/local-remote/demo"
start_daemon -c "$CFG"
check "the daemon copies what --once queued" wait_for 60 state_is "in sync"
check "local-backend copies match the local bytes" same_bytes "$T/local-remote"
check "the journal is empty once in sync" test ! -s "$GD/remote-queue"
check "status in words names the remote" bash -c "'$SKCTL' status | grep -q 'copies to loc:.*: in sync'"
stop_daemon

# A second device: an empty archive folder, the same remote.
cp -a "$T/save" "$T/original"
first=$(archives "$GD" | head -1); first=${first%.tar.gz}
mv "$T/archives" "$T/device1"
GD1=$T/device1/demo
echo "progress on device 2" >"$T/save/slot1.sav"
write_config "loc:$T/local-remote" "device = deviceB"
start_daemon -c "$CFG"
n=$(ctl list --remote | jget 'len(r["archives"])')
check "list --remote shows the first device's $n archives" test "$n" = "$(archives "$GD1" | wc -l)"
check "the remote listing names the first archive and its device" bash -c \
	"'$SKCTL' list --remote | grep -q '^$first .* from deviceA\$'"
check "the archive folder is still empty" test -z "$(archives "$GD")"
check "the first device's manifest names it" grep -qx "device deviceA" "$T/local-remote/demo/$first.manifest"
check "the guard refuses a stale archive over unarchived progress" bash -c \
	"! '$SKCTL' restore '$first' 2>'$T/guard.err' && grep -q 'made on deviceA.*restore --force' '$T/guard.err'"
check "the refused restore left the progress in place" grep -qx "progress on device 2" "$T/save/slot1.sav"
check "a dry run shows the difference" bash -c "'$SKCTL' restore '$first' --dry-run | grep -q 'slot1.sav'"
check "restore --force of an ID only the remote has" "$SKCTL" restore "$first" --force
check "the save matches the first device's" tree_equal "$T/original" "$T/save"
check "the pulled archive is published here, byte for byte" cmp "$GD/$first.tar.gz" "$GD1/$first.tar.gz"
check "the progress made here is kept as the pre-restore snapshot" \
	bash -c "'$SKCTL' list | grep -q pre-restore"
echo "archived progress on device 2" >"$T/save/slot1.sav"
check "backup on the second device" "$SKCTL" backup --wait
check "its manifest names device B and the archive before it" bash -c \
	"grep -lx 'device deviceB' '$GD'/*.manifest | xargs -r grep -q '^based-on 20'"
check "with the progress archived, the guard lets the restore through" "$SKCTL" restore "$first"
check "pull latest downloads the newest" "$SKCTL" pull latest
check "the newest is here now" test -e "$GD/$(archives "$GD1" | tail -1)"
check "pull of an ID the remote lacks fails" bash -c "! '$SKCTL' pull 20200101T000000.000Z"
# Only the pull's own folder: a copy job of the archives above may be writing its journal now.
check "no pull staging left" test ! -e "$GD/pull.partial"
check "no listing's copy of the manifests left" bash -c "! ls -d '$GD'/list.partial.* 2>/dev/null"
stop_daemon
rm -rf "$T/archives" "$T/device1" "$T/original"

# Remote retention on the local backend: device A's archives are never this device's to
# remove, device B keeps its newest two there and its pinned one; then remote_prune_foreign.
RR=$T/retained
backup_as() { echo "$1" >"$T/save/slot1.sav" && "$SKCTL" backup --wait >/dev/null; }
remote_ids() { ls "$RR/demo" 2>/dev/null | sed -n 's/\.tar\.gz$//p'; }
remote_has() { test "$(remote_ids | paste -sd ' ')" = "$*"; }
# every manifest on the remote has its archive
manifests_have_archives() {
	local m
	for m in "$RR"/demo/*.manifest; do
		[[ -e $m ]] || continue
		[[ -e ${m%.manifest}.tar.gz ]] || { echo "no archive for $m"; return 1; }
	done
}
write_config "loc:$RR" "device = deviceA"
start_daemon -c "$CFG"
backup_as a1 && backup_as a2
check "status says in sync" wait_for 60 state_is "in sync"
check "only once both archives are on the remote" test "$(ls "$RR/demo" | grep -c 'tar.gz$')" = 2
stop_daemon
read -r a1 a2 <<<"$(remote_ids | tr '\n' ' ')"
mv "$T/archives" "$T/deviceA"
write_config "loc:$RR" "device = deviceB
remote_keep_last = 2"
start_daemon -c "$CFG"
backup_as b1
b1=$(archives "$GD" | head -1); b1=${b1%.tar.gz}
check "pin device B's first archive" "$SKCTL" pin "$b1"
backup_as b2 && backup_as b3 && backup_as b4
read -r _ b2 b3 b4 <<<"$(archives "$GD" | sed 's/\.tar\.gz$//' | tr '\n' ' ')"
check "remote_keep_last = 2 removes only device B's oldest unpinned archive" \
	wait_for 60 remote_has "$a1" "$a2" "$b1" "$b3" "$b4"
check "its manifest went with it" test ! -e "$RR/demo/$b2.manifest"
check "every remote manifest has its archive" manifests_have_archives
check "the local archives all stay" test "$(archives "$GD" | wc -l)" = 4
check "the record of uploads no longer names the removed one" \
	wait_for 30 bash -c "! grep -q '$b2' '$GD/remote-uploaded'"
check "prune --remote --dry-run keeps device A's as another device's" bash -c \
	"'$SKCTL' prune --remote --dry-run | grep -q '$a1  another device'"
check "and would remove nothing" bash -c "'$SKCTL' prune --remote --dry-run | grep -q 'would remove from the remote: 0'"
write_config "loc:$RR" "device = deviceB
remote_keep_last = 2
remote_prune_foreign = yes"
"$SKCTL" reload >/dev/null
check "with remote_prune_foreign the dry run would remove device A's" bash -c \
	"'$SKCTL' prune --remote --dry-run | grep -A2 'would remove from the remote: 2' | grep -q '$a2'"
check "the dry run removed nothing" remote_has "$a1" "$a2" "$b1" "$b3" "$b4"
check "prune --remote with remote_prune_foreign" "$SKCTL" prune --remote
check "device A's archives are gone, the pinned one stays" remote_has "$b1" "$b3" "$b4"
stop_daemon
# Looked at once the daemon is stopped: a copy job writes its journal through a .partial.
check "no delete list is left behind" test -z "$(leftovers "$GD")"
rm -rf "$T/archives" "$T/deviceA"

# A pin made after the upload reaches the remote through the copy queue, so another device
# sees it and its remote retention keeps the archive.
RP=$T/pinned-remote
write_config "loc:$RP" "device = deviceA"
start_daemon -c "$CFG"
backup_as p1 && backup_as p2 && backup_as p3
check "three archives in sync" wait_for 60 state_is "in sync"
read -r p1 p2 p3 <<<"$(archives "$GD" | sed 's/\.tar\.gz$//' | tr '\n' ' ')"
check "pin after the upload" bash -c "'$SKCTL' pin '$p1' | grep -q 'the remote follows'"
check "the pin's marker reaches the remote" wait_for 60 test -e "$RP/demo/$p1.pin"
check "and the queue drains" wait_for 60 state_is "in sync"
stop_daemon
mv "$T/archives" "$T/deviceA"
write_config "loc:$RP" "device = deviceB
remote_keep_last = 1
remote_prune_foreign = yes"
start_daemon -c "$CFG"
check "list --remote on another device shows the pin" test \
	"$(ctl list --remote | jget '[a["id"] for a in r["archives"] if a["pinned"]]')" = "[\"$p1\"]"
check "pin of an ID only the remote has fails, pointing to pull" bash -c \
	"! '$SKCTL' pin '$p2' 2>'$T/pin.err' && grep -q 'pull' '$T/pin.err'"
check "remote retention on another device" "$SKCTL" prune --remote
check "keeps the archive pinned after its upload, and the newest" test \
	"$(ls "$RP/demo" | sed -n 's/\.tar\.gz$//p' | paste -sd ' ')" = "$p1 $p3"
stop_daemon
rm -rf "$T/archives" "$T/deviceA"

# WebDAV on loopback: a large, slow upload killed half-way.
serve
head -c $((6 << 20)) /dev/urandom >"$T/save/big.sav"
write_config dav:saves "remote_bwlimit = 1M"
start_daemon -c "$CFG"
check "backup of a 6 MiB save" "$SKCTL" backup --wait
check "the upload starts as a .partial" wait_for 30 bash -c "ls '$SRV'/saves/demo/*.partial"
unserve
check "the daemon answers while the server is gone" "$SKCTL" ping
check "status says failing" wait_for 60 state_is failing
check "no partial file has an archive's name" no_partial_archive "$SRV/saves"
check "the local archive is untouched" bash -c "tar -tzf '$GD'/*.tar.gz | grep -q big.sav"
serve
check "the copy completes once the server is back" wait_for 120 state_is "in sync"
check "webdav copies match the local bytes" same_bytes "$SRV/saves"
stop_daemon

# A pull killed half-way, the daemon with its worker (process core) and rclone, as a power cut
# would: the next start removes the pull's staging folder.
mv "$T/archives" "$T/kept"
start_daemon -c "$CFG"
"$SKCTL" pull latest >/dev/null 2>&1 &
PULL_PID=$!
check "the rate-limited pull downloads into pull.partial" wait_for 30 bash -c "ls -A '$GD/pull.partial' | grep -q ."
kids=$(pgrep -P "$SKD_PID")
kill -9 "$SKD_PID" $kids
for p in $(own_processes rclone); do [ "$p" = "$SRV_PID" ] || kill -9 "$p"; done
wait "$SKD_PID" "$PULL_PID" 2>/dev/null
check "the kill left the staging folder" test -d "$GD/pull.partial"
start_daemon -c "$CFG"
check "the restarted daemon answers" "$SKCTL" ping
check "start-up removed the pull's staging folder" test ! -e "$GD/pull.partial"
check "and published nothing" test -z "$(archives "$GD")"
stop_daemon
rm -rf "$T/archives"
mv "$T/kept" "$T/archives"

# Refused auth: failing with rclone's message, retried, then recovered when fixed.
rm -f "$T/save/big.sav"
rclone_config wrong
write_config dav:saves
start_daemon -c "$CFG"
check "backup with a refused password" "$SKCTL" backup --wait
check "refused auth shows as failing" wait_for 60 state_is failing
check "the status carries rclone's message" bash -c "'$SKCTL' status | grep -q 'failing since.*rclone operations/copyfile failed'"
pending=$(ctl status | jget 'r["games"][0]["remote"]["pending"]')
check "one pending archive (got $pending)" test "$pending" = 1
check "the local archives stay" test "$(archives "$GD" | wc -l)" -ge 2
rclone_config right
check "a retry succeeds once the password is right" wait_for 60 state_is "in sync"
check "copies match after the retry" same_bytes "$SRV/saves"

# A restart with a queue pending: the server is down while the archive is made.
unserve
echo more >>"$T/save/slot1.sav"
check "backup while the server is down" "$SKCTL" backup --wait
check "failing while down" wait_for 60 state_is failing
stop_daemon
check "the queue survives in the journal" test -s "$GD/remote-queue"
serve
start_daemon -c "$CFG"
check "the restarted daemon copies the queue" wait_for 60 state_is "in sync"
check "copies match after the restart" same_bytes "$SRV/saves"
stop_daemon

# Pins and unpins over WebDAV: the remote's marker follows each, in order, through the copy
# queue, while the server is down too and across a restart; in a folder of their own.
mv "$T/archives" "$T/before-pins"
PD=$SRV/pins/demo
write_config dav:pins
start_daemon -c "$CFG"
pending_is() { test "$(ctl status | jget 'r["games"][0]["remote"]["pending"]')" = "$1"; }
echo pins1 >>"$T/save/slot1.sav"
"$SKCTL" backup --wait >/dev/null
q1=$(archives "$GD" | tail -1); q1=${q1%.tar.gz}
check "webdav: in sync before the pins" wait_for 60 state_is "in sync"
check "webdav: pin after the upload" "$SKCTL" pin "$q1"
check "webdav: the marker reaches the remote" wait_for 60 test -e "$PD/$q1.pin"
check "webdav: unpin" "$SKCTL" unpin "$q1"
check "webdav: unpin removes the marker from the remote" wait_for 60 test ! -e "$PD/$q1.pin"
check "webdav: the archive stays there" test -e "$PD/$q1.tar.gz"
unserve
echo pins2 >>"$T/save/slot1.sav"
"$SKCTL" backup --wait >/dev/null
q2=$(archives "$GD" | tail -1); q2=${q2%.tar.gz}
check "pin of an archive still queued (server down)" "$SKCTL" pin "$q2"
check "status counts the archive and its pin as pending" wait_for 30 pending_is 2
serve
check "the queued pin goes up with its archive" wait_for 60 state_is "in sync"
check "its marker is on the remote" test -e "$PD/$q2.pin"
check "the queue is empty" test ! -s "$GD/remote-queue"
unserve
check "unpin while the server is down" "$SKCTL" unpin "$q2"
check "pin again while down" "$SKCTL" pin "$q2"
check "and unpin while down" "$SKCTL" unpin "$q2"
check "the last one waits in the queue alone" test "$(cat "$GD/remote-queue")" = "unpin $q2"
failing_with() { state_is failing && pending_is "$1"; }
check "status counts it as pending, failing" wait_for 30 failing_with 1
serve
check "once the server is back the remote ends unpinned" wait_for 60 test ! -e "$PD/$q2.pin"
check "in sync after the unpin" wait_for 60 state_is "in sync"
unserve
check "pin while the server is down, then stop" "$SKCTL" pin "$q1"
stop_daemon
check "the pending pin survives in the journal" grep -qx "pin $q1" "$GD/remote-queue"
serve
start_daemon -c "$CFG"
check "the restarted daemon copies the pending pin" wait_for 60 test -e "$PD/$q1.pin"
check "in sync after the restart" wait_for 60 state_is "in sync"
stop_daemon
rm -rf "$T/archives"
mv "$T/before-pins" "$T/archives"

# Remote retention over WebDAV: remote_keep_last = 1 leaves this device's newest there, and a
# refused password fails the remote prune without touching anything here.
write_config dav:saves "remote_keep_last = 1"
start_daemon -c "$CFG"
echo again >>"$T/save/slot1.sav"
"$SKCTL" backup --wait >/dev/null
newest=$(archives "$GD" | tail -1)
only_newest() { test "$(ls "$SRV/saves/demo" | grep -c '\.tar\.gz$')" = 1 && test -e "$SRV/saves/demo/$newest"; }
check "remote_keep_last = 1 on webdav keeps only the newest there" wait_for 60 only_newest
check "its manifest stays with it" test -e "$SRV/saves/demo/${newest%.tar.gz}.manifest"
check "webdav: one manifest on the remote" test "$(ls "$SRV/saves/demo" | grep -c '\.manifest$')" = 1
here=$(archives "$GD" | wc -l)
check "the local archives all stay ($here)" test "$here" -ge 4
rclone_config wrong
check "prune --remote with a refused password fails with rclone's message" bash -c \
	"! '$SKCTL' prune --remote 2>'$T/prune.err' && grep -q 'rclone' '$T/prune.err'"
check "the failed remote prune left the local archives" test "$(archives "$GD" | wc -l)" = "$here"
check "and the record of uploads" grep -q "${newest%.tar.gz}" "$GD/remote-uploaded"
rclone_config right
stop_daemon

# The daemon's rclone rcd, run through a wrapper that records each rcd's pid: a burst of
# copies shares one; one that was killed is replaced; an archive whose copy is on the remote
# already (a job stopped after its renames) is copied over it on WebDAV; no rcd outlives the
# daemon, stopped or killed.
cat >"$T/rclone-wrap" <<EOF
#!/bin/sh
[ "\$1" = rcd ] && echo \$\$ >>"$T/rcd.pids"
exec rclone "\$@"
EOF
chmod +x "$T/rclone-wrap"
rcd_starts() { cat "$T/rcd.pids" 2>/dev/null | wc -l; }
last_rcd() { tail -1 "$T/rcd.pids"; }
# newest_copied N: the newest N local archives and their manifests match their WebDAV copies.
newest_copied() {
	local a
	for a in $(archives "$GD" | tail -"$1"); do
		cmp "$GD/$a" "$SRV/saves/demo/$a" && cmp "$GD/${a%.tar.gz}.manifest" "$SRV/saves/demo/${a%.tar.gz}.manifest" ||
			return 1
	done
}
# none_alive: no rcd the wrapper started still runs.
none_alive() {
	local p
	for p in $(cat "$T/rcd.pids"); do ! kill -0 "$p" 2>/dev/null || { echo "rcd $p runs"; return 1; }; done
}
write_config dav:saves "rclone = $T/rclone-wrap"
start_daemon -c "$CFG"
for i in 1 2 3; do
	echo "burst $i" >>"$T/save/slot1.sav"
	"$SKCTL" backup --wait >/dev/null && wait_for 60 state_is "in sync"
done
check "three archives in a row are copied with one rclone rcd (started: $(rcd_starts))" test "$(rcd_starts)" = 1
check "their copies match the local bytes" newest_copied 3
check "the daemon's rcd runs at nice 19" test "$(ps -o ni= -p "$(last_rcd)" | tr -d ' ')" = 19
first=$(last_rcd)
kill -9 "$first"
echo "after the kill" >>"$T/save/slot1.sav"
check "backup after the daemon's rcd was killed" "$SKCTL" backup --wait
check "its copy reaches in sync" wait_for 60 state_is "in sync"
check "through an rcd started again" test "$(last_rcd)" != "$first"
check "its copy matches too" newest_copied 1
stop_daemon
check "no rclone rcd outlives the stopped daemon" none_alive
id=$(archives "$GD" | tail -1)
printf '%s\n' "${id%.tar.gz}" >"$GD/remote-queue"
start_daemon -c "$CFG"
check "an archive the remote holds already is copied again" wait_for 60 state_is "in sync"
check "which leaves its copy whole, and no .partial" bash -c \
	"cmp '$GD/$id' '$SRV/saves/demo/$id' && test -z \"\$(ls '$SRV/saves/demo' | grep partial)\""
check "the daemon's rcd stays for the next copies" kill -0 "$(last_rcd)"
kill -9 "$SKD_PID"
wait "$SKD_PID" 2>/dev/null
check "no rclone rcd outlives the killed daemon" wait_for 10 none_alive

# rclone missing.
write_config dav:saves "rclone = /nonexistent/rclone"
start_daemon -c "$CFG"
"$SKCTL" backup --wait >/dev/null
check "a missing rclone shows as failing" wait_for 60 state_is failing
check "its message names the program" bash -c \
	"'$SKCTL' status | grep -q 'cannot run /nonexistent/rclone: No such file or directory (install the rclone package'"
stop_daemon
# Looked at once the daemon is stopped: a copy job writes its journal through a .partial.
check "no leftovers in the archive folder" test -z "$(leftovers "$GD")"
done_testing

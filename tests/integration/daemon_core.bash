# The daemon driven through savekeeperctl over its real socket, under the core in $CORE.
# Sourced by 31-daemon-thread.sh, 32-daemon-coroutine.sh and 33-daemon-process.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
CFG=$T/savekeeper.ini
GD=$T/archives/demo
diag "core: $CORE"

make_config "$CFG" "$CORE" "autostart = false"
mkdir -p "$T/save/slots/empty"
echo "level 1" >"$T/save/slots/slot1.sav"
ln -s slots/slot1.sav "$T/save/current"
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }

check "ping answers" ctl ping
fds0=$(ls /proc/$SKD_PID/fd | wc -l)
threads0=$(ls /proc/$SKD_PID/task | wc -l)
check "status names the core" test "$(ctl status | jget 'r["core"]')" = "$CORE"
check "status: paused without autostart" test "$(ctl status | jget 'r["games"][0]["state"]')" = paused

out=$(ctl backup --wait demo)
check "backup --wait succeeds" test "$(echo "$out" | jget 'r["ok"]')" = True
id=$(echo "$out" | jget 'r["id"]')
check "backup --wait names the archive" test -f "$GD/$id.tar.gz"
check "archive is 0600" test "$(stat -c %a "$GD/$id.tar.gz")" = 600
check "archive folder is 0700" test "$(stat -c %a "$GD")" = 700
mkdir "$T/x" && tar -xzf "$GD/$id.tar.gz" -C "$T/x"
check "GNU tar reproduces the save folder" tree_equal "$T/save" "$T/x"
rm -rf "$T/x"
check "list shows the archive" test "$(ctl list demo | jget 'r["archives"][-1]["id"]')" = "$id"
check "list counts its files" test "$(ctl list demo | jget 'r["archives"][-1]["files"]')" -ge 1
check "verify latest passes" test "$(ctl verify demo latest | jget 'r["ok"]')" = True
check "verify of an ID that does not exist says so" \
	grep -q "there is no archive 20200101T000000.000Z" <<<"$(ctl verify demo 20200101T000000.000Z)"

# Without --wait the reply comes at once; a second request joins the running snapshot.
check "backup without --wait is accepted" test "$(ctl backup demo | jget 'r["ok"]')" = True
wait_for 20 busy_is False
check "two archives after two backups" test "$(archives "$GD" | wc -l)" -eq 2

# After the jobs: no thread, fd or child of theirs is left in the daemon.
check "no thread left after the jobs" test "$(ls /proc/$SKD_PID/task | wc -l)" -eq "$threads0"
check "no fd left after the jobs" test "$(ls /proc/$SKD_PID/fd | wc -l)" -eq "$fds0"
check "no child left after the jobs" test -z "$(pgrep -P $SKD_PID)"

# A corrupted archive fails verify, and verify all reports it.
bad=$(archives "$GD" | head -1)
cp "$GD/$bad" "$T/good.tar.gz"
# One byte inverted, so the archive surely changes (a fixed byte may be the one already there).
byte=$(od -An -tu1 -j200 -N1 "$GD/$bad" | tr -d ' ')
printf "\\$(printf %03o $((byte ^ 255)))" | dd of="$GD/$bad" bs=1 seek=200 conv=notrunc 2>/dev/null
check "the corruption changed the archive" bash -c "! cmp -s '$GD/$bad' '$T/good.tar.gz'"
check "verify of a corrupted archive fails" test "$(ctl verify demo "${bad%.tar.gz}" | jget 'r["ok"]')" = False
"$SKCTL" verify demo "${bad%.tar.gz}" >/dev/null 2>&1; rc=$?
check "exit status 1 for a failed job" test "$rc" -eq 1
check "verify all reports the bad one" test "$(ctl verify demo all | jget '[x["ok"] for x in r["results"]].count(False)')" -eq 1
cp "$T/good.tar.gz" "$GD/$bad"

# An acknowledged pin is kept: pin takes the game's lock, like retention. Another holder of the
# lock (as retention in a worker process) removes an archive while its pin is asked for: the
# pin waits for the lock and then says the archive is gone; it never answers ok for an archive
# that is deleted under it.
old=$(archives "$GD" | head -1); old=${old%.tar.gz}
flock -x "$GD" sh -c "touch '$T/locked'; sleep 1; rm -f '$GD/$old'.*" &
holder=$!
wait_for 10 test -e "$T/locked"
out=$(ctl pin demo "$old")
wait $holder
kept=refused
[ "$(echo "$out" | jget 'r["ok"]')" = True ] && kept=$(test -f "$GD/$old.tar.gz" && echo kept || echo lost)
check "a pin racing retention is never acknowledged and then lost ($kept)" test "$kept" != lost
check "the pin waited for the lock and says the archive is gone" grep -q "has no archive $old" <<<"$out"
rm -f "$T/locked"

# The schedule: start makes ticks at the interval, stop pauses them.
cat >"$CFG" <<INI
[daemon]
archive_dir = $T/archives
core = $CORE
interval = 1s
settle = 0s
notify = off
autostart = true

[game "demo"]
path = $T/save
INI
check "reload with a good config" test "$(ctl reload | jget 'r["ok"]')" = True
check "reload keeps a paused game paused" test "$(ctl status | jget 'r["games"][0]["state"]')" = paused
ctl start demo >/dev/null
n0=$(archives "$GD" | wc -l)
for i in 1 2 3; do echo "tick $i" >>"$T/save/slots/slot1.sav"; sleep 1.2; done
n1=$(archives "$GD" | wc -l)
check "a 1 s interval makes archives while the folder changes ($n0 -> $n1)" test "$n1" -ge $((n0 + 2))
check "stop pauses the schedule" test "$(ctl stop demo | jget 'r["ok"]')" = True
wait_for 10 busy_is False
n2=$(archives "$GD" | wc -l)
echo change >>"$T/save/slots/slot1.sav"; sleep 2.5
check "no archives while paused" test "$(archives "$GD" | wc -l)" -eq "$n2"
check "status says paused" test "$(ctl status | jget 'r["games"][0]["state"]')" = paused
check "start resumes" test "$(ctl start | jget 'r["games"]')" = '["demo"]'
wait_for 10 archives_at_least "$GD" $((n2 + 1))
check "start takes a snapshot soon" test "$(archives "$GD" | wc -l)" -gt "$n2"
ctl stop >/dev/null

# A bad config on reload is reported with file:line and the old one stays in force.
printf '[daemon]\ninterval = soon\n' >"$CFG"
out=$(ctl reload)
check "bad reload is refused" test "$(echo "$out" | jget 'r["ok"]')" = False
check "bad reload names file and line" grep -q "$CFG:2" <<<"$out"
check "old config still in force" test "$(ctl status | jget 'r["games"][0]["name"]')" = demo

# A big snapshot is cancelled by stop, and by SIGTERM, leaving no temporary.
make_config "$CFG" "$CORE" "compression = 9
autostart = false"
ctl reload >/dev/null
mkdir -p "$T/save/big"
for i in 1 2 3 4 5 6; do head -c 50M /dev/urandom | base64 >"$T/save/big/f$i"; done
n3=$(archives "$GD" | wc -l)
ctl backup demo >/dev/null
wait_for 10 busy_is True
check "stop cancels a running snapshot" test "$(ctl stop demo | jget 'r["ok"]')" = True
wait_for 30 busy_is False
check "cancelled: no new archive" test "$(archives "$GD" | wc -l)" -eq "$n3"
check "cancelled: no temporary" test -z "$(leftovers "$GD")"
check "cancelled: last result says so" grep -qi cancel <<<"$(ctl status | jget 'r["games"][0]["last_error"]')"

ctl backup --wait demo >"$T/waiting" &
waiter=$!
wait_for 10 busy_is True
stop_daemon; rc=$?
wait $waiter; wrc=$?
check "SIGTERM: a client waiting for the snapshot is told it was cancelled" grep -qi cancel "$T/waiting"
check "SIGTERM: that client exits 1" test $wrc -eq 1
check "SIGTERM during a snapshot exits 0" test "$rc" -eq 0
check "SIGTERM: no temporary left" test -z "$(leftovers "$GD")"
check "SIGTERM: no new archive" test "$(archives "$GD" | wc -l)" -eq "$n3"
check "SIGTERM: socket removed" test ! -e "$SAVEKEEPER_SOCKET"
check "no daemon or worker left behind" test -z "$(own_processes savekeeperd)"
done_testing

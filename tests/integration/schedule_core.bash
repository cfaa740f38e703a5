# When to snapshot and what to keep: unchanged ticks, the quiet period, retention, pins,
# the free-space guard and wrapped game sessions, under the core in $CORE.
# Sourced by 51-schedule-thread.sh, 52-schedule-coroutine.sh and 53-schedule-process.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
diag "core: $CORE"
CFG=$T/savekeeper.ini
GD=$T/archives/demo
mkdir -p "$T/save"
echo "slot 1" >"$T/save/slot1.sav"

write_config() {
	INTERVAL=1s make_config "$CFG" "$CORE" "settle = ${SETTLE:-0s}
settle_max = 5s
keep_last = ${KEEP:-0}
${EXTRA:-}"
}

# Unchanged ticks create nothing; a touched file makes the next tick archive.
write_config
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
wait_for 10 archives_at_least "$GD" 1
sleep 3.5
n=$(archives "$GD" | wc -l)
check "unchanged ticks make no archive ($n)" test "$n" -eq 1
check "status says unchanged since the archive" \
	test "$(ctl status | jget 'r["games"][0]["unchanged_since"]')" = "$(archives "$GD" | tail -1 | sed 's/.tar.gz$//')"
echo "slot 1, later" >"$T/save/slot1.sav"
wait_for 10 archives_at_least "$GD" 2
check "a changed file makes the next tick archive" test "$(archives "$GD" | wc -l)" -eq 2
check "backup always snapshots, even unchanged" test "$(ctl backup --wait | jget 'r["unchanged"]')" = False
stop_daemon

# The quiet period: a writer that keeps writing delays the snapshot until it stops.
SETTLE=2s write_config
rm -rf "$GD"
start_daemon -c "$CFG"
wait_for 10 archives_at_least "$GD" 1
n0=$(archives "$GD" | wc -l)
for i in $(seq 1 12); do echo "write $i" >>"$T/save/slot1.sav"; sleep 0.25; done
n1=$(archives "$GD" | wc -l)
check "no snapshot while the game keeps writing ($n0 -> $n1)" test "$n1" -eq "$n0"
wait_for 10 archives_at_least "$GD" $((n0 + 1))
check "the snapshot comes once the folder is quiet" test "$(archives "$GD" | wc -l)" -eq $((n0 + 1))
stop_daemon

# A reload that shortens the interval takes effect now, not after the tick the old one set.
INTERVAL=1h make_config "$CFG" "$CORE" "autostart = true"
rm -rf "$GD"
start_daemon -c "$CFG"
wait_for 10 archives_at_least "$GD" 1
due=$(ctl status | jget 'r["games"][0]["next_due"] - int(__import__("time").time())')
check "interval 1h: the next tick is an hour away ($due s)" test "$due" -gt 3000
INTERVAL=5s make_config "$CFG" "$CORE" "autostart = true"
ctl reload >/dev/null
due=$(ctl status | jget 'r["games"][0]["next_due"] - int(__import__("time").time())')
check "after a reload to 5s: the next tick is within 6 s ($due s)" test "$due" -le 6
stop_daemon

# Retention: keep_last = 2 keeps the two newest, and pinned archives stay.
KEEP=2 write_config
rm -rf "$GD"
start_daemon -c "$CFG"
ctl stop >/dev/null
first=$(ctl backup --wait | jget 'r["id"]')
check "pin an archive" test "$(ctl pin demo "$first" | jget 'r["ok"]')" = True
for i in 1 2 3; do ctl backup --wait >/dev/null; done
check "retention keeps 2 newest plus the pinned one" test "$(archives "$GD" | wc -l)" -eq 3
check "the pinned archive survives" test -f "$GD/$first.tar.gz"
check "list marks it pinned" test "$(ctl list | jget '[a["pinned"] for a in r["archives"] if a["id"] == "'"$first"'"][0]')" = True
check "unpin" test "$(ctl unpin demo "$first" | jget 'r["ok"]')" = True
before=$(archives "$GD")
out=$(ctl prune --dry-run)
check "prune --dry-run lists what would go" test "$(echo "$out" | jget 'len(r["removed"])')" -eq 1
check "prune --dry-run changes nothing" test "$(archives "$GD")" = "$before"
check "prune removes the unpinned old one" test "$(ctl prune | jget 'r["removed"][0]["id"]')" = "$first"
check "after prune: 2 left" test "$(archives "$GD" | wc -l)" -eq 2
stop_daemon

# The free-space guard: a tiny filesystem and min_free above what is left.
mkdir -p "$T/tiny"
if ! is_root; then
	skip "min_free: the snapshot is skipped on a nearly full filesystem" "needs root (mounts a tmpfs)"
elif mount -t tmpfs -o size=1m tmpfs "$T/tiny"; then
	on_exit "umount -l $T/tiny"
	ARCHIVE_DIR=$T/tiny/archives make_config "$CFG" "$CORE" "min_free = 2M
autostart = false"
	start_daemon -c "$CFG"
	out=$(ctl backup --wait)
	check "min_free: the snapshot is skipped" test "$(echo "$out" | jget 'r["ok"]')" = False
	check "min_free: the reason is given" grep -q "min_free" <<<"$out"
	check "min_free: status shows the error" grep -q "min_free" <<<"$(ctl status | jget 'r["games"][0]["last_error"]')"
	check "min_free: nothing written" test -z "$(archives "$T/tiny/archives/demo")"
	stop_daemon
else
	fail "cannot mount a tmpfs for the free-space test"
fi

# A wrapped game: a snapshot before launch, one after it exits, and its exit status.
make_config "$CFG" "$CORE" "autostart = true
settle = 1s"
rm -rf "$GD"
start_daemon -c "$CFG"
wait_for 10 archives_at_least "$GD" 1
cat >"$T/game.sh" <<'SH'
#!/bin/sh
echo "saved in game" >>"$1/slot1.sav"
exit 7
SH
chmod +x "$T/game.sh"
n0=$(archives "$GD" | wc -l)
"$SKCTL" wrap demo -- "$T/game.sh" "$T/save"; rc=$?
check "wrap passes the game's exit status" test $rc -eq 7
check "wrap takes a snapshot before launch" test "$(archives "$GD" | wc -l)" -ge $((n0 + 1))
wait_for 10 archives_at_least "$GD" $((n0 + 2))
check "wrap: a final snapshot once the folder is quiet" test "$(archives "$GD" | wc -l)" -eq $((n0 + 2))
last=$(archives "$GD" | tail -1)
check "the final snapshot holds the game's save" bash -c "tar -xzOf '$GD/$last' ./slot1.sav 2>/dev/null | grep -q 'saved in game' || tar -xzOf '$GD/$last' slot1.sav | grep -q 'saved in game'"
# Paused, a wrapped session still ends with a snapshot: the player asked for it.
ctl stop demo >/dev/null
n0=$(archives "$GD" | wc -l)
"$SKCTL" wrap demo -- "$T/game.sh" "$T/save" >/dev/null 2>&1
wait_for 10 archives_at_least "$GD" $((n0 + 2))
check "paused: wrap still takes the snapshot before and the one after" test "$(archives "$GD" | wc -l)" -eq $((n0 + 2))
check "paused: the schedule stays paused" test "$(ctl status | jget 'r["games"][0]["state"]')" = paused
stop_daemon
"$SKCTL" wrap demo -- sh -c 'exit 3' 2>"$T/err"; rc=$?
check "wrap with no daemon still runs the game" test $rc -eq 3
check "wrap with no daemon warns" test -s "$T/err"
done_testing

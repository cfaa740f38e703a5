#!/bin/bash
# Desktop notifications from the daemon, on a private session bus with a mock notification
# server: a backup taken (app "savekeeper", the game in the summary), a failure (critical),
# a restore; one notification per game replaced in place; unchanged ticks, repeated failures
# and `notify = off` silent; no bus at all (one warning, the daemon works); and a server that
# never answers, with `ping` still answered within 100 ms.
source "$(dirname "$0")/../dbus/lib.sh"
for prog in "$SKD" "$SKCTL"; do
	[[ -x $prog ]] || { fail "$prog is not built"; done_testing; }
done
CFG=$T/sk.ini

# config MODE INTERVAL: game "demo" at $T/save, thread core, notify and interval as given.
config() {
	make_config "$CFG" thread
	sed -i -e "s/^notify = .*/notify = $1/" -e "s/^interval = .*/interval = $2/" "$CFG"
}
archives() { find "$T/archives/demo" -name '*.tar.gz' 2>/dev/null | wc -l; }
# field N [LINE]: column N of the last recorded call (or of call LINE); see tests/dbus/calls.py.
field() { calls | sed -n "${2:-\$}p" | cut -f "$1"; }
critical_count() { calls | awk -F'\t' '$7 == 2' | wc -l; }
calls_are() { (($(calls_count) == $1)); }
critical_at_least() { (($(critical_count) >= $1)); }
# ping_ms: how long one `savekeeperctl ping` takes, in milliseconds; fails if ping fails.
ping_ms() {
	local t0=$(date +%s%N)
	"$SKCTL" ping >/dev/null || return 1
	echo $((($(date +%s%N) - t0) / 1000000))
}

mock_start || { fail "mock notification server"; done_testing; }

# --- notify = all, a tick every second -------------------------------------------------------
mkdir -p "$T/save"; echo "slot 1" >"$T/save/slot1.sav"
config all 1s
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
check "backup --wait succeeds" "$SKCTL" backup --wait
check "a notification arrives" wait_for 10 calls_at_least 1
check "app name is savekeeper" test "$(field 1 1)" = savekeeper
check "the summary names the game" bash -c "[[ '$(field 5 1)' == *demo* ]]"
check "a backup has normal urgency" test "$(field 7 1)" = 1
check "a backup has the document-save icon" test "$(field 4 1)" = document-save
check "the body says what was saved" bash -c "[[ -n '$(field 6 1)' ]]"
first_id=$(field 2 1)

# Ticks with nothing changed take no archive and notify nothing: one call per archive, after
# a few ticks have passed.
sleep 2.5
one_call_per_archive() { (($(calls_count) == $(archives))); }
check "unchanged ticks notify nothing (one call per archive)" wait_for 5 one_call_per_archive

# A tick may take the change before `backup` does: either way one more call.
n=$(calls_count)
echo "slot 2" >"$T/save/slot2.sav"
check "a changed save is backed up" "$SKCTL" backup --wait
check "its notification arrives" wait_for 10 calls_at_least $((n + 1))
check "it replaces the game's notification (same id)" test "$(field 3)" = "$first_id"

# A failure: the save folder is gone. Critical, the cause in the body, same notification.
mv "$T/save" "$T/save.away"
"$SKCTL" backup --wait >/dev/null 2>&1
check "a failed backup reports a failure" test $? = 1
check "a critical notification arrives" wait_for 10 critical_at_least 1
line=$(calls | awk -F'\t' '$7 == 2 { print NR; exit }')
check "the failure summary names the game" bash -c "[[ '$(field 5 "$line")' == *demo* ]]"
check "the failure body gives the cause" bash -c "[[ -n '$(field 6 "$line")' ]]"
check "the failure has the dialog-error icon" test "$(field 4 "$line")" = dialog-error
check "the failure replaces the game's notification" test "$(field 3 "$line")" = "$first_id"
# The same failure again, by hand and on every tick: still one critical notification. A
# success after it comes through (and would let the failure be shown again).
"$SKCTL" backup --wait >/dev/null 2>&1
sleep 2.5
check "a repeated failure is not shown again" test "$(critical_count)" = 1
n=$(calls_count)
mv "$T/save.away" "$T/save"
echo "slot 3" >"$T/save/slot3.sav"
check "backing up works again" "$SKCTL" backup --wait
check "the success is shown" wait_for 10 calls_at_least $((n + 1))
check "it has normal urgency" test "$(field 7)" = 1

# A restore.
n=$(calls_count)
check "restore latest succeeds" "$SKCTL" restore latest
check "a restore notification arrives" wait_for 10 calls_at_least $((n + 1))
restore_shown() {
	calls | tail -n +$((n + 1)) | awk -F'\t' '$5 ~ /demo/ && ($4 == "document-revert" || $4 == "edit-undo")' | grep -q .
}
check "the restore notification names the game" restore_shown
stop_daemon
check "daemon stops cleanly" test $? = 0

# --- notify = off, then reloaded to all ------------------------------------------------------
# Notifications leave in order: when the one after the reload arrives, one sent while off
# would have arrived before it.
calls_clear
config off 1h
start_daemon -c "$CFG" || { fail "daemon starts (notify = off)"; done_testing; }
echo "slot 4" >"$T/save/slot4.sav"
check "backup with notify = off" "$SKCTL" backup --wait
config all 1h
check "reload to notify = all" "$SKCTL" reload
echo "slot 5" >"$T/save/slot5.sav"
check "backup with notify = all" "$SKCTL" backup --wait
check "a notification arrives after the reload" wait_for 10 calls_at_least 1
check "nothing was sent while notify = off" test "$(calls_count)" = 1
stop_daemon
check "daemon stops cleanly (notify = off, then all)" test $? = 0

# --- no session bus at all -------------------------------------------------------------------
bus=$DBUS_SESSION_BUS_ADDRESS
unset DBUS_SESSION_BUS_ADDRESS
: >"$T/daemon.log"
start_daemon -c "$CFG" || fail "daemon starts (no bus)"
export DBUS_SESSION_BUS_ADDRESS=$bus
echo "slot 6" >"$T/save/slot6.sav"
check "no bus: backup --wait succeeds" "$SKCTL" backup --wait
echo "slot 7" >"$T/save/slot7.sav"
check "no bus: another backup succeeds" "$SKCTL" backup --wait
check "no bus: ping answers" "$SKCTL" ping
check "no bus: one warning" test "$(grep -c 'desktop notifications unavailable' "$T/daemon.log")" = 1
stop_daemon
check "no bus: daemon stops cleanly" test $? = 0

# --- a server that takes the name and never answers ------------------------------------------
server_stop "$MOCK_PID"
hung_start || { fail "hung server"; done_testing; }
start_daemon -c "$CFG" || { fail "daemon starts (hung server)"; done_testing; }
for i in 1 2 3; do
	echo "slot hung $i" >"$T/save/hung$i.sav"
	check "hung server: backup --wait $i succeeds" "$SKCTL" backup --wait
done
# The notifier now waits for the server (25 s per call) with more queued behind: ping must
# not. Asked for by the issue: within 100 ms. The median of five, against a noisy machine.
times=()
for i in 1 2 3 4 5; do ms=$(ping_ms) && times+=("$ms"); done
diag "ping with notifications pending: ${times[*]} ms"
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
check "hung server: every ping answers" test "${#times[@]}" = 5
check "hung server: ping answers within 100 ms (median ${median:-none} ms)" test "${median:-99999}" -lt 100
t0=$(date +%s)
stop_daemon
check "hung server: daemon stops cleanly" test $? = 0
check "hung server: stopping does not wait for the server" test $(($(date +%s) - t0)) -lt 10

done_testing

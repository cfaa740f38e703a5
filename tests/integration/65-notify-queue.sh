#!/bin/bash
# The notifier on a real session bus, driven by build/notify_drive: what the notification
# server receives (app name, icon, summary, body, urgency, replaces-id) for each kind; a
# repeated failure shown once; the modes; no bus at all; a server that never answers.
source "$(dirname "$0")/../dbus/lib.sh"
DRIVE=$SK_BUILD/notify_drive
[[ -x $DRIVE ]] || { fail "$DRIVE is not built (make $DRIVE)"; done_testing; }

# drive MODE STEP...: runs the driver; its stdout in $T/drive.out, its stderr in $T/drive.err.
drive() { "$DRIVE" "$@" >"$T/drive.out" 2>"$T/drive.err"; }
# measured NAME: a number the driver printed.
measured() { awk -v k="$1" '$1 == k { print $2 }' "$T/drive.out" | sort -n | tail -n 1; }
# expect LINE...: writes the expected calls, one tab-separated line each ("|" between fields).
expect() { printf '%s\n' "$@" | tr '|' '\t' >"$T/expected"; }
warnings() { grep -c 'desktop notifications unavailable' "$T/drive.err"; }

mock_start || { fail "mock notification server"; done_testing; }

# One notification per game, replaced in place; identical failures once; each kind its icon
# and urgency (1 normal, 2 critical).
drive all "b:demo:Backed up demo:3 files" \
	"f:demo:Backup of demo failed:cannot read 'slot1.sav': Permission denied" \
	"f:demo:Backup of demo failed:cannot read 'slot1.sav': Permission denied" \
	"f:demo:Backup of demo failed:disk full" \
	"r:demo:Restored demo:from 20240101T000000.000Z" \
	"u:demo:Undid the restore of demo:back to 20240102T000000.000Z" \
	"b:other:Backed up other:1 file" flush
check "driver ran" grep -q '^flush 0$' "$T/drive.out"
expect "savekeeper|1|0|document-save|Backed up demo|3 files|1" \
	"savekeeper|1|1|dialog-error|Backup of demo failed|cannot read 'slot1.sav': Permission denied|2" \
	"savekeeper|1|1|dialog-error|Backup of demo failed|disk full|2" \
	"savekeeper|1|1|document-revert|Restored demo|from 20240101T000000.000Z|1" \
	"savekeeper|1|1|edit-undo|Undid the restore of demo|back to 20240102T000000.000Z|1" \
	"savekeeper|2|0|document-save|Backed up other|1 file|1"
check "each kind shown, same id per game, repeated failure once" calls_equal "$T/expected"

# A success clears the failure it follows, so the same failure is shown again after it.
calls_clear
drive all "f:demo:Backup of demo failed:disk full" "b:demo:Backed up demo:2 files" \
	"f:demo:Backup of demo failed:disk full" flush
expect "savekeeper|3|0|dialog-error|Backup of demo failed|disk full|2" \
	"savekeeper|3|3|document-save|Backed up demo|2 files|1" \
	"savekeeper|3|3|dialog-error|Backup of demo failed|disk full|2"
check "a success clears a repeated failure" calls_equal "$T/expected"

# Job results in words; nothing for an unchanged or a cancelled snapshot.
calls_clear
drive all jobok:demo unchanged:demo cancelled:demo "jobfail:demo:cannot read 'a.sav': Input/output error" \
	"restored:demo:restored 20240101T000000.000Z" flush
expect "savekeeper|4|0|document-save|Backed up demo|3 files, 2.0 KiB (1.0 KiB compressed) in 1.5 s|1" \
	"savekeeper|4|4|dialog-error|Backup of demo failed|cannot read 'a.sav': Input/output error|2" \
	"savekeeper|4|4|document-revert|Restored demo|restored 20240101T000000.000Z|1"
check "job results: taken, failed, restored; unchanged and cancelled silent" calls_equal "$T/expected"

# "errors" shows failures only; a success still clears the repeat.
calls_clear
drive errors "b:demo:Backed up demo:1 file" "f:demo:Backup of demo failed:disk full" \
	"r:demo:Restored demo:x" "b:demo:Backed up demo:1 file" "f:demo:Backup of demo failed:disk full" flush
expect "savekeeper|5|0|dialog-error|Backup of demo failed|disk full|2" \
	"savekeeper|5|5|dialog-error|Backup of demo failed|disk full|2"
check "notify = errors: failures only" calls_equal "$T/expected"

# "off" sends nothing until a reload turns it on.
calls_clear
drive off "b:demo:Backed up demo:1 file" "f:demo:Backup of demo failed:disk full" flush \
	mode:all "b:demo:Backed up demo:2 files" flush mode:off "b:demo:Backed up demo:3 files" flush
expect "savekeeper|6|0|document-save|Backed up demo|2 files|1"
check "notify = off: nothing; set to all: shown; off again: nothing" calls_equal "$T/expected"
check "no warning with a working server" test "$(warnings)" = 0

# No session bus at all: one warning, the caller never waits, stop is prompt.
drive_nobus() { env -u DBUS_SESSION_BUS_ADDRESS "$DRIVE" "$@" >"$T/drive.out" 2>"$T/drive.err"; }
check "no bus: the driver runs through" drive_nobus all "b:demo:a:b" "f:demo:c:d" "b:x:e:f" flush tick "b:demo:g:h" flush
check "no bus: one warning" test "$(warnings)" = 1
check "no bus: the warning says why" grep -q 'desktop notifications unavailable: .' "$T/drive.err"

# A server that takes the name and never answers: every call would wait 25 s. Sending stays
# instant, a 10 ms timer loop keeps its pace, and stopping does not wait for the call. The
# bounds are loose (1 s, 5 s): they tell "not blocked" from "blocked 25 s" on a busy machine.
server_stop "$MOCK_PID"
hung_start || { fail "hung server"; done_testing; }
start=$(date +%s%N)
drive all "b:demo:Backed up demo:1 file" "f:demo:Backup of demo failed:x" "b:other:Backed up other:1 file" \
	tick "b:demo:Backed up demo:2 files" tick
took_ms=$((($(date +%s%N) - start) / 1000000))
diag "hung server: send_max_us=$(measured send_max_us) tick_max_us=$(measured tick_max_us) stop_us=$(measured stop_us) whole run ${took_ms} ms"
check "hung server: notify_send returns at once" test "$(measured send_max_us)" -lt 1000000
check "hung server: a timer loop stays responsive" test "$(measured tick_max_us)" -lt 1000000
check "hung server: notify_stop returns promptly" test "$(measured stop_us)" -lt 5000000
check "hung server: the run takes no 25 s timeout" test "$took_ms" -lt 15000

done_testing

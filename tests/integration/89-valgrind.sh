#!/bin/bash
# The daemon under valgrind through a short session (ping, status, backup --wait, list, verify,
# restore, reload, SIGTERM) on the thread core with notifications to a mock server on a private
# bus, then once on the coroutine core: no memory error and no definite leak. "Possibly lost"
# blocks (glib and GDBus keep some for the life of the process) do not count; tests/valgrind.supp
# holds the one definite leak inside GIO, with why.
source "$(dirname "$0")/../dbus/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CFG=$T/savekeeper.ini
if [ "${ASAN:-}" = 1 ]; then
	# An ASan build cannot run under valgrind; the plain build's run covers this.
	skip "the daemon under valgrind" "an ASan build cannot run under valgrind"
	done_testing
fi
REAL_SKD=$SKD
VG=(valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
	--show-leak-kinds=definite --num-callers=30 --suppressions="$ROOT/tests/valgrind.supp")

"$ROOT/tests/mktree.sh" --no-fifo "$T/save" >/dev/null

# session CORE NOTIFY: one daemon under valgrind, driven through the whole session.
session() {
	local core=$1 log=$T/valgrind-$1.log rc id
	make_config "$CFG" "$core" "autostart = false
min_free = 0"
	sed -i "s/^notify = .*/notify = $2/" "$CFG"
	SKD=${VG[0]}
	# start_daemon waits 10 s for ping; valgrind starts slower, so give it a head start.
	start_daemon "${VG[@]:1}" --log-file="$log" "$REAL_SKD" -c "$CFG" ||
		wait_for 30 ctl ping || { fail "$core: the daemon starts under valgrind"; return; }
	SKD=$REAL_SKD
	check "$core: ping" ctl ping
	check "$core: status" ctl status
	check "$core: backup --wait" test "$(ctl backup --wait demo | jget 'r["ok"]')" = True
	id=$(ctl list demo | jget 'r["archives"][-1]["id"]')
	check "$core: list" test -n "$id"
	check "$core: verify" test "$(ctl verify demo all | jget 'r["ok"]')" = True
	echo "changed" >>"$T/save/slot1.sav"
	check "$core: restore" test "$(ctl restore demo "$id" | jget 'r["ok"]')" = True
	check "$core: reload" test "$(ctl reload | jget 'r["ok"]')" = True
	"$SKCTL" bogus-request >/dev/null 2>&1
	stop_daemon; rc=$?
	check "$core: SIGTERM, exit $rc (99: valgrind found errors)" test "$rc" -eq 0
	check "$core: no memory errors" grep -q "ERROR SUMMARY: 0 errors" "$log"
	check "$core: no definite leak" bash -c "! grep -q 'definitely lost: [1-9]' '$log'"
	grep -E "ERROR SUMMARY|definitely lost|Invalid|uninitialised" "$log" | head -5 | sed 's/^/# /'
	if [ "$rc" -ne 0 ]; then sed -n '/HEAP SUMMARY/,$p' "$log" | head -60 | sed 's/^/#   /'; fi
}

mock_start || fail "a mock notification server starts"
session thread all
check "thread: the notifications reached the bus" calls_at_least 2
session coroutine off
done_testing

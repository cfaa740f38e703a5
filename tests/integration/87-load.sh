#!/bin/bash
# Load on the control socket: 500 clients at once, clients that send nothing, a client that
# floods requests and never reads, clients that hang up in the middle of their replies, and a
# flood of backup requests during a snapshot. Throughout, the daemon answers ping; afterwards its
# memory is bounded and its open fds are back to where they were.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/reliability.bash"
CFG=$T/savekeeper.ini
GD=$T/archives/demo
LOAD=$SK_BUILD/sk-load
SOCK=$SAVEKEEPER_SOCKET
N=500 FLOOD=300 REPEAT=1
[ -n "${STRESS:-}" ] && N=1000 FLOOD=900 REPEAT=5
# The daemon inherits the limit: it needs an fd per client, and so does sk-load.
ulimit -n 8192
# ASan holds up to 256 MiB of freed memory in quarantine; a small one keeps VmRSS meaningful.
[ "${ASAN:-}" = 1 ] && export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:thread_local_quarantine_size_kb=64

mkdir -p "$T/save"
for i in 1 2 3 4; do head -c 6M /dev/urandom | base64 >"$T/save/r$i.txt"; done
make_config "$CFG" thread "autostart = false
min_free = 0
compression = 9"
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
# The baseline comes after a first snapshot, so the job's own buffers are in it.
check "a first snapshot" test "$(ctl backup --wait demo | jget 'r["ok"]')" = True
fd0=$(fd_count "$SKD_PID") rss0=$(vm_rss_kib "$SKD_PID")
diag "baseline: $fd0 fds, VmRSS $rss0 KiB"

for ((round = 1; round <= REPEAT; round++)); do
	check "$N clients at once are all answered" "$LOAD" "$SOCK" many "$N"

	coproc IDLE { "$LOAD" "$SOCK" idle "$N"; }
	read -r -u "${IDLE[0]}" held
	check "$N silent clients connected ($held)" test "$held" = "held $N"
	check "ping answered beside $N silent clients" ctl ping
	check "status answered beside $N silent clients" ctl status
	eval "exec ${IDLE[1]}>&-"
	wait "$IDLE_PID"

	"$LOAD" "$SOCK" noread 64 >"$T/noread" 2>&1 &
	nr=$!
	check "ping answered while a client floods without reading" ctl ping
	wait $nr
	check "a client that never reads is dropped ($(cat "$T/noread"))" grep -q "^dropped" "$T/noread"

	check "clients that hang up mid-reply" "$LOAD" "$SOCK" hangup 200
	check "ping answered after the hang-ups" ctl ping

	n0=$(archives "$GD" | wc -l)
	ctl backup demo >/dev/null
	"$LOAD" "$SOCK" flood "$FLOOD" demo >"$T/flood" 2>&1 &
	fl=$!
	check "ping answered during a backup flood" ctl ping
	wait $fl
	check "every backup request answered ($(cat "$T/flood"))" grep -q "^answered $FLOOD of $FLOOD" "$T/flood"
	started=$(sed -n 's/.*started \([0-9]*\)$/\1/p' "$T/flood")
	check "backup requests join the running snapshot (${started:-?} started)" test "${started:-999}" -le 2
	wait_for 60 busy_is False
	n1=$(archives "$GD" | wc -l)
	check "a few snapshots, not hundreds ($n0 -> $n1)" test "$n1" -le $((n0 + 3))
done

check "open fds back to the baseline after the clients left" wait_for 10 eval 'test "$(fd_count "$SKD_PID")" -le "$fd0"'
rss1=$(vm_rss_kib "$SKD_PID")
diag "after: $(fd_count "$SKD_PID") fds, VmRSS $rss1 KiB"
check "memory bounded: VmRSS $rss0 -> $rss1 KiB (limit +64 MiB)" test "$rss1" -le $((rss0 + 65536))
stop_daemon
check "the daemon stops cleanly" test $? -eq 0
done_testing

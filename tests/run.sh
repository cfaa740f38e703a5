#!/bin/bash
# Runs unit test binaries (cmocka, TAP output) and integration scripts (TAP output),
# prints each result and ends with one line: "N passed, N failed".
# JOBS sets how many programs run at once (default 2); TEST_TIMEOUT bounds each (seconds).
set -u
B=${B:-build}
LOGDIR=$B/test-logs
JOBS=${JOBS:-2}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
export CMOCKA_MESSAGE_OUTPUT=TAP
export SK_BUILD=$(cd "$B" && pwd)
# Under ASan, LeakSanitizer skips the leaks listed (with why) in tests/lsan.supp.
if [ "${ASAN:-}" = 1 ]; then
	export LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp
fi
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"

run_one() {
	local prog=$1 name log rc
	name=$(basename "$prog"); name=${name%.sh}
	log=$LOGDIR/$name.log
	if [[ $prog == *.sh ]]; then
		timeout -k 10 "$TEST_TIMEOUT" bash "$prog" >"$log" 2>&1 </dev/null
	else
		timeout -k 10 "$TEST_TIMEOUT" "$prog" >"$log" 2>&1 </dev/null
	fi
	echo $? >"$log.rc"
}

pids=()
for prog in "$@"; do
	while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n; done
	run_one "$prog" &
done
wait

pass=0 fail=0
for prog in "$@"; do
	name=$(basename "$prog"); name=${name%.sh}
	log=$LOGDIR/$name.log
	rc=$(cat "$log.rc")
	p=$(grep -cE '^ok ' "$log")
	f=$(grep -cE '^not ok ' "$log")
	grep -E '^(not )?ok ' "$log" | sed "s|^|$name: |"
	if (( rc != 0 && f == 0 )); then
		echo "$name: not ok - exited with status $rc"
		f=1
	fi
	if (( p + f == 0 )); then
		echo "$name: not ok - ran no test"
		f=1
	fi
	if (( f > 0 )); then
		echo "---- $log (last 40 lines) ----"
		tail -n 40 "$log"
		echo "----"
	fi
	pass=$((pass + p)); fail=$((fail + f))
done
echo "$pass passed, $fail failed"
(( fail == 0 ))

#!/bin/bash
# Runs unit test binaries (cmocka, TAP output) and integration scripts (TAP output), prints each
# result and ends with one line, also when a test fails, times out or the run is interrupted:
# "N passed, N failed, K skipped".
# A skip counts apart from passes and failures, whether it reads `ok N - name # SKIP reason`
# (the integration tests) or `not ok N # SKIP name` (cmocka 1.1, which prints no reason: the
# last `# ` line the test printed before it is its reason); both are shown in the first form.
# Each program gets a TMPDIR of its own; anything it leaves there fails it, and is removed.
# JOBS sets how many programs run at once (default 2); TEST_TIMEOUT bounds each (seconds).
# The programs start longest first, by tests/durations (a program it does not list starts
# before all); the results are printed in the order given. Each run writes the seconds each
# program took to $B/test-logs/durations.
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
# Open to all: tests that run a daemon as a user of their own reach their folders through it.
RUNTMP=$(mktemp -d /tmp/sk-check.XXXXXX) && chmod 755 "$RUNTMP" || exit 1

# sweep DIR: names what a test left in DIR, then removes it; a mount left there is detached.
sweep() {
	local m
	find "$1" -mindepth 1 -maxdepth 1 -printf '%P\n'
	awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do umount -l "$m"; done
	chmod -R u+rwX "$1" 2>/dev/null
	rm -rf "$1"
}
trap 'sweep "$RUNTMP" >/dev/null 2>&1' EXIT

# run_one PROG: runs PROG under timeout with its own TMPDIR; leaves $log, $log.rc, $log.left.
# Timeout runs it in a process group of its own, so an interrupted run stops it by $log.pid.
run_one() {
	local prog=$1 name log tmp start=$SECONDS
	name=$(basename "$prog"); name=${name%.sh}
	log=$LOGDIR/$name.log
	tmp=$RUNTMP/$name
	mkdir -m 755 "$tmp"
	if [[ $prog == *.sh ]]; then
		TMPDIR=$tmp timeout -k 10 "$TEST_TIMEOUT" bash "$prog" >"$log" 2>&1 </dev/null &
	else
		TMPDIR=$tmp timeout -k 10 "$TEST_TIMEOUT" "$prog" >"$log" 2>&1 </dev/null &
	fi
	echo $! >"$log.pid"
	wait $!
	echo $? >"$log.rc"
	echo "$name $((SECONDS - start))" >"$log.time"
	sweep "$tmp" >"$log.left" 2>&1
}

# tally LOG: prints LOG's results in the `ok`/`not ok` form shown above, then one line with the
# passed, failed and skipped counts.
tally() {
	awk '
	/^# / { reason = substr($0, 3); next }
	/^ok / { if ($0 ~ /# [Ss][Kk][Ii][Pp]/) s++; else p++; print; reason = ""; next }
	/^not ok [0-9]+ # SKIP/ {
		name = $0; sub(/^not ok [0-9]+ # SKIP */, "", name)
		printf "ok %s - %s # SKIP %s\n", $3, name, reason != "" ? reason : "(no reason given)"
		s++; reason = ""; next
	}
	/^not ok / { f++; print; reason = ""; next }
	END { print p + 0, f + 0, s + 0 }' "$1"
}

# longest_first PROG...: prints the PROGs, one a line, longest first by the column of
# tests/durations for this pass (2: plain, 3: ASan); one it does not list comes first.
longest_first() {
	local col=2
	[ "${ASAN:-}" = 1 ] && col=3
	printf '%s\n' "$@" | awk -v col="$col" -v list="$(dirname "$0")/durations" '
	BEGIN { while ((getline line < list) > 0) if (line !~ /^#/) { split(line, f, " "); secs[f[1]] = f[col] } }
	{ name = $0; sub(/.*\//, "", name); sub(/\.sh$/, "", name)
	  printf "%d %d %s\n", name in secs ? secs[name] : 1e6, NR, $0 }' |
		sort -k1,1nr -k2,2n | cut -d' ' -f3-
}

interrupted=0
trap 'interrupted=1' INT TERM
mapfile -t order < <(longest_first "$@")
for prog in "${order[@]}"; do
	while (( interrupted == 0 && $(jobs -rp | wc -l) >= JOBS )); do wait -n; done
	(( interrupted )) && break
	run_one "$prog" &
done
while (( interrupted == 0 )) && [ -n "$(jobs -rp)" ]; do wait -n; done
# Interrupted: the tests still running get SIGTERM (timeout passes it on, then SIGKILL 10 s
# later), and are waited for so that their cleanup is over before the summary.
if (( interrupted )); then
	running=()
	for pidfile in "$LOGDIR"/*.pid; do
		[ -e "${pidfile%.pid}.rc" ] || running+=("$(cat "$pidfile")")
	done
	(( ${#running[@]} )) && kill -TERM "${running[@]}" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 "${running[@]}" 2>/dev/null || break
		sleep 0.1
	done
	wait
fi

cat "$LOGDIR"/*.time >"$LOGDIR/durations" 2>/dev/null; rm -f "$LOGDIR"/*.time
pass=0 fail=0 skip=0 skipped=()
for prog in "$@"; do
	name=$(basename "$prog"); name=${name%.sh}
	log=$LOGDIR/$name.log
	if [ ! -e "$log.rc" ]; then
		echo "$name: not ok - not run: the run was interrupted"
		fail=$((fail + 1))
		continue
	fi
	rc=$(cat "$log.rc")
	results=$(tally "$log")
	read -r p f s <<<"${results##*$'\n'}"
	[[ $results == *$'\n'* ]] && sed "s|^|$name: |" <<<"${results%$'\n'*}"
	mapfile -t -O "${#skipped[@]}" skipped < <(grep -E '^ok .*# [Ss][Kk][Ii][Pp]' <<<"$results" | sed "s|^|$name: |")
	if (( rc == 124 )); then
		echo "$name: not ok - timed out after ${TEST_TIMEOUT}s"
		f=$((f + 1))
	elif (( interrupted && rc == 143 )); then
		echo "$name: not ok - stopped: the run was interrupted"
		f=$((f + 1))
	elif (( rc == 137 )); then
		echo "$name: not ok - killed by SIGKILL (after ${TEST_TIMEOUT}s, if it ignored SIGTERM)"
		f=$((f + 1))
	elif (( rc != 0 && f == 0 )); then
		echo "$name: not ok - exited with status $rc"
		f=1
	fi
	if (( p + f + s == 0 )); then
		echo "$name: not ok - ran no test"
		f=1
	fi
	if [ -s "$log.left" ]; then
		echo "$name: not ok - left in its TMPDIR (now removed): $(paste -sd ' ' "$log.left")"
		f=$((f + 1))
	fi
	if (( f > 0 )); then
		echo "---- $log (last 40 lines) ----"
		tail -n 40 "$log"
		echo "----"
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
if (( skip > 0 )); then
	echo "---- skipped ----"
	printf '%s\n' "${skipped[@]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
(( fail == 0 ))

#!/bin/bash
# Crash safety: the daemon (and, under the process core, its worker) is killed with SIGKILL at a
# random moment of a snapshot or a restore, then started again. After each restart: every
# archive verifies, no temporary or staging folder survived start-up, every archive that
# existed before is byte for byte intact, and the save folder is whole (the old tree or the
# restored one). A remote is configured (rclone's local backend, rate-limited so an upload
# lasts), and every fourth kill hits the copy of a new archive: after each restart no name on
# the remote that reads as an archive or manifest is partial, every remote manifest has its
# archive, the copy queue drains, and no rclone outlives the daemon. 5 kills in make check, 50
# in make stress; the cores take turns.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CFG=$T/savekeeper.ini
GD=$T/archives/demo
KILLS=5
[ -n "${STRESS:-}" ] && KILLS=50
# The long form stops starting kills after this many seconds (make stress stays bounded).
DEADLINE=$(($(date +%s) + 200))
SEED=${SEED:-$$}
RANDOM=$SEED
read -ra cores <<<"$CORES"
diag "seed $SEED, $KILLS kills, cores: ${cores[*]}"

# The tricky tree plus a few MiB, so a job lasts long enough to be caught in the middle.
"$ROOT/tests/mktree.sh" --no-fifo "$T/save" >/dev/null
mkdir -p "$T/save/big"
for i in 1 2 3; do head -c 10M /dev/urandom >"$T/save/big/r$i.bin"; done
for i in 1 2; do head -c 6M /dev/urandom | base64 >"$T/save/big/t$i.txt"; done

RCONF=$T/rclone.conf
RD=$T/remote/demo
printf '[loc]\ntype = local\n' >"$RCONF"
restart() {
	make_config "$CFG" "$1" "autostart = false
keep_last = 1000
min_free = 0
remote = loc:$T/remote
rclone_config = $RCONF
remote_bwlimit = 40M
remote_retry = 1s"
	start_daemon -c "$CFG"
}

# The daemon and its children, at once: what a crash of the whole service looks like.
kill_all() {
	local kids
	kids=$(pgrep -P "$SKD_PID")
	kill -9 "$SKD_PID" $kids 2>/dev/null
	wait "$SKD_PID" 2>/dev/null
	for k in $kids; do wait_for 10 test ! -e "/proc/$k"; done
}

# Sleeps a random part of a job's duration (in usec), at least a millisecond.
random_sleep() {
	local us=$((RANDOM * $1 / 32768 + 1000))
	sleep "$((us / 1000000)).$(printf %06d $((us % 1000000)))"
}

sums() { (cd "$GD" && sha256sum -- *.tar.gz 2>/dev/null) | LC_ALL=C sort; }
# Every archive listed before is still there with the same bytes.
intact() { diff <(echo "$1") <(sums | grep -Ff <(echo "$1" | awk '{print $2}')); }
all_verify() { test "$(ctl verify demo all | jget 'r["ok"] and len(r["results"]) > 0')" = True; }
no_orphan_manifest() {
	local m
	for m in "$GD"/*.manifest; do [ -e "${m%.manifest}.tar.gz" ] || { echo "orphan $m"; return 1; }; done
}
no_staging() { test -z "$(find "$T" -maxdepth 1 -name '.save.savekeeper-*')"; }
# On the remote, every archive and manifest whose original is still here matches it byte for
# byte (a partial one would not), and every manifest has its archive.
remote_whole() {
	local f
	for f in "$RD"/*.tar.gz "$RD"/*.manifest; do
		[ -e "$f" ] || continue
		[ ! -e "$GD/${f##*/}" ] || cmp -s "$f" "$GD/${f##*/}" || { echo "partial $f"; return 1; }
	done
	for f in "$RD"/*.manifest; do
		[ ! -e "$f" ] || [ -e "${f%.manifest}.tar.gz" ] || { echo "remote orphan $f"; return 1; }
	done
}
copy_state() { ctl status demo | jget 'r["games"][0]["remote"]["state"]'; }
queue_drained() { test ! -s "$GD/remote-queue" && test "$(copy_state)" = "in sync"; }
game_idle() { test "$(ctl status demo | jget 'r["games"][0]["busy"]')" = False; }

restart "${cores[0]}" || { fail "daemon starts"; done_testing; }
out=$(ctl backup --wait demo)
check "a first archive" test "$(echo "$out" | jget 'r["ok"]')" = True
snap_us=$(echo "$out" | jget 'r["usec"]')
t0=$(date +%s%N)
check "a first restore" test "$(ctl restore demo latest | jget 'r["ok"]')" = True
restore_us=$((($(date +%s%N) - t0) / 1000))
check "the first archive is copied" wait_for 120 queue_drained
copy_us=$(ctl status demo | jget 'r["games"][0]["remote"]["last_copy_us"]')
diag "a snapshot takes ${snap_us} us, a restore ${restore_us} us, a copy ${copy_us} us"

bad=0 interrupted=0 copies=0 cur=${cores[0]}
for ((i = 1; i <= KILLS; i++)); do
	if (($(date +%s) > DEADLINE)); then
		diag "out of time after $((i - 1)) kills"
		KILLS=$((i - 1))
		break
	fi
	core=${cores[i % ${#cores[@]}]} req=
	before=$(sums)
	rm -rf "$T/old" "$T/target" && cp -a "$T/save" "$T/old"
	# Every other kill hits a restore of a random earlier archive, every fourth the copy of a
	# new archive; the rest hit a snapshot.
	if ((i % 4 == 0)); then
		echo "change $i" >>"$T/save/slot1.sav"
		rm -rf "$T/old" && cp -a "$T/save" "$T/old"
		what="copy"
		ctl backup --wait demo >/dev/null
		random_sleep "$copy_us"
	elif ((i % 2 == 0)); then
		ids=($(archives "$GD"))
		id=${ids[RANDOM % ${#ids[@]}]%.tar.gz}
		mkdir "$T/target" && tar -xzf "$GD/$id.tar.gz" -C "$T/target"
		what="restore $id"
		ctl restore demo "$id" >/dev/null 2>&1 &
		req=$!
		random_sleep "$restore_us"
	else
		echo "change $i" >>"$T/save/slot1.sav"
		rm -rf "$T/old" && cp -a "$T/save" "$T/old"
		what="snapshot"
		ctl backup demo >/dev/null
		random_sleep "$snap_us"
	fi
	kill_all
	[ -z "$req" ] || wait "$req" 2>/dev/null
	if [ "$what" = copy ] && { [ -s "$GD/remote-queue" ] || ls "$RD"/*.partial >/dev/null 2>&1; }; then
		copies=$((copies + 1))
		diag "kill $i ($cur core) interrupted a copy"
	fi
	if [ -n "$(leftovers "$GD")" ] || ! no_staging; then
		interrupted=$((interrupted + 1))
		diag "kill $i ($cur core) interrupted a $what"
	fi
	restart "$core" || { fail "kill $i: the daemon starts again"; break; }
	problems=""
	remote_whole >/dev/null || problems+=" remote:$(remote_whole)"
	# The restarted daemon copies what the kill left queued, then applies the remote's
	# retention; their journals' temporaries come and go meanwhile, so look once it is idle.
	wait_for 120 queue_drained || problems+=" copy-queue-stuck"
	wait_for 60 game_idle || problems+=" game-busy"
	all_verify || problems+=" an-archive-does-not-verify"
	[ -z "$(leftovers "$GD")" ] || problems+=" temporaries:$(leftovers "$GD" | tr '\n' ' ')"
	no_staging || problems+=" staging-folder-left"
	no_orphan_manifest >/dev/null || problems+=" orphan-manifest"
	remote_whole >/dev/null || problems+=" remote-after-copy:$(remote_whole)"
	intact "$before" >/dev/null || problems+=" an-old-archive-changed"
	if tree_equal "$T/save" "$T/old" >/dev/null 2>&1; then
		:
	elif [ -d "$T/target" ] && tree_equal "$T/save" "$T/target" >/dev/null 2>&1; then
		:
	else
		problems+=" save-folder-torn"
	fi
	if [ -n "$problems" ]; then
		bad=$((bad + 1))
		diag "kill $i ($cur core, during $what):$problems"
	fi
	cur=$core
	# Keep the archive folder small in long runs: the oldest go while the daemon runs.
	if (($(archives "$GD" | wc -l) > 12)); then
		wait_for 120 queue_drained
		for a in $(archives "$GD" | head -4); do rm -f "$GD/$a" "$GD/${a%.tar.gz}".{manifest,pin}; done
	fi
done
stop_daemon
check "$KILLS kills: archives verify, no temporaries, old archives intact, save folder whole, remote whole, copies drain ($bad bad)" \
	test "$bad" -eq 0
diag "$interrupted of $KILLS kills left a temporary or staging folder to clean up, $copies a copy half-done"
check "the kills caught jobs in the middle ($interrupted of $KILLS)" test "$interrupted" -ge 1
check "no daemon or worker left behind" test -z "$(own_processes savekeeperd)"
check "no rclone left behind" test -z "$(own_processes rclone)"
done_testing

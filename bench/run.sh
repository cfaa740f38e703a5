#!/bin/bash
# The benchmark: threads vs coroutines vs processes, measured on savekeeperd's own cores.
#
#   B=build bench/run.sh          (make bench)        about 3-4 minutes, large tree
#   B=build QUICK=1 bench/run.sh  (make bench-quick)  under a minute, small tree only
#   ONLY="snapshot incremental" B=build bench/run.sh   only those parts (names: snapshot,
#                                  incremental, load, idle, manifest, sessions, remote); the
#                                  report then covers what was measured
#
# Measures, in order: `savekeeperd --once` per core against `tar -czf` at the same level;
# the echo server and then savekeeperd under every core, idle and busy (snapshots back to
# back), with 1-64 clients, unpinned and pinned; memory, threads and fds; the CPU of an
# unchanged scheduled tick; the syscalls of idle daemons; the parse of an 18 MiB Ludusavi manifest
# and the look at /proc for Steam's games. Raw results go to $B/bench/*.tsv,
# then bench/report.sh prints the tables and (full run only) writes docs/benchmarks.md and
# docs/bench/*.png. Everything it starts is stopped and its scratch folder removed on exit.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
B=${B:-build}
QUICK=${QUICK:-0}
BUILD=$(cd "$B" && pwd)
RES=$BUILD/bench
CORES="thread coroutine process"
NCPU=$(nproc)

if ((QUICK)); then
	CONNS="1 4 8 64" PIN_CONNS="1" DUR=0.3 WARM=0.1 REPS=1 TREE=small SNAP_REPS=3 STRACE_SEC=3 TICK_SEC=2
	INCR_REPS=2
else
	CONNS="1 2 4 8 64" PIN_CONNS="1 4 8" DUR=0.4 WARM=0.1 REPS=3 TREE=large SNAP_REPS=5 STRACE_SEC=10 TICK_SEC=4
	INCR_REPS=5
fi
# Pinning needs two CPUs: client and server on CPU 0, or the server on 0 and the client on 1.
PINS="same split"
((NCPU < 2)) && PINS="same"

S=$(mktemp -d /tmp/sk-bench.XXXXXX)
chmod 755 "$S"
# Only jobs this shell has not reaped are signalled: their pids cannot have been reused.
CGROUPS=()
cleanup() {
	local p
	touch "$S/stop" "$S/stop-sampler" 2>/dev/null
	for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for p in "${CGROUPS[@]}"; do rmdir "$p" 2>/dev/null; done
	# The XFS image of the incremental run, if a stop came while it was mounted.
	mountpoint -q "$S/xfs" 2>/dev/null && umount "$S/xfs"
	rm -rf "$S"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME=$S/home XDG_CONFIG_HOME=$S/home/.config XDG_DATA_HOME=$S/home/.local/share
export XDG_RUNTIME_DIR=$S/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$RES" "$S/bin"
chmod 700 "$XDG_RUNTIME_DIR"
unset DBUS_SESSION_BUS_ADDRESS DISPLAY NOTIFY_SOCKET LISTEN_FDS LISTEN_PID JOURNAL_STREAM SAVEKEEPER_SOCKET
rm -rf "$RES"/*.tsv "$RES/logs"
LOGS=$RES/logs
mkdir -p "$LOGS"

log() { printf '%s\n' "$*" >&2; }
# The run uses copies of the programs, so that a rebuild (or `make clean`) while it runs does
# not pull them away.
for p in gentree echo load timeit bench_manifest bench_sessions savekeeperd savekeeperctl; do
	cp -p "$BUILD/$p" "$S/bin/" 2>/dev/null
done
BIN=$S/bin SKD=$S/bin/savekeeperd SKCTL=$S/bin/savekeeperctl
for p in gentree echo load timeit bench_manifest bench_sessions; do
	[[ -x $BIN/$p ]] || { log "bench: $BUILD/$p is missing (make $B/$p)"; exit 1; }
done
HAVE_DAEMON=1
if [[ ! -x $SKD || ! -x $SKCTL ]]; then
	HAVE_DAEMON=0
	log "bench: $BUILD/savekeeperd or savekeeperctl is missing: only the echo server, the generator and tar are measured"
fi

# ---- helpers ---------------------------------------------------------------------------------

# wait_gone PID SECONDS: waits for a child to exit, then kills it; never blocks longer.
wait_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# poll SECONDS CMD...: retries CMD every 50 ms until it succeeds; false on timeout.
poll() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS >= deadline)) && return 1
		sleep 0.05
	done
}

# mem_line PID: "rss pss hwm threads fds child_rss child_pss children private_dirty" (KiB),
# children summed. Private dirty is the process's own anonymous memory (smaps_rollup), where
# RSS and PSS mostly count the pages of shared libraries.
mem_line() {
	local pid=$1 c crss=0 cpss=0 n=0 v
	local rss hwm thr pss fds pd
	rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null)
	hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status" 2>/dev/null)
	thr=$(awk '/^Threads:/{print $2}' "/proc/$pid/status" 2>/dev/null)
	pss=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
	pd=$(awk '/^Private_Dirty:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
	fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	for c in $(pgrep -P "$pid"); do
		v=$(awk '/^VmRSS:/{print $2}' "/proc/$c/status" 2>/dev/null) && crss=$((crss + ${v:-0}))
		v=$(awk '/^Pss:/{print $2}' "/proc/$c/smaps_rollup" 2>/dev/null) && cpss=$((cpss + ${v:-0}))
		n=$((n + 1))
	done
	echo "${rss:-0} ${pss:-0} ${hwm:-0} ${thr:-0} $fds $crss $cpss $n ${pd:-0}"
}

# sampler PID FILE: appends a mem_line to FILE every 0.25 s until $S/stop-sampler exists.
sampler() {
	while [[ ! -e $S/stop-sampler ]] && kill -0 "$1" 2>/dev/null; do
		mem_line "$1" >>"$2"
		sleep 0.25
	done
}

# mem_record NAME PHASE LINE...: the max of each column over the lines, as one row of mem.tsv.
mem_record() {
	local name=$1 phase=$2; shift 2
	printf '%s\n' "$@" | awk -v n="$name" -v p="$phase" '
		NF == 9 { for (i = 1; i <= 9; i++) if ($i > m[i]) m[i] = $i; k++ }
		END { if (k) printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", n, p,
			m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9] }' >>"$RES/mem.tsv"
}

# cgroup NAME PID: puts PID (and the children it will have) in a cpuacct cgroup of its own and
# sets CG to the cgroup's folder, whose cpuacct.usage counts CPU in ns, threads and children that
# exited included. CG is empty where cgroups cannot be made (not root, no cpuacct). Every
# cgroup made is removed on exit.
CG_ROOT=/sys/fs/cgroup/cpuacct
cgroup() {
	local d=$CG_ROOT/sk-bench-$$-$1
	CG=
	mkdir "$d" 2>/dev/null || return 0
	CGROUPS+=("$d")
	echo "$2" >"$d/cgroup.procs" 2>/dev/null && CG=$d
}

# cpu_usec CGROUP PID: the server's CPU time in microseconds, from the cgroup when there is one.
cpu_usec() {
	if [[ -n $1 ]]; then
		echo $(($(cat "$1/cpuacct.usage") / 1000))
	else
		echo $(($(proc_cpu "$2") * 1000000 / $(getconf CLK_TCK)))
	fi
}

# pin PID CPUS: sets the affinity of every thread of PID and of its children.
pin() {
	local p
	taskset -a -p -c "$2" "$1" >/dev/null 2>&1
	for p in $(pgrep -P "$1"); do taskset -a -p -c "$2" "$p" >/dev/null 2>&1; done
}

# load_point SOCKET CONNS CGROUP PID CLIENT-PREFIX...: REPS runs of the load client; prints
# the one with the median req/s, which damps the noise of a shared VM.
load_point() {
	local sock=$1 c=$2 cg=$3 pid=$4 i cpu; shift 4
	cpu=(--pid "$pid")
	[[ -n $cg ]] && cpu=(--cpu-file "$cg/cpuacct.usage")
	for ((i = 0; i < REPS; i++)); do
		timeout 30 "$@" "$BIN/load" --socket "$sock" --conns "$c" --duration "$DUR" \
			--warmup "$WARM" "${cpu[@]}" --tsv 2>>"$LOGS/load.err"
	done | sort -t$'\t' -k3,3n | awk -v n="$REPS" '{ l[NR] = $0 } END { if (NR) print l[int((NR + 1) / 2)] }'
}

# load_runs NAME MODE PID SOCKET [CGROUP]: every client count unpinned, then pinned; rows in
# load.tsv.
load_runs() {
	local name=$1 mode=$2 pid=$3 sock=$4 cg=${5:-} c p line cli
	for p in none $PINS; do
		local conns=$CONNS
		[[ $p != none ]] && conns=$PIN_CONNS
		case $p in
		none) pin "$pid" "0-$((NCPU - 1))"; cli=() ;;
		same) pin "$pid" 0; cli=(taskset -c 0) ;;
		split) pin "$pid" 0; cli=(taskset -c 1) ;;
		esac
		for c in $conns; do
			line=$(load_point "$sock" "$c" "$cg" "$pid" "${cli[@]}")
			[[ -z $line ]] && line="$c	0	0	-	-	-	-	$c"
			printf '%s\t%s\t%s\t%s\n' "$name" "$mode" "$p" "$line" >>"$RES/load.tsv"
			printf '  %-9s %-4s %-5s %s\n' "$name" "$mode" "$p" "$line" >&2
		done
	done
	pin "$pid" "0-$((NCPU - 1))"
}

# daemon_config FILE CORE TREE ARCHIVES SOCKET AUTOSTART INTERVAL
daemon_config() {
	cat >"$1" <<-INI
	[daemon]
	core = $2
	archive_dir = $4
	socket = $5
	autostart = $6
	interval = $7
	keep_last = 2
	notify = off
	compress_threads = ${8:-0}

	[game "bench"]
	path = $3
	INI
}

# start_daemon NAME CONFIG SOCKET: starts savekeeperd, waits for ping; sets DPID.
start_daemon() {
	"$SKD" -c "$2" >>"$LOGS/$1.log" 2>&1 &
	DPID=$!
	if ! poll 10 "$SKCTL" --socket "$3" ping; then
		log "bench: savekeeperd ($1) did not answer ping:"
		sed 's/^/  /' "$LOGS/$1.log" >&2
		return 1
	fi
}

stop_daemon() {
	kill -TERM "$1" 2>/dev/null
	wait_gone "$1" 15
}

# ---- machine and trees -----------------------------------------------------------------------

machine_info() {
	{
		echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "mode	$( ((QUICK)) && echo quick || echo full)"
		echo "nproc	$NCPU"
		echo "cpu	$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
		echo "kernel	$(uname -r)"
		echo "memory	$(awk '/^MemTotal:/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
		echo "load average at start	$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "savekeeperd	$( ((HAVE_DAEMON)) && "$SKD" --version 2>&1 | head -1 || echo missing)"
		echo "cc	$(${CC:-cc} --version | head -1)"
		echo "tar	$(tar --version | head -1)"
		echo "gzip	$(gzip --version | head -1)"
		echo "libarchive	$(pkg-config --modversion libarchive 2>/dev/null)"
		echo "libdeflate	$(pkg-config --modversion libdeflate 2>/dev/null)"
		echo "tree	$TREE"
		echo "duration	${DUR}s per run after ${WARM}s warm-up, median of $REPS"
		echo "cpu source	$( [[ -d $CG_ROOT && $(id -u) == 0 ]] && echo "cgroup cpuacct.usage" || echo "/proc/PID/stat")"
	} >"$RES/machine.tsv"
}

# gen_tree NAME: prints the folder of a generated tree. The large one is cached under
# $B/bench-cache and made again only when the generator's source changed.
gen_tree() {
	local dir=$BUILD/bench-cache/$1 stamp
	stamp=$(sha256sum bench/gentree.c | cut -c1-16)
	if [[ $(cat "$dir.stamp" 2>/dev/null) != "$stamp" ]]; then
		rm -rf "$dir" "$dir.stamp"
		mkdir -p "$BUILD/bench-cache"
		"$BIN/gentree" "$1" "$dir" >"$dir.info" || return 1
		echo "$stamp" >"$dir.stamp"
	fi
	# The run reads hard links in its scratch folder: a `make clean` meanwhile cannot take the
	# tree away. Every run reads it from the page cache; read it once so that no tool pays.
	local run=$S/tree-$1
	if [[ ! -d $run ]]; then
		cp -al "$dir" "$run" 2>/dev/null || { rm -rf "$run"; ln -s "$dir" "$run"; }
		cp "$dir.info" "$run.info"
	fi
	find -L "$run" -type f -exec cat {} + >/dev/null
	echo "$run"
}

# ---- snapshot: --once per core against tar -czf ----------------------------------------------

# timed NAME TREE OUTDIR CMD...: runs CMD under timeit, adds a row to snap_raw.tsv
# with the size of the archives (*.tar*) CMD left under OUTDIR.
timed() {
	local name=$1 tname=$2 out=$3 t; shift 3
	t=$(mktemp "$S/time.XXXXXX")
	if ! timeout 300 "$BIN/timeit" "$t" "$@" >>"$LOGS/snap.log" 2>&1; then
		log "bench: $name on the $tname tree failed:"
		tail -n 5 "$LOGS/snap.log" >&2
		return 1
	fi
	printf '%s\t%s\t%s\t%s\n' "$tname" "$name" "$(tr ' ' '\t' <"$t")" \
		"$(find "$out" -name '*.tar*' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')" \
		>>"$RES/snap_raw.tsv"
}

snapshot_bench() {
	local tname dir reps out c i
	for tname in small $( ((QUICK)) || echo large compressible); do
		dir=$(gen_tree "$tname") || { log "bench: cannot generate the $tname tree"; return 1; }
		reps=$SNAP_REPS
		[[ $tname != small ]] && reps=3
		log "snapshot: $tname tree ($(cat "$dir.info")), $reps run(s) each"
		for ((i = 0; i < reps; i++)); do
			out=$S/tar
			mkdir -p "$out"
			# tar -czf takes a quarter of the whole budget on a large tree: once is enough.
			[[ $tname != small && $i -gt 0 ]] ||
				timed "tar -czf" "$tname" "$out" tar -I 'gzip -6' -cf "$out/out.tar.gz" -C "$dir" .
			rm -f "$out"/*
			timed "tar -cf" "$tname" "$out" tar -cf "$out/out.tar" -C "$dir" .
			rm -f "$out"/*
			((HAVE_DAEMON)) || continue
			for c in $CORES; do
				out=$S/arch-$c
				timed "savekeeperd $c" "$tname" "$out" "$SKD" --once --save-dir "$dir" \
					--game bench --archive-dir "$out" --core "$c"
				rm -rf "$out"
			done
		done
	done
	# The median of each column over the repetitions.
	sort -t$'\t' -k1,2 "$RES/snap_raw.tsv" | awk -F'\t' -v OFS='\t' '
		function med(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		function flush() { if (k) print key, med(w, k), med(cpu, k), med(rss, k), med(sz, k), k; k = 0 }
		$1 "\t" $2 != key { flush(); key = $1 "\t" $2 }
		{ k++; w[k] = $3; cpu[k] = $4 + $5; rss[k] = $6; sz[k] = $7 }
		END { flush() }' >"$RES/snap.tsv"
}

# ---- incremental: 1% of the files rewritten, against tar of the whole tree -----------------

# incr_row NAME FILE-OF-TIMEIT SIZE: a row of incr.tsv (name, wall, cpu, peak RSS KiB, bytes,
# the CPU time other tasks had meanwhile).
incr_row() {
	printf '%s\t%s\n' "$1" "$(awk -v OFS='\t' -v size="$3" '{ print $1, $2 + $3, $4, size, $5 }' "$2")" >>"$RES/incr.tsv"
}

# busy_sec: the CPU time every CPU has spent busy since boot (user, nice, system, irq, softirq,
# steal), in seconds, from one read of /proc/stat.
busy_sec() {
	awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# incr_run NAME CMD...: runs CMD under timeit; prints the timeit file, to which it adds the CPU
# time the machine's other tasks had while CMD ran (all busy CPU time less CMD's own): a round
# that waited rather than worked shows whether something else had the CPUs meanwhile.
incr_run() {
	local t name=$1 b0 b1
	shift
	t=$(mktemp "$S/time.XXXXXX")
	b0=$(busy_sec)
	timeout 600 "$BIN/timeit" "$t" "$@" >>"$LOGS/incr.log" 2>&1 || { log "bench: $name failed"; return 1; }
	b1=$(busy_sec)
	awk -v b="$b1 - $b0" '{ split(b, x, " - "); o = x[1] - x[2] - $2 - $3; printf "%s %s %s %s %.3f\n", $1, $2, $3, $4, (o > 0 ? o : 0) }' "$t" >"$t.o" && mv "$t.o" "$t"
	echo "$t"
}

# rewrite_some TREE ROUND: gives one file in a hundred new content of the same size (a
# different hundredth each round) and prints the changed files, one a line.
rewrite_some() {
	local f
	find "$1" -type f | LC_ALL=C sort | awk -v r="$2" 'NR % 100 == r % 100' | while read -r f; do
		head -c "$(stat -c %s "$f")" /dev/urandom | dd of="$f" conv=notrunc status=none
		echo "$f"
	done
}

# xfs_used DIR: the bytes in use on DIR's file system, after a sync.
xfs_used() {
	sync
	stat -f -c '%b %f %S' "$1" | awk '{ print ($1 - $2) * $3 }'
}

# On XFS (a loop-mounted image, root only), the incremental snapshot shares the unchanged
# groups' blocks with the archive before it: the used space it adds is set beside the
# compressed size of the changed files alone (a snapshot of just them).
incremental_xfs() {
	local src=$1 img=$S/xfs.img mnt=$S/xfs out t before after alone changed
	if [[ $(id -u) != 0 ]] || ! command -v mkfs.xfs >/dev/null; then
		log "incremental on XFS: skipped (needs root and mkfs.xfs)"
		return 0
	fi
	mkdir -p "$mnt" && truncate -s 2G "$img" && mkfs.xfs -q "$img" && mount -o loop "$img" "$mnt" || {
		log "bench: cannot mount an XFS image"
		return 0
	}
	out=$mnt/archives
	"$SKD" --once --save-dir "$src" --game bench --archive-dir "$out" --core thread >>"$LOGS/incr.log" 2>&1
	changed=$S/changed
	rm -rf "$changed"
	rewrite_some "$src" 7 | while read -r f; do
		mkdir -p "$(dirname "$changed/${f#"$src"/}")" && cp -p "$f" "$changed/${f#"$src"/}"
	done
	sleep 0.2
	before=$(xfs_used "$mnt")
	t=$(incr_run "incremental snapshot on XFS" "$SKD" --once --save-dir "$src" --game bench --archive-dir "$out" --core thread)
	after=$(xfs_used "$mnt")
	"$SKD" --once --save-dir "$changed" --game alone --archive-dir "$S/alone" --core thread >>"$LOGS/incr.log" 2>&1
	alone=$(find "$S/alone" -name '*.tar.gz' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	[[ -n $t ]] && incr_row "incremental snapshot on XFS (reflinks)" "$t" "$(find "$out" -name '*.tar.gz' | LC_ALL=C sort | tail -1 | xargs stat -c %s)"
	printf 'xfs\t%s\t%s\n' "$((after - before))" "$alone" >>"$RES/incr.tsv"
	umount "$mnt"
	rm -rf "$img" "$mnt" "$changed" "$S/alone"
}

# incr_tar ROW TREE [PREFIX...]: tar -cf of TREE run under PREFIX (nice, ionice), as the row ROW.
# Each round's reference runs at the priority the daemon gives its snapshot jobs by default, so
# that other work on the machine delays both alike: beside a CPU-bound nice-0 loop a nice-19
# snapshot waited seconds where a nice-0 tar -cf did not (bench/intro.md). At nice 0, the
# reference until 2026-12-01, it is kept beside it.
incr_tar() {
	local t row=$1 tree=$2
	shift 2
	t=$(incr_run "$row" "$@" tar -cf "$S/incr.tar" -C "$tree" .) || return 1
	incr_row "$row" "$t" "$(stat -c %s "$S/incr.tar")"
	rm -f "$S/incr.tar"
}

# The tree is copied (its files are rewritten in place); in each of $INCR_REPS rounds one file
# in a hundred (another hundredth each time) gets new content of the same size, then a
# snapshot next to the previous one is timed next to tar -cf of the whole tree (at the
# daemon's priority, and at nice 0); tar -czf is timed once. The machine may be shared: the spread of the rounds is the honest figure.
incremental_bench() {
	((HAVE_DAEMON)) || return 0
	local dir src=$S/incr-tree out=$S/incr-archives t newest n i
	dir=$(gen_tree "$TREE") || return 1
	rm -rf "$src" && cp -a "$dir/." "$src" || return 1
	find "$src" -type f -exec cat {} + >/dev/null
	log "incremental: $TREE tree, 1% of the files rewritten, $INCR_REPS rounds"
	t=$(incr_run "first snapshot" "$SKD" --once --save-dir "$src" --game bench --archive-dir "$out" --core thread) || return 1
	incr_row "first snapshot" "$t" "$(find "$out" -name '*.tar.gz' -printf '%s\n' | awk '{ s += $1 } END { print s }')"
	t=$(incr_run "tar -czf" tar -I 'gzip -6' -cf "$S/incr.tar.gz" -C "$src" .) || return 1
	incr_row "tar -czf" "$t" "$(stat -c %s "$S/incr.tar.gz")"
	rm -f "$S/incr.tar.gz"
	for ((i = 1; i <= INCR_REPS; i++)); do
		n=$(rewrite_some "$src" "$i" | wc -l)
		sleep 0.2
		t=$(incr_run "incremental snapshot" "$SKD" --once --save-dir "$src" --game bench --archive-dir "$out" --core thread) || return 1
		newest=$(find "$out" -name '*.tar.gz' | LC_ALL=C sort | tail -1)
		incr_row "incremental snapshot $i ($n files changed)" "$t" "$(stat -c %s "$newest")"
		grep -o '[0-9]* read, [0-9]* taken unchanged' "$LOGS/incr.log" | tail -1 | sed "s/^/reuse\t$i: /" >>"$RES/incr.tsv"
		# tar -cf at the daemon's own priority (nice 19, idle I/O class: savekeeper.ini's
		# defaults) and at nice 0 take turns going first.
		if ((i % 2)); then
			incr_tar "tar -cf $i" "$src" nice -n 19 ionice -c 3 && incr_tar "tar -cf $i at nice 0" "$src"
		else
			incr_tar "tar -cf $i at nice 0" "$src" && incr_tar "tar -cf $i" "$src" nice -n 19 ionice -c 3
		fi || return 1
		# Only the newest archive is needed for the next round.
		find "$out" -name '*.tar.gz' | LC_ALL=C sort | head -n -1 | sed 's/\.tar\.gz$//' |
			while read -r a; do rm -f "$a.tar.gz" "$a.manifest"; done
	done
	rm -rf "$out"
	((QUICK)) || incremental_xfs "$src"
	rm -rf "$src"
}

# ---- load and memory -------------------------------------------------------------------------

echo_bench() {
	local sock=$S/echo.sock pid
	"$BIN/echo" "$sock" 2>>"$LOGS/echo.log" &
	pid=$!
	poll 5 test -S "$sock" || { log "bench: the echo server did not start"; return 1; }
	log "load: echo server"
	cgroup echo "$pid"
	load_runs echo idle "$pid" "$sock" "$CG"
	mem_record echo after "$(mem_line "$pid")"
	kill -TERM "$pid"
	wait_gone "$pid" 5
	rmdir "$CG" 2>/dev/null
}

# busy_loop SOCKET: snapshots back to back until $S/stop exists.
busy_loop() {
	while [[ ! -e $S/stop ]]; do
		timeout 300 "$SKCTL" --socket "$1" backup --wait >/dev/null 2>>"$LOGS/busy.err" || sleep 0.1
	done
}

is_busy() {
	timeout 5 "$SKCTL" --socket "$1" --json status 2>/dev/null | grep -q '"busy": *true'
}

# tick_cost CORE PID SOCKET CGROUP: the daemon's CPU per unchanged scheduled tick (interval
# 1s), measured after the busy phase left an archive of the unchanged tree.
tick_cost() {
	local cpu0 cpu1
	timeout 10 "$SKCTL" --socket "$3" start >/dev/null 2>&1 || return 1
	sleep 1.5
	cpu0=$(cpu_usec "$4" "$2")
	sleep "$TICK_SEC"
	cpu1=$(cpu_usec "$4" "$2")
	timeout 10 "$SKCTL" --socket "$3" stop >/dev/null 2>&1
	timeout 5 "$SKCTL" --socket "$3" --json status 2>/dev/null | grep -q '"last_result": *"unchanged"' ||
		log "bench: $1 core: the last tick did not report an unchanged tree"
	awk -v a="$cpu0" -v b="$cpu1" -v n="$TICK_SEC" -v c="$1" \
		'BEGIN { printf "%s\t%.2f\t%d\n", c, (b - a) / 1000 / n, n }' >>"$RES/tick.tsv"
}

# proc_cpu PID: utime+stime+cutime+cstime of PID and its live children, in clock ticks.
proc_cpu() {
	local p sum=0
	for p in "$1" $(pgrep -P "$1"); do
		sum=$((sum + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}')))
	done
	echo "$sum"
}

# A core as the bench names it: "coroutine-inline" is the coroutine core compressing on the
# loop's thread (compress_threads = 1); the others compress with the automatic thread count.
core_of() { echo "${1%-inline}"; }
threads_of() { [[ $1 == *-inline ]] && echo 1 || echo 0; }

core_bench() {
	local c=$1 tree=$2 busy lines cg
	local cfg=$S/$c.ini sock=$S/$c.sock
	daemon_config "$cfg" "$(core_of "$c")" "$tree" "$S/archives-$c" "$sock" false 1s "$(threads_of "$c")"
	start_daemon "$c" "$cfg" "$sock" || return 1
	cgroup "$c" "$DPID"
	cg=$CG
	log "load: savekeeperd, $c core"
	sleep 0.3
	mem_record "$c" fresh "$(mem_line "$DPID")"
	load_runs "$c" idle "$DPID" "$sock" "$cg"
	rm -f "$S/stop" "$S/stop-sampler" "$S/mem-$c"
	busy_loop "$sock" &
	busy=$!
	sampler "$DPID" "$S/mem-$c" &
	poll 10 is_busy "$sock"
	sleep 0.3
	load_runs "$c" busy "$DPID" "$sock" "$cg"
	touch "$S/stop" "$S/stop-sampler"
	wait_gone "$busy" 120
	touch "$S/mem-$c"
	mapfile -t lines <"$S/mem-$c"
	mem_record "$c" busy "${lines[@]}"
	mem_record "$c" after "$(mem_line "$DPID")"
	tick_cost "$c" "$DPID" "$sock" "$cg"
	stop_daemon "$DPID"
	[[ -n $cg ]] && rmdir "$cg" 2>/dev/null
	rm -rf "$S/archives-$c"
}

# ---- idle cost -------------------------------------------------------------------------------

# Idle daemons, one per core, scheduled (autostart, interval 1h) after their first snapshot of
# the small tree, and the echo server: every one traced at once for STRACE_SEC seconds.
idle_bench() {
	local small=$1 c pids=() names=() traces=() sock i n
	if ((HAVE_DAEMON)); then
		for c in $CORES; do
			sock=$S/idle-$c.sock
			daemon_config "$S/idle-$c.ini" "$c" "$small" "$S/idle-archives-$c" "$sock" true 1h
			start_daemon "idle-$c" "$S/idle-$c.ini" "$sock" || continue
			pids+=("$DPID") names+=("$c")
		done
	fi
	"$BIN/echo" "$S/idle-echo.sock" 2>>"$LOGS/echo.log" &
	pids+=("$!") names+=(echo)
	for c in "${names[@]}"; do
		[[ $c == echo ]] || poll 10 compgen -G "$S/idle-archives-$c/bench/*.tar.gz"
	done
	sleep 1
	log "idle: ${#pids[@]} servers traced for ${STRACE_SEC}s"
	for i in "${!pids[@]}"; do
		mem_record "${names[i]}" idle "$(mem_line "${pids[i]}")"
		# timeout's status 124 says strace stayed attached the whole time.
		(timeout -s INT "$STRACE_SEC" strace -c -f -o "$S/strace-${names[i]}" -p "${pids[i]}" 2>/dev/null
		 echo $? >"$S/strace-${names[i]}.rc") &
		traces+=("$!")
	done
	wait "${traces[@]}"
	for i in "${!pids[@]}"; do
		# strace -c ends with a "total" row; with no syscall at all it writes nothing.
		n=$(awk '$NF == "total" { print $4 + 0 }' "$S/strace-${names[i]}" 2>/dev/null)
		[[ $(cat "$S/strace-${names[i]}.rc" 2>/dev/null) == 124 ]] || n=-
		printf '%s\t%s\t%s\t%s\n' "${names[i]}" "${n:-0}" "$STRACE_SEC" \
			"$(awk '/^-----/ { f = !f; next } f { printf "%s%s", s, $NF; s = "," }' \
				"$S/strace-${names[i]}" 2>/dev/null)" >>"$RES/idle.tsv"
		kill -TERM "${pids[i]}" 2>/dev/null
		wait_gone "${pids[i]}" 15
	done
}

# ---- copies to a remote: the copy job against a plain rclone copyto --------------------------

# ms_since NS: milliseconds since the date +%s%N value NS.
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# The copy job against a plain `rclone copyto` of the same archive to the same remote, in the
# same run, on rclone's local backend and on `rclone serve webdav` over loopback, for an
# incompressible save of 5 MiB and of 50 MiB (quick: 5 MiB only), a fresh daemon for each:
# each round makes an archive (backup --wait), waits for status "in sync" and takes the copy's
# wall time from status (last_copy_us: from when the copy was due, a wait for the daemon's
# rclone rcd to listen included, to the last journal write: archive and manifest, renames,
# journals), waits until the game is idle (the remote's retention runs after copies), then
# times `rclone copyto` of that archive alone, at normal priority and then at the copy job's
# (nice 19, idle I/O class). Round 0 starts the daemon's rcd (with its snapshot); the later
# rounds come within its linger and reuse it. remote.tsv: backend, archive bytes, round, copy
# job ms, copyto ms, copyto at nice 19 ms.
remote_round() {
	local backend=$1 mib=$2 i=$3 sock=$4 save=$5 t0 ours plain low arch before dst=plain-dst
	[[ $backend == loc ]] && dst=$S/plain-dst
	before=$("$SKCTL" --socket "$sock" --json status | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["games"][0]["remote"]["last_copy_us"])')
	head -c $((mib << 20)) /dev/urandom >"$save/blob.sav"
	"$SKCTL" --socket "$sock" backup --wait >/dev/null || { log "remote: backup failed"; return 1; }
	poll 300 remote_copied "$sock" "$before" || { log "remote: the copy did not finish"; return 1; }
	ours=$(("$(cat "$S/last_copy_us")" / 1000))
	poll 60 remote_idle "$sock" || { log "remote: the game did not go idle"; return 1; }
	arch=$(ls "$S/remote-archives/bench/"*.tar.gz | tail -1)
	t0=$(date +%s%N)
	rclone --config "$S/rclone.conf" copyto "$arch" "$backend:$dst/$(basename "$arch")" ||
		{ log "remote: rclone copyto failed"; return 1; }
	plain=$(ms_since "$t0")
	# The same at the copy job's priority (nice 19, idle I/O class), to another name.
	t0=$(date +%s%N)
	nice -n 19 ionice -c 3 rclone --config "$S/rclone.conf" copyto "$arch" "$backend:$dst/low-$(basename "$arch")" ||
		{ log "remote: rclone copyto at nice 19 failed"; return 1; }
	low=$(ms_since "$t0")
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$(stat -c %s "$arch")" "$i" "$ours" "$plain" "$low" >>"$RES/remote.tsv"
	log "  $backend, $mib MiB, round $i: copy job $ours ms, rclone copyto $plain ms, at nice 19 $low ms"
}

# remote_copied SOCK BEFORE: status says in sync with a last_copy_us other than BEFORE (kept
# in $S/last_copy_us). Read with bash alone: it is polled every 50 ms while the copy runs at
# nice 19, and a python3 start per poll (0.15 s of CPU on a loaded machine) would take the CPU
# from the copy it measures.
remote_copied() {
	local s
	s=$("$SKCTL" --socket "$1" --json status) || return 1
	[[ $s == *'"state":"in sync"'* && $s =~ \"last_copy_us\":([0-9]+) ]] || return 1
	((BASH_REMATCH[1] != $2)) || return 1
	echo "${BASH_REMATCH[1]}" >"$S/last_copy_us"
}
remote_idle() { "$SKCTL" --socket "$1" --json status | grep -q '"busy": *false'; }

remote_bench() {
	local save=$S/remote-save sock=$S/remote.sock port backend mib i spid
	local sizes=$( ((QUICK)) && echo 5 || echo "5 50") reps=$( ((QUICK)) && echo 1 || echo 5)
	command -v rclone >/dev/null || { log "remote: rclone is not installed; skipped"; return 0; }
	mkdir -p "$save" "$S/dav"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	rclone serve webdav "$S/dav" --addr "127.0.0.1:$port" >>"$LOGS/webdav.log" 2>&1 &
	spid=$!
	poll 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || { log "remote: webdav did not start"; return 1; }
	printf '[loc]\ntype = local\n\n[dav]\ntype = webdav\nurl = http://127.0.0.1:%s\nvendor = other\n' \
		"$port" >"$S/rclone.conf"
	for backend in loc dav; do
		daemon_config "$S/remote.ini" thread "$save" "$S/remote-archives" "$sock" false 1h
		sed -i "/^\[daemon\]/a remote = $backend:$( [[ $backend == loc ]] && echo "$S/remote-dst" || echo dst)\nrclone_config = $S/rclone.conf\ncompression = 1" \
			"$S/remote.ini"
		for mib in $sizes; do
			start_daemon remote "$S/remote.ini" "$sock" || break
			log "remote: $backend, ${mib} MiB archive, copy job against rclone copyto, $reps round(s)"
			for ((i = 0; i < reps; i++)); do
				remote_round "$backend" "$mib" "$i" "$sock" "$save" || break
			done
			stop_daemon "$DPID"
			rm -rf "$S/remote-archives"
		done
	done
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	rm -rf "$save" "$S/remote-dst" "$S/plain-dst" "$S/dav"
}

# ---- Ludusavi's manifest ---------------------------------------------------------------------

# A synthetic manifest the size of the real one (18 MiB; the real data is never shipped) read by
# the bench reader, which expands every path, and by `savekeeperctl add` looking up a title in a
# home without Steam (the whole manifest streamed, nothing kept): manifest.tsv gets one row per
# run, "what bytes wall user sys maxrss_kib".
manifest_bench() {
	local m=$S/manifest.yaml bytes i
	"$BIN/bench_manifest" gen "$m" $((18 << 20)) || { log "manifest: generator failed"; return; }
	bytes=$(stat -c %s "$m")
	mkdir -p "$S/mhome"
	printf '[daemon]\nmanifest = %s\n' "$m" >"$S/manifest.ini"
	log "manifest: $((bytes >> 20)) MiB, $SNAP_REPS runs each"
	for ((i = 0; i < SNAP_REPS; i++)); do
		"$BIN/timeit" "$S/t" "$BIN/bench_manifest" parse "$m" >/dev/null 2>>"$LOGS/manifest.log" &&
			printf 'reader\t%s\t%s\n' "$bytes" "$(tr ' ' '\t' <"$S/t")" >>"$RES/manifest.tsv"
		((HAVE_DAEMON)) || continue
		HOME=$S/mhome "$BIN/timeit" "$S/t" "$SKCTL" -c "$S/manifest.ini" add "No Such Game" \
			>/dev/null 2>>"$LOGS/manifest.log"
		printf 'savekeeperctl add\t%s\t%s\n' "$bytes" "$(tr ' ' '\t' <"$S/t")" >>"$RES/manifest.tsv"
	done
}

# What Steam sessions cost while Steam runs: one look at /proc (every 3 s in the daemon), over
# this machine's processes; sessions.tsv gets "processes rounds wall_us cpu_us" per run.
sessions_bench() {
	local i
	for ((i = 0; i < SNAP_REPS; i++)); do
		"$BIN/bench_sessions" 200 | awk '{ print $2 "\t" $4 "\t" $6 "\t" $8 }' >>"$RES/sessions.tsv"
	done
}

# ---- main ------------------------------------------------------------------------------------

# wanted PART: true when PART is to be measured ($ONLY empty: every part).
ONLY=${ONLY:-}
wanted() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }

start=$SECONDS
machine_info
wanted snapshot && snapshot_bench
wanted incremental && incremental_bench
wanted load && echo_bench
if ((HAVE_DAEMON)) && wanted load; then
	big=$(gen_tree "$TREE")
	for c in $CORES coroutine-inline; do core_bench "$c" "$big"; done
fi
wanted idle && idle_bench "$(gen_tree small)"
wanted manifest && manifest_bench
wanted sessions && sessions_bench
((HAVE_DAEMON)) && wanted remote && remote_bench
log "bench: measured in $((SECONDS - start)) s"
echo "elapsed	$((SECONDS - start)) s" >>"$RES/machine.tsv"
# A partial run reports beside its results, never over docs/benchmarks.md.
PARTIAL=$([[ -n $ONLY ]] && echo 1 || echo 0) QUICK=$QUICK bench/report.sh "$RES"

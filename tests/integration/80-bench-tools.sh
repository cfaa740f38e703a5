#!/bin/bash
# The benchmark's own tools: the tree generator's size and shape, the echo server and load
# client round trip, timeit, and the report's target verdicts. No timing is asserted.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GENTREE=$SK_BUILD/gentree ECHO=$SK_BUILD/echo LOAD=$SK_BUILD/load TIMEIT=$SK_BUILD/timeit

for tool in "$GENTREE" "$ECHO" "$LOAD" "$TIMEIT"; do
	if [[ ! -x $tool ]]; then
		fail "bench tool $tool is built (make $(basename "$SK_BUILD")/$(basename "$tool"))"
		done_testing
	fi
done

# ---- gentree ----
check "gentree small writes a tree" "$GENTREE" small "$T/small"
check "small tree: 50 regular files" test "$(find "$T/small" -type f | wc -l)" -eq 50
check "small tree: 5 MiB exactly" test "$(find "$T/small" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')" -eq 5242880
check "small tree: nested folders" test "$(find "$T/small" -mindepth 3 -type d | wc -l)" -ge 3
check "small tree: an empty folder" test -n "$(find "$T/small" -type d -empty)"
check "small tree: no file over an eighth" test "$(find "$T/small" -type f -size +655360c | wc -l)" -eq 0

# About half incompressible: gzip keeps 50-75% of the bytes (random half + compressed rest).
gz=$(tar -cf - -C "$T/small" . | gzip -6 | wc -c)
check "small tree: about half incompressible ($gz bytes gzipped)" test "$gz" -gt 2621440 -a "$gz" -lt 3932160
kinds=$(find "$T/small" -type f | sed 's/.*\.//' | sort -u | tr '\n' ' ')
check "small tree: binary, JSON, text and image files ($kinds)" \
	bash -c "[[ '$kinds' == *chunk* && '$kinds' == *dat* && '$kinds' == *json* && ('$kinds' == *log* || '$kinds' == *ini*) ]]"

"$GENTREE" small "$T/small2" >/dev/null
check "gentree is deterministic (contents)" diff -r "$T/small" "$T/small2"
check "gentree is deterministic (names, mtimes)" \
	diff <(cd "$T/small" && find . -printf '%y %T@ %s %p\n' | grep -v '^d' | sort) \
	     <(cd "$T/small2" && find . -printf '%y %T@ %s %p\n' | grep -v '^d' | sort)
check "gentree refuses a folder that is not empty" bash -c "! '$GENTREE' small '$T/small' 2>/dev/null"
check "gentree FILES MIB DIR" "$GENTREE" 12 2 "$T/custom"
check "custom tree: 12 files, 2 MiB" test "$(find "$T/custom" -type f | wc -l)" -eq 12 -a \
	"$(du -sb --apparent-size "$T/custom" | cut -f1)" -ge 2097152
rm -rf "$T/small2" "$T/custom"

# ---- echo + load ----
"$ECHO" "$T/echo.sock" 2>"$T/echo.log" &
echo_pid=$!
# Signalled at exit only if not reaped yet, so that a reused pid is never hit.
on_exit "jobs -p | grep -qx $echo_pid && kill -9 $echo_pid; wait $echo_pid"
wait_for 5 test -S "$T/echo.sock"
out=$(timeout 20 "$LOAD" --socket "$T/echo.sock" --conns 2 --duration 1 --warmup 0.1 --pid "$echo_pid" --tsv)
rc=$?
diag "load: $out"
check "load runs 1 s against echo and exits 0" test "$rc" -eq 0
IFS=$'\t' read -r conns reqs rps p50 p99 max cpu errors <<<"$out"
check "load reports 2 connections" test "${conns:-0}" -eq 2
check "load made requests" test "${reqs:-0}" -gt 0
check "load: no errors" test "${errors:-1}" -eq 0
check "load: p50 <= p99 <= max" awk -v a="${p50:-x}" -v b="${p99:-x}" -v c="${max:-x}" \
	'BEGIN { exit !(a + 0 > 0 && a + 0 <= b + 0 && b + 0 <= c + 0) }'
check "load: server CPU per request is a number" awk -v c="${cpu:--}" 'BEGIN { exit !(c ~ /^[0-9.]+$/) }'
check "load: req/s is given ($rps)" test "${rps:-0}" -gt 0
reply=$(timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"ping\nping\n")
buf = b""
while buf.count(b"\n") < 2: buf += s.recv(4096)
print(buf.decode(), end="")' "$T/echo.sock")
check "echo answers each line like savekeeperd's ping" \
	test "$reply" = $'{"re":"1","cmd":"ping","ok":true,"version":"0.1.0"}\n{"re":"2","cmd":"ping","ok":true,"version":"0.1.0"}'
kill -TERM "$echo_pid"
wait "$echo_pid"
check "echo exits 0 on SIGTERM" test $? -eq 0
check "echo removes its socket" test ! -e "$T/echo.sock"
check "load fails (bounded) when nothing listens" \
	bash -c "! timeout 10 '$LOAD' --socket '$T/none.sock' --duration 1 2>/dev/null"

# ---- timeit ----
check "timeit passes the exit status on" bash -c "'$TIMEIT' '$T/t' sh -c 'exit 3'; test \$? -eq 3"
check "timeit writes wall, user, sys, maxrss" awk 'NF == 4 && $1 > 0 && $4 > 0 { ok = 1 } END { exit !ok }' "$T/t"

# ---- report: verdicts read from made-up numbers ----
R=$T/results
mkdir -p "$R"
printf 'mode\tquick\ndate\ttoday\nelapsed\t1 s\n' >"$R/machine.tsv"
for c in 1 4 8; do
	printf 'echo\tidle\tnone\t%s\t1000\t10000\t50\t100\t200\t10.00\t0\n' "$c"
	printf 'thread\tidle\tnone\t%s\t1000\t9500\t50\t100\t200\t11.00\t0\n' "$c"
	printf 'thread\tbusy\tnone\t%s\t1000\t5000\t50\t2000\t4000\t90.00\t0\n' "$c"
done >"$R/load.tsv"
printf 'thread\tidle\t3000\t1000\t3500\t2\t8\t0\t0\t0\n' >"$R/mem.tsv"
printf 'thread\t0\t10\t\n' >"$R/idle.tsv"
QUICK=1 "$ROOT/bench/report.sh" "$R" >"$T/report.out" 2>&1
check "report: req/s 0.95x idle passes" grep -q '0.9x echo at 1, 4, 8 clients, idle, unpinned | thread | worst 0.95x | PASS' "$R/benchmarks.md"
check "report: req/s 0.50x busy misses" grep -q 'clients, busy, unpinned | thread | worst 0.50x | MISS' "$R/benchmarks.md"
check "report: p99 2 ms while busy misses" grep -q 'p99 < 1 ms .* | thread | worst 2000 us | MISS' "$R/benchmarks.md"
check "report: CPU 1.10x echo passes" grep -q 'CPU per ping <= 1.2x echo .*, unpinned | thread | worst 1.10x | PASS' "$R/benchmarks.md"
check "report: 2.9 MiB idle RSS passes" grep -q 'RSS <= 4 MiB | thread | 2.9 MiB | PASS' "$R/benchmarks.md"
check "report: no idle syscalls passes" grep -q 'no syscalls while idle | thread | 0 in 10 s | PASS' "$R/benchmarks.md"
done_testing

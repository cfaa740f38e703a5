#!/bin/bash
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer target (clang-14, address and undefined
# sanitizers) into $B/fuzz/ and runs each for SECONDS on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<target>/). Prints one TAP line per target and exits non-zero on any
# crash, leak, timeout or build failure; a failing input is kept as $B/fuzz/<target>-crash-*.
#
# A target names what it needs in its first lines (the "fuzz-" prefix may be left out):
#   fuzz-sources: src/a.c src/b.c   the project files to link (default: every library source)
#   fuzz-flags: -max_len=12000      extra libFuzzer options
# and tests/fuzz/<target>.dict, when present, is passed as its dictionary.
#
# Use: tests/fuzz/run.sh [SECONDS]   (default 60)
set -u
cd "$(dirname "$0")/../.." || exit 2
SECONDS_EACH=${1:-60}
B=${B:-build}
OUT=$B/fuzz
CC=${FUZZ_CC:-clang-14}
PKGS="libarchive inih libsystemd json-c libdeflate libcrypto libnotify yaml-0.1"
VERSION=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' Makefile)
CFLAGS="-std=gnu11 -D_GNU_SOURCE -DSK_VERSION=\"$VERSION\" -Iinclude -g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Wall -Wextra"
mkdir -p "$OUT"

n=0 failed=0
tap() { n=$((n + 1)); echo "$1 $n - $2"; [ "$1" = ok ] || failed=$((failed + 1)); }

# The value of "fuzz-KEY:" (or "KEY:") in the first lines of a target, or nothing.
header() {
	head -n 15 "$1" | sed -n "s/^.*[^a-z_]$2:[[:space:]]*//p" | sed 's|[[:space:]]*\*/.*||' | head -n 1
}

build() {
	local src=$1 bin=$2 sources
	sources=$(header "$src" sources)
	[ -n "$sources" ] || sources=$(ls src/*.c | grep -v -e savekeeperd.c -e savekeeperctl)
	# shellcheck disable=SC2086
	$CC $CFLAGS $(pkg-config --cflags $PKGS) -o "$bin" "$src" $sources \
		$(pkg-config --libs $PKGS) -lpthread -lm >"$bin.build.log" 2>&1
}

run() {
	local name=$1 bin=$2 seeds=tests/fuzz/corpus/$1 corpus=$OUT/corpus-$1 opts=()
	local dict=tests/fuzz/$name.dict flags
	rm -rf "$corpus" && mkdir -p "$corpus"
	[ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
	[ -f "$dict" ] && opts+=("-dict=$dict")
	flags=$(header "tests/fuzz/$name.c" flags)
	# shellcheck disable=SC2206
	[ -n "$flags" ] && opts+=($flags)
	rm -f "$OUT/$name"-crash-* "$OUT/$name"-leak-* "$OUT/$name"-timeout-*
	"$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/$name-" "${opts[@]}" "$corpus" >"$OUT/$name.log" 2>&1
}

if ! command -v "$CC" >/dev/null; then
	echo "ok 1 - fuzzing # SKIP $CC is not installed (sh scripts/deps.sh installs it)"
	echo "1..1"
	exit 0
fi

for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	bin=$OUT/$name
	if ! build "$src" "$bin"; then
		tap "not ok" "$name builds"
		sed 's/^/#   /' "$bin.build.log" | tail -n 20
		continue
	fi
	if run "$name" "$bin"; then
		runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$OUT/$name.log")
		tap ok "$name ${SECONDS_EACH}s (${runs:-?} runs)"
	else
		tap "not ok" "$name ${SECONDS_EACH}s"
		grep -E 'ERROR|SUMMARY|Test unit written|^#0 |^ +#[0-9]+ ' "$OUT/$name.log" | head -n 30 | sed 's/^/#   /'
	fi
done
echo "1..$n"
((failed == 0))

# Shared by the integration tests: TAP output, a private scratch folder, and a daemon that is
# always stopped when the test exits, whether it passed or not.
# Use: source "$(dirname "$0")/../lib.sh"; then `check "name" command...` or ok/fail, and
# `skip "name" "needs root (...)"` where a part cannot run for this user.
set -u
SK_BUILD=${SK_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../build" && pwd)}
SKD=$SK_BUILD/savekeeperd
SKCTL=$SK_BUILD/savekeeperctl
CORES=${CORES:-"thread coroutine process"}
# Under $TMPDIR: tests/run.sh gives each test one of its own and fails it for what is left there.
T=$(mktemp -d "${TMPDIR:-/tmp}/sk-test.XXXXXX")
chmod 755 "$T"
export HOME=$T/home XDG_CONFIG_HOME=$T/home/.config XDG_DATA_HOME=$T/home/.local/share
export XDG_RUNTIME_DIR=$T/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
unset DBUS_SESSION_BUS_ADDRESS DISPLAY NOTIFY_SOCKET LISTEN_FDS LISTEN_PID JOURNAL_STREAM
export SAVEKEEPER_SOCKET=$XDG_RUNTIME_DIR/savekeeper/control.sock

_tap_n=0
_tap_fail=0
_cleanups=()

# Runs "$@" at exit, last registered first.
on_exit() { _cleanups+=("$*"); }
_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[i]}" >/dev/null 2>&1; done
	# Trees a test made read-only (a 0500 folder) cannot be emptied by their owner otherwise.
	chmod -R u+rwX "$T" 2>/dev/null
	rm -rf "$T"
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
fail() { _tap_n=$((_tap_n + 1)); _tap_fail=$((_tap_fail + 1)); echo "not ok $_tap_n - $*"; }
# skip NAME REASON: a test that cannot run here, with why.
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP $2"; }
# is_root: whether this test may mount, add users and chown (the parts that skip otherwise).
is_root() { test "$(id -u)" -eq 0; }
# check NAME CMD...: passes when CMD succeeds; its output is shown when it fails.
check() {
	local name=$1 out; shift
	if out=$("$@" 2>&1); then ok "$name"; else fail "$name"; printf '#   %s\n' "${out//$'\n'/$'\n#   '}"; fi
}
# silent CMD...: CMD succeeds and prints nothing (systemd-analyze verify warns, yet exits 0).
silent() {
	local out rc
	out=$("$@" 2>&1); rc=$?
	[[ $rc -eq 0 && -z $out ]] || { printf '%s\n' "$out"; return 1; }
}
done_testing() { echo "1..$_tap_n"; exit $((_tap_fail > 0)); }
diag() { echo "# $*"; }

# run ARGS...: savekeeperctl with stdout in $out, stderr in $err and the exit status in $rc.
run() {
	"$SKCTL" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}
# expect RC NAME: the last run exited RC (its output is shown when not).
expect() {
	if [ "$rc" -eq "$1" ]; then ok "$2: exit $1"; else
		fail "$2: exit $1 (got $rc)"; diag "stdout: $out"; diag "stderr: $err"; fi
}
# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds; false on timeout. Its
# arguments are expanded once, by the caller: a "$(...)" that must be read again at each poll
# belongs in a function or in `eval '...'`, or the wait lasts SECONDS whatever happens.
wait_for() {
	local deadline=$(($(date +%s%N) + $1 * 1000000000)); shift
	until "$@" >/dev/null 2>&1; do
		(($(date +%s%N) > deadline)) && return 1
		sleep 0.05
	done
}

# start_daemon [ARGS...]: starts savekeeperd in the background, waits until it answers ping.
# Its pid is in $SKD_PID and its stderr in $T/daemon.log.
start_daemon() {
	"$SKD" "$@" >>"$T/daemon.log" 2>&1 &
	SKD_PID=$!
	on_exit "kill -9 $SKD_PID; wait $SKD_PID"
	wait_for 10 "$SKCTL" ping || { echo "# daemon did not start:"; sed 's/^/#   /' "$T/daemon.log"; return 1; }
}
# stop_daemon: SIGTERM and wait; returns the daemon's exit status.
stop_daemon() {
	kill -TERM "$SKD_PID" 2>/dev/null
	wait "$SKD_PID"
}

# make_config FILE CORE [EXTRA-DAEMON-LINES]: writes a config with game "demo" at $T/save.
make_config() {
	mkdir -p "$T/save" "$(dirname "$1")"
	cat >"$1" <<-INI
	[daemon]
	archive_dir = ${ARCHIVE_DIR:-$T/archives}
	core = $2
	interval = ${INTERVAL:-1h}
	notify = off
	${3:-}

	[game "demo"]
	path = $T/save
	INI
}

# tree_equal A B: the two folders hold the same names, types, contents, modes, mtimes, links.
tree_equal() {
	diff <(cd "$1" && find . -mindepth 1 -printf '%y %m %T@ %l %p\n' | LC_ALL=C sort) \
	     <(cd "$2" && find . -mindepth 1 -printf '%y %m %T@ %l %p\n' | LC_ALL=C sort) &&
	diff -r --no-dereference "$1" "$2"
}

# jget EXPR: prints a Python expression over r, the last JSON line on stdin (lists/dicts as JSON).
jget() {
	/usr/bin/python3 -c '
import json, sys
lines = [l for l in sys.stdin if l.strip()]
r = json.loads(lines[-1]) if lines else None
v = eval(sys.argv[1])
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1"
}
# ctl ARGS...: savekeeperctl --json, the last reply line on stdout.
ctl() { "$SKCTL" --json "$@"; }
# archives GAME-DIR: the published archive names, one per line.
archives() { ls "$1" 2>/dev/null | grep '\.tar\.gz$' || true; }
# archives_at_least GAME-DIR N: GAME-DIR holds N published archives or more (read at each call).
archives_at_least() { test "$(archives "$1" | wc -l)" -ge "$2"; }
# leftovers DIR: anything a crash or a cancelled job should never leave.
leftovers() { find "$1" -name '*.partial' -o -name '*staging*' 2>/dev/null; }
# own_processes NAME: pids of NAME processes started by this test (they carry its $T).
own_processes() {
	local p
	for p in $(pgrep -x "$1"); do
		tr "\0" "\n" 2>/dev/null <"/proc/$p/environ" | grep -qx "XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR" && echo "$p"
	done
	return 0
}
# busy_is True|False [N]: whether game N (default 0) in status is running a job.
busy_is() { test "$(ctl status | jget "r[\"games\"][${2:-0}][\"busy\"]")" = "$1"; }

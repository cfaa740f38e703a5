# Shared by the notification tests: runs the sourcing script again under a private session bus
# (dbus-run-session with tests/dbus/session.conf: no service folders, so nothing is
# auto-started, and DISPLAY unset, so nothing autolaunches), then sources tests/lib.sh and
# offers a mock notification server, a hung one, and the calls the mock recorded.
# Use: source "$(dirname "$0")/../dbus/lib.sh" in place of tests/lib.sh.
SK_DBUS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -z ${SK_TEST_BUS:-} ]]; then
	command -v dbus-run-session >/dev/null || { echo "not ok 1 - dbus-run-session is missing"; exit 1; }
	SK_TEST_BUS=1 exec env -u DISPLAY dbus-run-session --config-file="$SK_DBUS_DIR/session.conf" \
		-- bash "$0" "$@"
fi
_sk_bus=$DBUS_SESSION_BUS_ADDRESS
# shellcheck source=../lib.sh
source "$SK_DBUS_DIR/../lib.sh"
export DBUS_SESSION_BUS_ADDRESS=$_sk_bus
# Debian's python3 has dbusmock and dbus-python; another python3 first on PATH may not.
PY3=/usr/bin/python3

name_owned() {
	dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications | grep -q 'boolean true'
}
name_free() { ! name_owned; }

# mock_start: a dbusmock notification server that records every call; its pid in $MOCK_PID.
mock_start() {
	"$PY3" -m dbusmock --session --template notification_daemon >>"$T/mock.log" 2>&1 &
	MOCK_PID=$!
	rm -f "$T/mock.ids"
	on_exit "kill $MOCK_PID; wait $MOCK_PID"
	wait_for 20 name_owned || { diag "mock server did not start:"; sed 's/^/#   /' "$T/mock.log"; return 1; }
}
# server_stop PID: stops a server and waits until the name is free again.
server_stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	wait_for 10 name_free
}
# hung_start: a server that owns the name and never answers; its pid in $HUNG_PID.
hung_start() {
	"$PY3" "$SK_DBUS_DIR/hung_server.py" >"$T/hung.out" 2>&1 &
	HUNG_PID=$!
	on_exit "kill $HUNG_PID; wait $HUNG_PID"
	wait_for 20 grep -q ready "$T/hung.out" || { diag "hung server did not start:"; sed 's/^/#   /' "$T/hung.out"; return 1; }
}

# calls: the Notify calls the mock recorded, one per line (see calls.py for the columns).
calls() { "$PY3" "$SK_DBUS_DIR/calls.py" "$(cat "$T/mock.ids" 2>/dev/null || echo 0)"; }
calls_count() { calls | wc -l; }
# calls_clear: forgets the recorded calls (the mock goes on counting ids: remember where).
calls_clear() {
	calls | awk -F'\t' -v max="$(cat "$T/mock.ids" 2>/dev/null || echo 0)" \
		'$2 > max { max = $2 } END { print max }' >"$T/mock.ids.new" && mv "$T/mock.ids.new" "$T/mock.ids"
	dbus-send --session --print-reply --dest=org.freedesktop.Notifications /org/freedesktop/Notifications \
		org.freedesktop.DBus.Mock.ClearCalls >/dev/null
}
# calls_at_least N: true once the mock recorded N calls or more.
calls_at_least() { (($(calls_count) >= $1)); }
# calls_equal EXPECTED-FILE: the recorded calls are exactly those in the file; a diff otherwise.
calls_equal() { diff -u "$1" <(calls); }

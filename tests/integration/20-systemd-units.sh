#!/bin/bash
# The systemd user units pass `systemd-analyze --user verify` with no output at all: the
# service with @BINDIR@ pointing at the build (its programs must exist), and the socket.
# Nothing is started: PID 1 here need not be systemd, and no `systemd --user` is run.
source "$(dirname "$0")/../lib.sh"
UNITS=$(cd "$(dirname "$0")/../../systemd" && pwd)

command -v systemd-analyze >/dev/null || { fail "systemd-analyze is missing"; done_testing; }
for prog in "$SKD" "$SKCTL"; do
	check "$(basename "$prog") is built (the service's ExecStart=/ExecReload= need it)" test -x "$prog"
done

# Both units in one folder, as installed; the service names the build's programs.
mkdir -p "$T/units"
sed "s|@BINDIR@|$SK_BUILD|g" "$UNITS/savekeeper.service.in" >"$T/units/savekeeper.service"
cp "$UNITS/savekeeper.socket" "$T/units/"
check "no @...@ left in the service" bash -c "! grep -n '@[A-Z]*@' '$T/units/savekeeper.service'"

# verify prints only problems; it exits 0 for some of them, so any output fails the test.
verify() {
	local out
	out=$(cd "$T/units" && XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR systemd-analyze --user verify "$@" 2>&1)
	[[ -z $out ]] || { printf '%s\n' "$out"; return 1; }
}
check "systemd-analyze --user verify savekeeper.service prints nothing" verify "$T/units/savekeeper.service"
check "systemd-analyze --user verify savekeeper.socket prints nothing" verify "$T/units/savekeeper.socket"

# What the daemon and the issue rely on, stated once more so an edit cannot drop it quietly.
svc=$T/units/savekeeper.service sock=$T/units/savekeeper.socket
check "Type=notify" grep -qx 'Type=notify' "$svc"
check "ExecStart= runs the daemon" grep -qx "ExecStart=$SK_BUILD/savekeeperd" "$svc"
check "ExecReload= goes through savekeeperctl" grep -qx "ExecReload=$SK_BUILD/savekeeperctl reload" "$svc"
check "Restart=on-failure" grep -qx 'Restart=on-failure' "$svc"
check "the socket is %t/savekeeper/control.sock" grep -qx 'ListenStream=%t/savekeeper/control.sock' "$sock"
check "SocketMode=0600" grep -qx 'SocketMode=0600' "$sock"
check "DirectoryMode=0700" grep -qx 'DirectoryMode=0700' "$sock"
check "the service says how to pass the session bus" grep -q 'import-environment DBUS_SESSION_BUS_ADDRESS DISPLAY' "$svc"

done_testing

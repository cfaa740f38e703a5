# savekeeperd's command line, --once, the control socket's guards and the systemd side.
source "$(dirname "$0")/../lib.sh"
CFG=$T/savekeeper.ini
SOCK=$SAVEKEEPER_SOCKET

check "savekeeperd --help" bash -c "$SKD --help | grep -q -- --save-dir"
check "savekeeperd --version" bash -c "$SKD --version | grep -q '^savekeeperd [0-9]'"
"$SKD" --bogus >/dev/null 2>&1; check "unknown option exits 2" test $? -eq 2
check "savekeeperctl --help" bash -c "$SKCTL --help | grep -q backup"
"$SKCTL" ping >/dev/null 2>"$T/err"; rc=$?
check "no daemon: exit 3" test $rc -eq 3
check "no daemon: a hint" grep -q "systemctl --user start savekeeper.socket" "$T/err"
"$SKCTL" frobnicate >/dev/null 2>&1; check "unknown command: exit 2" test $? -eq 2

# --once, with and without a config file.
mkdir -p "$T/save/a" && echo one >"$T/save/a/one.sav"
make_config "$CFG" thread
check "--once -c snapshots and exits 0" "$SKD" --once -c "$CFG"
check "--once made one archive" test "$(archives "$T/archives/demo" | wc -l)" -eq 1
check "--once --save-dir with no config" "$SKD" --once --save-dir "$T/save" --game g1 --archive-dir "$T/a2"
check "--save-dir archive exists" test "$(archives "$T/a2/g1" | wc -l)" -eq 1
"$SKD" --once --save-dir "$T/missing" --game gone --archive-dir "$T/a3" 2>"$T/err"; rc=$?
check "--once on a missing folder exits non-zero" test $rc -ne 0
check "--once names the game and the cause" grep -q "gone" "$T/err"
check "--once leaves no archive after a failure" test -z "$(archives "$T/a3/gone")"
# The process core under --once forks its worker rather than starting the program again: one
# program start in all, and the archive as good as ever.
if command -v strace >/dev/null; then
	strace -f -e trace=execve -o "$T/execve" "$SKD" --once --save-dir "$T/save" --game g2 \
		--archive-dir "$T/a4" --core process >/dev/null 2>&1
	check "--once --core process: one program start, no worker exec ($(grep -c 'execve(' "$T/execve"))" \
		test "$(grep -c 'execve(' "$T/execve")" -eq 1
	check "... and its archive restores through GNU tar" bash -c "mkdir '$T/x4' &&
		tar -xzf '$T/a4/g2/'*.tar.gz -C '$T/x4' && diff -r '$T/save' '$T/x4'"
else
	skip "--once --core process: one program start" "strace is not installed"
	skip "... and its archive restores through GNU tar" "strace is not installed"
fi
printf '[daemon]\ncore = fibre\n' >"$T/bad.ini"
"$SKD" --once -c "$T/bad.ini" 2>"$T/err"; rc=$?
check "bad config: does not start" test $rc -ne 0
check "bad config: names file:line" grep -q "$T/bad.ini:2" "$T/err"

# The control socket and its guards.
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
check "socket folder is 0700" test "$(stat -c %a "$(dirname "$SOCK")")" = 700
check "socket is 0600" test "$(stat -c %a "$SOCK")" = 600
"$SKD" -c "$CFG" 2>"$T/err2" & pid2=$!
on_exit "kill -9 $pid2"
wait $pid2; rc=$?
check "a second daemon refuses to start" test $rc -ne 0
check "the second daemon says why" grep -qi "already running" "$T/err2"
check "the first daemon still answers" ctl ping

/usr/bin/python3 - "$SOCK" >"$T/raw" 2>&1 <<'PY'
import json, socket, sys
def ask(payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(payload)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf.splitlines()[0])
cases = {
    "empty": b"\n",
    "unknown": b"frobnicate\n",
    "binary": b"\x00\x01\xff\xfe ping\n",
    "overlong": b"ping " + b"a" * 10000 + b"\n",
    "bad-game": b"backup ../etc\n",
    "bad-option": b"backup demo --now\n",
    "too-many": b"pin demo a b c d\n",
    "no-such-game": b"list nogame\n",
}
for name, payload in cases.items():
    r = ask(payload)
    print(name, "ok=%s" % r.get("ok"), "has_error=%s" % bool(r.get("error")), "re=%s" % r.get("re"))
r = ask(b"#t42 ping\n")
print("tagged", r.get("re"), r.get("ok"))
PY
for k in empty unknown binary overlong bad-game bad-option too-many no-such-game; do
	check "bad request '$k' gets an error reply" grep -q "^$k ok=False has_error=True" "$T/raw"
done
check "a tagged request is answered with its tag" grep -q "^tagged t42 True" "$T/raw"
check "still serving after bad requests" ctl ping

# A client that sends nothing stalls nobody.
/usr/bin/python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(30)' "$SOCK" &
idle=$!; on_exit "kill $idle"
sleep 0.2
check "a silent client does not block others" ctl ping
kill $idle 2>/dev/null

# Another uid is refused even when the socket's permissions would let it in.
if ! is_root; then
	skip "another user is refused" "needs root (useradd, runuser)"
elif id sk-peer >/dev/null 2>&1 || useradd --system --no-create-home sk-peer 2>/dev/null; then
	on_exit "userdel sk-peer"
	chmod 755 "$T" "$XDG_RUNTIME_DIR" "$(dirname "$SOCK")"; chmod 666 "$SOCK"
	runuser -u sk-peer -- "$SKCTL" --socket "$SOCK" ping >/dev/null 2>&1; rc=$?
	check "another user is refused (exit $rc)" test $rc -ne 0 -a $rc -ne 3
	chmod 700 "$XDG_RUNTIME_DIR" "$(dirname "$SOCK")"; chmod 600 "$SOCK"
	check "the owner is still served" ctl ping
else
	fail "cannot create a second user for the peer check"
fi

# A daemon killed with SIGKILL leaves a stale socket that the next one replaces.
kill -9 "$SKD_PID"; wait "$SKD_PID" 2>/dev/null
check "stale socket left behind" test -S "$SOCK"
start_daemon -c "$CFG"
check "a new daemon replaces the stale socket" ctl ping
stop_daemon

# "verify all" on an archive folder that cannot be listed says which game and why.
mkdir -p "$T/a4" && echo x >"$T/a4/broken"
start_daemon --save-dir "$T/save" --game broken --archive-dir "$T/a4"
"$SKCTL" verify broken all >/dev/null 2>"$T/err4"; rc=$?
check "verify all, unlistable folder: exit 1" test $rc -eq 1
check "verify all, unlistable folder: names game and cause" grep -q "'broken'.*Not a directory" "$T/err4"
stop_daemon

# A symlink at the socket path is refused, not followed.
ln -sf "$T/elsewhere" "$SOCK"
"$SKD" -c "$CFG" 2>"$T/err3" & p=$!; on_exit "kill -9 $p"; wait $p; rc=$?
check "symlink at the socket path: refuses to start" test $rc -ne 0
check "symlink at the socket path: not followed" test ! -e "$T/elsewhere"
check "symlink at the socket path: says so" grep -qi symlink "$T/err3"
rm -f "$SOCK"

# systemd: socket activation and the readiness notification.
/usr/bin/python3 - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "a") as log:
    try:
        while True:
            log.write(s.recv(4096).decode() + "\n"); log.flush()
    except socket.timeout:
        pass
PY
lst=$!; on_exit "kill $lst"
wait_for 5 test -S "$T/notify.sock"
mkdir -p "$(dirname "$SOCK")"; chmod 700 "$(dirname "$SOCK")"
systemd-socket-activate -l "$SOCK" -E XDG_RUNTIME_DIR -E HOME -E XDG_CONFIG_HOME -E XDG_DATA_HOME \
	-E NOTIFY_SOCKET="$T/notify.sock" "$SKD" -c "$CFG" >>"$T/daemon.log" 2>&1 &
act=$!; on_exit "kill -9 $act"
wait_for 5 test -S "$SOCK"
check "socket activation: the first request starts the daemon" ctl ping
wait_for 5 grep -q READY=1 "$T/notify.log"
check "READY=1 sent to NOTIFY_SOCKET" grep -q READY=1 "$T/notify.log"
kill -HUP "$(pgrep -P $act -x savekeeperd || echo $act)"
wait_for 5 grep -q RELOADING=1 "$T/notify.log"
check "RELOADING=1 on SIGHUP" grep -q RELOADING=1 "$T/notify.log"
wait_for 5 eval 'test "$(grep -c READY=1 "$T/notify.log")" -ge 2'
check "READY=1 again after the reload" test "$(grep -c READY=1 "$T/notify.log")" -ge 2
check "the reloaded daemon still answers" ctl ping

# Idle between ticks: not one system call while nothing happens.
pid=$(pgrep -P $act -x savekeeperd || echo $act)
sleep 0.5
timeout -s INT 3 strace -f -c -o "$T/strace" -p "$pid" 2>/dev/null
calls=$(awk '$NF == "total" { print $4 }' "$T/strace")
check "an idle daemon makes no system calls (${calls:-0} in 3 s)" test "${calls:-0}" -eq 0
kill -TERM $act; wait $act
wait_for 5 grep -q STOPPING=1 "$T/notify.log"
check "STOPPING=1 on SIGTERM" grep -q STOPPING=1 "$T/notify.log"
done_testing

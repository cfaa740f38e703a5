# The coroutine core answers the control socket between slices while a 500 MiB snapshot runs
# on the loop thread: each ping waits for at most the rest of the current slice.
source "$(dirname "$0")/../lib.sh"
CFG=$T/savekeeper.ini

"$SK_BUILD/gentree" large "$T/save" >/dev/null
check "a 500 MiB save tree" test "$(du -sm "$T/save" | cut -f1)" -ge 490
make_config "$CFG" coroutine "autostart = false
slice = 5ms"
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
ctl backup demo >/dev/null
wait_for 10 busy_is True

# Pings one after another for 1.5 s, timing each; prints the count, median and maximum in ms.
read -r n median max busy < <(/usr/bin/python3 - "$SAVEKEEPER_SOCKET" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
lat, end = [], time.monotonic() + 1.5
while time.monotonic() < end:
    t = time.monotonic()
    s.sendall(b"ping\n")
    json.loads(f.readline())
    lat.append((time.monotonic() - t) * 1000)
s.sendall(b"status\n")
busy = json.loads(f.readline())["games"][0]["busy"]
lat.sort()
print(len(lat), round(lat[len(lat) // 2], 1), round(lat[-1], 1), busy)
PY
)
diag "pings during the snapshot: $n, median $median ms, max $max ms"
check "the snapshot was still running while pinged" test "$busy" = True
check "pings are answered while the snapshot runs ($n in 1.5 s)" test "$n" -ge 50
check "a ping waits at most a few 5 ms slices (median $median ms)" \
	/usr/bin/python3 -c "import sys; sys.exit(not float('$median') <= 20)"
check "and never long (max $max ms)" /usr/bin/python3 -c "import sys; sys.exit(not float('$max') <= 250)"
wait_for 60 busy_is False
check "the snapshot completes" test "$(ctl status | jget 'r["games"][0]["last_result"]')" = ok
stop_daemon
done_testing

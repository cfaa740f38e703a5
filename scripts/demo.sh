#!/bin/sh
# `make run`: savekeeperd in the foreground on a demo save folder, snapshots every 30 s,
# archives under the build tree. Ctrl-C stops it.
set -eu
B=${B:-build}
DEMO=$(cd "$B" && pwd)/demo
SAVE=$DEMO/save
mkdir -p "$SAVE/slots" "$DEMO/run"
chmod 700 "$DEMO/run"
if [ ! -e "$SAVE/profile.sav" ]; then
	printf 'player=demo\nlevel=1\n' >"$SAVE/profile.sav"
	head -c 65536 /dev/urandom >"$SAVE/slots/slot1.sav"
	printf 'autosave\n' >"$SAVE/slots/autosave.sav"
fi
cat >"$DEMO/savekeeper.ini" <<INI
; written by \`make run\`: a demo game whose saves are in $SAVE
[daemon]
archive_dir = $DEMO/archives
socket = $DEMO/run/control.sock
interval = 30s
notify = errors

[game "demo"]
path = $SAVE
INI
echo "savekeeper demo: saves in $SAVE"
echo "  archives go to $DEMO/archives/demo (a snapshot every 30 s while the folder changes)"
echo "  try: $B/savekeeperctl --socket $DEMO/run/control.sock status"
echo "  Ctrl-C stops the daemon."
exec "$B/savekeeperd" -c "$DEMO/savekeeper.ini"

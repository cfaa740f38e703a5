#!/bin/bash
# Play sessions seen from Steam, without launch options: stand-in processes whose command lines
# look like Steam's (`.../ubuntu12_32/steam`, and `reaper SteamLaunch AppId=<id> -- game`) and
# a real daemon. A game's start takes a snapshot and marks it playing, its exit a final
# snapshot, Steam's exit ends every session; the Flatpak's Steam is found too; with Steam not
# running the daemon makes no syscall at all; `sessions = off` turns it off.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CFG=$T/savekeeper.ini
STEAM=$HOME/.local/share/Steam
SAVE=$HOME/.var/app/com.valvesoftware.Steam/.local/share/MossHarbor
AD=$T/archives/moss

bash "$ROOT/tests/fake-steam.sh" "$HOME" || { fail "fake Steam home"; done_testing; }
FLATPAK_PIDFILE=$HOME/.var/app/com.valvesoftware.Steam/.steam/steam.pid
mkdir -p "${FLATPAK_PIDFILE%/*}"
# write_config SESSIONS: the Flatpak game, found by its steam_app.
write_config() {
	cat >"$CFG" <<-INI
	[daemon]
	archive_dir = $T/archives
	notify = off
	interval = 1h
	sessions = $1

	[game "moss"]
	steam_app = 900003
	INI
}
# Stand-ins, killed at exit whatever happens.
start_steam() {
	(exec -a "$STEAM/ubuntu12_32/steam" sleep 300) &
	STEAM_PID=$!
	on_exit "kill $STEAM_PID"
	# Steam writes its pid file once it runs: wait for the exec as Steam would have.
	wait_for 5 grep -q "ubuntu12_32/steam" "/proc/$STEAM_PID/cmdline"
	echo "$STEAM_PID" >"$HOME/.steam/steam.pid"
}
start_game() {
	(exec -a "$STEAM/ubuntu12_32/reaper" /usr/bin/python3 -c 'import time; time.sleep(300)' \
		SteamLaunch AppId=900003 -- "$STEAM/steamapps/common/MossHarbor/game") &
	GAME_PID=$!
	on_exit "kill $GAME_PID"
}
playing() { test "$(ctl status | jget 'r["games"][0]["playing"]')" = "$1"; }
count() { test "$(archives "$AD" | wc -l)" = "$1"; }

write_config steam
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
check "the first snapshot" wait_for 10 count 1

# --- No Steam: no wake-up. A stale pid file (a process that is not Steam) changes nothing.
sleep 300 &
on_exit "kill $!"
echo $! >"$HOME/.steam/steam.pid"
sleep 0.5
if command -v strace >/dev/null; then
	timeout -s INT 3 strace -c -f -o "$T/strace" -p "$SKD_PID" 2>/dev/null
	n=$(awk '$NF == "total" { print $4 + 0 }' "$T/strace")
	check "no Steam: no syscall in 3 s (got ${n:-0})" test "${n:-0}" = 0
else
	ok "no Steam: no syscall # SKIP strace is not installed"
fi
check "a stale pid file is not Steam" bash -c "! grep -q 'Steam runs' '$T/daemon.log'"

# --- Steam starts, then a game: a session with a snapshot at its start.
start_steam
check "Steam's start is seen from its pid file" wait_for 5 grep -q "Steam runs (pid $STEAM_PID)" "$T/daemon.log"
start_game
check "the game's start begins a session" wait_for 10 playing True
check "  ... with a snapshot" wait_for 10 count 2
echo "after the session" >"$SAVE/harbor.sav"
kill "$GAME_PID"
check "the game's exit ends the session" wait_for 10 playing False
check "  ... with a final snapshot of the change" wait_for 15 count 3
newest=$(archives "$AD" | tail -n 1)
check "the final snapshot holds the game's last save" \
	test "$(tar -xzOf "$AD/$newest" harbor.sav)" = "after the session"

# --- Steam exits while a game runs: the session ends.
start_game
check "a second session begins" wait_for 10 playing True
kill "$STEAM_PID"
check "Steam's exit ends the session" wait_for 10 playing False
check "  ... and the daemon says Steam exited" grep -q "Steam exited" "$T/daemon.log"
kill "$GAME_PID"

# --- The Flatpak's Steam writes the pid it has in its own pid namespace: Steam is looked for
# among the user's processes.
(exec -a "$HOME/.var/app/com.valvesoftware.Steam/.local/share/Steam/ubuntu12_32/steam" sleep 300) &
FLATPAK_STEAM=$!
on_exit "kill $FLATPAK_STEAM"
wait_for 5 grep -q "ubuntu12_32/steam" "/proc/$FLATPAK_STEAM/cmdline"
echo 2 >"$FLATPAK_PIDFILE"
check "the Flatpak's Steam is found by its process" wait_for 5 grep -q "Steam runs (pid $FLATPAK_STEAM)" "$T/daemon.log"
start_game
check "a session under the Flatpak's Steam" wait_for 10 playing True
kill "$GAME_PID" "$FLATPAK_STEAM"
check "  ... ends" wait_for 10 playing False

# --- sessions = off: Steam and a game run, nothing happens.
write_config off
check "reload with sessions = off" "$SKCTL" reload
start_steam
start_game
sleep 5
check "sessions = off: the game is not seen" playing False
kill "$GAME_PID" "$STEAM_PID"
check "the daemon still answers" "$SKCTL" ping
done_testing

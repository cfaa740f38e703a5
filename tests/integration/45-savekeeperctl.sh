# savekeeperctl as a player sees it: the human output and the exit status of every command,
# against a real daemon over its real socket, with one game and then two.
source "$(dirname "$0")/../lib.sh"
CFG=$T/savekeeper.ini
GD=$T/archives/demo
ID_RE='[0-9]{8}T[0-9]{6}\.[0-9]{3}Z'

# aligned WORD: in the table on stdin, every row has a cell starting in WORD's column.
aligned() {
	awk -v w="$1" 'NR == 1 { c = index($0, w); if (!c) exit 1; next }
		{ if (substr($0, c, 1) == " " || substr($0, c - 1, 1) != " ") exit 1 }'
}

make_config "$CFG" thread "autostart = false"
echo "level 1" >"$T/save/slot1.sav"

# --- No daemon: exit 3, naming the socket and how to start it.
run ping
expect 3 "ping without a daemon"
check "no daemon: names the socket" grep -qF "no daemon at $SAVEKEEPER_SOCKET" <<<"$err"
check "no daemon: says how to start it" grep -q "systemctl --user start savekeeper.socket" <<<"$err"
run --socket "$T/nowhere.sock" status
expect 3 "--socket to nowhere"
check "no daemon: names the --socket path" grep -qF "$T/nowhere.sock" <<<"$err"

start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }

# --- Usage errors: exit 2, one clear line, nothing sent.
run
expect 2 "no command"
check "no command: says so" grep -q "no command given" <<<"$err"
run --bogus ping
expect 2 "unknown option"
check "unknown option: named, with a pointer to --help" grep -qF "unknown option '--bogus' (see savekeeperctl --help)" <<<"$err"
run --socket
expect 2 "--socket without a path"
check "--socket without a path: says so" grep -qF "option '--socket' needs an argument" <<<"$err"
run frobnicate
expect 2 "unknown command"
check "unknown command: named" grep -qF "unknown command 'frobnicate'" <<<"$err"
run backup --frob
expect 2 "unknown command option"
check "unknown command option: shows the usage" grep -qF "unknown option '--frob' for backup: backup [GAME] [--wait]" <<<"$err"
run pin
expect 2 "pin without an ID"
check "pin without an ID: says so" grep -qF "missing archive ID: pin [GAME] ID" <<<"$err"
run restore 20261126T0326
expect 2 "malformed ID"
check "malformed ID: named, with the expected form" grep -qF "bad archive ID '20261126T0326': expected YYYYMMDDTHHMMSS.mmmZ" <<<"$err"
run list 'bad/name'
expect 2 "bad game name"
check "bad game name: named" grep -qF "bad game name 'bad/name'" <<<"$err"
run list demo extra
expect 2 "too many arguments"
run wrap demo true
expect 2 "wrap without --"

# --- --help and --version.
run --help
expect 0 "--help"
for c in ping status start stop backup list verify restore prune pin unpin reload wrap session \
	--wait --dry-run --undo --socket --json --version SAVEKEEPER_SOCKET; do
	grep -q -- "$c" <<<"$out" || fail "--help mentions $c"
done
check "--help lines fit 80 columns" test -z "$(awk 'length > 79' <<<"$out")"
check "--help lists the exit statuses" grep -q "0 done, 1 refused or failed, 2 usage, 3 no daemon" <<<"$out"
run status --help
expect 0 "--help after the command"
run --version
expect 0 "--version"
check "--version prints the version" grep -qE '^savekeeperctl [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out"

# --- ping, status, start, stop.
run ping
expect 0 "ping"
check "ping: human line" grep -qE '^savekeeperd [0-9.]+ is running$' <<<"$out"
run status
expect 0 "status"
check "status: the daemon line" grep -qE "^savekeeperd [0-9.]+, pid $SKD_PID, up [0-9]+h [0-9]{2}m, core thread$" <<<"$out"
check "status: the table header" grep -qE '^GAME +STATE +LAST +WHEN +ARCHIVE +NEXT +ARCHIVES +SIZE +OWN$' <<<"$(sed -n 2p <<<"$out")"
check "status: paused, no result yet" grep -qE '^demo +paused +none +- +- +- +- +- +-$' <<<"$out"
run stop
expect 0 "stop"
check "stop: names the games" test "$out" = "stopped: demo"
run start demo
expect 0 "start"
check "start: names the game" test "$out" = "started: demo"
run stop demo
run status nogame
expect 1 "status of an unknown game"
check "unknown game: named" grep -qF "no game 'nogame' is configured" <<<"$err"

# --- backup: a pipe gets the result alone, a terminal a progress bar that gives way to it.
run backup --wait
expect 0 "backup --wait"
check "backup --wait: one line, no progress in a pipe" test "$(wc -l <<<"$out")" -eq 1
check "backup --wait: what it archived" \
	grep -qE "^demo: archived $ID_RE \(1 file, 8 B, [0-9.]+ (B|KiB) on disk\) in [0-9.]+ (ms|s)$" <<<"$out"
id1=$(grep -oE "$ID_RE" <<<"$out")
check "backup --wait: the archive exists" test -f "$GD/$id1.tar.gz"
head -c 8M /dev/urandom >"$T/save/big.bin"
script -qc "'$SKCTL' backup --wait" /dev/null >"$T/tty" 2>&1; rc=$?
expect 0 "backup --wait on a terminal"
check "terminal: a progress bar" grep -qF '[' "$T/tty"
check "terminal: the bar is erased before the result" \
	grep -qE $'\r\e\\[Kdemo: archived '"$ID_RE" "$T/tty"
rm "$T/save/big.bin"
run backup
expect 0 "backup"
check "backup: started" grep -qE '^demo: (backup started|joined the backup already running)$' <<<"$out"
wait_for 20 busy_is False

# --- list: an aligned table, oldest first.
run list
expect 0 "list"
check "list: header" grep -qE '^ID +TIME +AGE +SIZE +OWN +FILES +NOTE$' <<<"$(head -1 <<<"$out")"
check "list: one row per archive" test "$(($(wc -l <<<"$out") - 1))" -eq "$(archives "$GD" | wc -l)"
check "list: oldest first" test "$(sed 1d <<<"$out" | cut -d' ' -f1)" = "$(archives "$GD" | sed 's/\.tar\.gz$//' | LC_ALL=C sort)"
for col in TIME AGE SIZE OWN FILES; do
	check "list: column $col aligned" aligned "$col" <<<"$out"
done
check "list: sizes with units, times local" \
	grep -qE "^$id1 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} +(just now|[0-9]+ s ago) +[0-9.]+ (B|KiB) +[0-9.]+ (B|KiB) +1$" <<<"$out"

# --- verify: ok, a corrupted archive, an unknown ID.
run verify
expect 0 "verify (latest)"
check "verify: ID ok" grep -qE "^$ID_RE  ok$" <<<"$out"
run verify all
expect 0 "verify all"
check "verify all: a line per archive" test "$(grep -c '  ok$' <<<"$out")" -eq "$(archives "$GD" | wc -l)"
cp "$GD/$id1.tar.gz" "$T/good.tar.gz"
printf 'XXXX' | dd of="$GD/$id1.tar.gz" bs=1 seek=100 conv=notrunc 2>/dev/null
run verify all
expect 1 "verify all with a corrupted archive"
check "verify all: the bad one FAILED, with the cause" grep -qE "^$id1  FAILED: .*$id1" <<<"$out"
check "verify all: the others still ok" grep -q '  ok$' <<<"$out"
check "verify all: a summary on stderr" grep -qE "^savekeeperctl: demo: 1 of [0-9]+ archives failed verification$" <<<"$err"
cp "$T/good.tar.gz" "$GD/$id1.tar.gz"
run verify 20200101T000000.000Z
expect 1 "verify an unknown ID"
check "verify an unknown ID: named" grep -qF "20200101T000000.000Z  FAILED" <<<"$out"

# --- restore: dry run, restore, undo.
echo "level 2" >"$T/save/slot1.sav"
run restore "$id1" --dry-run
expect 0 "restore --dry-run"
check "restore --dry-run: what would change, with sizes" grep -qE '^changed +slot1\.sav \(8 B\)$' <<<"$out"
check "restore --dry-run: changes nothing" grep -q "level 2" "$T/save/slot1.sav"
run restore "$id1"
expect 0 "restore"
check "restore: what it restored" grep -qxF "demo: restored $id1 (1 file)" <<<"$out"
check "restore: how to undo" grep -qE "^the previous state is kept as $ID_RE; undo with: savekeeperctl restore demo --undo$" <<<"$out"
check "restore: the save is back" grep -q "level 1" "$T/save/slot1.sav"
run restore --undo
expect 0 "restore --undo"
check "restore --undo: says so" grep -qE "^demo: undone, back to $ID_RE \(1 file\)$" <<<"$out"
check "restore --undo: the later save is back" grep -q "level 2" "$T/save/slot1.sav"
run restore 20200101T000000.000Z
expect 1 "restore of an unknown ID"
check "restore of an unknown ID: named" grep -qF "20200101T000000.000Z" <<<"$err"
run restore --undo --dry-run
expect 2 "restore --undo --dry-run"

# --- pin, unpin, prune.
run pin "$id1"
expect 0 "pin"
check "pin: says so" test "$out" = "demo: pinned $id1"
check "list: shows the pin" grep -qE "^$id1 .* pinned$" <<<"$("$SKCTL" list)"
run unpin "$id1"
expect 0 "unpin"
check "unpin: says so" test "$out" = "demo: unpinned $id1"
run pin 20200101T000000.000Z
expect 1 "pin of an unknown ID"
check "pin of an unknown ID: names game and ID" grep -qF "game 'demo' has no archive 20200101T000000.000Z" <<<"$err"
n=$(archives "$GD" | wc -l)
run prune --dry-run
expect 0 "prune --dry-run"
check "prune --dry-run: counts" test "$(grep -v '^  ' <<<"$out")" = $'would remove: 0\nwould keep: '"$n"
check "prune --dry-run: each kept archive and why" test "$(grep -cE "^  $ID_RE  [a-z]" <<<"$out")" -eq "$n"
run prune
expect 0 "prune"
check "prune: counts" grep -qx "removed: 0" <<<"$out"

# --- --json, late options, the socket from the environment.
run --json ping
expect 0 "--json ping"
check "--json: one JSON line" test "$(jget 'r["ok"]' <<<"$out")" = True
run --json pin 20200101T000000.000Z
expect 1 "--json with a refusal"
check "--json: the refusal as JSON, not text" test "$(jget 'r["ok"]' <<<"$out")" = False
run status --json
expect 0 "--json after the command"
check "--json after the command: JSON" test "$(jget 'r["games"][0]["name"]' <<<"$out")" = demo
SAVEKEEPER_SOCKET=$T/nowhere.sock run --socket "$SAVEKEEPER_SOCKET" ping
expect 0 "--socket wins over SAVEKEEPER_SOCKET"
(export SAVEKEEPER_SOCKET=$T/nowhere.sock; "$SKCTL" ping >/dev/null 2>&1); rc=$?
expect 3 "SAVEKEEPER_SOCKET is used"
run list --socket "$T/nowhere.sock"
expect 3 "--socket after the command"

# --- reload, good and broken.
run reload
expect 0 "reload"
check "reload: counts games" test "$out" = "reloaded: 1 game"
cp "$CFG" "$T/good.ini"
printf '[daemon]\ninterval = soon\n' >"$CFG"
run reload
expect 1 "reload of a broken config"
check "broken config: file, line, key and cause" grep -qF "$CFG:2: interval: bad value 'soon'" <<<"$err"
check "broken config: the old one stays" test "$("$SKCTL" status | grep -c '^demo ')" -eq 1
cp "$T/good.ini" "$CFG"

# --- wrap: the game's exit status, and one warning when the daemon refuses.
printf '#!/bin/sh\necho "played" >>"%s"\nexit 5\n' "$T/save/slot1.sav" >"$T/game.sh"
chmod +x "$T/game.sh"
run wrap demo -- "$T/game.sh"
expect 5 "wrap passes the game's exit status"
check "wrap: quiet when all is well" test -z "$out$err"
run wrap nogame -- "$T/game.sh"
expect 5 "wrap of an unknown game still runs it"
check "wrap of an unknown game: one warning naming it" \
	test "$err" = "savekeeperctl: no game 'nogame' is configured: running the game without snapshots"
run wrap demo -- "$T/no-such-game"
expect 127 "wrap of a missing program"
check "wrap of a missing program: named" grep -qF "cannot run '$T/no-such-game'" <<<"$err"

# --- Two games: GAME is required where one is meant, and the table grows.
mkdir -p "$T/save2"
echo "b" >"$T/save2/b.sav"
printf '\n[game "second-game"]\npath = %s\n' "$T/save2" >>"$CFG"
run reload
check "reload: two games" test "$out" = "reloaded: 2 games"
for args in "list" "backup" "backup --wait" "verify" "restore" "restore --undo" "prune" "pin $id1"; do
	run $args
	expect 1 "two games, $args without GAME"
	grep -q "more than one game is configured (demo, second-game): name one" <<<"$err" ||
		fail "two games, $args: says a game is needed and which there are ($err)"
done
run status
expect 0 "status of two games"
check "status: both games" test "$(grep -cE '^(demo|second-game) +paused' <<<"$out")" -eq 2
for col in STATE LAST WHEN ARCHIVE NEXT ARCHIVES SIZE OWN; do
	check "status: column $col aligned" aligned "$col" < <(sed 1d <<<"$out")
done
run backup second-game --wait
expect 0 "backup of a named game"
check "backup of a named game: names it" grep -qE "^second-game: archived $ID_RE" <<<"$out"
run list second-game
expect 0 "list of a named game"
run start
expect 0 "start of all games"
check "start: names both" test "$out" = "started: demo second-game"
run stop
run wrap -- true
expect 0 "wrap without GAME runs the game"
check "wrap without GAME: one warning" test "$(wc -l <<<"$err")" -eq 1

stop_daemon
run status
expect 3 "status after the daemon stopped"
done_testing

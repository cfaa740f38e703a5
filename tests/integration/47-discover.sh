#!/bin/bash
# discover and add end to end, in a fake home laid out as Steam lays out its files
# (tests/fake-steam.sh: two libraries, a native and a Proton game, a Flatpak root, a manifest of
# invented games): what discover lists without a daemon, what add writes into the config and
# how a running daemon takes it, and a game given by steam_app alone.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CFG=$XDG_CONFIG_HOME/savekeeper/savekeeper.ini
PFX=$HOME/games/SteamLibrary/steamapps/compatdata/900001/pfx/drive_c/users/steamuser

bash "$ROOT/tests/fake-steam.sh" "$HOME" || { fail "fake Steam home"; done_testing; }

# --- discover, no daemon anywhere.
run discover
expect 0 "discover without a daemon"
check "discover: the Proton game, its prefix and a save folder inside it" \
	grep -qF "$PFX/Documents/My Games/Lantern Keep/Saves" <<<"$out"
check "discover: says which folder comes from a file glob" \
	grep -qF "(the folder of the files matching $HOME/.local/share/FrostPines/*/save*.dat)" <<<"$out"
check "discover: the Flatpak root" grep -qF "$HOME/.var/app/com.valvesoftware.Steam/.local/share/Steam (Flatpak)" <<<"$out"
check "discover: a game not in the manifest" grep -qF "not in the manifest" <<<"$out"
check "discover: the missing library is a warning" grep -qF "unplugged-disk/SteamLibrary', which is not there" <<<"$out"
run discover --json
expect 0 "discover --json"
games='[len(r["games"]), [g["title"] for g in r["games"] if g["proton_prefix"]], sum(len(g["configured"]) for g in r["games"])]'
check "discover --json: five games, one with a prefix, none configured" \
	test "$(jget "$games" <<<"$out")" = '[5, ["Lantern Keep"], 0]'

# --- add: refusals.
run add frost
expect 1 "add with an ambiguous title"
check "ambiguous: lists the candidates" grep -qF "Frost Pines II (not installed from Steam)" <<<"$err"
run add "No Such Game"
expect 1 "add with an unknown title"
check "unknown: says so" grep -qF "no game matches 'No Such Game'" <<<"$err"
run add 900004
expect 1 "add a game the manifest does not know"
check "not in the manifest: says so" grep -qF "'Tiny Tool' is not in Ludusavi's manifest" <<<"$err"
run add
expect 2 "add without a title"

# --- add into a config a running daemon uses.
make_config "$CFG" thread "autostart = false"
sed -i '1i ; the player'"'"'s own comment, kept' "$CFG"
printf 'last line without its end' | sed 's/^/; /' >>"$CFG"
cp "$CFG" "$T/before.ini"
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
run add "Lantern Keep GOTY"
expect 0 "add by alias"
check "add: the old text is kept byte for byte" cmp -n "$(stat -c %s "$T/before.ini")" "$T/before.ini" "$CFG"
check "add: a section per folder, names from the title" test "$(grep -c '^\[game "lantern-keep' "$CFG")" = 5
check "add: the prefix's Documents folder, written with ~" \
	grep -qxF "path = ~/games/SteamLibrary/steamapps/compatdata/900001/pfx/drive_c/users/steamuser/Documents/My Games/Lantern Keep/Saves" "$CFG"
check "add: the daemon reloaded, with the six games" grep -qF "reloaded its config: 6 games" <<<"$out"
check "daemon: has the six games" test "$(ctl status | jget 'len(r["games"])')" = 6
section=$(grep -B2 -F "/Documents/My Games/Lantern Keep/Saves" "$CFG" | sed -n 's/^\[game "\(.*\)"\]$/\1/p')
run backup "$section" --wait
expect 0 "backup of the added Proton game"
check "its archive holds the save" bash -c "tar -tzf $T/archives/$section/*.tar.gz | grep -qx './slot1.sav\|slot1.sav'"
run discover --json
check "discover: now marks the game configured" test "$(jget '[len(g["configured"]) for g in r["games"] if g["title"] == "Lantern Keep"]' <<<"$out")" = "[5]"
cp "$CFG" "$T/after.ini"
run add "lantern keep"
expect 0 "add again"
check "add again: says it is configured, writes nothing" bash -c "grep -q 'configured already' '$T/out' && cmp -s '$T/after.ini' '$CFG'"

# --- steam_app without path: found at reload.
printf '\n[game "moss"]\nsteam_app = 900003\n' >>"$CFG"
run reload
expect 0 "reload with a steam_app game"
run backup moss --wait
expect 0 "backup of the game found by steam_app"
check "its archive holds the Flatpak game's save" bash -c "tar -tzf $T/archives/moss/*.tar.gz | grep -q 'harbor.sav'"
# Two of them: Steam's files and the manifest are read once for all.
if command -v strace >/dev/null; then
	printf '[daemon]\narchive_dir = %s\nnotify = off\n[game "moss"]\nsteam_app = 900003\n[game "meadow"]\nsteam_app = 900005\n' \
		"$T/once-archives" >"$T/two.ini"
	strace -f -e trace=openat -o "$T/strace" "$SKD" -c "$T/two.ini" --once >/dev/null 2>&1
	check "two steam_app games: --once snapshots both" test "$(ls "$T"/once-archives/*/*.tar.gz | wc -l)" = 2
	check "  ... reading the manifest once" test "$(grep -c 'ludusavi/manifest.yaml' "$T/strace")" = 1
else
	ok "two steam_app games read the manifest once # SKIP strace is not installed"
fi
printf '\n[game "gone"]\nsteam_app = 42\n' >>"$CFG"
line=$(wc -l <"$CFG")
run reload
expect 1 "reload with a steam_app not installed"
check "steam_app not found: names the line and where it looked" \
	grep -qF "$CFG:$line: game 'gone': Steam app 42 is not installed (libraries looked in: $HOME/.local/share/Steam" <<<"$err"
check "daemon: keeps the old config" test "$(ctl status | jget 'len(r["games"])')" = 7
cp "$T/after.ini" "$CFG"

# --- add into a new file, no daemon at its socket.
run -c "$T/new/dir/sk.ini" --socket "$T/nowhere.sock" add 900003
expect 0 "add into a missing file without a daemon"
check "no daemon: says so" grep -qF "no daemon at $T/nowhere.sock" <<<"$out"
check "the file is made, with the Flatpak game's folder" \
	grep -qxF "path = ~/.var/app/com.valvesoftware.Steam/.local/share/MossHarbor" "$T/new/dir/sk.ini"
check "the new file loads" "$SKD" -c "$T/new/dir/sk.ini" --once --archive-dir "$T/once"

# --- The completion offers the new commands and the installed games' app ids.
complete_words() {
	PATH=$SK_BUILD:$PATH bash -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
		_savekeeperctl
		printf "%s\n" "${COMPREPLY[@]}"' bash "$ROOT/contrib/savekeeperctl.bash" "$@"
}
check "'savekeeperctl dis<TAB>' completes discover" test "$(complete_words savekeeperctl dis)" = discover
check "'savekeeperctl add <TAB>' offers the installed app ids" \
	test "$(complete_words savekeeperctl add '' | sort | tr '\n' ' ')" = "900001 900002 900003 900004 900005 "
done_testing

#!/bin/bash
# Builds a fake home with Steam installed the way Steam lays its files out, and a small Ludusavi
# manifest of invented games in the manifest's real format. Use: tests/fake-steam.sh HOME
# (HOME is created). The discover tests read it; what each game exercises:
#   Steam roots: ~/.local/share/Steam (native), ~/.steam/steam (a symlink to it: one root),
#     ~/.var/app/com.valvesoftware.Steam/.local/share/Steam (Flatpak); libraryfolders.vdf lists
#     the native root, a second library ~/games/SteamLibrary and a missing one (a warning).
#   Lantern Keep (900001): a Windows game under Proton in the second library: <winDocuments>,
#     <winAppData> (a file, named in another case than on disk: its folder), <winLocalAppData> with a file glob, <base>,
#     <root>/userdata/<storeUserId>, and an alias "Lantern Keep GOTY".
#   Frost Pines (900002): a native game in the root library: <xdgData> with a glob over files in
#     two folders (their common folder), <xdgConfig>, <home> (os linux), <game>, entries for
#     Windows and for GOG only (not applicable), and one that is too broad (<home>/*.cfg).
#   Frost Pines II: in the manifest only (makes "frost" ambiguous).
#   Moss Harbor (900003): native under the Flatpak Steam: <xdgData> is the app's own.
#   Tiny Tool (900004): installed, not in the manifest.
#   Quiet Meadow (900005): native, one save folder (<xdgData>).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 HOME" >&2; exit 2; }
H=$1
R=$H/.local/share/Steam
L=$H/games/SteamLibrary
F=$H/.var/app/com.valvesoftware.Steam/.local/share/Steam
mkdir -p "$R/steamapps/common" "$R/userdata/12345678" "$R/userdata/0" "$H/.steam" \
	"$L/steamapps/common" "$F/steamapps/common" "$H/.config/ludusavi"
ln -sfn ../.local/share/Steam "$H/.steam/steam"

cat >"$R/steamapps/libraryfolders.vdf" <<VDF
"libraryfolders"
{
	"0"
	{
		"path"		"$R"
		"label"		""
		"contentid"		"1234567890"
		"totalsize"		"0"
		"apps"
		{
			"900002"		"1000"
			"900004"		"10"
		}
	}
	"1"
	{
		"path"		"$L"
		"label"		"Games"
		"apps"
		{
			"900001"		"2000" // a comment, as Steam never writes but reads
		}
	}
	"2"
	{
		"path"		"$H/unplugged-disk/SteamLibrary"
	}
}
VDF

# appmanifest LIBRARY APPID NAME INSTALLDIR
appmanifest() {
	mkdir -p "$1/steamapps/common/$4"
	cat >"$1/steamapps/appmanifest_$2.acf" <<ACF
"AppState"
{
	"appid"		"$2"
	"Universe"		"1"
	"name"		"$3"
	"StateFlags"		"4"
	"installdir"		"$4"
	"LastUpdated"		"1700000000"
	"UserConfig"
	{
		"language"		"english"
	}
}
ACF
}
appmanifest "$L" 900001 "Lantern Keep" "LanternKeep"
appmanifest "$R" 900002 "Frost Pines" "Frost Pines"
appmanifest "$R" 900004 "Tiny Tool" "TinyTool"
appmanifest "$F" 900003 "Moss Harbor" "MossHarbor"
appmanifest "$R" 900005 "Quiet Meadow" "QuietMeadow"

# Lantern Keep's Proton prefix and saves.
U=$L/steamapps/compatdata/900001/pfx/drive_c/users/steamuser
mkdir -p "$U/Documents/My Games/Lantern Keep/Saves" "$U/AppData/Roaming/LanternKeep" \
	"$U/AppData/Local/LanternKeep/profiles" "$L/steamapps/common/LanternKeep/saves" \
	"$R/userdata/12345678/900001/remote"
echo slot1 >"$U/Documents/My Games/Lantern Keep/Saves/slot1.sav"
echo cfg >"$U/AppData/Roaming/LanternKeep/settings.ini"
echo a >"$U/AppData/Local/LanternKeep/profiles/a.sav"
echo b >"$U/AppData/Local/LanternKeep/b.sav"
echo cloud >"$R/userdata/12345678/900001/remote/cloud.sav"
echo s >"$L/steamapps/common/LanternKeep/saves/quick.sav"

# Frost Pines' native saves.
mkdir -p "$H/.local/share/FrostPines/slot1" "$H/.local/share/FrostPines/slot2" "$H/.config/FrostPines" \
	"$H/.frostpines/profiles" "$R/steamapps/common/Frost Pines/userdata"
echo 1 >"$H/.local/share/FrostPines/slot1/save1.dat"
echo 2 >"$H/.local/share/FrostPines/slot2/save2.dat"
echo c >"$H/.config/FrostPines/prefs.cfg"
echo p >"$H/.frostpines/profiles/me.profile"
echo u >"$R/steamapps/common/Frost Pines/userdata/u.sav"
echo x >"$H/settings.cfg"

mkdir -p "$H/.local/share/QuietMeadow"
echo q >"$H/.local/share/QuietMeadow/meadow.sav"

# Moss Harbor's saves, inside the Flatpak's home.
mkdir -p "$H/.var/app/com.valvesoftware.Steam/.local/share/MossHarbor"
echo m >"$H/.var/app/com.valvesoftware.Steam/.local/share/MossHarbor/harbor.sav"

cat >"$H/.config/ludusavi/manifest.yaml" <<'YAML'
---
Frost Pines:
  files:
    <xdgData>/FrostPines/*/save*.dat:
      when:
        - os: linux
    <xdgConfig>/FrostPines:
      tags:
        - config
    <home>/.frostpines/profiles:
      when:
        - os: linux
          store: steam
    <root>/steamapps/common/<game>/userdata: {}
    <home>/*.cfg: {}
    <winDocuments>/FrostPines:
      when:
        - os: windows
    <home>/.frostpines-gog:
      when:
        - store: gog
  installDir:
    Frost Pines: {}
  steam:
    id: 900002
Frost Pines II:
  files:
    <home>/.frostpines2: {}
  steam:
    id: 900099
Lantern Keep:
  files:
    "<winDocuments>/My Games/Lantern Keep/Saves":
      when:
        - os: windows
      tags:
        - save
    <winAppData>/LANTERNKEEP/Settings.INI:
      when:
        - os: windows
      tags:
        - config
    <winLocalAppData>/LanternKeep/**/*.sav:
      when:
        - os: windows
    <base>/saves: {}
    <root>/userdata/<storeUserId>/900001/remote:
      when:
        - store: steam
  installDir:
    LanternKeep: {}
  registry:
    HKEY_CURRENT_USER/Software/Lantern Keep:
      tags:
        - config
  steam:
    id: 900001
  cloud:
    steam: true
Lantern Keep GOTY:
  alias: Lantern Keep
Moss Harbor:
  files:
    <xdgData>/MossHarbor: {}
  steam:
    id: 900003
Quiet Meadow:
  files:
    <xdgData>/QuietMeadow: {}
  steam:
    id: 900005
YAML

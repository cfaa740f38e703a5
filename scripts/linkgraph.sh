#!/bin/sh
# The link graph of the objects in a build folder (default build/), from nm: which module needs
# a symbol another defines. Fails when a library object needs a symbol of a program's main
# file (savekeeperd.o, savekeeperctl.o), or when library modules need each other in a cycle.
# savekeeperctl_*.c are part of the program savekeeperctl, not of the library.
# Files that share a private header are one module: snapshot_tree.c and snapshot_reuse.c belong to snapshot,
# config_parse.c to config, schedule_*.c to schedule, store_walk.c to store, restore_*.c to
# restore, core_*.c to core, gz_take.c to gz, rclone_rc.c to rclone,
# manifest_read.c to manifest.
# Usage: scripts/linkgraph.sh [BUILD_DIR [-v]]; -v prints every edge and the symbol behind it.
set -eu
B=${1:-build}
MAINS="savekeeperd savekeeperctl"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

module() {
	case $1 in
	snapshot_tree | snapshot_reuse) echo snapshot ;;
	savekeeperctl_*) echo savekeeperctl ;;
	config_parse) echo config ;;
	schedule_*) echo schedule ;;
	store_walk) echo store ;;
	restore_*) echo restore ;;
	core_*) echo core ;;
	gz_take) echo gz ;;
	rclone_rc) echo rclone ;;
	manifest_read) echo manifest ;;
	*) echo "$1" ;;
	esac
}

for o in "$B"/*.o; do
	f=${o##*/}
	f=${f%.o}
	case $f in test_* | fuzz_*) continue ;; esac
	m=$(module "$f")
	nm --defined-only -g "$o" | awk -v m="$m" -v f="$f" 'NF == 3 { print $3, m, f }' >>"$tmp/defs"
	nm -u "$o" | awk -v m="$m" -v f="$f" '{ print $2, m, f }' >>"$tmp/uses"
done
sort -k1,1 "$tmp/defs" >"$tmp/defs.s"
sort -k1,1 "$tmp/uses" >"$tmp/uses.s"
# "user-module user-file definer-module definer-file symbol", one line per need.
join "$tmp/uses.s" "$tmp/defs.s" | awk '$2 != $4 { print $2, $3, $4, $5, $1 }' | sort -u >"$tmp/needs"
if [ "${2:-}" = -v ]; then
	awk '{ print $1 " -> " $3 " (" $5 ")" }' "$tmp/needs"
fi

rc=0
for main in $MAINS; do
	if awk -v m="$main" '$3 == m && $1 != m' "$tmp/needs" | grep -q .; then
		echo "linkgraph: library objects need symbols of the program $main.o:" >&2
		awk -v m="$main" '$3 == m && $1 != m { print "  " $2 ".o needs " $5 }' "$tmp/needs" >&2
		rc=1
	fi
done
# tsort reports any cycle among the library modules.
awk -v mains=" $MAINS " 'index(mains, " " $1 " ") == 0 { print $1, $3 }' "$tmp/needs" | sort -u >"$tmp/edges"
if ! tsort "$tmp/edges" >/dev/null 2>"$tmp/loops"; then
	echo "linkgraph: library modules need each other in a cycle:" >&2
	sed 's/^/  /' "$tmp/loops" >&2
	rc=1
fi
if [ $rc -eq 0 ]; then
	echo "linkgraph: $(wc -l <"$tmp/edges") module edges, no cycle, no library call into a main file"
fi
exit $rc

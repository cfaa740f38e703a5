#!/bin/bash
# Builds the "tricky tree" that the snapshot tests archive and compare: every kind of entry and
# name a save folder may hold. Use: tests/mktree.sh [--no-fifo] DIR (DIR is created; it should
# not exist or be empty). Exits 0 when the tree is built.
#
# What it holds:
#   slot1.sav (0600), run.sh (0755), readonly.cfg (0444), empty.sav (0 bytes), random.bin
#   (incompressible), log.txt (compressible), "name with spaces.sav", a name with a newline,
#   "-leading-dash.sav", "--", a UTF-8 name, empty/ (an empty folder), private/ (0700),
#   a path of more than 300 bytes under deep/, symlinks to a file, to a folder and to nothing,
#   a hard link pair (hard-a, sub/hard-b), and "fifo" (a FIFO, which snapshots skip; left out
#   with --no-fifo). Every entry has a sub-second mtime.
set -eu

fifo=1
if [ "${1:-}" = "--no-fifo" ]; then
	fifo=0
	shift
fi
[ $# -eq 1 ] || { echo "usage: $0 [--no-fifo] DIR" >&2; exit 2; }
d=$1
mkdir -p "$d"
cd "$d"

printf 'slot one\n' >slot1.sav && chmod 0600 slot1.sav
printf '#!/bin/sh\necho hi\n' >run.sh && chmod 0755 run.sh
printf 'fullscreen=1\n' >readonly.cfg && chmod 0444 readonly.cfg
: >empty.sav
head -c 300000 /dev/urandom >random.bin
for i in $(seq 1 4000); do echo "line $i: the quick brown fox jumps over the lazy dog"; done >log.txt
printf 'spaces\n' >"name with spaces.sav"
printf 'newline\n' >$'new\nline.sav'
printf 'dash\n' >-leading-dash.sav
printf 'dashes\n' >--
printf 'utf8\n' >"セーブ-café.sav"
mkdir empty
mkdir -m 0700 private
printf 'secret\n' >private/key.sav

# deep/ then 6 levels of 50-byte names: the file's path is over 300 bytes.
p=deep
for i in 1 2 3 4 5 6; do p=$p/$(printf 'level%d-%045d' "$i" 0); done
mkdir -p "$p"
printf 'deep\n' >"$p/deep-file.sav"

mkdir sub
printf 'in sub\n' >sub/nested.sav
ln -s slot1.sav link-to-file
ln -s sub link-to-dir
ln -s does-not-exist dangling
printf 'hard\n' >hard-a
ln hard-a sub/hard-b
[ "$fifo" = 1 ] && mkfifo fifo

# Sub-second mtimes, each different; folders last (deepest first) so nothing moves them again.
n=0
while IFS= read -r -d '' f; do
	n=$((n + 1))
	touch -h -d "@1700000000.$(printf '%03d' "$n")456789" "$f"
done < <(find . -mindepth 1 ! -type d -print0)
while IFS= read -r -d '' f; do
	n=$((n + 1))
	touch -d "@1700000100.$(printf '%03d' "$n")123456" "$f"
done < <(find . -mindepth 1 -type d -print0 | sort -rz)
exit 0

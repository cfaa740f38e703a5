# Restore through the daemon under the core in $CORE: the round trip of the tricky tree, the dry
# run, undo and the pinned pre-restore snapshot, a restore queued behind a running snapshot,
# the daemon killed during a restore, hostile and damaged archives, a full disk while staging.
# Sourced by 61-restore-thread.sh, 62-restore-coroutine.sh and 63-restore-process.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
CFG=$T/savekeeper.ini
GD=$T/archives/demo
TD=$T/archives/tiny
CRAFT=$SK_BUILD/sk-craft
MKTREE=$(dirname "${BASH_SOURCE[0]}")/../mktree.sh
diag "core: $CORE"

# A 4 MiB tmpfs holds the save folder of game "tiny", for the full disk.
mkdir -p "$T/small"
if ! is_root; then
	small="needs root (mounts a tmpfs)"
elif mount -t tmpfs -o size=4m tmpfs "$T/small" 2>/dev/null; then
	on_exit "umount -l '$T/small'"
	small=1
else
	small="no tmpfs can be mounted here"
fi
mkdir -p "$T/small/save" "$T/outside"
echo secret >"$T/outside/secret"

# write_config [EXTRA-DAEMON-LINES]: the config, gzip level $LEVEL (default 1).
write_config() {
	cat >"$CFG" <<-INI
	[daemon]
	archive_dir = $T/archives
	core = $CORE
	interval = 1h
	notify = off
	autostart = false
	compression = ${LEVEL:-1}
	${1:-}

	[game "demo"]
	path = $T/save

	[game "tiny"]
	path = $T/small/save
	INI
}

# listing DIR: every entry under DIR (the daemon's log and socket and these listings aside) with
# type, mode, owner, size, mtime, inode and link target, then the SHA-256 of every file.
LST=$T/lst
mkdir -p "$LST"
listing() {
	local skip=(\( -path ./run -o -path ./daemon.log -o -path ./lst \) -prune -o)
	(cd "$1" && find . -mindepth 1 "${skip[@]}" -printf '%y %m %u:%g %s %T@ %i %l %p\n' | LC_ALL=C sort &&
	 find . -mindepth 1 "${skip[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}
# same_listing FILE DIR: DIR lists as FILE says.
same_listing() { diff "$1" <(listing "$2"); }
# staging_left: anything of a restore beside the save folders, or a temporary among archives.
staging_left() { { ls -a "$T" "$T/small"; find "$T/archives"; } 2>/dev/null | grep -E 'savekeeper-(staging|old)|\.partial$'; }
no_staging() { test -z "$(staging_left)"; }
# same_inode A B: two names of one file.
same_inode() { test "$(stat -c %i "$1")" = "$(stat -c %i "$2")" && test "$(stat -c %h "$1")" -eq 2; }
# newest_pre_restore: the ID of the newest archive list marks "pre-restore".
newest_pre_restore() { ctl list demo | jget '[a["id"] for a in r["archives"] if a["tag"] == "pre-restore"][-1]'; }
# archive_note ID: the tag and pinned flag list shows for ID.
archive_note() { ctl list demo | jget "[(a['tag'], a['pinned']) for a in r['archives'] if a['id'] == '$1']"; }

write_config
start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }

# --- The round trip of the tricky tree, with stale entries removed.
bash "$MKTREE" --no-fifo "$T/save"
chmod 0750 "$T/save"
# Owned by another user (as root): a restore keeps the owner. A user keeps its own.
is_root && chown 65534:65534 "$T/save"
cp -a "$T/save" "$T/orig"
out=$(ctl backup --wait demo)
id1=$(jget 'r["id"]' <<<"$out")
check "backup of the tricky tree" test "$(jget 'r["ok"]' <<<"$out")" = True

cd "$T/save" || exit 1
printf 'slot ONE\n' >slot1.sav                  # same size, new content and mtime
echo more >>log.txt
chmod 0700 run.sh
rm random.bin
rmdir empty
ln -sfn private link-to-dir
rm sub/hard-b && echo unlinked >sub/hard-b
echo stale >stale.sav
printf 'bad\nname' >$'stale\nnewline.sav'
mkdir -p stale-dir/deeper && echo x >stale-dir/deeper/x.sav && chmod 0500 stale-dir/deeper
ln -s slot1.sav stale-link
cd - >/dev/null || exit 1
cp -a "$T/save" "$T/modified"

# --- The dry run: what would change, with sizes, and nothing touched.
listing "$T" >"$LST/before"
out=$(ctl restore demo "$id1" --dry-run)
check "dry run succeeds" test "$(jget 'r["ok"]' <<<"$out")" = True
check "dry run: reply says dry_run" test "$(jget 'r["dry_run"]' <<<"$out")" = True
check "dry run: no pre-restore snapshot" test "$(jget 'r["pre_restore_id"]' <<<"$out")" = None
changes=$(jget '"\n".join("%s %s %s" % (c["change"], c["size"], c["path"]) for c in r["changes"])' <<<"$out")
for want in "added 300000 random.bin" "added 0 empty" "changed 9 slot1.sav" "changed 0 link-to-dir" \
	"changed 218893 log.txt" "changed 18 run.sh" "changed 5 sub/hard-b" "removed 6 stale.sav" \
	'removed 8 stale\nnewline.sav' "removed 0 stale-dir" "removed 0 stale-dir/deeper" \
	"removed 2 stale-dir/deeper/x.sav" "removed 0 stale-link"; do
	check "dry run lists: $want" grep -qxF "$want" <<<"$changes"
done
check "dry run lists nothing unchanged" test "$(grep -c . <<<"$changes")" -eq 13
human=$("$SKCTL" restore demo "$id1" --dry-run 2>/dev/null)
check "dry run, human: added with size" grep -qE '^added +random\.bin \(293(\.0)? KiB\)$' <<<"$human"
check "dry run, human: removed with size" grep -qE '^removed +stale\.sav \(6 B\)$' <<<"$human"
check "dry run, human: changed with size" grep -qE '^changed +slot1\.sav \(9 B\)$' <<<"$human"
check "dry run changes nothing (archive folder included)" same_listing "$LST/before" "$T"

# --- The restore itself.
owner=$(stat -c '%u:%g %a' "$T/save")
out=$(ctl restore demo "$id1"); rc=$?
check "restore exits 0" test "$rc" -eq 0
check "restore succeeds" test "$(jget 'r["ok"]' <<<"$out")" = True
check "restore names the archive" test "$(jget 'r["id"]' <<<"$out")" = "$id1"
check "restore: not a dry run, not an undo" test "$(jget '(r["dry_run"], r["undo"])' <<<"$out")" = "(False, False)"
pre1=$(newest_pre_restore)
check "a pre-restore snapshot was taken" test -f "$GD/$pre1.tar.gz"
check "the reply names the pre-restore snapshot" test "$(jget 'r["pre_restore_id"]' <<<"$out")" = "$pre1"
check "restored tree equals the snapshot" tree_equal "$T/save" "$T/orig"
check "hard links are one file again" same_inode "$T/save/hard-a" "$T/save/sub/hard-b"
check "stale entries are gone" test ! -e "$T/save/stale.sav" -a ! -e "$T/save/stale-dir" -a ! -L "$T/save/stale-link"
check "save folder keeps owner and mode ($owner)" test "$(stat -c '%u:%g %a' "$T/save")" = "$owner"
check "no staging or old tree left" no_staging
mkdir "$T/x" && tar -xzf "$GD/$pre1.tar.gz" -C "$T/x"
check "the pre-restore snapshot holds the state before" tree_equal "$T/x" "$T/modified"
rm -rf "$T/x"
check "list marks the pre-restore snapshot, pinned" test "$(archive_note "$pre1")" = '[["pre-restore", true]]'
check "list, human: pinned, pre-restore" grep -qE "^$pre1 .*pinned, pre-restore" <<<"$("$SKCTL" list demo)"

# --- Undo puts back the state from before, itself undoable.
echo "written after the restore" >"$T/save/slot1.sav"
cp -a "$T/save" "$T/after"
out=$(ctl restore demo --undo)
check "undo succeeds" test "$(jget 'r["ok"]' <<<"$out")" = True
check "undo: reply says undo" test "$(jget 'r["undo"]' <<<"$out")" = True
check "undo restores the pre-restore snapshot" test "$(jget 'r["id"]' <<<"$out")" = "$pre1"
pre2=$(newest_pre_restore)
check "undo takes a pre-restore snapshot too" test "$pre2" != "$pre1"
check "the undo's reply names it" test "$(jget 'r["pre_restore_id"]' <<<"$out")" = "$pre2"
check "undo brings back the tree before the restore" tree_equal "$T/save" "$T/modified"
check "undo: save folder keeps owner and mode" test "$(stat -c '%u:%g %a' "$T/save")" = "$owner"
human=$("$SKCTL" restore demo --undo 2>/dev/null); rc=$?
check "undo of the undo exits 0" test "$rc" -eq 0
check "undo of the undo, human output" grep -q "undone, back to $pre2" <<<"$human"
check "undo of the undo: the tree of just before" tree_equal "$T/save" "$T/after"
check "no staging or old tree left after undo" no_staging
check "a paused schedule stays paused after restores" \
	test "$(ctl status demo | jget 'r["games"][0]["state"]')" = paused

# --- Retention with keep_last = 1 keeps every pre-restore snapshot.
write_config "keep_last = 1"
ctl reload >/dev/null
for i in 1 2; do
	echo "change $i" >>"$T/save/slot1.sav"
	check "backup $i with keep_last = 1" test "$(ctl backup --wait demo | jget 'r["ok"]')" = True
done
ctl prune demo >/dev/null
for p in "$pre1" "$pre2"; do
	check "retention keeps pre-restore $p" test -f "$GD/$p.tar.gz"
	check "still marked pinned, pre-restore" test "$(archive_note "$p")" = '[["pre-restore", true]]'
done
check "retention removed the unpinned archive" test ! -e "$GD/$id1.tar.gz"
write_config
ctl reload >/dev/null
latest_small=$(ctl list demo | jget '[a["id"] for a in r["archives"] if not a["pinned"]][-1]')
cp -a "$T/save" "$T/small-tree"

# --- Hostile and damaged archives: refused, naming the entry or the archive, nothing touched.
src=$latest_small
n=0
# refused WHAT EXPECT ID: restore ID fails with exit 1 and EXPECT in the message, and nothing
# under $T changes.
refused() {
	local what=$1 expect=$2 id=$3 out rc
	listing "$T" >"$LST/before"
	out=$("$SKCTL" restore demo "$id" 2>&1); rc=$?
	diag "$what: $out"
	check "$what: refused with exit 1" test "$rc" -eq 1
	check "$what: the message names it" grep -qF "$expect" <<<"$out"
	check "$what: the live tree and everything around it untouched" same_listing "$LST/before" "$T"
}
# craft ENTRY...: a new crafted archive in the archive folder; its ID in $cid.
craft() {
	n=$((n + 1))
	cid=$(printf '20200101T0000%02d.000Z' "$n")
	"$CRAFT" "$GD" "$cid" "$@" || fail "sk-craft $*"
}
# copy_archive: a copy of the archive $src under a new ID in $cid, its manifest naming it.
copy_archive() {
	n=$((n + 1))
	cid=$(printf '20200101T0000%02d.000Z' "$n")
	cp "$GD/$src.tar.gz" "$GD/$cid.tar.gz"
	sed "s/^id .*/id $cid/" "$GD/$src.manifest" >"$GD/$cid.manifest"
}

craft f:ok.sav:fine f:../outside/pwned:pwned
refused "'..' entry" "entry '../outside/pwned' has an unsafe path" "$cid"
craft f:ok.sav:fine "f:$T/outside/abs:pwned"
refused "absolute path" "entry '$T/outside/abs' has an unsafe path" "$cid"
craft f:ok.sav:fine l:esc:../outside f:esc/pwned:pwned
refused "symlink escaping, then a file through it" "entry 'esc/pwned' lies under 'esc'" "$cid"
craft d:sub l:in:sub f:in/x:pwned
refused "symlink inside, then a file through it" "entry 'in/x' lies under 'in'" "$cid"
craft f:ok.sav:fine h:hl:../outside/secret
refused "hard link to outside" "entry 'hl' is a hard link to '../outside/secret', outside the tree" "$cid"
craft f:ok.sav:fine "h:hl:$T/outside/secret"
refused "hard link to an absolute path" "entry 'hl' is a hard link to '$T/outside/secret'" "$cid"
craft f:ok.sav:fine c:null
refused "device node" "entry 'null' is a device, FIFO or socket" "$cid"
craft f:ok.sav:fine p:pipe
refused "FIFO" "entry 'pipe' is a device, FIFO or socket" "$cid"
size=$(stat -c %s "$GD/$src.tar.gz")
copy_archive
truncate -s $((size / 2)) "$GD/$cid.tar.gz"
refused "truncated gzip" "archive '$cid.tar.gz'" "$cid"
copy_archive
truncate -s $((size / 2)) "$GD/$cid.tar.gz"
"$CRAFT" --rehash "$GD" "$cid"
refused "truncated gzip, manifest matching" "archive '$cid.tar.gz'" "$cid"
for at in $((size / 3)) $((size * 2 / 3)); do
	copy_archive
	"$CRAFT" --flip "$GD" "$cid" "$at"
	"$CRAFT" --rehash "$GD" "$cid"
	refused "flipped byte at $at, manifest matching" "archive '$cid.tar.gz'" "$cid"
done
copy_archive
"$CRAFT" --flip "$GD" "$cid" $((size / 2))
cp "$GD/$src.manifest" "$GD/$cid.manifest"
refused "flipped byte, manifest naming the good archive" "the manifest of $cid names another archive" "$cid"
check "after the hostile archives: the live tree as before" tree_equal "$T/save" "$T/small-tree"
check "nothing written outside" test "$(ls "$T/outside")" = secret

# --- A full disk while staging: refused, the live folder untouched, nothing left.
if [ "$small" = 1 ]; then
	echo "live" >"$T/small/save/slot1.sav"
	mkdir -p "$TD" && chmod 0700 "$TD"
	"$CRAFT" "$TD" 20200102T000000.000Z f:ok.sav:fine r:noise.bin:8388608
	# The staging folder comes and goes in the tmpfs root: what is in it must not change.
	{ listing "$T/small"; listing "$T/archives"; } >"$LST/before"
	out=$("$SKCTL" restore tiny 20200102T000000.000Z 2>&1); rc=$?
	diag "full disk: $out"
	check "full disk: refused with exit 1" test "$rc" -eq 1
	check "full disk: the message says why and where" grep -q "noise.bin.*No space left on device" <<<"$out"
	check "full disk: nothing changed" diff "$LST/before" <(listing "$T/small"; listing "$T/archives")
	check "full disk: no staging left" no_staging
	check "full disk: the space is free again" test "$(du -s "$T/small" | cut -f1)" -lt 100
else
	skip "full disk" "$small"
fi

# --- A big tree, so that a snapshot or a restore takes a moment (level 9 on one thread is
# slow on text).
LEVEL=9 write_config "compress_threads = 1"
ctl reload >/dev/null
mkdir -p "$T/save/big"
bigfile() { head -c 6M /dev/urandom | base64 >"$1"; }
for i in 1 2 3 4 5 6; do bigfile "$T/save/big/f$i"; done
mkdir "$T/save/big/many"
head -c 1536K /dev/urandom | (cd "$T/save/big/many" && split -b 1k -a 3)
out=$(ctl backup --wait demo)
big1=$(jget 'r["id"]' <<<"$out")
diag "a snapshot of the big tree took $(($(jget 'r["usec"]' <<<"$out") / 1000)) ms"
cp -a "$T/save" "$T/big1-tree"
bigfile "$T/save/big/f3"
rm "$T/save/big/f5"
echo extra >"$T/save/big/extra.sav"
big2=$(ctl backup --wait demo | jget 'r["id"]')
cp -a "$T/save" "$T/big2-tree"

# --- A restore while a snapshot runs waits for it, then succeeds.
n0=$(archives "$GD" | wc -l)
echo "one more" >>"$T/save/big/f1"
ctl backup demo >/dev/null
check "a snapshot is running" wait_for 20 busy_is True
out=$(ctl restore demo "$latest_small"); rc=$?
check "restore behind a running snapshot succeeds" test "$rc" -eq 0 -a "$(jget 'r["ok"]' <<<"$out")" = True
check "the restored tree is in place" tree_equal "$T/save" "$T/small-tree"
check "the running snapshot was finished, then the pre-restore one taken" test "$(archives "$GD" | wc -l)" -eq $((n0 + 2))
check "the snapshot before the restore holds the big tree" \
	test "$(ctl list demo | jget '[a["files"] for a in r["archives"] if not a["pinned"]][-1]')" -gt 20
check "no staging left after the queued restore" no_staging

# --- The daemon killed during a restore: after a restart, the old tree or the new, whole.
# kill_during WHEN ID [all]: requests restore ID, kills the daemon (SIGKILL) at WHEN (seconds,
# or once the phase is seen: "staging", "snapshot", "swap" when last-restore is rewritten just
# before it), and its workers too with "all"; then restarts it.
kill_during() {
	local when=$1 id=$2 all=${3:-} p last
	last=$(cat "$GD/last-restore" 2>/dev/null)
	"$SKCTL" restore demo "$id" >/dev/null 2>&1 &
	local client=$!
	case $when in
	staging) wait_for 20 test -d "$T/.save.savekeeper-staging" ;;
	snapshot) wait_for 20 eval 'ls "$GD" | grep -q "\.partial$"' ;;
	swap) wait_for 20 eval 'test "$(cat "$GD/last-restore")" != "$last"' ;;
	*) sleep "$when" ;;
	esac
	kill -9 "$SKD_PID"
	wait "$SKD_PID" 2>/dev/null
	[ "$all" = all ] && for p in $(own_processes savekeeperd); do kill -9 "$p"; done
	wait "$client" 2>/dev/null
	# Like systemd's stop of the unit: what is left of it goes before the restart.
	wait_for 30 eval 'test -z "$(own_processes savekeeperd)"'
	diag "killed at $when: left behind: $(staging_left | sed 's|.*/||' | tr '\n' ' ')"
	start_daemon -c "$CFG" || { fail "the daemon restarts"; done_testing; }
}
# whole_tree: the live tree is one of the two big trees, whole; its name.
whole_tree() {
	if tree_equal "$T/save" "$T/big1-tree" >/dev/null 2>&1; then echo big1
	elif tree_equal "$T/save" "$T/big2-tree" >/dev/null 2>&1; then echo big2
	else echo neither; fi
}
out=$(ctl restore demo "$big1")
check "back to the big tree" test "$(jget 'r["ok"]' <<<"$out")" = True
diag "a restore of the big tree took $(($(jget 'r["usec"]' <<<"$out") / 1000)) ms"
cur=big1
i=0
for when in 0 0.05 staging 0.2 snapshot 0.5 swap 0.8 1.2; do
	i=$((i + 1))
	target=$([ "$cur" = big1 ] && echo "$big2" || echo "$big1")
	kill_during "$when" "$target" "$([ $((i % 2)) = 0 ] && echo all)"
	now=$(whole_tree)
	check "killed at $when: the live tree is whole ($cur -> $now)" test "$now" != neither
	check "killed at $when: no staging or temporary after the restart" no_staging
	[ "$now" != neither ] && cur=$now
done
human=$("$SKCTL" restore demo "$big2" 2>/dev/null); rc=$?
check "a restore after the restarts succeeds" test "$rc" -eq 0
check "human output: restored, with the hint to undo" \
	grep -qzE "restored $big2 .*undo with: savekeeperctl restore demo --undo" <<<"$human"
check "and leaves the new tree" tree_equal "$T/save" "$T/big2-tree"
bad=$(ctl verify demo all | jget '[x for x in r["results"] if not x["ok"] and not x["id"].startswith("2020")]')
check "every archive still verifies" test "$bad" = '[]'
[ "$bad" = '[]' ] || diag "$bad"
stop_daemon
check "no daemon or worker left behind" test -z "$(own_processes savekeeperd)"
done_testing

# Incremental snapshots through the daemon under the core in $CORE (issue 16): a backup after
# one of many files changed reads only that file (the reply counts files read and reused), a
# file rewritten with the same size and its mtime set back is still read, and every archive
# stays a standalone tar.gz that GNU tar restores alone, after older ones are deleted; status
# tells what the game's archives cost on disk.
# Sourced by 55-incremental-thread.sh, 56-incremental-coroutine.sh, 57-incremental-process.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
CFG=$T/savekeeper.ini
diag "core: $CORE"
make_config "$CFG" "$CORE" "autostart = false"
# Eight files of 1.2 MiB: each is a member group of its own.
for i in 1 2 3 4 5 6 7 8; do head -c 1200000 /dev/urandom >"$T/save/f$i.sav"; done
echo "small" >"$T/save/options.ini"
sleep 0.2
start_daemon --config "$CFG" || { fail "daemon starts"; done_testing; }

# restores_alone ID: the archive alone, extracted by GNU tar into an empty folder, is the tree.
restores_alone() {
	rm -rf "$T/out" && mkdir "$T/out" && tar -xzf "$T/archives/demo/$1.tar.gz" -C "$T/out" &&
		tree_equal "$T/save" "$T/out" && gzip -t "$T/archives/demo/$1.tar.gz"
}

out=$(ctl backup --wait demo)
a=$(jget 'r["id"]' <<<"$out")
check "first backup reads every file" test "$(jget 'r["files_read"]' <<<"$out")" = 9

head -c 1200000 /dev/urandom | dd of="$T/save/f3.sav" conv=notrunc status=none
mt=$(stat -c %y "$T/save/f5.sav")
head -c 1200000 /dev/urandom | dd of="$T/save/f5.sav" conv=notrunc status=none
touch -d "$mt" "$T/save/f5.sav" # the same size and mtime: only the ctime tells
sleep 0.2
out=$(ctl backup --wait demo)
b=$(jget 'r["id"]' <<<"$out")
check "incremental backup reads only the two changed files" \
	test "$(jget '(r["files_read"], r["files_reused"])' <<<"$out")" = "(2, 7)"
check "... and restores alone through GNU tar" restores_alone "$b"
check "... and verifies" test "$(ctl verify demo "$b" | jget 'r["ok"]')" = True
# disk_is N: status says the game's N archives take the bytes they hold, shared ones included.
disk_is() {
	local sizes
	sizes=$(stat -c %s "$T/archives/demo/"*.tar.gz | awk '{ s += $1 } END { print s }')
	test "$(ctl status demo | jget '(r["games"][0]["disk"]["archives"], r["games"][0]["disk"]["size"],
		r["games"][0]["disk"]["size"] >= r["games"][0]["disk"]["shared"] >= 0)')" = "($1, $sizes, True)"
}
check "status tells what the two archives cost on disk" disk_is 2
check "... and says it in text" eval '"$SKCTL" status | grep -qE "^demo .* 2 +[0-9.]+ MiB +[0-9.]+ MiB$"'

rm "$T/archives/demo/$a".*
echo "more" >>"$T/save/options.ini"
sleep 0.2
out=$(ctl backup --wait demo)
c=$(jget 'r["id"]' <<<"$out")
check "after the oldest archive is deleted, the next takes from the newest" \
	test "$(jget '(r["files_read"], r["files_reused"])' <<<"$out")" = "(1, 8)"
check "status follows the deletion by hand at the next backup" disk_is 2
rm "$T/archives/demo/$b".*
check "... and restores alone once every older archive is gone" restores_alone "$c"
check "... and verifies" test "$(ctl verify demo "$c" | jget 'r["ok"]')" = True
check "no temporaries left" test -z "$(leftovers "$T/archives")"
stop_daemon
done_testing

# Restore where the filesystem lacks RENAME_EXCHANGE: the two-rename fallback, simulated by a
# shim that makes renameat2(RENAME_EXCHANGE) fail with EINVAL. The result must be the same
# transaction: the exact tree, stale files gone, undo, and no old or staging folder left.
source "$(dirname "$0")/../lib.sh"
CFG=$T/savekeeper.ini
SHIM=$SK_BUILD/no_exchange.so
MKTREE=$(dirname "$0")/../mktree.sh

check "the shim is built" test -f "$SHIM"
# ASan wants its runtime first in the link order; the shim only adds one symbol.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
make_config "$CFG" thread "autostart = false"
rm -rf "$T/save" && bash "$MKTREE" --no-fifo "$T/save" >/dev/null
cp -a "$T/save" "$T/original"
LD_PRELOAD=$SHIM NO_EXCHANGE_LOG=$T/refused start_daemon -c "$CFG" || { fail "daemon starts"; done_testing; }
check "the shim is loaded in the daemon" grep -q no_exchange.so "/proc/$SKD_PID/maps"

id=$(ctl backup --wait | jget 'r["id"]')
echo "stale" >"$T/save/stale.sav"
mkdir -p "$T/save/stale-dir" && echo x >"$T/save/stale-dir/f"
rm -f "$T/save/plain.txt" 2>/dev/null
cp -a "$T/save" "$T/changed"
out=$(ctl restore demo "$id")
check "restore succeeds" test "$(echo "$out" | jget 'r["ok"]')" = True
check "the exchange was refused, so the fallback ran" grep -qx "$T/save" "$T/refused"
check "the restored tree is the snapshot, exactly" tree_equal "$T/original" "$T/save"
check "stale files are gone" test ! -e "$T/save/stale.sav" -a ! -e "$T/save/stale-dir"
check "no old or staging folder left beside the save folder" \
	test -z "$(ls -A "$T" | grep -E '^\.save\.savekeeper-(old|staging)$')"
check "undo through the fallback" test "$(ctl restore --undo | jget 'r["ok"]')" = True
check "undo brings back the changed tree" tree_equal "$T/changed" "$T/save"
stop_daemon
done_testing

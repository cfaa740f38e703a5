#!/bin/bash
# `make install DESTDIR=... PREFIX=/usr` puts exactly the expected files, the installed programs
# run, the installed units pass `systemd-analyze --user verify`, the man pages render without
# warnings, the bash completion completes, and `make uninstall` takes every file away again.
source "$(dirname "$0")/../lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DEST=$T/dest
BIN=$DEST/usr/bin

# The same build tree as the rest of the run: build/ or, with ASAN=1, build-asan/.
case $SK_BUILD in
"$REPO/build") flavour=ASAN= ;;
"$REPO/build-asan") flavour=ASAN=1 ;;
*) fail "SK_BUILD ($SK_BUILD) is not a build tree of $REPO"; done_testing ;;
esac
# A parent `make -j check` must not lend its job server to this make.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$REPO" --no-print-directory "$flavour" "$@"; }

# `install` depends on `all`; other tests run the same binaries, so this one must not relink them.
if ! mk -q all; then
	fail "the build tree is up to date before make install (a source changed during the run?)"
	done_testing
fi
check "make install DESTDIR=... PREFIX=/usr succeeds" mk install DESTDIR="$DEST" PREFIX=/usr

# The exact list: programs, units, documentation (every docs/*.md), man pages, completion.
expected() {
	printf '%s\n' usr/bin/savekeeperd usr/bin/savekeeperctl \
		usr/lib/systemd/user/savekeeper.service usr/lib/systemd/user/savekeeper.socket \
		usr/share/doc/savekeeper/README.md usr/share/doc/savekeeper/savekeeper.ini \
		usr/share/man/man1/savekeeperd.1 usr/share/man/man1/savekeeperctl.1 \
		usr/share/man/man5/savekeeper.ini.5 usr/share/bash-completion/completions/savekeeperctl
	(cd "$REPO" && for f in docs/*.md; do echo "usr/share/doc/savekeeper/$f"; done)
}
installed() { (cd "$DEST" 2>/dev/null && find . ! -type d -printf '%P\n'); }
check "the installed files are exactly the expected ones" \
	diff <(expected | LC_ALL=C sort) <(installed | LC_ALL=C sort)
modes() { (cd "$DEST" && find . -type f -printf '%m %P\n' | grep -v '^644 ' | LC_ALL=C sort); }
check "the programs are 0755, everything else 0644" \
	diff <(printf '755 usr/bin/savekeeperctl\n755 usr/bin/savekeeperd\n') <(modes)
check "the example config is conf/savekeeper.ini" \
	cmp "$REPO/conf/savekeeper.ini" "$DEST/usr/share/doc/savekeeper/savekeeper.ini"

# The installed programs run from where they were put.
version=$(sed -n 's/^VERSION *:= *//p' "$REPO/Makefile")
check "savekeeperd --version" test "$("$BIN/savekeeperd" --version)" = "savekeeperd $version"
check "savekeeperctl --version" test "$("$BIN/savekeeperctl" --version)" = "savekeeperctl $version"
mkdir -p "$T/tiny/slots"
echo "level=3" >"$T/tiny/slots/slot1.sav"
for core in thread process; do
	out=$("$BIN/savekeeperd" --once --core "$core" --save-dir "$T/tiny" --game tiny \
		--archive-dir "$T/arch-$core" 2>&1)
	check "installed savekeeperd --once --save-dir on the $core core exits 0" test $? -eq 0
	check "  ... and publishes one archive" test "$(archives "$T/arch-$core/tiny" | wc -l)" -eq 1
	check "  ... and says so" grep -q '^tiny: [0-9]\{8\}T[0-9.]*Z 1 file, ' <<<"$out"
done

# The units name the installed programs.
UNITS=$DEST/usr/lib/systemd/user
check "ExecStart= is the installed daemon" grep -qx 'ExecStart=/usr/bin/savekeeperd' "$UNITS/savekeeper.service"
check "ExecReload= is the installed client" \
	grep -qx 'ExecReload=/usr/bin/savekeeperctl reload' "$UNITS/savekeeper.service"
check "no @...@ left in the service" bash -c "! grep -n '@[A-Z]*@' '$UNITS/savekeeper.service'"

# systemd-analyze --root does not handle user units, and verify wants ExecStart='s program
# to exist: verify copies of the installed units whose programs point into DESTDIR.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	sed "s|=/usr/bin/|=$BIN/|" "$UNITS/savekeeper.service" >"$T/units/savekeeper.service"
	cp "$UNITS/savekeeper.socket" "$T/units/"
	verify() {
		local out
		out=$(cd "$T/units" && systemd-analyze --user verify "$@" 2>&1)
		[[ -z $out ]] || { printf '%s\n' "$out"; return 1; }
	}
	check "systemd-analyze --user verify: the installed service prints nothing" \
		verify "$T/units/savekeeper.service"
	check "systemd-analyze --user verify: the installed socket prints nothing" \
		verify "$T/units/savekeeper.socket"
else
	fail "systemd-analyze is missing"
fi

# Each page renders, without a warning, and man finds it by name in the installed tree.
render() {
	local err
	err=$(MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null) || return 1
	[[ -z $err ]] || { printf '%s\n' "$err"; return 1; }
	MANWIDTH=80 man -l "$1" 2>/dev/null | grep -q '^NAME'
}
for page in savekeeperd.1 savekeeperctl.1 savekeeper.ini.5; do
	f=$DEST/usr/share/man/man${page##*.}/$page
	check "man --warnings -l $page renders with no warning" render "$f"
	check "man finds ${page%.*}(${page##*.}) under the installed MANPATH" \
		test "$(MANPATH=$DEST/usr/share/man man -w "${page##*.}" "${page%.*}")" = "$f"
done

# The completion: commands, options, and game names and IDs from the installed daemon.
complete_words() {
	PATH=$BIN:$PATH bash -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
		_savekeeperctl
		printf "%s\n" "${COMPREPLY[@]}"' bash "$DEST/usr/share/bash-completion/completions/savekeeperctl" "$@"
}
check "the completion registers itself for savekeeperctl" bash -c \
	"source '$DEST/usr/share/bash-completion/completions/savekeeperctl' && complete -p savekeeperctl | grep -q _savekeeperctl"
check "'savekeeperctl re<TAB>' completes reload and restore" \
	test "$(complete_words savekeeperctl re | sort | tr '\n' ' ')" = "reload restore "
check "'savekeeperctl backup --<TAB>' completes --wait" \
	test "$(complete_words savekeeperctl backup --)" = "--wait"
make_config "$XDG_CONFIG_HOME/savekeeper/savekeeper.ini" thread
check "with no daemon, game names come from the config" \
	test "$(complete_words savekeeperctl list '')" = "demo"
SKD=$BIN/savekeeperd SKCTL=$BIN/savekeeperctl # start_daemon runs these
echo "saved" >"$T/save/slot.sav"
if start_daemon -c "$XDG_CONFIG_HOME/savekeeper/savekeeper.ini"; then
	ctl backup demo --wait >/dev/null
	id=$(ctl list demo | jget 'r["archives"][-1]["id"]')
	check "the installed daemon serves the installed client" "$SKCTL" ping
	words=$(complete_words savekeeperctl restore demo '')
	check "'savekeeperctl restore demo <TAB>' offers the daemon's archive IDs" grep -qx "$id" <<<"$words"
	check "  ... and latest" grep -qx latest <<<"$words"
	stop_daemon
else
	fail "the installed daemon starts"
fi

check "make uninstall succeeds" mk uninstall DESTDIR="$DEST" PREFIX=/usr
check "make uninstall leaves no file behind" test -z "$(installed)"

done_testing

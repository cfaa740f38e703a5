#!/bin/bash
# `make install DESTDIR=... PREFIX=/usr` puts exactly the expected files, the installed programs
# run, the installed units pass `systemd-analyze --user verify`, the man pages render without
# warnings, the bash completion completes, and `make uninstall` takes every file and folder
# away again. Then a per-user install, `make install PREFIX=~/.local` by an ordinary user (one
# of the test's own when root, else the current user with a home of the test's own): the user
# manager, man and bash-completion find what it installed, and `make uninstall` leaves that home
# as it found it.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/reliability.bash"
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
		usr/share/man/man5/savekeeper.ini.5 usr/share/bash-completion/completions/savekeeperctl \
		usr/share/doc/savekeeper/installed-folders
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
	check "  ... and says so" grep -q '^tiny: [0-9]\{8\}T[0-9.]*Z 1 files' <<<"$out"
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
	verify() (cd "$T/units" && silent systemd-analyze --user verify "$@")
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
check "  ... nor any folder it created" test -z "$(find "$DEST" -mindepth 1)"

# ---- Per-user: `make install PREFIX=~/.local` by an ordinary user, in what a login gives: no
# XDG_DATA_HOME, and ~/.local/bin in PATH (Debian's ~/.profile adds it when it exists).
UHOME=$T/player
UFILES=$T/player-files
URUN=$T/player-run
mkdir -p "$UHOME" "$UFILES/tiny" "$URUN"
if ((EUID == 0)); then
	U=sk-inst-$$
	add_user "$U" || { fail "useradd $U"; done_testing; }
	user() { as_user "$U" env -i "${UENV[@]}" "$@"; }
else
	U=$(id -un)
	user() { env -i "${UENV[@]}" "$@"; }
fi
UENV=(HOME="$UHOME" USER="$U" LOGNAME="$U" LANG=C.UTF-8 XDG_RUNTIME_DIR="$URUN"
	PATH="$UHOME/.local/bin:/usr/local/bin:/usr/bin:/bin")
[[ -n ${LSAN_OPTIONS:-} ]] && UENV+=(LSAN_OPTIONS="$LSAN_OPTIONS")
# The user already has a program in ~/.local/bin and an empty folder for units of their own:
# uninstall must keep both.
mkdir -p "$UHOME/.local/bin" "$UHOME/.local/share/systemd/user"
printf '#!/bin/sh\n' >"$UHOME/.local/bin/other-tool" && chmod 755 "$UHOME/.local/bin/other-tool"
echo "level=3" >"$UFILES/tiny/slot1.sav"
chown -R "$U:" "$UHOME" "$UFILES" "$URUN" && chmod 700 "$URUN"
home_tree() { (cd "$UHOME" && find . -mindepth 1 -printf '%y %m %P\n' | LC_ALL=C sort); }
before=$(home_tree)

# user_make SHELL TARGET: make TARGET PREFIX=~/.local typed into SHELL; bash expands the ~,
# sh (dash) passes it on as it is.
user_make() { user "$1" -c "make -C '$REPO' --no-print-directory $flavour $2 PREFIX=~/.local"; }
check "the user's make install PREFIX=~/.local succeeds" user_make bash install

# The /usr list above, moved: units and completion into the XDG data folder, the rest under PREFIX.
user_expected() {
	{ expected | sed -e 's|^usr/lib/systemd/user/|.local/share/systemd/user/|' -e 's|^usr/|.local/|'
	  echo .local/bin/other-tool; } | LC_ALL=C sort
}
user_installed() { (cd "$UHOME" && find . ! -type d -printf '%P\n' | LC_ALL=C sort); }
check "the files are exactly the expected ones, units and completion in ~/.local/share" \
	diff <(user_expected) <(user_installed)
UUNITS=$UHOME/.local/share/systemd/user
check "ExecStart= is the daemon in ~/.local/bin" \
	grep -qx "ExecStart=$UHOME/.local/bin/savekeeperd" "$UUNITS/savekeeper.service"

searched() { user systemd-analyze --user unit-paths | grep -qx "$UUNITS"; }
check "the user manager searches the folder of the installed units" searched
for unit in savekeeper.service savekeeper.socket; do
	check "systemd-analyze --user verify, as the user: the installed $unit prints nothing" \
		silent user systemd-analyze --user verify "$UUNITS/$unit"
done

found_daemon() { test "$(user sh -c 'command -v savekeeperd')" = "$UHOME/.local/bin/savekeeperd"; }
check "the user's PATH finds the installed savekeeperd" found_daemon
check "  ... whose --once --save-dir exits 0" \
	user savekeeperd --once --save-dir "$UFILES/tiny" --game tiny --archive-dir "$UFILES/arch"
check "  ... and publishes one archive" test "$(archives "$UFILES/arch/tiny" | wc -l)" -eq 1

in_manpath() { user manpath 2>/dev/null | tr ':' '\n' | grep -qx "$UHOME/.local/share/man"; }
check "the user's manpath holds ~/.local/share/man" in_manpath
for page in savekeeperd.1 savekeeperctl.1 savekeeper.ini.5; do
	check "man -w ${page%.*} as the user finds the installed page" test \
		"$(user man -w "${page##*.}" "${page%.*}" 2>/dev/null)" = "$UHOME/.local/share/man/man${page##*.}/$page"
done

# bash-completion loads a command's completion on first use; extdebug makes declare -F name the
# file the function came from.
loaded_from() {
	user bash -c 'source /usr/share/bash-completion/bash_completion && __load_completion savekeeperctl &&
		shopt -s extdebug && declare -F _savekeeperctl' | awk '{ print $3 }'
}
check "bash-completion loads the completion from ~/.local/share/bash-completion" \
	test "$(loaded_from)" = "$UHOME/.local/share/bash-completion/completions/savekeeperctl"

check "a second make install (an upgrade) succeeds" user_make bash install
check "make uninstall PREFIX=~/.local, typed into sh, succeeds" user_make sh uninstall
check "the home is as before: the files and the folders install made are gone, the others kept" \
	diff <(echo "$before") <(home_tree)

done_testing

#!/bin/sh
# `make install` and `make uninstall`: sh scripts/install.sh install|uninstall MODE:SOURCE:DEST...
# The environment gives DESTDIR (prepended to every DEST), BINDIR (replaces @BINDIR@ in a
# SOURCE ending in .in), RECORD (a file listing the folders install created, written by install
# and read by uninstall; empty: no record) and OWN_DIRS (folders only savekeeper uses, which
# uninstall removes when empty even without a record).
set -eu
action=$1
shift
DESTDIR=${DESTDIR:-}
RECORD=${RECORD:-}
case $DESTDIR in
"" | /*) ;;
*) DESTDIR=$PWD/$DESTDIR ;;
esac

# missing_folders DIR: DIR and each parent of it that does not exist yet, without DESTDIR.
missing_folders() {
	p=$1
	while [ -n "$p" ] && [ ! -d "$DESTDIR$p" ]; do
		echo "$p"
		p=${p%/*}
	done
}

# Every destination is absolute: a relative PREFIX would install below the current folder.
for f in "$@"; do
	case ${f#*:*:} in
	/*) ;;
	*) echo "install.sh: ${f#*:*:} is not an absolute path (PREFIX must be one)" >&2; exit 1 ;;
	esac
done

do_install() {
	created=$(mktemp)
	trap 'rm -f "$created"' EXIT
	for f in "$@" "644::$RECORD"; do
		mode=${f%%:*} f=${f#*:}
		src=${f%%:*} dst=${f#*:}
		[ -n "$dst" ] || continue
		missing_folders "${dst%/*}" >>"$created"
		install -d "$DESTDIR${dst%/*}"
		[ -n "$src" ] || continue
		echo "  INSTALL $DESTDIR$dst"
		case $src in
		*.in) sed "s|@BINDIR@|$BINDIR|g" "$src" >"$DESTDIR$dst" && chmod "$mode" "$DESTDIR$dst" ;;
		*) install -m "$mode" "$src" "$DESTDIR$dst" ;;
		esac
	done
	[ -n "$RECORD" ] || return 0
	# A second install creates nothing: keep what the first one recorded.
	[ -f "$DESTDIR$RECORD" ] && cat "$DESTDIR$RECORD" >>"$created"
	echo "  INSTALL $DESTDIR$RECORD"
	LC_ALL=C sort -u "$created" >"$DESTDIR$RECORD"
	chmod 644 "$DESTDIR$RECORD"
}

# Removes the files, then the recorded folders, children first (reverse order puts each
# folder before its parent); a folder someone else has put files in since stays.
do_uninstall() {
	for f in "$@"; do
		echo "  RM      $DESTDIR${f#*:*:}"
		rm -f "$DESTDIR${f#*:*:}"
	done
	folders=""
	if [ -n "$RECORD" ] && [ -f "$DESTDIR$RECORD" ]; then
		folders=$(LC_ALL=C sort -r "$DESTDIR$RECORD")
		echo "  RM      $DESTDIR$RECORD"
		rm -f "$DESTDIR$RECORD"
	fi
	printf '%s\n' "$folders" ${OWN_DIRS:-} | while IFS= read -r d; do
		[ -n "$d" ] && [ -d "$DESTDIR$d" ] || continue
		if rmdir "$DESTDIR$d" 2>/dev/null; then
			echo "  RMDIR   $DESTDIR$d"
		else
			echo "  KEEP    $DESTDIR$d (not empty)"
		fi
	done
}

case $action in
install) do_install "$@" ;;
uninstall) do_uninstall "$@" ;;
*) echo "usage: install.sh install|uninstall MODE:SOURCE:DEST..." >&2; exit 2 ;;
esac

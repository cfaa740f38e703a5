#!/bin/bash
# The Debian package: `dpkg-buildpackage -us -uc -b` builds it and lintian finds nothing. In a
# fresh minimal Debian 12 made by mmdebstrap from this machine's apt sources, apt installs it
# with the dependencies dpkg-shlibdeps computed, `savekeeperd --once --save-dir` and
# `savekeeperctl --help` run, the user units pass `systemd-analyze --user verify`, and a purge
# leaves nothing of it behind.
# Root only (mmdebstrap, chroot, mounts). The Debian 12 tarball and the packages apt downloads
# are kept in build/package/, so that a rerun builds nothing but savekeeper itself.
source "$(dirname "$0")/../lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)

skip() { echo "ok 1 - the Debian package # SKIP $*"; echo "1..1"; exit 0; }
((EUID == 0)) || skip "needs root (mmdebstrap, chroot and mounts)"
[[ $SK_BUILD == "$REPO/build-asan" ]] &&
	skip "the package is built from the sources with Debian's flags, not the ASan tree; the plain pass runs it"
for tool in dpkg-buildpackage dh lintian mmdebstrap unshare chroot; do
	command -v "$tool" >/dev/null || { fail "$tool is missing (make deps installs it)"; done_testing; }
done

CACHE=$REPO/build/package
mkdir -p "$CACHE/debs"
VERSION=$(sed -n 's/^VERSION *:= *//p' "$REPO/Makefile")
DEB=savekeeper_${VERSION}_$(dpkg --print-architecture).deb
# lap NAME: NAME is set to the seconds since the last lap.
start=$SECONDS
lap() { printf -v "$1" %d $((SECONDS - start)); start=$SECONDS; }
t_build=0 t_lint=0 t_root=0 t_install=0 t_run=0 t_purge=0

# From a copy of the sources: dh_auto_clean runs `make clean`, which would empty build/. The
# build, lintian and mmdebstrap run niced: the tests beside this one measure timeouts.
mkdir "$T/src"
tar -C "$REPO" --exclude=./build --exclude=./build-asan --exclude=./.git -cf - . | tar -xf - -C "$T/src"
build() { (cd "$T/src" && nice -n 10 dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 || { tail -n 30 "$T/build.log"; return 1; }; }
check "dpkg-buildpackage -us -uc -b succeeds" build
check "  ... and makes $DEB: debian/changelog has the Makefile's VERSION" test -f "$T/$DEB"
[[ -f $T/$DEB ]] || done_testing
lap t_build
# Tags go to standard output; standard error only says that root runs it. Lintian leaves
# mldbm-elf-* files in its TMPDIR: that one is in $T, removed with it.
lint() {
	mkdir -p "$T/lintian-tmp"
	TMPDIR=$T/lintian-tmp nice -n 10 lintian --pedantic --display-info \
		--fail-on error,warning,info,pedantic "$T"/savekeeper_*.changes 2>/dev/null
}
check "lintian --pedantic --display-info reports nothing (overrides say why)" silent lint
lap t_lint

# A minimal Debian 12 (minbase, and systemd for systemd-analyze) from the apt sources and the
# Acquire settings of this machine, made once and kept with apt's package lists; a change of
# either makes a new one.
sources=() aptopts=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[[ -f $f ]] && sources+=("$f")
done
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
	[[ -f $f ]] && grep -q Acquire "$f" && ! grep -q Invoke "$f" && aptopts+=(--aptopt="$f")
done
MM_ARGS=(--variant=minbase --include=systemd --skip=cleanup/apt/lists "${aptopts[@]}" bookworm)
key=$({ printf '%s\n' "${MM_ARGS[@]}"; cat "${sources[@]}" "${aptopts[@]#--aptopt=}"; } | sha256sum | cut -c1-12)
TARBALL=$CACHE/debian12-$key.tar
make_tarball() {
	[[ -s $TARBALL ]] && return 0
	rm -f "$CACHE"/debian12-*.tar
	nice -n 10 mmdebstrap --quiet "${MM_ARGS[@]}" "$CACHE/new-$key.tar" "${sources[@]}" &&
		mv "$CACHE/new-$key.tar" "$TARBALL"
}
# Two runs at once (make check and make check-package) make it once.
locked_make_tarball() { (flock 9 && make_tarball) 9>"$CACHE/lock"; }
on_exit "rm -f '$CACHE/new-$key.tar'"
check "mmdebstrap makes a minimal Debian 12 (or build/package/ has it)" locked_make_tarball
ROOT=$T/root
mkdir "$ROOT"
check "the Debian 12 tarball unpacks" tar -xf "$TARBALL" -C "$ROOT"
[[ -x $ROOT/usr/bin/apt-get ]] || done_testing
lap t_root

# inroot CMD...: CMD in the chroot, in a mount namespace of its own (its /proc and the bind
# of the package cache go away with it).
inroot() {
	unshare --mount --propagation private -- bash -c '
		r=$1 c=$2; shift 2
		mount -t proc proc "$r/proc" && mount --bind "$c" "$r/var/cache/apt/archives" &&
			exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
				LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' bash "$ROOT" "$CACHE/debs" "$@"
}
# tree: every path of the chroot with its type and mode, but for what apt and dpkg log.
tree() {
	inroot find / -xdev \( -path /proc -o -path /tmp -o -path /var/log -o -path /var/cache/apt \
		-o -path /var/lib/apt/lists -o -path /var/cache/ldconfig/aux-cache \) -prune \
		-o -printf '%y %m %p\n' | LC_ALL=C sort
}
before=$(tree)
cp "$T/$DEB" "$ROOT/tmp/"
# The cached package lists may name packages the archive has replaced since: update, retry.
apt_install() {
	inroot apt-get install -y --no-install-recommends "/tmp/$DEB" >"$T/apt.log" 2>&1 ||
		{ inroot apt-get update && inroot apt-get install -y --no-install-recommends "/tmp/$DEB"; } >>"$T/apt.log" 2>&1 ||
		{ tail -n 30 "$T/apt.log"; return 1; }
}
check "apt-get install ./$DEB in the fresh Debian 12, with the computed Depends" apt_install
lap t_install

mkdir -p "$ROOT/tmp/save/slots"
echo "level=3" >"$ROOT/tmp/save/slots/slot1.sav"
check "savekeeperd --once --save-dir there exits 0" \
	inroot savekeeperd --once --save-dir /tmp/save --game tiny --archive-dir /tmp/archives
check "  ... and publishes one archive" test "$(archives "$ROOT/tmp/archives/tiny" | wc -l)" -eq 1
usage() { inroot savekeeperctl --help | grep -q '^Usage: savekeeperctl'; }
check "savekeeperctl --help there exits 0 and prints the usage" usage
mkdir -m 0700 "$ROOT/tmp/runtime"
for unit in savekeeper.service savekeeper.socket; do
	check "systemd-analyze --user verify of the installed $unit prints nothing" \
		silent inroot env XDG_RUNTIME_DIR=/tmp/runtime systemd-analyze --user verify "/usr/lib/systemd/user/$unit"
done
lap t_run

# Purged, nothing of it is left: no path of the package except folders other packages own,
# nothing named after it (deb-systemd-helper's state, dpkg's files), no state in dpkg.
mapfile -t files < <(inroot dpkg-query -L savekeeper)
purge() { inroot apt-get purge -y "$@" >>"$T/apt.log" 2>&1 || { tail -n 30 "$T/apt.log"; return 1; }; }
check "apt-get purge savekeeper" purge savekeeper
unknown() { ! inroot dpkg-query -W savekeeper >/dev/null 2>&1; }
check "dpkg knows no savekeeper any more (not even its config files)" unknown
# left_over: each path the package had that is still there and is not another package's folder.
left_over() {
	inroot bash -c 'for p; do [[ $p != /. ]] && [[ -e $p || -L $p ]] || continue
		[[ -d $p && ! -L $p ]] && dpkg-query -S "$p" >/dev/null 2>&1 && continue; echo "$p"; done' bash "${files[@]}"
}
check "none of its files is left" test -z "$(left_over)"
named() { inroot find / -xdev \( -path /proc -o -path /tmp \) -prune -o -name '*savekeeper*' -print; }
check "nothing named after it is left" test -z "$(named)"
check "apt-get purge --autoremove takes the dependencies it pulled in" purge --autoremove
check "the chroot is as before the install, but for apt's and dpkg's logs" diff <(echo "$before") <(tree)
lap t_purge

diag "seconds: build $t_build, lintian $t_lint, chroot $t_root, install $t_install," \
	"run $t_run, purge $t_purge"
done_testing

#!/bin/sh
# Installs the Debian 12 packages savekeeper needs, by what needs them:
#   build  `make` and `make run`: the compiler, the libraries with their headers, scdoc
#   test   `make check`, `make lint`, `make format-check`: cmocka and the programs the tests
#          run (GNU tar, D-Bus, strace, valgrind, clang for the fuzz targets, useradd, man,
#          cppcheck, clang-format ...); as root also the
#          package group, the Debian packaging tools of the root-only package test
#   bench  `make bench`: the programs the benchmark and its report run
# Use: deps.sh [--check] [build|test|package|bench|all]...   (no group: all; `make deps`: all)
# As root the missing packages are installed with apt-get, after apt-get update. Otherwise, or
# with --check, the missing ones are named with the command that installs them, and the exit
# status is 1.
set -eu

BUILD="gcc make pkg-config libarchive-dev libinih-dev libnotify-dev libsystemd-dev
libjson-c-dev libdeflate-dev libssl-dev libyaml-dev scdoc"
TEST="libcmocka-dev tar gzip libarchive-tools python3 python3-dbusmock python3-dbus dbus dbus-bin
systemd util-linux passwd procps strace man-db valgrind clang libclang-rt-14-dev bash-completion
cppcheck clang-format rclone xfsprogs"
# 96-package.sh builds the Debian package and tries it in a fresh Debian 12: root only.
PACKAGE="debhelper dpkg-dev lintian mmdebstrap"
BENCH="tar gzip gnuplot-nox strace util-linux procps"

check=0 groups="" wanted=""
for arg in "$@"; do
	case $arg in
	--check) check=1 ;;
	build) groups="$groups build" wanted="$wanted $BUILD" ;;
	test)
		groups="$groups test" wanted="$wanted $TEST"
		[ "$(id -u)" -ne 0 ] || wanted="$wanted $PACKAGE"
		;;
	package) groups="$groups package" wanted="$wanted $PACKAGE" ;;
	bench) groups="$groups bench" wanted="$wanted $BENCH" ;;
	all) groups="$groups all" wanted="$wanted $BUILD $TEST $PACKAGE $BENCH" ;;
	*)
		echo "deps.sh: unknown group '$arg' (build, test, package, bench, all or --check)" >&2
		exit 2
		;;
	esac
done
[ -n "$groups" ] || groups=" all" wanted="$BUILD $TEST $PACKAGE $BENCH"

if ! command -v dpkg-query >/dev/null; then
	echo "deps.sh: no dpkg-query (not Debian?): cannot check for the packages of:$groups" >&2
	exit 0
fi
missing=""
# shellcheck disable=SC2086
for p in $(printf '%s\n' $wanted | sort -u); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$check" = 1 ] || [ "$(id -u)" -ne 0 ]; then
	echo "savekeeper: Debian packages missing (needed for:$groups):$missing" >&2
	echo "install them with:" >&2
	echo "    sudo apt-get update && sudo apt-get install --no-install-recommends$missing" >&2
	exit 1
fi
echo "installing (needed for:$groups):$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

#!/bin/sh
# Installs the Debian packages that building, testing and benchmarking savekeeper need.
# With --check it only reports whether any are missing (exit 1 if so).
set -eu

BUILD="gcc make pkg-config libarchive-dev libinih-dev libnotify-dev libsystemd-dev
libjson-c-dev libdeflate-dev libssl-dev libcmocka-dev scdoc libyaml-dev"
TEST="tar gzip libarchive-tools python3 python3-dbusmock python3-dbus dbus dbus-bin systemd
util-linux passwd procps strace man-db valgrind clang libclang-rt-14-dev bash-completion
debhelper dpkg-dev lintian mmdebstrap xfsprogs"
BENCH="hyperfine gnuplot-nox pigz"

missing=""
for p in $BUILD $TEST $BENCH; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done

[ -z "$missing" ] && exit 0
if [ "${1:-}" = "--check" ]; then
	echo "missing packages:$missing" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "savekeeper needs these Debian packages:$missing" >&2
	echo "run 'sudo make deps' (or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

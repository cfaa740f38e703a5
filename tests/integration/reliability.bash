# Helpers shared by the reliability tests (85-89): a system user of the test's own, and the
# daemon's memory and open fds as /proc shows them.

# add_user NAME: creates a system user (and its group) unless it exists, and removes it when the
# test exits. useradd waits for the passwd lock another test may hold.
add_user() {
	local i
	id "$1" >/dev/null 2>&1 && return 0
	for i in $(seq 50); do
		useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "$1" 2>/dev/null &&
			{ on_exit "userdel $1"; return 0; }
		sleep 0.1
	done
	return 1
}
# as_user NAME CMD...: CMD run by NAME. The user running the test runs CMD as it is: setpriv
# needs root to clear the groups.
as_user() {
	local u=$1; shift
	[ "$u" = "$(id -un)" ] && { "$@"; return; }
	setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"
}
# daemon_as USER LOG ARGS...: savekeeperd run by USER in the background, its stderr in LOG; its
# own pid (the subshell execs it, or setpriv which execs it) in $UPID, killed when the test exits.
daemon_as() {
	local u=$1 log=$2; shift 2
	(
		[ "$u" = "$(id -un)" ] && exec "$SKD" "$@"
		exec setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$SKD" "$@"
	) >>"$log" 2>&1 &
	UPID=$!
	on_exit "kill -9 $UPID; wait $UPID"
}

vm_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }

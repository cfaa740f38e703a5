# The remote (rclone) integration tests under the coroutine core.
CORE=coroutine
source "$(dirname "$0")/remote_core.bash"

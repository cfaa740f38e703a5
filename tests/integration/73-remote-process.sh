# The remote (rclone) integration tests under the process core.
CORE=process
source "$(dirname "$0")/remote_core.bash"

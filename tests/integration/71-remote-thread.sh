# The remote (rclone) integration tests under the thread core.
CORE=thread
source "$(dirname "$0")/remote_core.bash"

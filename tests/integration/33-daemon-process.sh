# The daemon integration tests under the process core.
CORE=process
source "$(dirname "$0")/daemon_core.bash"

# The daemon integration tests under the thread core.
CORE=thread
source "$(dirname "$0")/daemon_core.bash"

# The daemon integration tests under the coroutine core.
CORE=coroutine
source "$(dirname "$0")/daemon_core.bash"

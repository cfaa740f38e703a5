# The restore integration tests under the coroutine core.
CORE=coroutine
source "$(dirname "$0")/restore_core.bash"

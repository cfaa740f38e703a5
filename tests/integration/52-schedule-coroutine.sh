# The schedule and retention tests under the coroutine core.
CORE=coroutine
source "$(dirname "$0")/schedule_core.bash"

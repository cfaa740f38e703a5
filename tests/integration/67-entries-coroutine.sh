# What save folders really hold, through the daemon under the coroutine core.
CORE=coroutine
DEEP_LEVELS=5000
source "$(dirname "$0")/entries_core.bash"

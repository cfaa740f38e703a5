# What save folders really hold, through the daemon under the coroutine core.
CORE=coroutine
DEEP_LEVELS=10000
source "$(dirname "$0")/entries_core.bash"

# Incremental snapshots under the coroutine core.
CORE=coroutine
source "$(dirname "$0")/incremental_core.bash"

# Incremental snapshots under the thread core.
CORE=thread
source "$(dirname "$0")/incremental_core.bash"

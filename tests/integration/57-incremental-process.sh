# Incremental snapshots under the process core.
CORE=process
source "$(dirname "$0")/incremental_core.bash"

# What save folders really hold, through the daemon under the process core.
CORE=process
source "$(dirname "$0")/entries_core.bash"

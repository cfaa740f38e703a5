# What save folders really hold, through the daemon under the thread core.
CORE=thread
source "$(dirname "$0")/entries_core.bash"

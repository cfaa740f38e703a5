# The schedule and retention tests under the process core.
CORE=process
source "$(dirname "$0")/schedule_core.bash"

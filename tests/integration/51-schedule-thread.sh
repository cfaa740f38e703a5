# The schedule and retention tests under the thread core.
CORE=thread
source "$(dirname "$0")/schedule_core.bash"

# The restore integration tests under the thread core.
CORE=thread
source "$(dirname "$0")/restore_core.bash"

# The restore integration tests under the process core.
CORE=process
source "$(dirname "$0")/restore_core.bash"

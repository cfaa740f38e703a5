/* Stands in for `savekeeperd --worker` in the core tests: the same worker mode, running the
 * test job instead of real snapshots. */
#include "core.h"
#include "testjob.h"

int
main(int argc, char **argv)
{
	(void)argc, (void)argv;
	runner_set_work(testjob_work);
	return core_worker_main(CORE_WORKER_FD);
}

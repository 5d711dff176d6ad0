// open_communicator() for a build without MPI: one process, and a clear error under a launcher.
#include "core/error.h"
#include "dist/communicator.h"

namespace anetrain {

bool built_with_mpi() { return false; }

std::unique_ptr<Communicator> open_communicator() {
  if (const int n = launcher_world_size(); n > 1)
    throw UserError("this anetrain was built without MPI but was started as one of " +
                    std::to_string(n) +
                    " processes by an MPI launcher: install Open MPI (scripts/setup.sh does) "
                    "and rebuild, or run anetrain without mpirun");
  return single_process();
}

}  // namespace anetrain

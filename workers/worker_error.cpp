#include "workers/worker_error.hpp"

namespace xdit::workers {

WorkerError::WorkerError(int rank, const std::string& what) : Error(what), rank_(rank) {}

}  // namespace xdit::workers

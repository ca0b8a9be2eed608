#pragma once
// How a worker group fails, as seen by whoever started it: a rank that
// reported an error, died or could not start (WorkerError), or a group that
// was stopped on request (GroupCancelled). The message says which rank and
// what happened to it, so that it can be shown to a user as it is.

#include <string>

#include "core/error.hpp"

namespace xdit::workers {

class WorkerError : public Error {
 public:
  // `rank` is the rank the failure is blamed on, or kNoRank when it concerns
  // the group as a whole (a worker executable that cannot be started, ...).
  WorkerError(int rank, const std::string& what);
  int rank() const { return rank_; }

  static constexpr int kNoRank = -1;

 private:
  int rank_;
};

// cancel() or Ctrl-C: the group was stopped before the request finished.
class GroupCancelled : public Error {
 public:
  using Error::Error;
};

// A control message that is not what protocol version kProtocolVersion
// promises (a worker or launcher of another build, or a corrupted stream).
class ProtocolError : public Error {
 public:
  using Error::Error;
};

}  // namespace xdit::workers

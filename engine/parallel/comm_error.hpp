#pragma once
// A communication that failed: a peer that died, hung or never joined, or a
// rendezvous that could not be reached. The message names the rank, the
// operation, the group and its ranks, so that the launcher can tell a user
// which process to look at.

#include "core/error.hpp"

namespace xdit::parallel {

class CommError : public Error {
 public:
  using Error::Error;
};

}  // namespace xdit::parallel

#pragma once
// One end of a launcher↔worker connection: an AF_UNIX stream socket carrying
// control messages as lines. The launcher holds one per worker and polls
// them all; a worker holds one (inherited as XDIT_CONTROL_FD) and reads it on
// a thread of its own. A peer that dies closes its end, so the other sees
// end-of-file at once: that is how each side learns of the other's death.
//
// Why a socket pair per worker: unlike a loopback TCP port it needs no port,
// cannot be reached by other processes and needs no handshake to say which
// rank is speaking; unlike stdin/stdout pipes it is one bidirectional object
// and leaves the worker's stdout and stderr to logs (LibTorch and OpenBLAS
// print there). Launcher and workers share a machine by construction; groups
// that span machines are started by torchrun or srun, without a channel.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "workers/control_protocol.hpp"
#include "workers/unique_fd.hpp"

namespace xdit::workers {

class ControlChannel {
 public:
  // Takes ownership of `fd`, a connected stream socket.
  explicit ControlChannel(int fd);

  // A connected pair: {launcher end, worker end}, both close-on-exec.
  static std::pair<ControlChannel, ControlChannel> make_pair();

  int fd() const { return fd_.get(); }
  bool closed() const { return eof_; }

  // Sends the whole message even on a non-blocking socket. Throws
  // WorkerError when the peer is gone.
  void send(const Message& message);
  // One read(): blocks on a blocking socket until something arrives, returns
  // at once on a non-blocking one. Returns the messages completed by it;
  // after end-of-file closed() is true. Throws ProtocolError for a line
  // that is not a message.
  std::vector<Message> receive();

  // Makes receive() return at once when nothing is waiting.
  void set_nonblocking();

 private:
  UniqueFd fd_;
  bool eof_ = false;
  std::string pending_;  // the start of a line not yet complete
};

}  // namespace xdit::workers

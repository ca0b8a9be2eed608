#include "workers/control_channel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "workers/worker_error.hpp"

namespace xdit::workers {

ControlChannel::ControlChannel(int fd) : fd_(fd) {}

std::pair<ControlChannel, ControlChannel> ControlChannel::make_pair() {
  int fds[2];
  // Close-on-exec, so that a worker inherits only its own end (set up
  // explicitly by the launcher) and never a sibling's, whose lingering copy
  // would hide that sibling's death from the launcher.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    throw WorkerError(WorkerError::kNoRank,
                      std::string("cannot create a control channel: ") + std::strerror(errno));
  }
  return {ControlChannel(fds[0]), ControlChannel(fds[1])};
}

void ControlChannel::set_nonblocking() {
  ::fcntl(fd(), F_SETFL, ::fcntl(fd(), F_GETFL) | O_NONBLOCK);
}

void ControlChannel::send(const Message& message) {
  const std::string line = encode(message) + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    // MSG_NOSIGNAL: a peer that died must be an error here, not SIGPIPE.
    const ssize_t n = ::send(fd(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd waiting{fd(), POLLOUT, 0};
      ::poll(&waiting, 1, -1);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      throw WorkerError(WorkerError::kNoRank, std::string("the control channel is closed (") +
                                                  std::strerror(errno) + ")");
    }
  }
}

std::vector<Message> ControlChannel::receive() {
  std::vector<Message> messages;
  if (eof_)
    return messages;
  char buffer[1 << 16];
  ssize_t n;
  do {
    n = ::read(fd(), buffer, sizeof(buffer));
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return messages;
  if (n <= 0) {
    // A reset connection is a peer gone, as is end-of-file.
    eof_ = true;
    return messages;
  }
  // Only the new bytes can end a line: a result of many megabytes arrives in
  // hundreds of reads, and rescanning it each time would be quadratic.
  size_t search = pending_.size();
  pending_.append(buffer, static_cast<size_t>(n));
  size_t start = 0;
  for (size_t end; (end = pending_.find('\n', search)) != std::string::npos;) {
    messages.push_back(decode(std::string_view(pending_).substr(start, end - start)));
    start = search = end + 1;
  }
  pending_.erase(0, start);
  return messages;
}

}  // namespace xdit::workers

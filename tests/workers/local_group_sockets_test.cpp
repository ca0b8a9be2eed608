// A group started on this machine must not be reachable from the network:
// every TCP socket of the launcher and of its workers, listening or
// connected, has a loopback address on this side. Read from /proc, as `ss
// -tlpn` would show it, while the group is up and while it runs a request.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "worker_test_support.hpp"
#include "workers/launcher.hpp"

namespace xdit::workers {
namespace {

using namespace xdit::workers::testing;

struct TcpSocket {
  std::string address;  // "127.0.0.1:41234", "[::]:29500"
  bool listening = false;
  bool loopback = false;
};

// The inodes of the sockets `pid` holds open: /proc/<pid>/fd/N -> "socket:[inode]".
std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> inodes;
  std::error_code error;
  const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(fds, error)) {
    const std::string target = std::filesystem::read_symlink(entry.path(), error).string();
    if (!error && target.rfind("socket:[", 0) == 0)
      inodes.insert(target.substr(8, target.size() - 9));
  }
  return inodes;
}

// The kernel prints each 32-bit word of the address as it lies in memory
// (network order read as a host integer), so storing the parsed words back
// as host integers restores the address bytes on any endianness.
TcpSocket parse_local_address(const std::string& field, bool v6) {
  const auto colon = field.find(':');
  const std::string host = field.substr(0, colon);
  const auto port = std::stoul(field.substr(colon + 1), nullptr, 16);
  TcpSocket socket;
  char text[INET6_ADDRSTRLEN] = {};
  if (!v6) {
    in_addr addr{};
    addr.s_addr = static_cast<uint32_t>(std::stoul(host, nullptr, 16));
    ::inet_ntop(AF_INET, &addr, text, sizeof(text));
    socket.loopback = (ntohl(addr.s_addr) >> 24) == 127;
    socket.address = text;
  } else {
    in6_addr addr{};
    for (int word = 0; word < 4; ++word) {
      const auto value = static_cast<uint32_t>(std::stoul(host.substr(word * 8, 8), nullptr, 16));
      std::memcpy(addr.s6_addr + word * 4, &value, 4);
    }
    ::inet_ntop(AF_INET6, &addr, text, sizeof(text));
    socket.loopback =
        IN6_IS_ADDR_LOOPBACK(&addr) || (IN6_IS_ADDR_V4MAPPED(&addr) && addr.s6_addr[12] == 127);
    socket.address = std::string("[").append(text).append("]");
  }
  socket.address.append(":").append(std::to_string(port));
  return socket;
}

// Every TCP socket (IPv4 and IPv6) that `pid` holds: /proc/<pid>/net/tcp{,6}
// list the whole network namespace; the process's own are those whose inode
// it has among its file descriptors.
std::vector<TcpSocket> tcp_sockets(pid_t pid) {
  const std::set<std::string> inodes = socket_inodes(pid);
  std::vector<TcpSocket> out;
  for (const bool v6 : {false, true}) {
    std::ifstream table("/proc/" + std::to_string(pid) + "/net/" + (v6 ? "tcp6" : "tcp"));
    std::string line;
    std::getline(table, line);  // the header
    while (std::getline(table, line)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (!inodes.count(inode))
        continue;
      TcpSocket socket = parse_local_address(local, v6);
      socket.listening = state == "0A";  // TCP_LISTEN
      out.push_back(socket);
    }
  }
  return out;
}

// Checks every socket of the launcher (this process) and of each rank;
// returns how many each rank holds.
std::vector<int> expect_loopback_only(const Launcher& group, const std::string& when) {
  std::vector<int> counts;
  const auto pids = group.pids();
  for (size_t rank = 0; rank <= pids.size(); ++rank) {
    const bool launcher = rank == pids.size();
    const pid_t pid = launcher ? ::getpid() : pids[rank];
    const std::string who = launcher ? "the launcher" : "rank " + std::to_string(rank);
    const auto sockets = tcp_sockets(pid);
    for (const TcpSocket& socket : sockets) {
      EXPECT_TRUE(socket.loopback)
          << when << ": " << who << " (pid " << pid << ") has a "
          << (socket.listening ? "listening" : "connected") << " socket on " << socket.address;
    }
    if (!launcher)
      counts.push_back(static_cast<int>(sockets.size()));
  }
  return counts;
}

TEST(LocalGroup, ListensAndConnectsOnLoopbackOnly) {
  parallel::ParallelConfig tensor2;
  tensor2.tensor_degree = 2;
  Launcher group(tiny_spec(tensor2), test_launch_options());

  // The rendezvous file lies in a directory only this user may enter.
  const auto directory = group.store_file().parent_path();
  struct stat info {};
  ASSERT_EQ(::stat(directory.c_str(), &info), 0) << directory;
  EXPECT_EQ(info.st_mode & 0777, 0700u) << directory;

  // Ready: every rank has met the others and formed its Gloo groups.
  group.wait_ready();
  const auto counts = expect_loopback_only(group, "once ready");
  // Gloo connects each pair of ranks over TCP: seeing no socket at all would
  // mean this test looked in the wrong place, not that the group is safe.
  for (size_t rank = 0; rank < counts.size(); ++rank)
    EXPECT_GT(counts[rank], 0) << "rank " << rank << " holds no TCP socket";

  bool checked_mid_run = false;
  GroupCallbacks callbacks;
  callbacks.on_progress = [&](const ProgressMessage&) {
    if (!std::exchange(checked_mid_run, true))
      expect_loopback_only(group, "during a request");
  };
  group.generate(small_request(), callbacks);
  EXPECT_TRUE(checked_mid_run);

  group.stop();
  EXPECT_FALSE(std::filesystem::exists(directory)) << directory << " outlived the group";
}

}  // namespace
}  // namespace xdit::workers

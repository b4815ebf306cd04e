#include "net/isolation.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fh::net {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

std::size_t thread_count() {
  std::size_t n = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n;
}

void write_proc(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("--isolate: cannot write " + path + ": " + errno_text());
}

/// ip link set lo up, with the ioctl ip(8) uses.
void bring_loopback_up() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("--isolate: socket: " + errno_text());
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  const bool up = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0 &&
                  ((request.ifr_flags |= IFF_UP), ::ioctl(fd, SIOCSIFFLAGS, &request) == 0);
  const std::string why = up ? "" : errno_text();
  ::close(fd);
  if (!up) throw std::runtime_error("--isolate: cannot bring lo up: " + why);
}

}  // namespace

std::vector<std::string> network_interfaces() {
  std::vector<std::string> out;
  if (struct if_nameindex* list = ::if_nameindex()) {
    for (auto* i = list; i->if_index != 0; ++i) out.emplace_back(i->if_name);
    ::if_freenameindex(list);
  }
  return out;
}

Isolation enter_loopback_only_namespace() {
  if (const auto n = thread_count(); n != 1)
    throw std::runtime_error("--isolate: the harness has " + std::to_string(n) +
                             " threads; a network namespace is entered before the first starts");
  Isolation isolation;
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (uid == 0) {
    if (::unshare(CLONE_NEWNET) != 0)
      throw std::runtime_error("--isolate: unshare(CLONE_NEWNET): " + errno_text());
  } else {
    // user_namespaces(7): an unprivileged process may own a user namespace, and a network
    // namespace inside it; it must give up setgroups before writing its gid map.
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
      throw std::runtime_error(
          "--isolate: unshare(CLONE_NEWUSER | CLONE_NEWNET): " + errno_text() +
          " (as root it needs no user namespace; otherwise the kernel must allow unprivileged "
          "ones: sysctl user.max_user_namespaces)");
    write_proc("/proc/self/setgroups", "deny");
    write_proc("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
    write_proc("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
    isolation.user_namespace = true;
  }
  bring_loopback_up();
  isolation.interfaces = network_interfaces();
  return isolation;
}

}  // namespace fh::net

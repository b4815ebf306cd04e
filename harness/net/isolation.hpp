// A network of one's own: `certify --isolate` runs the harness, and so every program it starts,
// in a new network namespace whose only interface is loopback (issue 12: a third-party
// implementation under test reaches nothing but the harness). A namespace belongs to a thread,
// so this runs before the harness starts any; the programs started later inherit it.
#pragma once

#include <string>
#include <vector>

namespace fh::net {

struct Isolation {
  /// Not root: the namespace is owned by a new user namespace in which the harness is mapped
  /// to root (it may bring lo up, capture and trace there) while staying its own user outside.
  bool user_namespace = false;
  std::vector<std::string> interfaces;  // what the namespace holds once entered: {"lo"}
};

/// Enters the namespace and brings lo up. Throws std::runtime_error saying why it cannot (more
/// than one thread, no permission, unprivileged user namespaces turned off).
Isolation enter_loopback_only_namespace();

/// The interfaces of the current network namespace (if_nameindex), in index order.
std::vector<std::string> network_interfaces();

}  // namespace fh::net

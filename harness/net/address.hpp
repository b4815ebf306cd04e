// Where a peer listens: a TCP address on loopback or a unix socket path. Both kinds go
// through asio's generic stream protocol, so fakes and the client use one socket type.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fh::net {

namespace asio = boost::asio;
using Protocol = asio::generic::stream_protocol;
using Socket = Protocol::socket;
// generic::stream_protocol has no acceptor typedef.
using Acceptor = asio::basic_socket_acceptor<Protocol>;

struct Address {
  enum class Kind { tcp, unix_socket };
  Kind kind = Kind::tcp;
  std::string host = "127.0.0.1";  // tcp: a literal IPv4 or IPv6 address, never a name
  std::uint16_t port = 0;          // tcp: 0 means "pick one" when listening
  std::string path;                // unix_socket

  static Address tcp(std::string host, std::uint16_t port) {
    return Address{Kind::tcp, std::move(host), port, {}};
  }
  static Address unix_socket(std::string path) {
    return Address{Kind::unix_socket, {}, 0, std::move(path)};
  }

  /// "127.0.0.1:8080", "[::1]:8080" or "unix:/path".
  std::string to_string() const;
  /// Parses what to_string() prints; nullopt for anything else.
  static std::optional<Address> parse(std::string_view text);

  Protocol::endpoint endpoint() const;
  bool is_tcp() const { return kind == Kind::tcp; }
};

/// Binds and listens. A tcp port of 0 is picked by the kernel; a stale unix socket file
/// is removed first. Throws boost::system::system_error on failure.
Acceptor listen(const asio::any_io_executor& executor, const Address& address, int backlog = 128);

/// The address an acceptor actually listens on (tcp port resolved).
Address local_address(const Acceptor& acceptor, const Address& requested);

/// TCP_NODELAY on tcp sockets; no-op on unix sockets. Segments stay apart, which the
/// fault vocabulary relies on.
void set_no_delay(Socket& socket);

}  // namespace fh::net

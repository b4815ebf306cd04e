#include "net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/system_error.hpp>
#include <charconv>
#include <cstring>

namespace fh::net {

std::string Address::to_string() const {
  if (kind == Kind::unix_socket) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<Address> Address::parse(std::string_view text) {
  if (text.starts_with("unix:")) {
    if (text.size() == 5) return std::nullopt;
    return unix_socket(std::string(text.substr(5)));
  }
  std::string host;
  std::string_view port_text;
  if (text.starts_with("[")) {
    auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
    return std::nullopt;
  boost::system::error_code parse_error;
  asio::ip::make_address(host, parse_error);
  if (parse_error) return std::nullopt;
  return tcp(std::move(host), static_cast<std::uint16_t>(port));
}

Protocol::endpoint Address::endpoint() const {
  if (kind == Kind::unix_socket)
    return Protocol::endpoint(asio::local::stream_protocol::endpoint(path));
  return Protocol::endpoint(asio::ip::tcp::endpoint(asio::ip::make_address(host), port));
}

Acceptor listen(const asio::any_io_executor& executor, const Address& address, int backlog) {
  auto endpoint = address.endpoint();
  if (address.kind == Address::Kind::unix_socket) ::unlink(address.path.c_str());
  Acceptor acceptor(executor, endpoint.protocol());
  if (address.is_tcp()) acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(backlog);
  return acceptor;
}

Address local_address(const Acceptor& acceptor, const Address& requested) {
  if (!requested.is_tcp()) return requested;
  Address actual = requested;
  auto endpoint = acceptor.local_endpoint();
  const auto* sa = static_cast<const sockaddr*>(endpoint.data());
  if (sa->sa_family == AF_INET) {
    actual.port = ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    actual.port = ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  }
  return actual;
}

void set_no_delay(Socket& socket) {
  boost::system::error_code ignored;
  auto endpoint = socket.local_endpoint(ignored);
  if (ignored) return;
  const auto family = static_cast<const sockaddr*>(endpoint.data())->sa_family;
  if (family == AF_INET || family == AF_INET6)
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
}

}  // namespace fh::net

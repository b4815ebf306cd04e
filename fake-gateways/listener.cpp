// The fake gateway's listener: client connections (one request after another on each, with a
// lingering close at the end), the backend connection pool, starting and stopping.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include "events/harness_events.hpp"
#include "fake-gateways/gateway.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

using boost::system::error_code;
using namespace std::chrono_literals;
namespace ev = gateway_events;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kRequestHeadLimit = 64 * 1024;
constexpr auto kLingerTime = 1000ms;  // lingering close: let the client read what we sent

std::string endpoint_text(const net::Socket& socket) {
  error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "?";
  auto [host, port] = host_port(endpoint);
  return port.empty() ? host : host + ":" + port;
}

asio::awaitable<void> drain(net::Socket& socket) {
  char sink[4096];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
    if (ec) co_return;
  }
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds time) {
  asio::steady_timer timer(co_await asio::this_coro::executor, time);
  co_await timer.async_wait(kUseTuple);
}

asio::awaitable<void> linger_close(std::shared_ptr<ClientConnection> conn) {
  // Closing with unread request bytes would send an RST that can destroy the response
  // before the client reads it; read (and drop) them for a moment first.
  error_code ignored;
  conn->client.shutdown(net::Socket::shutdown_send, ignored);
  using namespace asio::experimental::awaitable_operators;
  co_await (drain(conn->client) || sleep_for(kLingerTime));
  conn->client.close(ignored);
}

asio::awaitable<void> serve(std::shared_ptr<GatewayState> state,
                            std::shared_ptr<ClientConnection> conn) {
  try {
    state->note(ev::client_accepted, conn->id, endpoint_text(conn->client));
    beast::flat_buffer buffer;
    bool keep = true;
    while (keep && !conn->stopped) {
      RequestParser parser;
      parser.body_limit(boost::none);
      parser.header_limit(kRequestHeadLimit);
      auto [ec, n] = co_await http::async_read_header(conn->client, buffer, parser, kUseTuple);
      if (conn->stopped) break;
      if (ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof) {
          state->note(ev::client_closed, conn->id);
        } else if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
          state->note(ev::answered, conn->id, ec.message(), 0, 0, "400");
          const std::string response =
              "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
          co_await asio::async_write(conn->client, asio::buffer(response), kUseTuple);
        } else {
          state->note(ev::client_error, conn->id, "request head: " + ec.message());
        }
        break;
      }
      auto exchange = std::make_unique<Exchange>(state, conn, parser, buffer);
      keep = co_await exchange->run();
    }
    if (!conn->stopped) co_await linger_close(conn);
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted)
      state->internal_error("client connection " + std::to_string(conn->id), e.what());
  } catch (const std::exception& e) {
    state->internal_error("client connection " + std::to_string(conn->id), e.what());
  }
  error_code ignored;
  conn->client.close(ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<GatewayState> state) {
  for (;;) {
    auto [ec, socket] = co_await state->acceptor->async_accept(kUseTuple);
    if (state->stopped) co_return;
    if (ec) {
      state->note(ev::accept_error, 0, ec.message());
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      co_await sleep_for(10ms);  // EMFILE and friends: try again shortly
      continue;
    }
    net::set_no_delay(socket);
    auto conn = std::make_shared<ClientConnection>(socket.get_executor(), std::move(socket),
                                                   ++state->accepted);
    std::erase_if(state->connections, [](const auto& weak) { return weak.expired(); });
    state->connections.push_back(conn);
    asio::co_spawn(state->io, serve(state, std::move(conn)), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);  // serve catches what it can; never silently
    });
  }
}

}  // namespace

void ClientConnection::close_all() {
  stopped = true;
  error_code ignored;
  client.close(ignored);
  if (backend) backend->socket.close(ignored);
  watchdog.cancel();
  wake.cancel();
}

void GatewayState::note(const events::EventDecl& decl, std::uint32_t connection, std::string detail,
                        std::uint16_t request_id, std::uint64_t value, std::string_view part) {
  const auto now = Clock::now();
  // Bounded like the bus (a backend flooding records must not grow the fake without end).
  if (log.size() < events::Bus::kLogLimit)
    log.push_back(GatewayLogEntry{now, connection, decl.member(part), detail, request_id, value});
  if (config.bus)
    config.bus->publish(
        events::Event::of(decl, now, connection, request_id, value, std::move(detail), part));
}

void GatewayState::internal_error(const std::string& where, const std::string& what) {
  if (config.bus)
    config.bus->publish(events::harness_events::internal_error, 0, 0, 0,
                        "fake gateway " + where + ": " + what);
}

void GatewayState::wake_all() {
  for (auto& weak : connections)
    if (auto conn = weak.lock()) conn->wake.cancel();
}

std::shared_ptr<BackendConn> GatewayState::new_backend() {
  auto backend = std::make_shared<BackendConn>(io.get_executor(), ++backend_connections);
  std::erase_if(backends, [](const auto& weak) { return weak.expired(); });
  backends.push_back(backend);
  return backend;
}

asio::awaitable<std::string> connect_backend_socket(std::shared_ptr<GatewayState> state,
                                                    net::Socket& socket) {
  const auto executor = co_await asio::this_coro::executor;
  std::string failure;
  try {
    asio::steady_timer timer(executor,
                             std::chrono::milliseconds(state->config.backend_connect_timeout_ms));
    using namespace asio::experimental::awaitable_operators;
    auto result = co_await (socket.async_connect(state->config.backend.endpoint(), kUseTuple) ||
                            timer.async_wait(kUseTuple));
    if (result.index() == 1) {
      failure = "connect timed out after " +
                std::to_string(state->config.backend_connect_timeout_ms) + " ms";
    } else if (auto [ec] = std::get<0>(result); ec) {
      failure = ec.message();
    }
  } catch (const std::exception& e) {
    failure = e.what();  // e.g. an unusable backend address
  }
  co_return failure;
}

std::string errno_name(const error_code& ec) {
  if (ec == asio::error::broken_pipe) return "EPIPE";
  if (ec == asio::error::connection_reset) return "ECONNRESET";
  if (ec == asio::error::eof) return "EOF";
  return ec.message();
}

struct FakeGateway::State : GatewayState {
  using GatewayState::GatewayState;
};

FakeGateway::FakeGateway(asio::io_context& io, GatewayConfig config)
    : state_(std::make_shared<State>(io, std::move(config))) {}

FakeGateway::~FakeGateway() {
  stop();
}

void FakeGateway::start() {
  auto& state = *state_;
  state.acceptor.emplace(net::listen(state.io.get_executor(), state.config.listen));
  state.address = net::local_address(*state.acceptor, state.config.listen);
  asio::co_spawn(state.io, accept_loop(state_), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  if (!state.config.probes.empty()) {
    state.probes_done = false;
    asio::co_spawn(state.io, run_probes(state_), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
}

net::Address FakeGateway::address() const {
  return state_->address;
}

void FakeGateway::stop() {
  auto& state = *state_;
  if (state.stopped) return;
  state.stopped = true;
  error_code ignored;
  if (state.acceptor) state.acceptor->close(ignored);
  for (auto& weak : state.connections)
    if (auto conn = weak.lock()) conn->close_all();
  state.connections.clear();
  for (auto& weak : state.backends)
    if (auto backend = weak.lock()) backend->socket.close(ignored);
  state.backends.clear();
  state.idle.clear();
}

const std::vector<GatewayLogEntry>& FakeGateway::log() const {
  return state_->log;
}

}  // namespace fh::fake

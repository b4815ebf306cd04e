// One HTTP request through the fake gateway (gateway.hpp): the request head read, the body
// buffered or streamed, a backend connection acquired (new or from the pool), then the request
// writer, the response relay, the abort and the backend watchdog run together until the
// response is over; the backend connection goes back to the pool when it may.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <cerrno>

#include "fake-gateways/gateway.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

using boost::system::error_code;
using namespace std::chrono_literals;
namespace ev = gateway_events;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string reason_for(int status) {
  auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  if (reason.empty() || reason.front() == '<') return "Unknown";
  return std::string(reason);
}

std::pair<std::string, std::string> host_port(const net::Protocol::endpoint& endpoint) {
  const auto* sa = static_cast<const sockaddr*>(endpoint.data());
  char text[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return {text, std::to_string(ntohs(in->sin_port))};
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return {text, std::to_string(ntohs(in6->sin6_port))};
  }
  return {"unix:", ""};  // as nginx reports unix-socket peers
}

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// A kept connection the backend closed while idle shows EOF (or data it should not have sent).
bool idle_connection_usable(net::Socket& socket) {
  if (!socket.is_open()) return false;
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

Exchange::Exchange(std::shared_ptr<GatewayState> state, std::shared_ptr<ClientConnection> conn,
                   RequestParser& parser, beast::flat_buffer& buffer)
    : state_(std::move(state)),
      conn_(std::move(conn)),
      parser_(parser),
      buffer_(buffer),
      traits_(traits_of(state_->config.personality)),
      mark_(state_->config.bus ? state_->config.bus->log().size() : 0),
      index_(++state_->exchanges),
      first_on_client_connection_(conn_->requests++ == 0) {
  if (config().body.stdin_record_size) traits_.stdin_record_size = config().body.stdin_record_size;
}

asio::awaitable<bool> Exchange::run() {
  const auto& request = parser_.get();
  keep_alive_ = parser_.keep_alive();
  head_only_ = request.method() == http::verb::head;
  http11_ = request.version() >= 11;
  note(ev::request_head, std::string(request.method_string()) + " " +
                             std::string(request.target()) + (http11_ ? " HTTP/1.1" : " HTTP/1.0"));

  const bool has_body = parser_.chunked() || parser_.content_length().value_or(0) > 0;
  if (has_body) {
    auto expect = request.find(http::field::expect);
    if (expect != request.end() && iequals(expect->value(), "100-continue")) {
      // RFC 9110 §10.1.1: the client waits for this before sending the body.
      if (!co_await write_client("HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
    }
  }
  if (parser_.chunked() || (has_body && traits_.buffer_request_body)) {
    // The whole body first, as nginx buffers it: CONTENT_LENGTH must be known (RFC 3875 §4.1.2).
    if (!co_await read_whole_body()) co_return false;
    content_length_ = body_.size();
    body_buffered_ = true;
  } else {
    // Present also as "0" when the client sent that.
    if (auto length = parser_.content_length()) content_length_ = *length;
    body_buffered_ = !has_body;
  }
  if (stopped()) co_return false;
  if (!state_->probes_done) {
    co_await wait_until([this] { return state_->probes_done; });  // probes go first
    if (stopped()) co_return false;
  }
  if (config().relay.minimal_buffering()) {
    // Fixed so that "the client is behind" depends on the client's reading, not on the
    // kernel's send buffer autotuning (which can swallow a whole 1 MB response).
    error_code ignored;
    conn_->client.set_option(asio::socket_base::send_buffer_size(kMinimalBuffer), ignored);
  }

  if (!co_await acquire_backend()) co_return false;
  touch();
  using namespace asio::experimental::awaitable_operators;
  co_await (writer_.run() && relay_.run() && watch_backend() && writer_.abort_watch() &&
            relay_.client_writer());
  release_backend();
  co_return keep_alive_ && !abandoned_ && !client_gone_ && !stopped();
}

void Exchange::note(const events::EventDecl& decl, std::string detail, std::uint64_t value,
                    std::string_view part) {
  state_->note(decl, conn_->id, std::move(detail), request_id_, value, part);
}

asio::awaitable<void> Exchange::wait_until(std::function<bool()> pred) {
  while (!pred() && !stopped()) co_await conn_->wake.async_wait(kUseTuple);
}

asio::awaitable<void> Exchange::pause(std::chrono::milliseconds time) {
  if (time.count() == 0) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, time);
  // Bounded slices so that stop() ends the pause within 50 ms.
  while (!stopped() && Clock::now() < timer.expiry()) {
    asio::steady_timer slice(co_await asio::this_coro::executor,
                             std::min<Clock::time_point>(timer.expiry(), Clock::now() + 50ms));
    co_await slice.async_wait(kUseTuple);
  }
}

asio::awaitable<bool> Exchange::wait_event(const language::Trigger& trigger, std::uint32_t bound_ms,
                                           bool end_with_relay) {
  auto* bus = config().bus;
  if (!bus) {
    note(ev::anchor_unavailable, trigger.event.to_string() + ": no event bus");
    co_return false;
  }
  // The trigger's scope is this request: its events since the head arrived count.
  auto state = std::make_shared<language::TriggerState>();
  const auto& log = bus->log();
  for (std::size_t i = mark_; i < log.size(); ++i)
    if (state->offer_event(trigger, log[i])) co_return true;
  auto hit = std::make_shared<bool>(false);
  std::weak_ptr<ClientConnection> weak = conn_;
  const int id = bus->subscribe(trigger.event, [hit, weak, state, trigger](const events::Event& e) {
    if (!state->offer_event(trigger, e)) return;
    *hit = true;
    if (auto conn = weak.lock()) conn->wake.cancel();
  });
  using namespace asio::experimental::awaitable_operators;
  auto done = [this, hit, end_with_relay] {
    return *hit || abandoned_ || client_gone_ || (end_with_relay && relay_.over());
  };
  if (bound_ms) {
    co_await (wait_until(done) || pause(std::chrono::milliseconds(bound_ms)));
  } else {
    co_await wait_until(done);
  }
  bus->unsubscribe(id);
  co_return *hit;
}

// ------------------------------------------------------------------ watchdog

void Exchange::touch() {
  deadline_ = Clock::now() + std::chrono::milliseconds(config().backend_timeout_ms);
}

asio::awaitable<void> Exchange::watch_backend() {
  auto& timer = conn_->watchdog;
  while (!relay_.over() && !stopped()) {
    timer.expires_at(deadline_);
    co_await timer.async_wait(kUseTuple);
    if (relay_.over() || stopped()) break;
    if (client_waits_ > 0) {
      touch();
      continue;
    }
    if (Clock::now() >= deadline_) {
      timed_out_ = true;
      note(ev::backend_timeout,
           "no backend record for " + std::to_string(config().backend_timeout_ms) + " ms");
      error_code ignored;
      be_->socket.cancel(ignored);  // the relay sees operation_aborted and answers 504
      break;
    }
  }
}

// ------------------------------------------------------------------ client side

asio::awaitable<bool> Exchange::write_client(std::string_view bytes) {
  ClientWait wait(*this);
  auto [ec, n] = co_await asio::async_write(conn_->client, asio::buffer(bytes.data(), bytes.size()),
                                            kUseTuple);
  if (ec) {
    if (!client_gone_ && !stopped()) note(ev::client_error, "write: " + ec.message());
    client_gone_ = true;
    poke();
    co_return false;
  }
  co_return true;
}

asio::awaitable<std::optional<std::size_t>> Exchange::read_body_some() {
  ClientWait wait(*this);
  parser_.get().body().data = body_buf_;
  parser_.get().body().size = sizeof body_buf_;
  auto [ec, n] = co_await http::async_read_some(conn_->client, buffer_, parser_, kUseTuple);
  if (ec == http::error::need_buffer) ec = {};
  if (ec) {
    if (!abandoned_ && !stopped()) note(ev::client_error, "request body: " + ec.message());
    client_gone_ = true;
    poke();
    co_return std::nullopt;
  }
  co_return sizeof body_buf_ - parser_.get().body().size;
}

asio::awaitable<bool> Exchange::read_whole_body() {
  while (!parser_.is_done()) {
    auto got = co_await read_body_some();
    if (!got) co_return false;
    body_.append(body_buf_, *got);
  }
  co_return true;
}

asio::awaitable<void> Exchange::answer_error(int status, std::string why) {
  const std::string body = std::to_string(status) + " " + reason_for(status) + "\n" + why + "\n";
  std::string response =
      "HTTP/1.1 " + std::to_string(status) + " " + reason_for(status) +
      "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n";
  if (!head_only_) response += body;
  keep_alive_ = false;
  if (co_await write_client(response)) note(ev::answered, why, 0, std::to_string(status));
}

asio::awaitable<void> Exchange::answer_bug(const GatewayBug& bug, const BugAnswer& answer) {
  note(ev::bug_emulated, bug.name());
  relay_.head_committed();
  if (answer.kind == BugAnswer::Kind::error_status) {
    co_await answer_error(answer.status, answer.why);
  } else {
    keep_alive_ = false;
    // A named buffer and result: g++ 12 miscompiles `if (co_await f("literal"))`.
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const bool written = co_await write_client(response);
    if (written) note(ev::answered, answer.why, 0, "200");
  }
  abandon();
}

ExchangeFacts Exchange::facts() const {
  return ExchangeFacts{content_length_, writer_.request_out(),
                       relay_.head() == ResponseRelay::Head::sent, client_gone_,
                       config().relay.minimal_buffering()};
}

// ------------------------------------------------------------------ backend side

asio::awaitable<bool> Exchange::acquire_backend() {
  const bool may_reuse = config().keep_conn &&
                         !(traits_.reuse_only_after_first_request && first_on_client_connection_);
  if (may_reuse) {
    while (!state_->idle.empty() && !be_) {
      auto idle = std::move(state_->idle.back());
      state_->idle.pop_back();
      if (idle_connection_usable(idle->socket)) {
        be_ = std::move(idle);
      } else {
        error_code ignored;
        idle->socket.close(ignored);
        note(ev::backend_connection_dropped,
             "kept connection " + std::to_string(idle->number) + " closed while idle");
      }
    }
  }
  if (be_) {
    conn_->backend = be_;
    take_request_id();
    note(ev::backend_connection_reused, "connection " + std::to_string(be_->number), be_->requests);
    co_return true;
  }
  be_ = state_->new_backend();
  conn_->backend = be_;
  const std::string failure = co_await connect_backend_socket(state_, be_->socket);
  if (stopped()) co_return false;
  if (!failure.empty()) {
    note(ev::backend_connect_failed, config().backend.to_string() + ": " + failure);
    co_await answer_error(502, "backend connect failed: " + failure);
    co_return false;
  }
  net::set_no_delay(be_->socket);
  take_request_id();
  note(ev::backend_connected, config().backend.to_string());
  co_return true;
}

void Exchange::take_request_id() {
  request_id_ = be_->next_request_id;
  ++be_->requests;
  if (traits_.request_id_step) {
    const unsigned next = be_->next_request_id + traits_.request_id_step;
    be_->next_request_id = static_cast<std::uint16_t>(next > 0xffff ? 1 : next);
  }
}

// Back to the pool when the request ended cleanly on a kept connection (FastCGI 1.0 §5.1:
// with FCGI_KEEP_CONN the gateway owns the connection), otherwise closed.
void Exchange::release_backend() {
  if (!be_) return;
  const bool reusable = config().keep_conn && relay_.end_request_seen() && writer_.request_out() &&
                        !abandoned_ && !relay_.backend_failed() && !stopped() &&
                        be_->socket.is_open();
  if (reusable && state_->idle.size() < kIdleBackendLimit && !state_->stopped) {
    state_->idle.push_back(be_);
    note(ev::backend_connection_idle, "connection " + std::to_string(be_->number));
  } else {
    close_backend();
  }
  conn_->backend.reset();
}

void Exchange::close_backend() {
  if (!be_) return;
  error_code ignored;
  be_->socket.shutdown(net::Socket::shutdown_both, ignored);
  be_->socket.close(ignored);
}

void Exchange::abandon() {
  abandoned_ = true;
  keep_alive_ = false;
  relay_.end();
  close_backend();
  error_code ignored;
  conn_->client.shutdown(net::Socket::shutdown_send, ignored);
  conn_->client.cancel(ignored);  // a writer still reading the request body stops
}

void Exchange::client_left_mid_request() {
  relay_.end();
  close_backend();
}

cgi::RequestInfo Exchange::request_info() const {
  const auto& request = parser_.get();
  cgi::RequestInfo info;
  info.method = std::string(request.method_string());
  info.target = std::string(request.target());
  info.protocol = http11_ ? "HTTP/1.1" : "HTTP/1.0";
  for (const auto& field : request)
    info.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  info.content_length = content_length_;
  info.server_name = config().server_name;
  error_code ec;
  if (auto local = conn_->client.local_endpoint(ec); !ec)
    std::tie(info.server_addr, info.server_port) = host_port(local);
  if (auto remote = conn_->client.remote_endpoint(ec); !ec)
    std::tie(info.remote_addr, info.remote_port) = host_port(remote);
  if (!config().listen.is_tcp()) info.server_addr = "unix:" + config().listen.path;
  info.document_root = config().document_root;
  return info;
}

}  // namespace fh::fake

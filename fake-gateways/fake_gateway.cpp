#include "fake-gateways/fake_gateway.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <strings.h>
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <cerrno>
#include <cstdio>
#include <tuple>
#include <vector>

#include "codec/fcgi.hpp"
#include "fake-gateways/cgi.hpp"

namespace fh::fake {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kIoSize = 64 * 1024;
constexpr std::uint32_t kRequestHeadLimit = 64 * 1024;
constexpr auto kLingerTime = 1000ms;  // lingering close: let the client read what we sent

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Host and port of a socket endpoint, as CGI wants them (RFC 3875 §4.1.8, §4.1.15).
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

std::string endpoint_text(const net::Socket& socket, bool remote) {
  error_code ec;
  auto endpoint = remote ? socket.remote_endpoint(ec) : socket.local_endpoint(ec);
  if (ec) return "?";
  auto [host, port] = host_port(endpoint);
  return port.empty() ? host : host + ":" + port;
}

std::string chunk_size_line(std::size_t size) {
  char line[24];
  std::snprintf(line, sizeof line, "%zx\r\n", size);
  return line;
}

std::string reason_for(int status) {
  auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  if (reason.empty() || reason.front() == '<') return "Unknown";
  return std::string(reason);
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

// What a personality copies from the real gateway (docs/faults-gateway.md has the sources).
struct Traits {
  bool buffer_request_body = false;     // whole body read before connecting (request buffering)
  bool align8 = false;                  // records padded to a multiple of 8 (§3.3 recommends it)
  bool begin_separate = false;          // BEGIN_REQUEST in its own write
  bool record_per_write = false;        // every record its own write
  std::size_t whole_request_limit = 0;  // whole request in one write up to this size
  bool terminator_with_last_data = false;  // the empty STDIN in the write of the last data
  std::size_t stdin_record_size = fcgi::kMaxContentLength;
  bool read_after_request_sent = false;  // reads the response only once the request is out
  std::uint16_t request_id_step = 0;     // next request id on a kept connection (0: always 1)
  const char* server_software = "fcgi-harness-fake-gateway";
};

Traits traits_of(Personality personality) {
  Traits t;
  if (personality == Personality::nginx) {
    // ngx_http_fastcgi_create_request: one buffer chain, 32 KiB records, padded to 8.
    t.buffer_request_body = true;
    t.align8 = true;
    t.whole_request_limit = 4096;
    t.terminator_with_last_data = true;
    t.stdin_record_size = 32768;
    t.server_software = "nginx/1.22.1";
  } else if (personality == Personality::apache) {
    // mod_proxy_fcgi: begin, environment, body pieces of iobuffersize, then the empty
    // STDIN in a separate write (seed 001).
    t.begin_separate = true;
    t.stdin_record_size = 8192;
    t.read_after_request_sent = true;
    t.server_software = "Apache/2.4.71 (Debian)";
  } else if (personality == Personality::lighttpd) {
    // stream-request-body 0: the whole request queued, then written as the socket allows.
    t.buffer_request_body = true;
    t.whole_request_limit = SIZE_MAX;
    t.terminator_with_last_data = true;
    t.stdin_record_size = 16384;
    t.server_software = "lighttpd/1.4.69";
  } else if (personality == Personality::haproxy) {
    // mux_fcgi: ids 1, 3, 5... on a kept connection; the empty STDIN with the end of message.
    t.terminator_with_last_data = true;
    t.request_id_step = 2;
    t.server_software = "HAProxy";
  } else if (personality == Personality::caddy) {
    // Go FastCGI client: each record its own Write, padded to 8.
    t.align8 = true;
    t.begin_separate = true;
    t.record_per_write = true;
    t.server_software = "Caddy";
  }
  return t;
}

// Parameter conventions on top of the RFC 3875 set (fastcgi_params, mod_proxy_fcgi, ...).
void apply_personality_params(Personality personality, const Traits& traits,
                              fcgi::NameValues& params) {
  auto find = [&](std::string_view name) {
    return std::find_if(params.begin(), params.end(),
                        [&](const auto& p) { return p.first == name; });
  };
  if (auto it = find("SERVER_SOFTWARE"); it != params.end()) it->second = traits.server_software;
  if (personality == Personality::plain) return;
  params.emplace_back("REQUEST_SCHEME", "http");
  if (personality == Personality::nginx) {
    // fastcgi_params sends CONTENT_TYPE and CONTENT_LENGTH always, empty when absent.
    if (find("CONTENT_TYPE") == params.end()) params.emplace_back("CONTENT_TYPE", "");
    if (find("CONTENT_LENGTH") == params.end()) params.emplace_back("CONTENT_LENGTH", "");
    if (auto it = find("SCRIPT_NAME"); it != params.end())
      params.emplace_back("DOCUMENT_URI", it->second);
  } else if (personality == Personality::lighttpd) {
    params.emplace_back("REDIRECT_STATUS", "200");  // for php-cgi's cgi.force_redirect
  } else if (personality == Personality::apache) {
    params.emplace_back("SERVER_SIGNATURE", "");
  }
}

std::string errno_name(const error_code& ec) {
  if (ec == asio::error::broken_pipe) return "EPIPE";
  if (ec == asio::error::connection_reset) return "ECONNRESET";
  if (ec == asio::error::eof) return "EOF";
  return ec.message();
}

// A backend connection; kept ones (FCGI_KEEP_CONN) go back to the pool between requests.
struct BackendConn {
  BackendConn(const asio::any_io_executor& executor, std::uint32_t n)
      : socket(executor), number(n) {}
  net::Socket socket;
  std::uint32_t number;
  std::uint16_t next_request_id = 1;
  std::uint32_t requests = 0;
};

// One client connection; its backend connection changes per request (or comes from the pool).
struct Connection {
  Connection(const asio::any_io_executor& executor, net::Socket client_socket, std::uint32_t number)
      : client(std::move(client_socket)),
        watchdog(executor),
        wake(executor, asio::steady_timer::time_point::max()),
        id(number) {}

  void close_all() {
    stopped = true;
    error_code ignored;
    client.close(ignored);
    if (backend) backend->socket.close(ignored);
    watchdog.cancel();
    wake.cancel();
  }

  net::Socket client;
  std::shared_ptr<BackendConn> backend;
  asio::steady_timer watchdog;  // backend_timeout_ms of backend silence
  asio::steady_timer wake;      // a condition: cancelled whenever awaited state changes
  std::uint32_t id;
  bool stopped = false;
};

constexpr std::size_t kIdleBackendLimit = 4;
constexpr std::size_t kMinimalBuffer = 64 * 1024;  // stream_response_body 2: unsent limit

struct GatewayState {
  GatewayState(asio::io_context& context, GatewayConfig cfg)
      : io(context), config(std::move(cfg)) {}

  void note(std::uint32_t connection, std::string what, std::string detail = {},
            std::uint16_t request_id = 0, std::uint64_t value = 0) {
    const auto now = Clock::now();
    log.push_back(GatewayLogEntry{now, connection, what, detail, request_id, value});
    if (config.bus)
      config.bus->publish(events::Event{now, "gateway", std::move(what), connection, request_id,
                                        value, std::move(detail)});
  }

  void wake_all() {
    for (auto& weak : connections)
      if (auto conn = weak.lock()) conn->wake.cancel();
  }

  std::shared_ptr<BackendConn> new_backend() {
    auto backend = std::make_shared<BackendConn>(io.get_executor(), ++backend_connections);
    std::erase_if(backends, [](const auto& weak) { return weak.expired(); });
    backends.push_back(backend);
    return backend;
  }

  asio::io_context& io;
  GatewayConfig config;
  std::optional<net::Acceptor> acceptor;
  net::Address address;
  bool stopped = false;
  std::vector<GatewayLogEntry> log;
  std::uint32_t accepted = 0;
  std::vector<std::weak_ptr<Connection>> connections;
  std::uint32_t backend_connections = 0;
  std::vector<std::weak_ptr<BackendConn>> backends;  // to close at stop()
  std::vector<std::shared_ptr<BackendConn>> idle;    // kept connections between requests
  bool probes_done = true;
};

using State = GatewayState;
using RequestParser = http::request_parser<http::buffer_body>;

// Connects `socket` to the backend within the connect timeout; the failure text, or "".
asio::awaitable<std::string> connect_backend_socket(std::shared_ptr<State> state,
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

// A kept connection the backend closed while idle shows EOF (or data it should not have sent).
bool idle_connection_usable(net::Socket& socket) {
  if (!socket.is_open()) return false;
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Forwards one HTTP request to the backend and relays the answer. Lives in the frame of the
// connection's coroutine, which awaits every coroutine that uses it.
class Forward {
 public:
  Forward(std::shared_ptr<State> state, std::shared_ptr<Connection> conn, RequestParser& parser,
          beast::flat_buffer& buffer)
      : state_(std::move(state)),
        conn_(std::move(conn)),
        parser_(parser),
        buffer_(buffer),
        traits_(traits_of(state_->config.personality)),
        mark_(state_->config.bus ? state_->config.bus->log().size() : 0) {
    if (config().stdin_record_size) traits_.stdin_record_size = config().stdin_record_size;
  }

  /// True when the client connection may carry another request.
  asio::awaitable<bool> run() {
    const auto& request = parser_.get();
    keep_alive_ = parser_.keep_alive();
    head_only_ = request.method() == http::verb::head;
    http11_ = request.version() >= 11;
    note("request_head", std::string(request.method_string()) + " " +
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
      content_length_ = stdin_.size();
      stdin_buffered_ = true;
    } else {
      // Present also as "0" when the client sent that.
      if (auto length = parser_.content_length()) content_length_ = *length;
      stdin_buffered_ = !has_body;
    }
    if (conn_->stopped) co_return false;
    if (!state_->probes_done) {
      co_await wait_until([this] { return state_->probes_done; });  // probes go first
      if (conn_->stopped) co_return false;
    }
    if (streaming() && config().stream_response_body == 2u) {
      // Fixed so that "the client is behind" depends on the client's reading, not on the
      // kernel's send buffer autotuning (which can swallow a whole 1 MB response).
      error_code ignored;
      conn_->client.set_option(asio::socket_base::send_buffer_size(kMinimalBuffer), ignored);
    }

    if (!co_await acquire_backend()) co_return false;
    touch();
    using namespace asio::experimental::awaitable_operators;
    co_await (send_request() && relay() && watch_backend() && abort_watch() && client_writer());
    release_backend();
    co_return keep_alive_ && !fatal_ && !client_gone_ && !conn_->stopped;
  }

 private:
  void note(std::string what, std::string detail = {}, std::uint64_t value = 0) {
    state_->note(conn_->id, std::move(what), std::move(detail), request_id_, value);
  }

  const GatewayConfig& config() const { return state_->config; }
  bool streaming() const {
    return config().stream_response_body == 1u || config().stream_response_body == 2u;
  }
  void poke() { conn_->wake.cancel(); }

  // Waits until `pred` holds or the gateway stops; every change `pred` reads calls poke().
  template <typename Pred>
  asio::awaitable<void> wait_until(Pred pred) {
    while (!pred() && !conn_->stopped) co_await conn_->wake.async_wait(kUseTuple);
  }

  asio::awaitable<void> pause(std::chrono::milliseconds time) {
    if (time.count() == 0) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, time);
    // Bounded slices so that stop() ends the pause within 50 ms.
    while (!conn_->stopped && Clock::now() < timer.expiry()) {
      asio::steady_timer slice(co_await asio::this_coro::executor,
                               std::min<Clock::time_point>(timer.expiry(), Clock::now() + 50ms));
      co_await slice.async_wait(kUseTuple);
    }
  }

  bool seen(const events::Selector& selector) const {
    const auto* bus = config().bus;
    if (!bus) return false;
    const auto& log = bus->log();
    for (std::size_t i = mark_; i < log.size(); ++i)
      if (selector.matches(log[i])) return true;
    return false;
  }

  // A barrier on another party's event (or ours): true once `selector` was published since
  // this request's head arrived; false when the request failed, the gateway stopped,
  // `bound_ms` passed or (end_with_relay) the response ended.
  asio::awaitable<bool> wait_event(events::Selector selector, std::uint32_t bound_ms,
                                   bool end_with_relay) {
    auto* bus = config().bus;
    if (!bus) {
      note("anchor_unavailable", selector.to_string() + ": no event bus");
      co_return false;
    }
    if (seen(selector)) co_return true;
    auto hit = std::make_shared<bool>(false);
    std::weak_ptr<Connection> weak = conn_;
    const int id = bus->subscribe(selector, [hit, weak](const events::Event&) {
      *hit = true;
      if (auto conn = weak.lock()) conn->wake.cancel();
    });
    using namespace asio::experimental::awaitable_operators;
    auto done = [this, hit, end_with_relay] {
      return *hit || fatal_ || client_gone_ || (end_with_relay && finished_);
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

  void touch() {
    deadline_ = Clock::now() + std::chrono::milliseconds(config().backend_timeout_ms);
  }

  // Time spent waiting on the client (slow upload, slow reader) or on the gateway's own
  // scripted pauses is not backend silence.
  struct ClientWait {
    explicit ClientWait(Forward& f) : forward(f) { ++forward.client_waits_; }
    ~ClientWait() {
      if (--forward.client_waits_ == 0) forward.touch();
    }
    Forward& forward;
  };

  asio::awaitable<void> watch_backend() {
    auto& timer = conn_->watchdog;
    while (!finished_ && !conn_->stopped) {
      timer.expires_at(deadline_);
      co_await timer.async_wait(kUseTuple);
      if (finished_ || conn_->stopped) break;
      if (client_waits_ > 0) {
        touch();
        continue;
      }
      if (Clock::now() >= deadline_) {
        timed_out_ = true;
        note("backend_timeout",
             "no backend record for " + std::to_string(config().backend_timeout_ms) + " ms");
        error_code ignored;
        be_->socket.cancel(ignored);  // the relay sees operation_aborted and answers 504
        break;
      }
    }
  }

  // ------------------------------------------------------------------ client side

  asio::awaitable<bool> write_client(std::string_view bytes) {
    ClientWait wait(*this);
    auto [ec, n] = co_await asio::async_write(conn_->client,
                                              asio::buffer(bytes.data(), bytes.size()), kUseTuple);
    if (ec) {
      if (!client_gone_ && !conn_->stopped) note("client_error", "write: " + ec.message());
      client_gone_ = true;
      poke();
      co_return false;
    }
    co_return true;
  }

  // Reads some request body into `body_buf_`; returns the byte count, nullopt at an error.
  asio::awaitable<std::optional<std::size_t>> read_body_some() {
    ClientWait wait(*this);
    parser_.get().body().data = body_buf_;
    parser_.get().body().size = sizeof body_buf_;
    auto [ec, n] = co_await http::async_read_some(conn_->client, buffer_, parser_, kUseTuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      if (!fatal_ && !conn_->stopped) note("client_error", "request body: " + ec.message());
      client_gone_ = true;
      poke();
      co_return std::nullopt;
    }
    co_return sizeof body_buf_ - parser_.get().body().size;
  }

  asio::awaitable<bool> read_whole_body() {
    while (!parser_.is_done()) {
      auto got = co_await read_body_some();
      if (!got) co_return false;
      stdin_.append(body_buf_, *got);
    }
    co_return true;
  }

  asio::awaitable<void> answer_error(int status, std::string why) {
    const std::string body = std::to_string(status) + " " + reason_for(status) + "\n" + why + "\n";
    std::string response =
        "HTTP/1.1 " + std::to_string(status) + " " + reason_for(status) +
        "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n";
    if (!head_only_) response += body;
    keep_alive_ = false;
    if (co_await write_client(response)) note("answered_" + std::to_string(status), why);
  }

  // The lighttpd stream modes: the relay queues, this writes, so that reading the backend
  // and writing the client are decoupled (1: unbounded queue, 2: bounded by kMinimalBuffer).
  asio::awaitable<void> client_writer() {
    if (!streaming()) co_return;
    for (;;) {
      co_await wait_until([this] { return !client_out_.empty() || finished_ || client_gone_; });
      if (client_out_.empty() || client_gone_ || conn_->stopped) co_return;
      std::string chunk = std::move(client_out_);
      client_out_.clear();
      in_flight_ = chunk.size();
      const bool ok = co_await write_client(chunk);
      in_flight_ = 0;
      poke();
      if (!ok) co_return;
    }
  }

  std::size_t client_unsent() const { return client_out_.size() + in_flight_; }

  asio::awaitable<void> client_drained() {
    co_await wait_until([this] { return client_unsent() == 0 || client_gone_; });
  }

  // ------------------------------------------------------------------ backend side

  asio::awaitable<bool> acquire_backend() {
    if (config().keep_conn) {
      while (!state_->idle.empty() && !be_) {
        auto idle = std::move(state_->idle.back());
        state_->idle.pop_back();
        if (idle_connection_usable(idle->socket)) {
          be_ = std::move(idle);
        } else {
          error_code ignored;
          idle->socket.close(ignored);
          note("backend_connection_dropped",
               "kept connection " + std::to_string(idle->number) + " closed while idle");
        }
      }
    }
    if (be_) {
      conn_->backend = be_;
      take_request_id();
      note("backend_connection_reused", "connection " + std::to_string(be_->number), be_->requests);
      co_return true;
    }
    be_ = state_->new_backend();
    conn_->backend = be_;
    const std::string failure = co_await connect_backend_socket(state_, be_->socket);
    if (conn_->stopped) co_return false;
    if (!failure.empty()) {
      note("backend_connect_failed", config().backend.to_string() + ": " + failure);
      co_await answer_error(502, "backend connect failed: " + failure);
      co_return false;
    }
    net::set_no_delay(be_->socket);
    take_request_id();
    note("backend_connected", config().backend.to_string());
    co_return true;
  }

  void take_request_id() {
    request_id_ = be_->next_request_id;
    ++be_->requests;
    if (traits_.request_id_step) {
      const unsigned next = be_->next_request_id + traits_.request_id_step;
      be_->next_request_id = static_cast<std::uint16_t>(next > 0xffff ? 1 : next);
    }
  }

  // Back to the pool when the request ended cleanly on a kept connection (FastCGI 1.0 §5.1:
  // with FCGI_KEEP_CONN the gateway owns the connection), otherwise closed.
  void release_backend() {
    if (!be_) return;
    const bool reusable = config().keep_conn && end_request_seen_ && request_sent_ && !fatal_ &&
                          !aborted_ && !backend_failed_ && !conn_->stopped && be_->socket.is_open();
    if (reusable && state_->idle.size() < kIdleBackendLimit && !state_->stopped) {
      state_->idle.push_back(be_);
      note("backend_connection_idle", "connection " + std::to_string(be_->number));
    } else {
      close_backend();
    }
    conn_->backend.reset();
  }

  // Writes `out_` (one write, or the stdin_segments split) and publishes a failure.
  asio::awaitable<bool> flush(bool has_stdin) {
    if (out_.empty()) co_return true;
    fcgi::Bytes bytes = std::move(out_);
    out_.clear();
    if (*abort_flag_ || aborted_ || !forwarding_) co_return false;
    std::vector<std::string_view> pieces;
    const std::string_view all(bytes);
    const auto& segments = config().stdin_segments;
    if (has_stdin && !segments.empty()) {
      std::size_t at = 0;
      for (std::size_t i = 0; at < all.size(); ++i) {
        const std::size_t size =
            std::max<std::size_t>(1, segments[std::min(i, segments.size() - 1)]);
        pieces.push_back(all.substr(at, size));
        at += size;
      }
    } else {
      pieces.push_back(all);
    }
    backend_writing_ = true;
    error_code failure;
    for (const auto piece : pieces) {
      auto result = co_await asio::async_write(be_->socket, asio::buffer(piece), kUseTuple);
      failure = std::get<0>(result);
      if (!failure) failure = socket_error(be_->socket);
      if (failure) break;
      note("backend_bytes_written", {}, piece.size());  // one write: personalities differ here
      touch();
    }
    backend_writing_ = false;
    poke();
    if (!failure) co_return true;
    write_error_ = failure;
    co_await on_write_error(has_stdin);
    co_return false;
  }

  // A write after the peer's RST may succeed into the send buffer; the RST is then only in
  // the socket's error state (Linux), so look there too.
  static error_code socket_error(net::Socket& socket) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
        error != 0)
      return error_code(error, boost::system::system_category());
    return {};
  }

  asio::awaitable<void> on_write_error(bool has_stdin) {
    const error_code ec = write_error_;
    forwarding_ = false;
    if (finished_ || conn_->stopped || aborted_) co_return;
    note("backend_write_error", errno_name(ec), static_cast<std::uint64_t>(ec.value()));
    if (!has_stdin || head_sent_ || client_gone_) co_return;
    if (config().bugs.fail_on_stdin_write_error) {
      // Apache mod_proxy_fcgi (seed 001 problem 1): the request fails although the backend's
      // complete response is (or will be) readable.
      note("bug_emulated", "fail_on_stdin_write_error");
      head_sent_ = true;
      co_await answer_error(503,
                            "error writing the request body to the backend: " + errno_name(ec));
      abandon();
    } else if (nginx_empty_200_applies()) {
      co_await answer_empty_200();
    }
    // Fixed: keep reading; the relay delivers a complete response or answers 502.
  }

  // nginx (seed 001 problem 2): any backend I/O error while a body over 4 KiB is being sent
  // (a failed write, or the close seen first by the reader) ends in 200 with an empty body.
  bool nginx_empty_200_applies() const {
    return config().bugs.nginx_empty_200 && content_length_.value_or(0) > 4096 && !request_sent_ &&
           !head_sent_ && !client_gone_;
  }

  asio::awaitable<void> answer_empty_200() {
    note("bug_emulated", "nginx_empty_200");
    head_sent_ = true;
    keep_alive_ = false;
    // A named buffer and result: g++ 12 miscompiles `if (co_await f("literal"))`.
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const bool written = co_await write_client(response);
    if (written) note("answered_200", "empty body after a backend I/O error");
    abandon();
  }

  cgi::RequestInfo request_info() const {
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

  void append_records(const std::vector<fcgi::Record>& records) {
    for (const auto& record : records) fcgi::append_record(record, out_);
  }

  bool terminator_is_late() const {
    const auto& plan = config().stdin_terminator;
    return plan.delay_ms > 0 || plan.after.has_value();
  }

  // BEGIN_REQUEST, PARAMS, STDIN (FastCGI 1.0 §5.1-5.3) in the personality's writes, with the
  // scripted body pacing, splits, terminator and abort.
  asio::awaitable<void> send_request() {
    try {
      co_await send_request_records();
    } catch (...) {
      // Cancellation or resource exhaustion: the relay decides the outcome.
    }
    send_done_ = true;
    poke();
  }

  asio::awaitable<void> send_request_records() {
    const std::uint8_t flags = config().keep_conn ? fcgi::kKeepConn : std::uint8_t{0};
    fcgi::append_record(fcgi::make_begin_request(request_id_, fcgi::Role::Responder, flags), out_);
    if (traits_.begin_separate && !co_await flush(false)) co_return;
    auto params = cgi::build_params(request_info());
    apply_personality_params(config().personality, traits_, params);
    const auto param_records =
        fcgi::make_stream(fcgi::RecordType::Params, request_id_, fcgi::encode_name_values(params),
                          true, fcgi::kMaxContentLength, traits_.align8);
    for (const auto& record : param_records) {
      fcgi::append_record(record, out_);
      if (traits_.record_per_write && !co_await flush(false)) co_return;
    }
    // nginx and lighttpd put the whole (buffered) request in one write when it is small.
    hold_ = stdin_buffered_ && !config().body_pace && !terminator_is_late() &&
            config().stdin_segments.empty() && !config().abort &&
            out_.size() + stdin_.size() + 64 <= traits_.whole_request_limit;
    const std::string params_detail = std::to_string(params.size()) + " params";
    if (!hold_) {
      if (!co_await flush(false)) co_return;
      note("params_sent", params_detail);
    }
    if (co_await abort_due()) co_return;

    if (stdin_buffered_) {
      if (!co_await send_stdin(stdin_, true)) co_return;
    } else {
      while (!parser_.is_done() && !fatal_ && !client_gone_ && !conn_->stopped) {
        auto got = co_await read_body_some();
        if (!got) break;
        // A backend that already answered or failed gets no more; the body is still read
        // off the client connection so that it can carry the next request.
        if (forwarding_ && !finished_ && !aborted_)
          co_await send_stdin(std::string_view(body_buf_, *got), parser_.is_done());
      }
    }
    if (client_gone_ && !finished_) {
      // The client left mid-request: abort the backend request by closing its connection.
      finished_ = true;
      close_backend();
      co_return;
    }
    if (hold_) {  // the whole request at once
      // No body: the empty STDIN still ends the request, in the same write (as nginx does).
      if (stdin_.empty() && traits_.terminator_with_last_data &&
          config().stdin_terminator.count > 0)
        terminator_pending_ = true;
      const bool terminated = terminator_pending_;
      if (terminated) append_terminator();
      if (!co_await flush(true)) co_return;
      note("params_sent", params_detail);
      if (stdin_sent_) note("stdin_bytes_sent", std::to_string(stdin_sent_), stdin_sent_);
      if (terminated) note_terminator_sent();
      co_return;
    }
    if (terminator_pending_) {  // with the last data, as the personality writes it
      append_terminator();
      if (co_await flush(true)) note_terminator_sent();
      co_return;
    }
    if (request_sent_ || aborted_ || !forwarding_ || !parser_.is_done()) co_return;
    co_await send_terminator();
  }

  // One piece of body: cut by body_pace and the abort point, encoded as STDIN records.
  asio::awaitable<bool> send_stdin(std::string_view data, bool last) {
    const auto& pace = config().body_pace;
    while (!data.empty()) {
      if (*abort_flag_ || aborted_ || !forwarding_ || conn_->stopped) co_return false;
      std::size_t take = data.size();
      if (pace && pace->bytes) {
        if (paced_before_) {
          ClientWait wait(*this);  // our own pacing is not backend silence
          co_await pause(std::chrono::milliseconds(pace->every_ms));
        }
        paced_before_ = true;
        take = static_cast<std::size_t>(std::min<std::uint64_t>(take, pace->bytes));
      }
      if (const auto& abort = config().abort;
          abort && abort->after_body_bytes && stdin_sent_ < *abort->after_body_bytes)
        take = static_cast<std::size_t>(
            std::min<std::uint64_t>(take, *abort->after_body_bytes - stdin_sent_));
      const auto piece = data.substr(0, take);
      data.remove_prefix(take);
      const auto records = fcgi::make_stream(fcgi::RecordType::Stdin, request_id_, piece, false,
                                             traits_.stdin_record_size, traits_.align8);
      const bool final_piece = last && data.empty();
      if (traits_.record_per_write) {
        for (const auto& record : records) {
          fcgi::append_record(record, out_);
          if (!co_await flush(true)) co_return false;
        }
      } else {
        append_records(records);
      }
      stdin_pieces_ += take;
      if (final_piece && traits_.terminator_with_last_data && !terminator_is_late() &&
          !config().body_pace && config().stdin_terminator.count > 0) {
        terminator_pending_ = true;  // written with this data by the caller
        stdin_sent_ += take;
        co_return true;
      }
      if (hold_) {
        stdin_sent_ += take;
        continue;
      }
      if (!co_await flush(true)) co_return false;
      stdin_sent_ += take;
      note("stdin_bytes_sent", std::to_string(take) + " bytes", stdin_sent_);
      if (co_await abort_due()) co_return false;
    }
    co_return true;
  }

  void append_terminator() {
    for (std::uint32_t i = 0; i < config().stdin_terminator.count; ++i)
      fcgi::append_record(fcgi::make_stream_record(fcgi::RecordType::Stdin, request_id_, ""), out_);
  }

  void note_terminator_sent() {
    request_sent_ = true;
    const auto count = config().stdin_terminator.count;
    note("stdin_terminator_sent",
         std::to_string(stdin_sent_) + " body bytes" + (count > 1 ? ", doubled" : ""), count);
    poke();
  }

  // The empty STDIN on its own: late (after a delay or a barrier), doubled, or missing.
  asio::awaitable<void> send_terminator() {
    const auto& plan = config().stdin_terminator;
    if (plan.count == 0) {
      request_sent_ = true;
      note("stdin_terminator_withheld", std::to_string(stdin_sent_) + " body bytes");
      poke();
      co_return;
    }
    if (plan.delay_ms) {
      ClientWait wait(*this);
      co_await pause(std::chrono::milliseconds(plan.delay_ms));
    }
    if (plan.after) {
      ClientWait wait(*this);
      if (!co_await wait_event(*plan.after, config().backend_timeout_ms, false)) {
        if (!conn_->stopped && !fatal_)
          note("stdin_terminator_withheld", plan.after->to_string() + " did not happen");
        request_sent_ = true;
        poke();
        co_return;
      }
    }
    if (conn_->stopped || fatal_ || aborted_ || !be_->socket.is_open()) co_return;
    append_terminator();
    if (co_await flush(true)) note_terminator_sent();
  }

  // ------------------------------------------------------------------ abort

  // True when the abort point by body bytes is reached (then the abort was done).
  asio::awaitable<bool> abort_due() {
    const auto& abort = config().abort;
    if (!abort || !abort->after_body_bytes || stdin_sent_ < *abort->after_body_bytes || aborted_)
      co_return aborted_;
    if (abort->delay_ms) co_await pause(std::chrono::milliseconds(abort->delay_ms));
    co_await do_abort("after " + std::to_string(stdin_sent_) + " body bytes");
    co_return true;
  }

  asio::awaitable<void> abort_watch() {
    const auto& abort = config().abort;
    if (!abort || !abort->after_event) co_return;
    auto* bus = config().bus;
    if (!bus) co_return;
    // The flag is set inside the publisher's handler, so send_request stops before its next
    // write: "abort after X" means nothing of the request follows X.
    std::weak_ptr<bool> flag = abort_flag_;
    const bool immediate = abort->delay_ms == 0;
    const int id = bus->subscribe(*abort->after_event, [flag, immediate](const events::Event&) {
      if (auto f = flag.lock(); f && immediate) *f = true;
    });
    const bool hit = co_await wait_event(*abort->after_event, 0, true);
    bus->unsubscribe(id);
    if (!hit || finished_ || conn_->stopped) co_return;
    if (abort->delay_ms) co_await pause(std::chrono::milliseconds(abort->delay_ms));
    *abort_flag_ = true;
    co_await do_abort("after " + abort->after_event->to_string());
  }

  asio::awaitable<void> do_abort(std::string why) {
    if (aborted_ || finished_ || conn_->stopped) co_return;
    aborted_ = true;
    *abort_flag_ = true;
    poke();
    co_await wait_until([this] { return !backend_writing_; });
    if (finished_ || conn_->stopped) co_return;
    const auto how = config().abort->how;
    if (how == AbortPlan::How::abort_request) {
      // FastCGI 1.0 §5.4: the application answers with END_REQUEST; keep relaying.
      fcgi::Bytes bytes;
      fcgi::append_record(fcgi::make_abort_request(request_id_), bytes);
      auto [ec, n] = co_await asio::async_write(be_->socket, asio::buffer(bytes), kUseTuple);
      if (ec) {
        note("backend_write_error", errno_name(ec), static_cast<std::uint64_t>(ec.value()));
      } else {
        note("abort_request_sent", why);
      }
      co_return;
    }
    error_code ignored;
    if (how == AbortPlan::How::reset)
      be_->socket.set_option(asio::socket_base::linger(true, 0), ignored);  // RST
    note("backend_closed_by_gateway", (how == AbortPlan::How::reset ? "reset " : "close ") + why);
    close_backend();
  }

  void close_backend() {
    if (!be_) return;
    error_code ignored;
    be_->socket.shutdown(net::Socket::shutdown_both, ignored);
    be_->socket.close(ignored);
  }

  // ------------------------------------------------------------------ relay

  asio::awaitable<void> relay() {
    try {
      if (traits_.read_after_request_sent && content_length_.value_or(0) <= 64 * 1024) {
        // Apache writes the (small) request, empty STDIN included, before it reads.
        co_await wait_until([this] { return send_done_ || finished_; });
      }
      const auto& plan = config().backend_read;
      if (plan.pause_ms) {
        ClientWait wait(*this);  // our own backpressure is not backend silence
        note("backend_read_paused", "backend_read.pause_ms", plan.pause_ms);
        co_await pause(std::chrono::milliseconds(plan.pause_ms));
        note("backend_read_resumed");
      }
      const std::size_t read_size =
          plan.bytes_per_read ? std::min(plan.bytes_per_read, sizeof read_buf_) : sizeof read_buf_;
      fcgi::RecordDecoder decoder;
      std::vector<fcgi::Record> records;
      bool first = true;
      for (;;) {
        if (!first && plan.every_ms) {
          ClientWait wait(*this);
          co_await pause(std::chrono::milliseconds(plan.every_ms));
        }
        first = false;
        if (!co_await client_caught_up()) {
          end_relay();
          co_return;
        }
        auto [ec, n] =
            co_await be_->socket.async_read_some(asio::buffer(read_buf_, read_size), kUseTuple);
        if (n > 0) {
          touch();
          records.clear();
          auto error = decoder.feed(std::string_view(read_buf_, n), records);
          for (const auto& record : records) {
            if (!co_await on_record(record)) co_return;
          }
          if (error) {
            co_await fail("FastCGI protocol error: " + error->message);
            co_return;
          }
        }
        if (ec) {
          if (end_request_seen_ && !conn_->stopped && !client_gone_) {
            // wait_for_backend_close: the close (or the timeout) ends the response.
            if (timed_out_) {
              note("backend_close_timeout", "no close after END_REQUEST");
            } else {
              note("backend_closed", "after END_REQUEST");
            }
            co_await complete_response();
          } else if (conn_->stopped || client_gone_ || finished_) {
            end_relay();
          } else if (timed_out_) {
            co_await fail_timeout();
          } else if (ec == asio::error::eof) {
            backend_failed_ = true;
            co_await fail(std::string("backend closed the connection") +
                          (decoder.mid_record() ? " mid-record" : "") + " before END_REQUEST");
          } else {
            backend_failed_ = true;
            note("backend_read_error", errno_name(ec), static_cast<std::uint64_t>(ec.value()));
            co_await fail("backend connection: " + ec.message());
          }
          co_return;
        }
      }
    } catch (...) {
      end_relay();
    }
  }

  // stream_response_body 2: no backend read while the client is more than kMinimalBuffer
  // behind. False when the client left.
  asio::awaitable<bool> client_caught_up() {
    if (config().stream_response_body != 2u || client_unsent() <= kMinimalBuffer)
      co_return !client_gone_;
    ClientWait wait(*this);
    note("backend_read_paused", "client behind", client_unsent());
    if (config().bugs.lighttpd_2796) {
      // lighttpd #2796 (seed 000): FDEVENT_IN is never re-armed once the client caught up.
      note("bug_emulated", "lighttpd_2796");
      co_await wait_until([this] { return client_gone_; });
      co_return false;
    }
    co_await client_drained();
    if (client_gone_ || conn_->stopped) co_return false;
    note("backend_read_resumed", "client caught up");
    co_return true;
  }

  // False once the request is over (END_REQUEST, failure, client gone).
  asio::awaitable<bool> on_record(const fcgi::Record& record) {
    if (record.request_id != request_id_ || end_request_seen_) {
      note("backend_record_ignored",
           fcgi::type_name(record.type) + " for request " + std::to_string(record.request_id));
      co_return true;
    }
    // if-chains, not switch: g++ 12 mishandles locals of case blocks in coroutines.
    if (record.is(fcgi::RecordType::Stdout)) {
      if (record.content.empty()) co_return true;  // §3.3 stream end; END_REQUEST follows
      co_return co_await on_stdout(record.content);
    }
    if (record.is(fcgi::RecordType::Stderr)) {
      if (!record.content.empty()) note("stderr", std::to_string(record.content.size()));
      co_return true;
    }
    if (record.is(fcgi::RecordType::EndRequest)) {
      auto body = fcgi::decode_end_request(record);
      if (!body) {
        co_await fail("bad END_REQUEST: " + body.error().message);
        co_return false;
      }
      const fcgi::EndRequestBody end = body.value();
      end_request_seen_ = true;
      note("end_request_received",
           "app_status=" + std::to_string(end.app_status) +
               " protocol_status=" + std::string(fcgi::protocol_status_name(end.protocol_status)),
           end.protocol_status);
      co_return co_await on_end_request(end);
    }
    note("backend_record_ignored", fcgi::type_name(record.type));
    co_return true;
  }

  asio::awaitable<bool> on_stdout(std::string_view data) {
    if (head_sent_ || head_held_) co_return co_await relay_body(data, {});
    std::string rest;
    const auto parsed = head_parser_.feed(data, rest);
    if (parsed == cgi::ResponseHeadParser::Result::need_more) co_return true;
    if (parsed == cgi::ResponseHeadParser::Result::error) {
      co_await fail("bad CGI response head: " + head_parser_.error());
      co_return false;
    }
    co_return co_await relay_body(rest, response_head(head_parser_.head()));
  }

  // The HTTP head for the CGI head (RFC 3875 §6.3); decides the response body's framing.
  std::string response_head(const cgi::ResponseHead& cgi_head) {
    const int status = cgi_head.status;
    const bool no_body = head_only_ || status / 100 == 1 || status == 204 || status == 304;
    if (no_body) {
      mode_ = BodyMode::none;
    } else if (cgi_head.content_length) {
      mode_ = BodyMode::content_length;
      remaining_ = *cgi_head.content_length;
    } else if (http11_) {
      mode_ = BodyMode::chunked;
    } else {
      mode_ = BodyMode::until_close;  // HTTP/1.0 has no chunked coding
      keep_alive_ = false;
    }
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " +
                       (cgi_head.reason.empty() ? reason_for(status) : cgi_head.reason) + "\r\n";
    for (const auto& [name, value] : cgi_head.headers) {
      // Hop-by-hop fields are the gateway's business, not the application's.
      if (iequals(name, "Transfer-Encoding") || iequals(name, "Connection")) continue;
      head += name + ": " + value + "\r\n";
    }
    if (mode_ == BodyMode::chunked) head += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive_) {
      head += "Connection: close\r\n";
    } else if (!http11_) {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    head_status_ = status;
    return head;
  }

  // `prefix` followed by `data` in the response body's framing.
  std::string frame_body(std::string_view data, std::string prefix) {
    std::string out = std::move(prefix);
    if (mode_ == BodyMode::content_length) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), remaining_));
      if (take < data.size())
        note("excess_body", std::to_string(data.size() - take) + " bytes beyond Content-Length");
      out.append(data.substr(0, take));
      remaining_ -= take;
    } else if (mode_ == BodyMode::chunked) {
      if (!data.empty()) {  // an empty chunk would be the last-chunk
        out += chunk_size_line(data.size());
        out.append(data);
        out += "\r\n";
      }
    } else if (mode_ == BodyMode::until_close) {
      out.append(data);
    }
    return out;
  }

  // Writes `prefix` (the response head, once) and the body bytes framed for the client:
  // at once (default), queued for the writer (stream 1, 2) or held until the end (stream 0).
  asio::awaitable<bool> relay_body(std::string_view data, std::string prefix) {
    const bool with_head = !prefix.empty();
    std::string out = frame_body(data, std::move(prefix));
    if (out.empty()) co_return true;
    if (config().stream_response_body == 0u) {
      held_ += out;
      if (with_head) head_held_ = true;
      co_return true;
    }
    if (streaming()) {
      if (client_gone_) {
        end_relay();
        co_return false;
      }
      client_out_ += out;
      poke();
    } else if (!co_await write_client(out)) {
      end_relay();
      co_return false;
    }
    if (with_head) {
      head_sent_ = true;
      note("response_head_sent", std::to_string(head_status_), head_status_);
    }
    co_return true;
  }

  // False when the request is over; true to keep relaying (waiting for the backend's close).
  asio::awaitable<bool> on_end_request(fcgi::EndRequestBody end) {
    if (!head_sent_ && !head_held_) {
      co_await fail("END_REQUEST (" + std::string(fcgi::protocol_status_name(end.protocol_status)) +
                    ") before a complete CGI response head");
      co_return false;
    }
    if (mode_ == BodyMode::content_length && remaining_ > 0) {
      // The client must see the Content-Length unsatisfied: end the connection.
      if (head_held_ && !head_sent_) co_await write_held();
      co_await truncate(std::to_string(remaining_) + " bytes short of Content-Length");
      co_return false;
    }
    if (config().wait_for_backend_close && !config().keep_conn) {
      // nginx without keep-conn reads until the backend closes (seed 004).
      note("awaiting_backend_close");
      co_return true;
    }
    co_await complete_response();
    co_return false;
  }

  asio::awaitable<bool> write_held() {
    std::string out = std::move(held_);
    held_.clear();
    head_held_ = false;
    if (!co_await write_client(out)) co_return false;
    head_sent_ = true;
    note("response_head_sent", std::to_string(head_status_), head_status_);
    co_return true;
  }

  asio::awaitable<void> complete_response() {
    if (mode_ == BodyMode::until_close) keep_alive_ = false;  // the close ends the body
    bool complete = true;
    if (head_held_ && !head_sent_) complete = co_await write_held();
    if (complete && mode_ == BodyMode::chunked) {
      if (streaming()) {
        client_out_ += "0\r\n\r\n";  // last-chunk
        poke();
      } else {
        complete = co_await write_client("0\r\n\r\n");  // last-chunk
      }
    }
    if (streaming()) {
      co_await client_drained();
      complete = complete && !client_gone_;
    }
    if (complete) note("response_complete");
    end_relay();
  }

  // The client sees the response cut: what was queued, then FIN without the final chunk.
  asio::awaitable<void> truncate(std::string why) {
    if (streaming()) co_await client_drained();
    note("client_truncated", why);
    abandon();
  }

  // The backend failed: 502 before the head, a visible truncation after it.
  asio::awaitable<void> fail(std::string why) {
    note("backend_error", why);
    if (nginx_empty_200_applies()) {
      co_await answer_empty_200();
    } else if (!head_sent_ && !client_gone_) {
      co_await answer_error(502, why);
    } else if (head_sent_) {
      co_await truncate(why);
      co_return;
    }
    abandon();
  }

  asio::awaitable<void> fail_timeout() {
    const std::string why =
        "backend silent for " + std::to_string(config().backend_timeout_ms) + " ms";
    if (!head_sent_ && !client_gone_) {
      co_await answer_error(504, why);
    } else if (head_sent_) {
      co_await truncate(why);
      co_return;
    }
    abandon();
  }

  void end_relay() {
    finished_ = true;
    conn_->watchdog.cancel();
    poke();
    // A kept connection stays open for release_backend(); so does one whose late empty
    // STDIN is still to be written. Otherwise closing also stops a send_request blocked on it.
    const bool keep = (config().keep_conn && end_request_seen_ && !fatal_) ||
                      (end_request_seen_ && !send_done_ && terminator_is_late());
    if (!keep) close_backend();
  }

  // Ends the exchange and the client connection: no final chunk, just FIN (then close).
  void abandon() {
    fatal_ = true;
    keep_alive_ = false;
    end_relay();
    close_backend();
    error_code ignored;
    conn_->client.shutdown(net::Socket::shutdown_send, ignored);
    conn_->client.cancel(ignored);  // a send_request still reading the request body stops
  }

  enum class BodyMode { none, content_length, chunked, until_close };

  std::shared_ptr<State> state_;
  std::shared_ptr<Connection> conn_;
  RequestParser& parser_;
  beast::flat_buffer& buffer_;
  Traits traits_;
  std::size_t mark_;  // bus log size when the request head arrived (barriers look after it)

  std::shared_ptr<BackendConn> be_;
  std::uint16_t request_id_ = 1;

  bool keep_alive_ = true;
  bool head_only_ = false;
  bool http11_ = true;
  std::optional<std::uint64_t> content_length_;
  bool stdin_buffered_ = false;
  std::string stdin_;  // the buffered request body

  // send_request
  fcgi::Bytes out_;                  // records not yet written
  bool hold_ = false;                // the whole request goes in one write
  bool forwarding_ = true;           // no backend write failed
  bool backend_writing_ = false;     // a write is in progress (ABORT_REQUEST waits for it)
  bool terminator_pending_ = false;  // goes with the last data
  bool paced_before_ = false;
  std::uint64_t stdin_sent_ = 0;
  std::uint64_t stdin_pieces_ = 0;
  bool request_sent_ = false;  // the empty STDIN is out (or deliberately withheld)
  bool send_done_ = false;     // send_request returned
  bool aborted_ = false;
  error_code write_error_;
  std::shared_ptr<bool> abort_flag_ = std::make_shared<bool>(false);

  Clock::time_point deadline_;
  int client_waits_ = 0;
  bool timed_out_ = false;
  bool finished_ = false;  // the relay is over (END_REQUEST, failure or client gone)
  bool fatal_ = false;     // the client connection must end
  bool client_gone_ = false;
  bool backend_failed_ = false;
  bool end_request_seen_ = false;

  cgi::ResponseHeadParser head_parser_;
  bool head_sent_ = false;  // committed to the client (written or queued)
  bool head_held_ = false;  // stream_response_body 0: framed, held until END_REQUEST
  int head_status_ = 0;
  BodyMode mode_ = BodyMode::none;
  std::uint64_t remaining_ = 0;
  std::string held_;        // stream_response_body 0
  std::string client_out_;  // stream_response_body 1, 2: queued for client_writer
  std::size_t in_flight_ = 0;

  char body_buf_[kIoSize];
  char read_buf_[kIoSize];
};

// ---------------------------------------------------------------- probes

std::string probe_name(const GatewayProbe& probe) {
  if (probe.kind == GatewayProbe::Kind::get_values) return "get_values";
  if (probe.kind == GatewayProbe::Kind::unknown_type)
    return "unknown_type " + std::to_string(probe.value);
  if (probe.kind == GatewayProbe::Kind::role) return "role " + std::to_string(probe.value);
  return "multiplex " + std::to_string(probe.value);
}

// The bytes of one probe and how many answers end it.
std::pair<fcgi::Bytes, std::uint32_t> probe_request(const GatewayProbe& probe) {
  fcgi::Bytes out;
  if (probe.kind == GatewayProbe::Kind::get_values) {
    // FastCGI 1.0 §4.1: the three variables the specification defines.
    fcgi::append_record(
        fcgi::make_get_values({"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"}), out);
    return {out, 1};
  }
  if (probe.kind == GatewayProbe::Kind::unknown_type) {
    // §4.2: a management record (request id 0) of a type the application does not know.
    fcgi::Record record;
    record.type = static_cast<std::uint8_t>(probe.value);
    record.request_id = 0;
    record.content = std::string(8, '\0');
    fcgi::append_record(record, out);
    return {out, 1};
  }
  const bool multiplex = probe.kind == GatewayProbe::Kind::multiplex;
  const std::uint16_t count = multiplex ? static_cast<std::uint16_t>(probe.value) : 1;
  const auto role = multiplex ? fcgi::Role::Responder : static_cast<fcgi::Role>(probe.value);
  // Interleaved: every BEGIN_REQUEST, then every PARAMS stream, then every STDIN (§3.3).
  for (std::uint16_t id = 1; id <= count; ++id)
    fcgi::append_record(fcgi::make_begin_request(id, role, fcgi::kKeepConn), out);
  const auto params = fcgi::encode_name_values(fcgi::NameValues{
      {"REQUEST_METHOD", "GET"}, {"SCRIPT_NAME", "/probe"}, {"QUERY_STRING", "size=10"}});
  for (std::uint16_t id = 1; id <= count; ++id)
    out += fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Params, id, params, true));
  for (std::uint16_t id = 1; id <= count; ++id)
    fcgi::append_record(fcgi::make_stream_record(fcgi::RecordType::Stdin, id, ""), out);
  return {out, count};
}

asio::awaitable<void> run_probe(std::shared_ptr<State> state, GatewayProbe probe) {
  auto backend = state->new_backend();
  const std::string name = probe_name(probe);
  const std::string failure = co_await connect_backend_socket(state, backend->socket);
  if (state->stopped) co_return;
  if (!failure.empty()) {
    state->note(0, "probe_connect_failed", name + ": " + failure);
    co_return;
  }
  const auto request = probe_request(probe);
  const std::uint32_t expected = request.second;
  auto written =
      co_await asio::async_write(backend->socket, asio::buffer(request.first), kUseTuple);
  const error_code wec = std::get<0>(written);
  if (wec) {
    state->note(0, "backend_write_error", name + ": " + errno_name(wec), 0,
                static_cast<std::uint64_t>(wec.value()));
    co_return;
  }
  state->note(0, "probe_sent", name);
  fcgi::RecordDecoder decoder;
  std::vector<fcgi::Record> records;
  char buf[16384];
  std::uint32_t answers = 0;
  const auto executor = co_await asio::this_coro::executor;
  while (answers < expected && !state->stopped) {
    asio::steady_timer timer(executor, std::chrono::milliseconds(state->config.backend_timeout_ms));
    using namespace asio::experimental::awaitable_operators;
    auto result = co_await (backend->socket.async_read_some(asio::buffer(buf), kUseTuple) ||
                            timer.async_wait(kUseTuple));
    if (state->stopped) break;
    if (result.index() == 1) {
      state->note(0, "probe_timeout", name);
      break;
    }
    auto [ec, n] = std::get<0>(result);
    records.clear();
    auto error = decoder.feed(std::string_view(buf, n), records);
    for (const auto& record : records) {
      if (record.is(fcgi::RecordType::GetValuesResult)) {
        std::string detail;
        std::size_t pairs = 0;
        if (auto values = fcgi::decode_name_values(record.content)) {
          for (const auto& [key, value] : values.value())
            detail += (pairs++ ? " " : "") + key + "=" + value;
        }
        state->note(0, "get_values_result_received", detail, 0, pairs);
        ++answers;
      } else if (record.is(fcgi::RecordType::UnknownType)) {
        auto body = fcgi::decode_unknown_type(record);
        const std::uint64_t type = body ? body.value().type : 0;
        state->note(0, "unknown_type_received", name + ": type " + std::to_string(type), 0, type);
        ++answers;
      } else if (record.is(fcgi::RecordType::EndRequest)) {
        auto body = fcgi::decode_end_request(record);
        const std::uint8_t status = body ? body.value().protocol_status : 0xff;
        state->note(0, "end_request_received",
                    name + ": protocol_status=" + std::string(fcgi::protocol_status_name(status)),
                    record.request_id, status);
        ++answers;
      }
    }
    if (error) {
      state->note(0, "backend_error", name + ": FastCGI protocol error: " + error->message);
      break;
    }
    if (ec) {
      if (answers < expected)
        state->note(0, "probe_connection_closed", name + ": " + errno_name(ec), 0, answers);
      break;
    }
  }
  error_code ignored;
  backend->socket.close(ignored);
}

asio::awaitable<void> run_probes(std::shared_ptr<State> state) {
  try {
    for (const auto& probe : state->config.probes) {
      if (state->stopped) break;
      co_await run_probe(state, probe);
    }
  } catch (...) {
  }
  state->probes_done = true;
  state->wake_all();
}

asio::awaitable<void> linger_close(std::shared_ptr<Connection> conn) {
  // Closing with unread request bytes would send an RST that can destroy the response
  // before the client reads it; read (and drop) them for a moment first.
  error_code ignored;
  conn->client.shutdown(net::Socket::shutdown_send, ignored);
  using namespace asio::experimental::awaitable_operators;
  co_await (drain(conn->client) || sleep_for(kLingerTime));
  conn->client.close(ignored);
}

asio::awaitable<void> serve(std::shared_ptr<State> state, std::shared_ptr<Connection> conn) {
  try {
    state->note(conn->id, "client_accepted", endpoint_text(conn->client, true));
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
          state->note(conn->id, "client_closed");
        } else if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
          state->note(conn->id, "answered_400", ec.message());
          const std::string response =
              "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
          co_await asio::async_write(conn->client, asio::buffer(response), kUseTuple);
        } else {
          state->note(conn->id, "client_error", "request head: " + ec.message());
        }
        break;
      }
      auto forward = std::make_unique<Forward>(state, conn, parser, buffer);
      keep = co_await forward->run();
    }
    if (!conn->stopped) co_await linger_close(conn);
  } catch (...) {
    // Never into io_context::run.
  }
  error_code ignored;
  conn->client.close(ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  for (;;) {
    auto [ec, socket] = co_await state->acceptor->async_accept(kUseTuple);
    if (state->stopped) co_return;
    if (ec) {
      state->note(0, "accept_error", ec.message());
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      co_await sleep_for(10ms);  // EMFILE and friends: try again shortly
      continue;
    }
    net::set_no_delay(socket);
    auto conn =
        std::make_shared<Connection>(socket.get_executor(), std::move(socket), ++state->accepted);
    std::erase_if(state->connections, [](const auto& weak) { return weak.expired(); });
    state->connections.push_back(conn);
    asio::co_spawn(state->io, serve(state, std::move(conn)), [](std::exception_ptr) {});
  }
}

}  // namespace

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
  asio::co_spawn(state.io, accept_loop(state_), [](std::exception_ptr) {});
  if (!state.config.probes.empty()) {
    state.probes_done = false;
    asio::co_spawn(state.io, run_probes(state_), [](std::exception_ptr) {});
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

std::string_view personality_name(Personality personality) {
  if (personality == Personality::nginx) return "nginx";
  if (personality == Personality::apache) return "apache";
  if (personality == Personality::lighttpd) return "lighttpd";
  if (personality == Personality::haproxy) return "haproxy";
  if (personality == Personality::caddy) return "caddy";
  return "plain";
}

std::optional<Personality> parse_personality(std::string_view name) {
  for (auto p : {Personality::plain, Personality::nginx, Personality::apache, Personality::lighttpd,
                 Personality::haproxy, Personality::caddy})
    if (personality_name(p) == name) return p;
  return std::nullopt;
}

void apply_personality_defaults(GatewayConfig& config) {
  // haproxy 2.6: "option keep-conn" is on by default (reference/real-peers.md §2).
  config.keep_conn = config.personality == Personality::haproxy;
}

}  // namespace fh::fake

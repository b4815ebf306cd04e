#include "fake-gateways/fake_gateway.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

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
constexpr std::uint16_t kRequestId = 1;  // one request per backend connection
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

// One client connection. The backend socket is opened anew per request (no reuse yet).
struct Connection {
  Connection(const asio::any_io_executor& executor, net::Socket client_socket, std::uint32_t number)
      : client(std::move(client_socket)), backend(executor), watchdog(executor), id(number) {}

  void close_all() {
    stopped = true;
    error_code ignored;
    client.close(ignored);
    backend.close(ignored);
    watchdog.cancel();
  }

  net::Socket client;
  net::Socket backend;
  asio::steady_timer watchdog;  // backend_timeout_ms of backend silence
  std::uint32_t id;
  bool stopped = false;
};

struct GatewayState {
  GatewayState(asio::io_context& context, GatewayConfig cfg)
      : io(context), config(std::move(cfg)) {}

  void note(std::uint32_t connection, std::string what, std::string detail = {}) {
    const auto now = Clock::now();
    if (config.bus)
      config.bus->publish(events::Event{now, "gateway", what, connection, 0, 0, detail});
    log.push_back(GatewayLogEntry{now, connection, std::move(what), std::move(detail)});
  }

  asio::io_context& io;
  GatewayConfig config;
  std::optional<net::Acceptor> acceptor;
  net::Address address;
  bool stopped = false;
  std::vector<GatewayLogEntry> log;
  std::uint32_t accepted = 0;
  std::vector<std::weak_ptr<Connection>> connections;
};

using State = GatewayState;
using RequestParser = http::request_parser<http::buffer_body>;

// Forwards one HTTP request to the backend and relays the answer. Lives in the frame of the
// connection's coroutine, which awaits every coroutine that uses it.
class Forward {
 public:
  Forward(std::shared_ptr<State> state, std::shared_ptr<Connection> conn, RequestParser& parser,
          beast::flat_buffer& buffer)
      : state_(std::move(state)), conn_(std::move(conn)), parser_(parser), buffer_(buffer) {}

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
    if (parser_.chunked()) {
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

    if (!co_await connect_backend()) co_return false;
    touch();
    using namespace asio::experimental::awaitable_operators;
    co_await (send_request() && relay() && watch_backend());
    co_return keep_alive_ && !fatal_ && !client_gone_ && !conn_->stopped;
  }

 private:
  void note(std::string what, std::string detail = {}) {
    state_->note(conn_->id, std::move(what), std::move(detail));
  }

  const GatewayConfig& config() const { return state_->config; }

  // ------------------------------------------------------------------ watchdog

  void touch() {
    deadline_ = Clock::now() + std::chrono::milliseconds(config().backend_timeout_ms);
  }

  // Time spent waiting on the client (slow upload, slow reader) is not backend silence.
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
        conn_->backend.cancel(ignored);  // the relay sees operation_aborted and answers 504
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

  // ------------------------------------------------------------------ backend side

  asio::awaitable<bool> connect_backend() {
    const auto executor = co_await asio::this_coro::executor;
    std::string failure;
    try {
      conn_->backend = net::Socket(executor);
      asio::steady_timer timer(executor,
                               std::chrono::milliseconds(config().backend_connect_timeout_ms));
      using namespace asio::experimental::awaitable_operators;
      auto result =
          co_await (conn_->backend.async_connect(config().backend.endpoint(), kUseTuple) ||
                    timer.async_wait(kUseTuple));
      if (result.index() == 1) {
        failure = "connect timed out after " + std::to_string(config().backend_connect_timeout_ms) +
                  " ms";
      } else if (auto [ec] = std::get<0>(result); ec) {
        failure = ec.message();
      }
    } catch (const std::exception& e) {
      failure = e.what();  // e.g. an unusable backend address
    }
    if (conn_->stopped) co_return false;
    if (!failure.empty()) {
      note("backend_connect_failed", config().backend.to_string() + ": " + failure);
      co_await answer_error(502, "backend connect failed: " + failure);
      co_return false;
    }
    net::set_no_delay(conn_->backend);
    note("backend_connected", config().backend.to_string());
    co_return true;
  }

  asio::awaitable<bool> write_backend(fcgi::Bytes bytes) {
    auto [ec, n] = co_await asio::async_write(conn_->backend, asio::buffer(bytes), kUseTuple);
    if (ec) {
      if (!finished_ && !conn_->stopped) note("backend_write_error", ec.message());
      co_return false;
    }
    touch();
    co_return true;
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

  // BEGIN_REQUEST, PARAMS, STDIN (FastCGI 1.0 §5.1-5.3), streaming the body as it arrives.
  asio::awaitable<void> send_request() {
    try {
      fcgi::Bytes out;
      fcgi::append_record(
          fcgi::make_begin_request(kRequestId, fcgi::Role::Responder,
                                   config().keep_conn ? fcgi::kKeepConn : std::uint8_t{0}),
          out);
      const auto params = cgi::build_params(request_info());
      out += fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Params, kRequestId,
                                                fcgi::encode_name_values(params), true));
      bool forwarding = co_await write_backend(std::move(out));
      if (forwarding) note("params_sent", std::to_string(params.size()) + " params");

      std::uint64_t sent = 0;
      if (stdin_buffered_) {
        if (forwarding) forwarding = co_await write_stdin(stdin_, sent);
      } else {
        while (!parser_.is_done() && !fatal_ && !client_gone_ && !conn_->stopped) {
          auto got = co_await read_body_some();
          if (!got) break;
          // A backend that already answered or failed gets no more; the body is still read
          // off the client connection so that it can carry the next request.
          if (forwarding && !finished_)
            forwarding = co_await write_stdin(std::string_view(body_buf_, *got), sent);
        }
      }
      if (client_gone_ && !finished_) {
        // The client left mid-request: abort the backend request by closing its connection.
        finished_ = true;
        close_backend();
        co_return;
      }
      if (forwarding && !finished_ && parser_.is_done()) {
        // Encoded outside the co_await: g++ 12 rejects an initializer list inside one.
        fcgi::Bytes terminator;
        fcgi::append_record(fcgi::make_stream_record(fcgi::RecordType::Stdin, kRequestId, ""),
                            terminator);
        if (co_await write_backend(std::move(terminator)))
          note("stdin_terminator_sent", std::to_string(sent) + " body bytes");
      }
    } catch (...) {
      // Cancellation or resource exhaustion: the relay decides the outcome.
    }
  }

  asio::awaitable<bool> write_stdin(std::string_view data, std::uint64_t& sent) {
    if (data.empty()) co_return true;
    const bool ok = co_await write_backend(
        fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Stdin, kRequestId, data, false)));
    if (ok) sent += data.size();
    co_return ok;
  }

  void close_backend() {
    error_code ignored;
    conn_->backend.shutdown(net::Socket::shutdown_both, ignored);
    conn_->backend.close(ignored);
  }

  // ------------------------------------------------------------------ relay

  asio::awaitable<void> relay() {
    try {
      fcgi::RecordDecoder decoder;
      std::vector<fcgi::Record> records;
      for (;;) {
        auto [ec, n] = co_await conn_->backend.async_read_some(asio::buffer(read_buf_), kUseTuple);
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
          if (conn_->stopped || client_gone_ || finished_) {
            end_relay();
          } else if (timed_out_) {
            co_await fail_timeout();
          } else if (ec == asio::error::eof) {
            co_await fail(std::string("backend closed the connection") +
                          (decoder.mid_record() ? " mid-record" : "") + " before END_REQUEST");
          } else {
            co_await fail("backend connection: " + ec.message());
          }
          co_return;
        }
      }
    } catch (...) {
      end_relay();
    }
  }

  // False once the request is over (END_REQUEST, failure, client gone).
  asio::awaitable<bool> on_record(const fcgi::Record& record) {
    if (record.request_id != kRequestId) {
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
      note("end_request", "app_status=" + std::to_string(end.app_status) + " protocol_status=" +
                              std::string(fcgi::protocol_status_name(end.protocol_status)));
      co_await on_end_request(end);
      co_return false;
    }
    note("backend_record_ignored", fcgi::type_name(record.type));
    co_return true;
  }

  asio::awaitable<bool> on_stdout(std::string_view data) {
    if (head_sent_) co_return co_await relay_body(data, {});
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
    switch (mode_) {
      case BodyMode::none:
        break;
      case BodyMode::content_length: {
        const auto take =
            static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), remaining_));
        if (take < data.size())
          note("excess_body", std::to_string(data.size() - take) + " bytes beyond Content-Length");
        out.append(data.substr(0, take));
        remaining_ -= take;
        break;
      }
      case BodyMode::chunked:
        if (!data.empty()) {  // an empty chunk would be the last-chunk
          out += chunk_size_line(data.size());
          out.append(data);
          out += "\r\n";
        }
        break;
      case BodyMode::until_close:
        out.append(data);
        break;
    }
    return out;
  }

  // Writes `prefix` (the response head, once) and the body bytes framed for the client.
  asio::awaitable<bool> relay_body(std::string_view data, std::string prefix) {
    const bool with_head = !prefix.empty();
    std::string out = frame_body(data, std::move(prefix));
    if (out.empty()) co_return true;
    if (!co_await write_client(out)) {
      end_relay();
      co_return false;
    }
    if (with_head) {
      head_sent_ = true;
      note("response_head_sent", std::to_string(head_status_));
    }
    co_return true;
  }

  asio::awaitable<void> on_end_request(fcgi::EndRequestBody end) {
    if (!head_sent_) {
      co_await fail("END_REQUEST (" + std::string(fcgi::protocol_status_name(end.protocol_status)) +
                    ") before a complete CGI response head");
      co_return;
    }
    if (mode_ == BodyMode::content_length && remaining_ > 0) {
      // The client must see the Content-Length unsatisfied: end the connection.
      note("client_truncated", std::to_string(remaining_) + " bytes short of Content-Length");
      abandon();
      co_return;
    }
    if (mode_ == BodyMode::until_close) keep_alive_ = false;  // the close ends the body
    bool complete = true;
    if (mode_ == BodyMode::chunked) complete = co_await write_client("0\r\n\r\n");  // last-chunk
    if (complete) note("response_complete");
    end_relay();
  }

  // The backend failed: 502 before the head, a visible truncation after it.
  asio::awaitable<void> fail(std::string why) {
    note("backend_error", why);
    if (!head_sent_ && !client_gone_) {
      co_await answer_error(502, why);
    } else if (head_sent_) {
      note("client_truncated", why);
    }
    abandon();
  }

  asio::awaitable<void> fail_timeout() {
    const std::string why =
        "backend silent for " + std::to_string(config().backend_timeout_ms) + " ms";
    if (!head_sent_ && !client_gone_) {
      co_await answer_error(504, why);
    } else if (head_sent_) {
      note("client_truncated", why);
    }
    abandon();
  }

  void end_relay() {
    finished_ = true;
    conn_->watchdog.cancel();
    close_backend();  // not reused yet; also stops a send_request blocked on the backend
  }

  // Ends the exchange and the client connection: no final chunk, just FIN (then close).
  void abandon() {
    fatal_ = true;
    keep_alive_ = false;
    end_relay();
    error_code ignored;
    conn_->client.shutdown(net::Socket::shutdown_send, ignored);
    conn_->client.cancel(ignored);  // a send_request still reading the request body stops
  }

  enum class BodyMode { none, content_length, chunked, until_close };

  std::shared_ptr<State> state_;
  std::shared_ptr<Connection> conn_;
  RequestParser& parser_;
  beast::flat_buffer& buffer_;

  bool keep_alive_ = true;
  bool head_only_ = false;
  bool http11_ = true;
  std::optional<std::uint64_t> content_length_;
  bool stdin_buffered_ = false;
  std::string stdin_;  // the buffered (chunked) request body

  Clock::time_point deadline_;
  int client_waits_ = 0;
  bool timed_out_ = false;
  bool finished_ = false;  // the relay is over (END_REQUEST, failure or client gone)
  bool fatal_ = false;     // the client connection must end
  bool client_gone_ = false;

  cgi::ResponseHeadParser head_parser_;
  bool head_sent_ = false;
  int head_status_ = 0;
  BodyMode mode_ = BodyMode::none;
  std::uint64_t remaining_ = 0;

  char body_buf_[kIoSize];
  char read_buf_[kIoSize];
};

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
  conn->backend.close(ignored);
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
}

const std::vector<GatewayLogEntry>& FakeGateway::log() const {
  return state_->log;
}

}  // namespace fh::fake

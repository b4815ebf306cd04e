#include "client/http_client.hpp"

#include <strings.h>
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/optional.hpp>
#include <cstdio>
#include <exception>
#include <memory>

#include "util/sha256.hpp"

namespace fh::client {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::pending:
      return "pending";
    case Outcome::complete:
      return "complete";
    case Outcome::truncated:
      return "truncated";
    case Outcome::closed_before_response:
      return "closed_before_response";
    case Outcome::connect_failed:
      return "connect_failed";
    case Outcome::protocol_error:
      return "protocol_error";
  }
  return "unknown";
}

std::string_view framing_name(Framing framing) {
  switch (framing) {
    case Framing::none:
      return "none";
    case Framing::content_length:
      return "content_length";
    case Framing::chunked:
      return "chunked";
    case Framing::until_close:
      return "until_close";
  }
  return "unknown";
}

namespace {

std::string format_ms(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fms", ms);
  return text;
}

}  // namespace

std::string Exchange::summary() const {
  std::string out = std::to_string(status);
  out += ' ';
  out += outcome_name(outcome);
  out += ' ';
  out += framing_name(framing);
  out += " body=" + std::to_string(body_bytes) + "B";
  if (!body_sha256.empty()) out += " sha=" + body_sha256.substr(0, 8) + "..";
  if (first_byte_ms) out += " ttfb=" + format_ms(*first_byte_ms);
  if (last_byte_ms) out += " last=" + format_ms(*last_byte_ms);
  if (connection_reset) out += " reset";
  if (outcome == Outcome::pending && !awaiting.empty()) out += " awaiting=\"" + awaiting + "\"";
  if (outcome != Outcome::complete && !error.empty()) out += " error=\"" + error + "\"";
  return out;
}

namespace {

constexpr std::size_t kBodyPrefixMax = 64 * 1024;
constexpr std::size_t kReadSize = 64 * 1024;
constexpr std::size_t kWriteSize = 64 * 1024;    // Content-Length bodies go out in these pieces
constexpr std::uint32_t kHeaderLimit = 1 << 20;  // generous: gateways under test may send big heads

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool has_header(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return true;
  return false;
}

// One exchange: a writer and a reader run concurrently on one socket, since a server may
// answer (and close) before it has read the whole request body (RFC 9112 §9.5).
class Run {
 public:
  Run(net::Socket socket, net::Address gateway, RequestSpec spec, Exchange& progress,
      events::Bus* bus, std::uint32_t connection)
      : socket_(std::move(socket)),
        gateway_(std::move(gateway)),
        spec_(std::move(spec)),
        x_(progress),
        bus_(bus),
        connection_(connection) {}

  asio::awaitable<void> go() {
    set_awaiting("connect");
    auto [connect_ec] =
        co_await socket_.async_connect(gateway_.endpoint(), asio::as_tuple(asio::use_awaitable));
    if (connect_ec) {
      if (connect_ec == asio::error::operation_aborted) {
        x_.error = "cancelled";
      } else {
        x_.outcome = Outcome::connect_failed;
        x_.error = "connect " + gateway_.to_string() + ": " + connect_ec.message();
      }
      co_return;
    }
    net::set_no_delay(socket_);
    publish("connected");
    const auto connected = Clock::now();
    x_.connect_ms = std::chrono::duration<double, std::milli>(connected - start_).count();
    start_ = connected;
    reset_parser();
    update_awaiting();
    using namespace asio::experimental::awaitable_operators;
    co_await (write_request() && read_response());
  }

  // Every exit path (also cancellation) ends here: the digest covers what was received.
  void finish() {
    x_.body_sha256 = sha_.hex_digest();
    publish(x_.outcome == Outcome::pending ? "exchange_stopped"
                                           : "response_" + std::string(outcome_name(x_.outcome)),
            x_.body_bytes, x_.error);
    error_code ignored;
    socket_.shutdown(net::Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  void note_cancelled(const char* what) {
    if (x_.outcome == Outcome::pending && x_.error.empty()) x_.error = what;
  }

 private:
  double now_ms() const {
    return std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  }

  void set_awaiting(std::string what) { x_.awaiting = std::move(what); }

  // What the exchange waits for, in the words the runner prints at a deadline.
  void update_awaiting() {
    // After a failure it keeps what was missing ("truncated awaiting body: 10 of 100 bytes").
    if (x_.outcome == Outcome::complete) set_awaiting("");
    if (x_.outcome != Outcome::pending) return;
    std::string what;
    if (!head_done_) {
      what = "response head";
      if (!request_sent_)
        what += " (request body " + std::to_string(x_.request_body_sent) + " of " +
                std::to_string(spec_.body.size()) + " bytes sent)";
    } else if (x_.framing == Framing::content_length) {
      what = "body: " + std::to_string(x_.body_bytes) + " of " +
             std::to_string(x_.content_length.value_or(0)) + " bytes";
    } else if (x_.framing == Framing::chunked) {
      what = "final chunk after " + std::to_string(x_.body_bytes) + " body bytes";
    } else {
      what = "end of connection";
    }
    set_awaiting(std::move(what));
  }

  std::string request_head(bool& chunked_framing) const {
    std::string head = spec_.method + " " + spec_.target + " HTTP/1.1\r\n";
    // A unix socket path is no valid Host (RFC 9110 §7.2); "localhost" stands in.
    head +=
        "Host: " + (gateway_.is_tcp() ? gateway_.to_string() : std::string("localhost")) + "\r\n";
    for (const auto& [name, value] : spec_.headers) head += name + ": " + value + "\r\n";
    // Framing headers the spec already carries win: scenarios may send deliberately odd framing.
    const bool own_framing = !has_header(spec_.headers, "Content-Length") &&
                             !has_header(spec_.headers, "Transfer-Encoding");
    chunked_framing = own_framing && spec_.chunked;
    if (own_framing) {
      if (spec_.chunked)
        head += "Transfer-Encoding: chunked\r\n";
      else if (!spec_.body.empty() || spec_.send_body_headers_when_empty)
        head += "Content-Length: " + std::to_string(spec_.body.size()) + "\r\n";
    }
    head += "Connection: close\r\n\r\n";
    return head;
  }

  asio::awaitable<void> write_all(std::string_view bytes, error_code& ec) {
    auto [write_ec, n] = co_await asio::async_write(
        socket_, asio::buffer(bytes.data(), bytes.size()), asio::as_tuple(asio::use_awaitable));
    ec = write_ec;
  }

  asio::awaitable<void> write_request() {
    try {
      error_code ec;
      bool chunked = false;
      const std::string head = request_head(chunked);
      co_await write_all(head, ec);
      std::string_view body = spec_.body;
      const std::size_t piece_size =
          chunked ? std::max<std::size_t>(spec_.chunk_size, 1) : kWriteSize;
      while (!ec && !body.empty()) {
        const auto piece = body.substr(0, piece_size);
        if (chunked) {
          char size_line[24];
          std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
          std::string chunk = size_line;
          chunk.append(piece);
          chunk += "\r\n";
          co_await write_all(chunk, ec);
        } else {
          co_await write_all(piece, ec);
        }
        if (ec) break;
        body.remove_prefix(piece.size());
        x_.request_body_sent += piece.size();
        update_awaiting();
      }
      if (!ec && chunked) co_await write_all("0\r\n\r\n", ec);
      if (ec) {
        // The reader decides the outcome: the server may well have answered already.
        if (ec == asio::error::connection_reset) x_.connection_reset = true;
        if (ec != asio::error::operation_aborted && !reader_done_) write_error_ = ec;
        co_return;
      }
      request_sent_ = true;
      update_awaiting();
    } catch (...) {
      note_cancelled("cancelled");
    }
  }

  void reset_parser() {
    parser_.emplace();
    parser_->body_limit(boost::none);  // multi-MiB responses are the point of some scenarios
    parser_->header_limit(kHeaderLimit);
    if (iequals(spec_.method, "HEAD")) parser_->skip(true);  // RFC 9110 §9.3.2: no body
  }

  void on_head() {
    auto& p = *parser_;
    const auto& message = p.get();
    x_.status = static_cast<int>(message.result_int());
    publish("response_head", static_cast<std::uint64_t>(x_.status));
    x_.headers.clear();
    for (const auto& field : message)
      x_.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    if (p.chunked()) {
      x_.framing = Framing::chunked;
    } else if (p.content_length()) {
      x_.framing = Framing::content_length;
      x_.content_length = *p.content_length();
    } else if (p.need_eof()) {
      x_.framing = Framing::until_close;
    } else {
      x_.framing = Framing::none;  // HEAD, 204, 304: no body by definition
    }
    head_done_ = true;
  }

  void on_body(std::string_view bytes, double at_ms) {
    if (bytes.empty()) return;
    if (!x_.first_body_byte_ms) x_.first_body_byte_ms = at_ms;
    sha_.update(bytes);
    if (x_.body_prefix.size() < kBodyPrefixMax)
      x_.body_prefix.append(bytes.substr(0, kBodyPrefixMax - x_.body_prefix.size()));
    x_.body_bytes += bytes.size();
  }

  enum class Fed { need_more, done, error };

  // Feeds what was read to the parser, streaming body bytes through a fixed buffer.
  Fed feed(double at_ms) {
    for (;;) {
      auto& p = *parser_;
      if (p.is_done()) return Fed::done;
      if (inbuf_.empty()) return Fed::need_more;
      p.get().body().data = body_buf_;
      p.get().body().size = sizeof body_buf_;
      error_code ec;
      const std::size_t used = p.put(asio::buffer(inbuf_), ec);
      const std::size_t got = sizeof body_buf_ - p.get().body().size;
      inbuf_.erase(0, used);
      if (!head_done_ && p.is_header_done()) {
        const unsigned status = p.get().result_int();
        if (status / 100 == 1 && status != 101) {
          // RFC 9110 §15.2: interim responses precede the final one; skip them.
          reset_parser();
          continue;
        }
        on_head();
      }
      on_body(std::string_view(body_buf_, got), at_ms);
      if (ec == http::error::need_buffer) continue;
      if (ec == http::error::need_more) return Fed::need_more;
      if (ec) {
        x_.outcome = Outcome::protocol_error;
        x_.error = "invalid HTTP response: " + ec.message();
        return Fed::error;
      }
      if (used == 0 && got == 0 && !p.is_done()) return Fed::need_more;
    }
  }

  void end_of_connection(const error_code& ec) {
    const double at = now_ms();
    x_.last_byte_ms = at;
    const bool reset = ec == asio::error::connection_reset;
    if (reset) x_.connection_reset = true;
    const std::string why = ec == asio::error::eof ? std::string("connection closed (EOF)")
                                                   : "connection ended: " + ec.message();
    if (!head_done_) {
      x_.outcome = Outcome::closed_before_response;
      x_.error = why;
      if (write_error_) x_.error += "; request write: " + write_error_.message();
      return;
    }
    if (!reset && x_.framing == Framing::until_close) {
      error_code eof_ec;
      parser_->put_eof(eof_ec);
      if (!eof_ec) {
        x_.outcome = Outcome::complete;
        return;
      }
    }
    x_.outcome = Outcome::truncated;
    x_.error = why;
  }

  asio::awaitable<void> read_response() {
    try {
      for (;;) {
        char chunk[kReadSize];
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk),
                                                        asio::as_tuple(asio::use_awaitable));
        const double at = now_ms();
        if (n > 0) {
          if (!x_.first_byte_ms) x_.first_byte_ms = at;
          inbuf_.append(chunk, n);
          const Fed fed = feed(at);
          if (fed == Fed::done) {
            x_.outcome = Outcome::complete;
            x_.last_byte_ms = at;
            break;
          }
          if (fed == Fed::error) {
            x_.last_byte_ms = at;
            break;
          }
          update_awaiting();
        }
        if (ec) {
          if (ec == asio::error::operation_aborted) {
            note_cancelled("cancelled");
          } else {
            end_of_connection(ec);
          }
          break;
        }
      }
    } catch (...) {
      note_cancelled("cancelled");
    }
    reader_done_ = true;
    update_awaiting();
    // Nothing more to read: a writer still blocked on a server that stopped reading ends too.
    if (!request_sent_) {
      error_code ignored;
      socket_.cancel(ignored);
    }
  }

  void publish(const std::string& name, std::uint64_t value = 0, std::string detail = {}) {
    if (bus_) bus_->publish("client", name, connection_, 0, value, std::move(detail));
  }

  net::Socket socket_;
  net::Address gateway_;
  RequestSpec spec_;
  Exchange& x_;
  events::Bus* bus_;
  std::uint32_t connection_;
  Clock::time_point start_ = Clock::now();
  bool request_sent_ = false;
  bool head_done_ = false;
  bool reader_done_ = false;
  error_code write_error_;
  boost::optional<http::response_parser<http::buffer_body>> parser_;
  std::string inbuf_;
  char body_buf_[kReadSize];
  util::Sha256 sha_;
};

}  // namespace

asio::awaitable<void> exchange(net::Address gateway, RequestSpec spec, Exchange& progress,
                               events::Bus* bus, std::uint32_t connection) {
  std::unique_ptr<Run> run;
  try {
    auto executor = co_await asio::this_coro::executor;
    net::Socket socket(executor);
    run = std::make_unique<Run>(std::move(socket), gateway, std::move(spec), progress, bus,
                                connection);
    co_await run->go();
  } catch (const boost::system::system_error& e) {
    // Cancellation surfaces as an exception at the next co_await.
    if (run)
      run->note_cancelled(e.code() == asio::error::operation_aborted ? "cancelled" : e.what());
  } catch (const std::exception& e) {
    // Other errors are bugs or resource exhaustion: reported, never thrown into the io_context.
    if (run) run->note_cancelled(e.what());
  } catch (...) {
    if (run) run->note_cancelled("unknown exception");
  }
  if (run) run->finish();
}

}  // namespace fh::client

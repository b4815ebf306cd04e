// The scripted HTTP/1.1 client against a raw loopback server that writes scripted bytes, so
// every framing and failure shape can be produced exactly.
#include "client/http_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>

#include "util/sha256.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using fh::client::Exchange;
using fh::client::Framing;
using fh::client::Outcome;
using fh::client::RequestSpec;
using fh::net::Socket;

// What the raw server saw of the request.
struct Seen {
  std::string method;
  std::string target;
  std::string body;
  http::fields headers;
  bool parsed = false;
};

// Accepts one connection, reads the request (Beast, any framing), then runs `script`.
class RawServer {
 public:
  using Script = std::function<asio::awaitable<void>(Socket&)>;

  explicit RawServer(asio::io_context& io)
      : io_(io),
        acceptor_(fh::net::listen(io.get_executor(), fh::net::Address::tcp("127.0.0.1", 0))) {
    address_ = fh::net::local_address(acceptor_, fh::net::Address::tcp("127.0.0.1", 0));
  }

  fh::net::Address address() const { return address_; }
  const Seen& seen() const { return seen_; }

  void serve(Script script, bool read_request = true) {
    asio::co_spawn(
        io_,
        [this, script = std::move(script), read_request]() -> asio::awaitable<void> {
          Socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
          socket_ = &socket;
          if (read_request) co_await read(socket);
          co_await script(socket);
          socket_ = nullptr;
        },
        [](std::exception_ptr) {});  // server-side errors show up as client outcomes
  }

  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (socket_) socket_->close(ignored);
  }

 private:
  asio::awaitable<void> read(Socket& socket) {
    boost::beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    co_await http::async_read(socket, buffer, parser, asio::use_awaitable);
    seen_.method = std::string(parser.get().method_string());
    seen_.target = std::string(parser.get().target());
    seen_.body = parser.get().body();
    seen_.headers = parser.get().base();
    seen_.parsed = true;
  }

  asio::io_context& io_;
  fh::net::Acceptor acceptor_;
  fh::net::Address address_;
  Seen seen_;
  Socket* socket_ = nullptr;
};

asio::awaitable<void> send(Socket& socket, std::string bytes) {
  co_await asio::async_write(socket, asio::buffer(bytes), asio::use_awaitable);
}

asio::awaitable<void> pause(std::chrono::milliseconds ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor, ms);
  co_await timer.async_wait(asio::use_awaitable);
}

void reset(Socket& socket) {
  socket.set_option(asio::socket_base::linger(true, 0));  // close() then sends RST
  socket.close();
}

// Runs one exchange to its end, bounded: a hang fails the test instead of blocking ctest.
Exchange run_exchange(asio::io_context& io, const fh::net::Address& address, RequestSpec spec,
                      std::chrono::milliseconds limit = 10s) {
  Exchange x;
  bool done = false;
  asio::co_spawn(io, fh::client::exchange(address, std::move(spec), x), [&](std::exception_ptr e) {
    EXPECT_FALSE(e) << "exchange threw";
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
  EXPECT_TRUE(done) << "exchange did not end within the limit: " << x.summary();
  return x;
}

RequestSpec make_spec(std::string method, std::string target = "/") {
  RequestSpec spec;
  spec.method = std::move(method);
  spec.target = std::move(target);
  return spec;
}

std::string header(const Exchange& x, std::string_view name) {
  for (const auto& [n, v] : x.headers)
    if (n == name) return v;
  return {};
}

TEST(http_client, ContentLengthResponseComplete) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello");
  });
  auto x = run_exchange(io, server.address(), make_spec("GET", "/probe?size=5"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 200);
  EXPECT_EQ(x.framing, Framing::content_length);
  EXPECT_EQ(x.content_length, 5u);
  EXPECT_EQ(x.body_bytes, 5u);
  EXPECT_EQ(x.body_prefix, "hello");
  EXPECT_EQ(x.body_sha256, fh::util::sha256_hex("hello"));
  EXPECT_EQ(header(x, "X-Test"), "yes");
  ASSERT_TRUE(x.first_byte_ms && x.first_body_byte_ms && x.last_byte_ms);
  EXPECT_LE(*x.first_byte_ms, *x.last_byte_ms);
  EXPECT_EQ(server.seen().method, "GET");
  EXPECT_EQ(server.seen().target, "/probe?size=5");
  EXPECT_EQ(server.seen().headers[http::field::host], server.address().to_string());
  EXPECT_EQ(server.seen().headers[http::field::connection], "close");
  EXPECT_TRUE(server.seen().headers[http::field::content_length].empty());
  EXPECT_NE(x.summary().find("200 complete content_length body=5B"), std::string::npos)
      << x.summary();
}

TEST(http_client, ContentLengthCutShortIsTruncated) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
    co_await send(s, std::string(1234, 'x'));
    s.close();
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::truncated) << x.summary();
  EXPECT_EQ(x.body_bytes, 1234u);
  EXPECT_EQ(x.body_sha256, fh::util::sha256_hex(std::string(1234, 'x')));
  EXPECT_FALSE(x.connection_reset);
  EXPECT_EQ(x.awaiting, "body: 1234 of 5000 bytes");
  EXPECT_TRUE(x.last_byte_ms.has_value());
}

TEST(http_client, ChunkedResponseComplete) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n");
    co_await send(s, "5\r\nhello\r\n");
    co_await send(s, "6\r\n world\r\n0\r\n\r\n");
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 201);
  EXPECT_EQ(x.framing, Framing::chunked);
  EXPECT_EQ(x.body_prefix, "hello world");
  EXPECT_EQ(x.body_sha256, fh::util::sha256_hex("hello world"));
}

TEST(http_client, ChunkedWithoutFinalChunkIsTruncated) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    s.shutdown(Socket::shutdown_send);
    co_await pause(20ms);
    s.close();
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::truncated) << x.summary();
  EXPECT_EQ(x.body_bytes, 5u);
  EXPECT_EQ(x.awaiting, "final chunk after 5 body bytes");
}

TEST(http_client, UntilCloseResponseCompletesAtEof) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
    s.shutdown(Socket::shutdown_send);
    s.close();
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.framing, Framing::until_close);
  EXPECT_EQ(x.body_prefix, "until the end");
}

TEST(http_client, CloseBeforeAnyByte) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    s.shutdown(Socket::shutdown_send);
    s.close();
    co_return;
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::closed_before_response) << x.summary();
  EXPECT_FALSE(x.connection_reset);
  EXPECT_FALSE(x.first_byte_ms.has_value());
  EXPECT_EQ(x.awaiting, "response head");
}

TEST(http_client, PartialHeadThenCloseIsClosedBeforeResponse) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nContent-Le");
    s.close();
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::closed_before_response) << x.summary();
  EXPECT_TRUE(x.first_byte_ms.has_value());
}

TEST(http_client, ResetBeforeHead) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    reset(s);
    co_return;
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::closed_before_response) << x.summary();
  EXPECT_TRUE(x.connection_reset);
}

TEST(http_client, ResetMidBodyIsTruncatedWithReset) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    co_await pause(20ms);
    reset(s);
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::truncated) << x.summary();
  EXPECT_TRUE(x.connection_reset);
  EXPECT_EQ(x.body_bytes, 10u);
}

TEST(http_client, ConnectRefused) {
  asio::io_context io;
  fh::net::Address address;
  {
    auto acceptor = fh::net::listen(io.get_executor(), fh::net::Address::tcp("127.0.0.1", 0));
    address = fh::net::local_address(acceptor, fh::net::Address::tcp("127.0.0.1", 0));
  }  // closed: nothing listens on that port now
  auto x = run_exchange(io, address, RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::connect_failed) << x.summary();
  EXPECT_FALSE(x.error.empty());
}

TEST(http_client, GarbageIsProtocolError) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "NOT HTTP AT ALL\r\n\r\n");
    co_await pause(20ms);
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::protocol_error) << x.summary();
}

TEST(http_client, InterimResponseIsSkipped) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 200);
  EXPECT_EQ(x.body_prefix, "ok");
}

TEST(http_client, HeadResponseHasNoBody) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    co_await pause(20ms);
  });
  auto x = run_exchange(io, server.address(), make_spec("HEAD"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, 0u);
}

TEST(http_client, SixteenMebibyteChunkedBody) {
  constexpr std::size_t kSize = 16u << 20;
  std::string body(kSize, '\0');
  for (std::size_t i = 0; i < kSize; ++i) body[i] = "0123456789abcdef"[i % 16];
  asio::io_context io;
  RawServer server(io);
  server.serve([&body](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    constexpr std::size_t kChunk = 100000;
    for (std::size_t at = 0; at < body.size(); at += kChunk) {
      const auto piece = std::string_view(body).substr(at, kChunk);
      char line[24];
      std::snprintf(line, sizeof line, "%zx\r\n", piece.size());
      co_await send(s, line + std::string(piece) + "\r\n");
    }
    co_await send(s, "0\r\n\r\n");
  });
  auto x = run_exchange(io, server.address(), RequestSpec{}, 60s);
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_bytes, kSize);
  EXPECT_EQ(x.body_sha256, fh::util::sha256_hex(body));
  EXPECT_EQ(x.body_prefix.size(), 64u * 1024);
  EXPECT_EQ(x.body_prefix, body.substr(0, 64 * 1024));
}

std::string request_body(std::size_t size) {
  std::string body(size, '\0');
  std::uint32_t state = 12345;
  for (auto& c : body) {
    state = state * 1103515245 + 12345;
    c = static_cast<char>(state >> 24);
  }
  return body;
}

TEST(http_client, RequestBodyWithContentLength) {
  const std::string body = request_body(300000);
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 204 No Content\r\n\r\n");
  });
  auto spec = make_spec("POST", "/upload");
  spec.headers = {{"X-Foo", "bar"}};
  spec.body = body;
  auto x = run_exchange(io, server.address(), spec);
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.framing, Framing::none);
  EXPECT_EQ(x.request_body_sent, body.size());
  ASSERT_TRUE(server.seen().parsed);
  EXPECT_EQ(server.seen().headers[http::field::content_length], std::to_string(body.size()));
  EXPECT_EQ(server.seen().headers["X-Foo"], "bar");
  EXPECT_EQ(fh::util::sha256_hex(server.seen().body), fh::util::sha256_hex(body));
}

TEST(http_client, RequestBodyChunked) {
  const std::string body = request_body(100000);
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  auto spec = make_spec("PUT");
  spec.body = body;
  spec.chunked = true;
  spec.chunk_size = 999;
  auto x = run_exchange(io, server.address(), spec);
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.request_body_sent, body.size());
  ASSERT_TRUE(server.seen().parsed);
  EXPECT_EQ(server.seen().headers[http::field::transfer_encoding], "chunked");
  EXPECT_TRUE(server.seen().headers[http::field::content_length].empty());
  EXPECT_EQ(fh::util::sha256_hex(server.seen().body), fh::util::sha256_hex(body));
}

TEST(http_client, EmptyBodyHeadersOnRequest) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  auto spec = make_spec("POST");
  spec.send_body_headers_when_empty = true;
  auto x = run_exchange(io, server.address(), spec);
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(server.seen().headers[http::field::content_length], "0");
}

TEST(http_client, TimingAcrossDelayedChunks) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await pause(50ms);
    co_await send(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    co_await pause(150ms);
    co_await send(s, "3\r\ndef\r\n0\r\n\r\n");
  });
  auto x = run_exchange(io, server.address(), RequestSpec{});
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  ASSERT_TRUE(x.first_byte_ms && x.first_body_byte_ms && x.last_byte_ms);
  EXPECT_GE(*x.first_byte_ms, 40.0);
  EXPECT_LT(*x.first_body_byte_ms, *x.last_byte_ms);
  EXPECT_GE(*x.last_byte_ms - *x.first_body_byte_ms, 100.0);
}

// Runs an exchange and cancels it (terminal) after `after`; returns the exchange and how
// long the cancellation took to end it.
std::pair<Exchange, std::chrono::milliseconds> cancel_after(asio::io_context& io,
                                                            const fh::net::Address& address,
                                                            std::chrono::milliseconds after) {
  Exchange x;
  bool done = false;
  asio::cancellation_signal signal;
  asio::co_spawn(io, fh::client::exchange(address, RequestSpec{}, x),
                 asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                   EXPECT_FALSE(e) << "exchange threw";
                   done = true;
                 }));
  asio::steady_timer timer(io, after);
  std::chrono::steady_clock::time_point emitted;
  timer.async_wait([&](boost::system::error_code) {
    emitted = std::chrono::steady_clock::now();
    signal.emit(asio::cancellation_type::terminal);
  });
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
  EXPECT_TRUE(done);
  return {x, std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - emitted)};
}

TEST(http_client, CancellationWhileAwaitingHead) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket&) -> asio::awaitable<void> { co_await pause(10s); });
  auto [x, took] = cancel_after(io, server.address(), 100ms);
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ(x.outcome, Outcome::pending) << x.summary();
  EXPECT_EQ(x.awaiting, "response head");
  EXPECT_EQ(x.error, "cancelled");
  server.stop();
  io.run_for(100ms);
}

TEST(http_client, CancellationMidBodyKeepsProgress) {
  asio::io_context io;
  RawServer server(io);
  server.serve([](Socket& s) -> asio::awaitable<void> {
    co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n12345");
    co_await pause(10s);
  });
  auto [x, took] = cancel_after(io, server.address(), 100ms);
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ(x.outcome, Outcome::pending) << x.summary();
  EXPECT_EQ(x.awaiting, "body: 5 of 100 bytes");
  EXPECT_EQ(x.body_bytes, 5u);
  EXPECT_EQ(x.body_sha256, fh::util::sha256_hex("12345"));
  EXPECT_NE(x.summary().find("awaiting=\"body: 5 of 100 bytes\""), std::string::npos);
  server.stop();
  io.run_for(100ms);
}

TEST(http_client, Names) {
  EXPECT_EQ(fh::client::outcome_name(Outcome::closed_before_response), "closed_before_response");
  EXPECT_EQ(fh::client::outcome_name(Outcome::connect_failed), "connect_failed");
  EXPECT_EQ(fh::client::framing_name(Framing::until_close), "until_close");
  EXPECT_EQ(fh::client::framing_name(Framing::chunked), "chunked");
}

}  // namespace

// The fake gateway between the scripted HTTP client and a scripted FastCGI backend written
// here with the codec, so each backend behaviour (and each error mapping) is exact.
#include "fake-gateways/fake_gateway.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <map>

#include "client/http_client.hpp"
#include "codec/fcgi.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/cgi.hpp"
#include "probe/probe_contract.hpp"
#include "support/run_exchange.hpp"
#include "util/sha256.hpp"

namespace {

namespace asio = boost::asio;
namespace fcgi = fh::fcgi;
using namespace std::chrono_literals;
using fh::client::Exchange;
using fh::client::Framing;
using fh::client::Outcome;
using fh::client::RequestSpec;
using fh::fake::FakeGateway;
using fh::fake::GatewayConfig;
using fh::net::Socket;
using Clock = std::chrono::steady_clock;

// What the scripted backend received for one request.
struct Received {
  fcgi::BeginRequestBody begin;
  std::uint16_t request_id = 0;
  std::map<std::string, std::string> params;
  std::string stdin_data;
  bool stdin_ended = false;
};

// A FastCGI backend that reads a request with the codec and then runs a script.
class ScriptedBackend {
 public:
  using Script = std::function<asio::awaitable<void>(Socket&, Received&)>;
  enum class ReadUntil { nothing, params, stdin_end };

  explicit ScriptedBackend(asio::io_context& io)
      : io_(io),
        acceptor_(fh::net::listen(io.get_executor(), fh::net::Address::tcp("127.0.0.1", 0))) {
    address_ = fh::net::local_address(acceptor_, fh::net::Address::tcp("127.0.0.1", 0));
  }

  fh::net::Address address() const { return address_; }
  const std::vector<Received>& received() const { return received_; }
  const Received& last() const { return received_.back(); }

  /// Serves `connections` connections one after the other with the same script.
  void serve(Script script, ReadUntil until = ReadUntil::stdin_end, int connections = 1) {
    received_.reserve(16);
    asio::co_spawn(
        io_,
        [this, script = std::move(script), until, connections]() -> asio::awaitable<void> {
          for (int i = 0; i < connections; ++i) {
            Socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
            sockets_.push_back(&socket);
            received_.emplace_back();
            auto& received = received_.back();
            co_await read_request(socket, received, until);
            co_await script(socket, received);
            sockets_.pop_back();
          }
        },
        [](std::exception_ptr) {});  // backend-side errors show up in what the client sees
  }

  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto* socket : sockets_) socket->close(ignored);
  }

 private:
  asio::awaitable<void> read_request(Socket& socket, Received& received, ReadUntil until) {
    if (until == ReadUntil::nothing) co_return;
    fcgi::RecordDecoder decoder;
    std::string params;
    bool params_ended = false;
    char buf[16384];
    for (;;) {
      std::size_t n = co_await socket.async_read_some(asio::buffer(buf), asio::use_awaitable);
      std::vector<fcgi::Record> records;
      if (auto error = decoder.feed(std::string_view(buf, n), records))
        throw std::runtime_error(error->message);
      for (const auto& record : records) {
        received.request_id = record.request_id;
        if (record.is(fcgi::RecordType::BeginRequest)) {
          received.begin = fcgi::decode_begin_request(record).value();
        } else if (record.is(fcgi::RecordType::Params)) {
          if (record.content.empty()) {
            params_ended = true;
            auto decoded = fcgi::decode_name_values(params);
            for (auto& [name, value] : decoded.value()) received.params[name] = value;
          }
          params += record.content;
        } else if (record.is(fcgi::RecordType::Stdin)) {
          if (record.content.empty()) received.stdin_ended = true;
          received.stdin_data += record.content;
        }
      }
      if (until == ReadUntil::params && params_ended) co_return;
      if (received.stdin_ended) co_return;
    }
  }

  asio::io_context& io_;
  fh::net::Acceptor acceptor_;
  fh::net::Address address_;
  std::vector<Received> received_;
  std::vector<Socket*> sockets_;
};

asio::awaitable<void> send(Socket& socket, std::string bytes) {
  co_await asio::async_write(socket, asio::buffer(bytes), asio::use_awaitable);
}

asio::awaitable<void> pause(std::chrono::milliseconds ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor, ms);
  co_await timer.async_wait(asio::use_awaitable);
}

std::string stdout_record(std::string_view data) {
  return fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Stdout, 1, data, false));
}

std::string stderr_record(std::string_view data) {
  return fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Stderr, 1, data, false));
}

std::string end_request() {
  fcgi::Bytes out = fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Stdout, 1, "", true));
  fcgi::append_record(fcgi::make_end_request(1, 0, fcgi::ProtocolStatus::RequestComplete), out);
  return out;
}

// Answers `head` + `body` in one STDOUT record, then ends the request.
ScriptedBackend::Script answer(std::string head, std::string body = {}) {
  return [head, body](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, stdout_record(head + body) + end_request());
  };
}

// The gateway in front of a scripted backend, with one io_context for everything.
struct Rig {
  explicit Rig(GatewayConfig config = {}) : backend(io) {
    config.backend = backend.address();
    gateway = std::make_unique<FakeGateway>(io, config);
    gateway->start();
  }
  ~Rig() {
    gateway->stop();
    backend.stop();
    io.run_for(200ms);  // every coroutine ends once stopped
  }

  Exchange run(RequestSpec spec, std::chrono::milliseconds limit = 10s) {
    return fh::test_support::run_exchange(io, gateway->address(), std::move(spec), limit);
  }

  bool logged(std::string_view what) const {
    for (const auto& entry : gateway->log())
      if (entry.what == what) return true;
    return false;
  }

  std::string log_text() const {
    std::string text;
    for (const auto& entry : gateway->log())
      text += std::to_string(entry.connection) + " " + entry.what + " " + entry.detail + "\n";
    return text;
  }

  asio::io_context io;
  ScriptedBackend backend;
  std::unique_ptr<FakeGateway> gateway;
};

RequestSpec get(std::string target) {
  RequestSpec spec;
  spec.target = std::move(target);
  return spec;
}

RequestSpec post(std::string target, std::string body, bool chunked = false) {
  RequestSpec spec;
  spec.method = "POST";
  spec.target = std::move(target);
  spec.body = std::move(body);
  spec.chunked = chunked;
  return spec;
}

std::string header(const Exchange& x, std::string_view name) {
  for (const auto& [n, v] : x.headers)
    if (n == name) return v;
  return {};
}

std::string random_body(std::size_t size) {
  std::string body(size, '\0');
  std::uint32_t state = 42;
  for (auto& c : body) {
    state = state * 1664525 + 1013904223;
    c = static_cast<char>(state >> 24);
  }
  return body;
}

// ---------------------------------------------------------------- CGI helpers (pure)

TEST(fake_gateway_cgi, HeadParserLfAndCrlf) {
  fh::fake::cgi::ResponseHeadParser parser;
  std::string body;
  using Result = fh::fake::cgi::ResponseHeadParser::Result;
  EXPECT_EQ(parser.feed("Status: 404 Not Found\nX-A: 1\r", body), Result::need_more);
  EXPECT_EQ(parser.feed("\n\r\nbody", body), Result::done);
  EXPECT_EQ(parser.head().status, 404);
  EXPECT_EQ(parser.head().reason, "Not Found");
  ASSERT_EQ(parser.head().headers.size(), 1u);
  EXPECT_EQ(parser.head().headers[0].second, "1");
  EXPECT_EQ(body, "body");
}

TEST(fake_gateway_cgi, HeadParserErrors) {
  using Result = fh::fake::cgi::ResponseHeadParser::Result;
  std::string body;
  fh::fake::cgi::ResponseHeadParser no_colon;
  EXPECT_EQ(no_colon.feed("garbage\n\n", body), Result::error);
  fh::fake::cgi::ResponseHeadParser bad_status;
  EXPECT_EQ(bad_status.feed("Status: abc\n\n", body), Result::error);
  fh::fake::cgi::ResponseHeadParser endless;
  EXPECT_EQ(endless.feed(std::string(70000, 'x'), body), Result::error);
}

TEST(fake_gateway_cgi, VariableNames) {
  EXPECT_EQ(fh::fake::cgi::http_variable_name("X-Foo-bar"), "HTTP_X_FOO_BAR");
}

// ---------------------------------------------------------------- through the gateway

TEST(fake_gateway, StreamsStdoutAsChunks) {
  Rig rig;
  rig.backend.serve([](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, stdout_record("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst "));
    co_await pause(150ms);
    co_await send(s, stdout_record("second "));
    co_await send(s, stderr_record("a warning"));
    co_await send(s, stdout_record("third"));
    co_await send(s, end_request());
  });
  auto x = rig.run(get("/probe"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 200);
  EXPECT_EQ(x.framing, Framing::chunked);
  EXPECT_EQ(header(x, "Content-Type"), "text/plain");
  EXPECT_EQ(x.body_prefix, "first second third");
  ASSERT_TRUE(x.first_body_byte_ms && x.last_byte_ms);
  // The first piece reached the client before the backend wrote the rest: no buffering.
  EXPECT_GE(*x.last_byte_ms - *x.first_body_byte_ms, 100.0);
  EXPECT_TRUE(rig.logged("stderr")) << rig.log_text();
  const std::vector<std::string> expected = {
      "client_accepted",       "request_head",       "backend_connected",    "params_sent",
      "stdin_terminator_sent", "response_head_sent", "end_request_received", "response_complete"};
  std::vector<std::string> seen;
  for (const auto& entry : rig.gateway->log())
    if (std::find(expected.begin(), expected.end(), entry.what) != expected.end())
      seen.push_back(entry.what);
  EXPECT_EQ(seen, expected) << rig.log_text();
}

TEST(fake_gateway, SendsCgiParams) {
  GatewayConfig config;
  config.document_root = "/srv/root";
  config.server_name = "probe.test";
  config.keep_conn = true;
  Rig rig(config);
  rig.backend.serve(answer("Status: 200 OK\r\n\r\n"));
  auto spec = post("/app/run.php?size=10&x=%20y", "hello");
  spec.headers = {
      {"X-Foo", "bar"}, {"Content-Type", "text/plain"}, {"X-Multi", "a"}, {"X-Multi", "b"}};
  auto x = rig.run(spec);
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  ASSERT_EQ(rig.backend.received().size(), 1u);
  const auto& r = rig.backend.last();
  EXPECT_EQ(r.request_id, 1);
  EXPECT_EQ(r.begin.role, static_cast<std::uint16_t>(fcgi::Role::Responder));
  EXPECT_TRUE(r.begin.keep_conn());
  auto p = r.params;
  EXPECT_EQ(p["GATEWAY_INTERFACE"], "CGI/1.1");
  EXPECT_EQ(p["SERVER_SOFTWARE"], "fcgi-harness-fake-gateway");
  EXPECT_EQ(p["SERVER_NAME"], "probe.test");
  EXPECT_EQ(p["SERVER_ADDR"], "127.0.0.1");
  EXPECT_EQ(p["SERVER_PORT"], std::to_string(rig.gateway->address().port));
  EXPECT_EQ(p["SERVER_PROTOCOL"], "HTTP/1.1");
  EXPECT_EQ(p["REQUEST_METHOD"], "POST");
  EXPECT_EQ(p["REQUEST_URI"], "/app/run.php?size=10&x=%20y");
  EXPECT_EQ(p["SCRIPT_NAME"], "/app/run.php");
  EXPECT_EQ(p["SCRIPT_FILENAME"], "/srv/root/app/run.php");
  EXPECT_EQ(p["DOCUMENT_ROOT"], "/srv/root");
  ASSERT_TRUE(p.count("PATH_INFO"));
  EXPECT_EQ(p["PATH_INFO"], "");
  EXPECT_EQ(p["QUERY_STRING"], "size=10&x=%20y");
  EXPECT_EQ(p["REMOTE_ADDR"], "127.0.0.1");
  EXPECT_FALSE(p["REMOTE_PORT"].empty());
  EXPECT_EQ(p["CONTENT_LENGTH"], "5");
  EXPECT_EQ(p["CONTENT_TYPE"], "text/plain");
  EXPECT_EQ(p["HTTP_X_FOO"], "bar");
  EXPECT_EQ(p["HTTP_X_MULTI"], "a, b");
  EXPECT_EQ(p["HTTP_HOST"], rig.gateway->address().to_string());
  EXPECT_EQ(p.count("HTTP_CONTENT_LENGTH"), 0u);
  EXPECT_EQ(p.count("HTTP_CONTENT_TYPE"), 0u);
  EXPECT_EQ(r.stdin_data, "hello");
  EXPECT_TRUE(r.stdin_ended);
}

TEST(fake_gateway, GetHasEmptyQueryAndNoContentVariables) {
  Rig rig;
  rig.backend.serve(answer("Status: 200 OK\r\n\r\n"));
  auto x = rig.run(get("/plain"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  auto p = rig.backend.last().params;
  ASSERT_TRUE(p.count("QUERY_STRING"));
  EXPECT_EQ(p["QUERY_STRING"], "");
  EXPECT_EQ(p["REQUEST_METHOD"], "GET");
  EXPECT_EQ(p.count("CONTENT_LENGTH"), 0u);
  EXPECT_EQ(p.count("CONTENT_TYPE"), 0u);
  EXPECT_FALSE(rig.backend.last().begin.keep_conn());
  EXPECT_TRUE(rig.backend.last().stdin_ended);
  EXPECT_TRUE(rig.backend.last().stdin_data.empty());
}

TEST(fake_gateway, StatusHeaderPassed) {
  Rig rig;
  rig.backend.serve(answer("Status: 404 Not Found\r\nX-App: yes\r\n\r\n", "no such thing"));
  auto x = rig.run(get("/missing"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 404);
  EXPECT_EQ(header(x, "X-App"), "yes");
  EXPECT_EQ(header(x, "Status"), "");
  EXPECT_EQ(x.body_prefix, "no such thing");
}

TEST(fake_gateway, LocationWithoutStatusIsRedirect) {
  Rig rig;
  rig.backend.serve(answer("Location: http://example.test/\n\n"));
  auto x = rig.run(get("/go"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 302);
  EXPECT_EQ(header(x, "Location"), "http://example.test/");
}

TEST(fake_gateway, AppContentLengthPassedThrough) {
  Rig rig;
  rig.backend.serve([](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, stdout_record("Content-Length: 11\r\n\r\nhello"));
    co_await pause(20ms);
    co_await send(s, stdout_record(" world"));
    co_await send(s, end_request());
  });
  auto x = rig.run(get("/cl"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.framing, Framing::content_length);
  EXPECT_EQ(x.content_length, 11u);
  EXPECT_EQ(x.body_prefix, "hello world");
}

TEST(fake_gateway, AppContentLengthShortIsTruncated) {
  Rig rig;
  rig.backend.serve(answer("Content-Length: 100\r\n\r\n", "only this"));
  auto x = rig.run(get("/short"));
  EXPECT_EQ(x.outcome, Outcome::truncated) << x.summary();
  EXPECT_EQ(x.body_bytes, 9u);
  EXPECT_TRUE(rig.logged("client_truncated")) << rig.log_text();
}

TEST(fake_gateway, BackendClosesBeforeHeadIs502) {
  Rig rig;
  rig.backend.serve([](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, stdout_record("Status: 200 OK\r\nX-Half"));
    s.close();
  });
  auto x = rig.run(get("/"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 502);
  EXPECT_EQ(header(x, "Connection"), "close");
  EXPECT_TRUE(rig.logged("backend_error")) << rig.log_text();
  EXPECT_TRUE(rig.logged("answered_502")) << rig.log_text();
}

TEST(fake_gateway, EndRequestWithoutHeadIs502) {
  Rig rig;
  rig.backend.serve([](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, end_request());
    co_await pause(50ms);
  });
  auto x = rig.run(get("/"));
  EXPECT_EQ(x.status, 502) << x.summary();
}

TEST(fake_gateway, BackendClosesMidBodyTruncates) {
  Rig rig;
  rig.backend.serve([](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, stdout_record("Status: 200 OK\r\n\r\npart of the body"));
    co_await pause(20ms);
    s.close();
  });
  auto x = rig.run(get("/"));
  EXPECT_EQ(x.outcome, Outcome::truncated) << x.summary();
  EXPECT_EQ(x.status, 200);
  EXPECT_EQ(x.framing, Framing::chunked);
  EXPECT_EQ(x.body_prefix, "part of the body");
  EXPECT_TRUE(rig.logged("client_truncated")) << rig.log_text();
}

TEST(fake_gateway, BackendResetMidBodyTruncates) {
  Rig rig;
  rig.backend.serve([](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, stdout_record("Status: 200 OK\r\n\r\n0123456789"));
    co_await pause(20ms);
    s.set_option(asio::socket_base::linger(true, 0));
    s.close();
  });
  auto x = rig.run(get("/"));
  EXPECT_EQ(x.outcome, Outcome::truncated) << x.summary();
  EXPECT_EQ(x.body_bytes, 10u);
}

TEST(fake_gateway, ProtocolErrorBeforeHeadIs502) {
  Rig rig;
  rig.backend.serve([](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, std::string("\x07\x06\x00\x01\x00\x00\x00\x00", 8));  // version 7
    co_await pause(50ms);
  });
  auto x = rig.run(get("/"));
  EXPECT_EQ(x.status, 502) << x.summary();
}

TEST(fake_gateway, BackendSilentIs504) {
  GatewayConfig config;
  config.backend_timeout_ms = 300;
  Rig rig(config);
  rig.backend.serve([](Socket&, Received&) -> asio::awaitable<void> { co_await pause(5s); });
  const auto started = Clock::now();
  auto x = rig.run(get("/"));
  const auto took = Clock::now() - started;
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 504);
  EXPECT_GE(took, 280ms);
  EXPECT_LT(took, 1500ms);
  EXPECT_TRUE(rig.logged("backend_timeout")) << rig.log_text();
  EXPECT_TRUE(rig.logged("answered_504")) << rig.log_text();
}

TEST(fake_gateway, BackendSilentAfterHeadTruncates) {
  GatewayConfig config;
  config.backend_timeout_ms = 300;
  Rig rig(config);
  rig.backend.serve([](Socket& s, Received&) -> asio::awaitable<void> {
    co_await send(s, stdout_record("Status: 200 OK\r\n\r\nstarted"));
    co_await pause(5s);
  });
  auto x = rig.run(get("/"));
  EXPECT_EQ(x.outcome, Outcome::truncated) << x.summary();
  EXPECT_EQ(x.body_prefix, "started");
}

TEST(fake_gateway, BackendConnectRefusedIs502) {
  asio::io_context io;
  GatewayConfig config;
  {
    auto acceptor = fh::net::listen(io.get_executor(), fh::net::Address::tcp("127.0.0.1", 0));
    config.backend = fh::net::local_address(acceptor, fh::net::Address::tcp("127.0.0.1", 0));
  }  // closed: the port refuses connections now
  FakeGateway gateway(io, config);
  gateway.start();
  Exchange x;
  bool done = false;
  asio::co_spawn(io, fh::client::exchange(gateway.address(), get("/"), x),
                 [&](std::exception_ptr) { done = true; });
  const auto deadline = Clock::now() + 5s;
  while (!done && Clock::now() < deadline) io.run_one_for(50ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 502);
  gateway.stop();
  io.run_for(100ms);
}

TEST(fake_gateway, PostBodyWithContentLengthArrivesAsStdin) {
  const std::string body = random_body(1 << 20);
  Rig rig;
  rig.backend.serve([](Socket& s, Received& r) -> asio::awaitable<void> {
    co_await send(s, stdout_record("Status: 200 OK\r\n\r\n" + fh::util::sha256_hex(r.stdin_data)) +
                         end_request());
  });
  auto x = rig.run(post("/upload", body));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_prefix, fh::util::sha256_hex(body));
  EXPECT_EQ(rig.backend.last().params.at("CONTENT_LENGTH"), std::to_string(body.size()));
  EXPECT_TRUE(rig.backend.last().stdin_ended);
}

TEST(fake_gateway, PostBodyChunkedIsBufferedWithContentLength) {
  const std::string body = random_body(300000);
  Rig rig;
  rig.backend.serve([](Socket& s, Received& r) -> asio::awaitable<void> {
    co_await send(s, stdout_record("Status: 200 OK\r\n\r\n" + fh::util::sha256_hex(r.stdin_data)) +
                         end_request());
  });
  auto x = rig.run(post("/upload", body, true));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_prefix, fh::util::sha256_hex(body));
  EXPECT_EQ(rig.backend.last().params.at("CONTENT_LENGTH"), std::to_string(body.size()));
}

TEST(fake_gateway, BackendAnswersBeforeReadingBody) {
  const std::string body = random_body(4 << 20);  // more than the socket buffers hold
  Rig rig;
  rig.backend.serve(answer("Status: 200 OK\r\n\r\n", "early"), ScriptedBackend::ReadUntil::params);
  auto x = rig.run(post("/upload", body));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_prefix, "early");
  // The client may stop sending once its response is complete; the gateway kept reading.
  EXPECT_GT(x.request_body_sent, 0u) << rig.log_text();
}

// Two requests on one client connection (no Connection: close on the first), each to its
// own backend connection.
TEST(fake_gateway, PersistentClientConnection) {
  Rig rig;
  rig.backend.serve(answer("Status: 200 OK\r\nContent-Length: 3\r\n\r\n", "one"),
                    ScriptedBackend::ReadUntil::stdin_end, 2);
  std::string received;
  bool done = false;
  asio::co_spawn(
      rig.io,
      [&]() -> asio::awaitable<void> {
        Socket socket(rig.io);
        co_await socket.async_connect(rig.gateway->address().endpoint(), asio::use_awaitable);
        co_await send(socket, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        char buf[4096];
        while (received.find("one") == std::string::npos) {
          std::size_t n = co_await socket.async_read_some(asio::buffer(buf), asio::use_awaitable);
          received.append(buf, n);
        }
        co_await send(socket, "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        for (;;) {
          auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf),
                                                         asio::as_tuple(asio::use_awaitable));
          received.append(buf, n);
          if (ec) break;
        }
      },
      [&](std::exception_ptr) { done = true; });
  const auto deadline = Clock::now() + 5s;
  while (!done && Clock::now() < deadline) rig.io.run_one_for(50ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(received,
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\none");
  ASSERT_EQ(rig.backend.received().size(), 2u);
  EXPECT_EQ(rig.backend.received()[1].params.at("REQUEST_URI"), "/b");
}

TEST(fake_gateway, StopEndsEveryCoroutine) {
  asio::io_context io;
  ScriptedBackend backend(io);
  backend.serve([](Socket&, Received&) -> asio::awaitable<void> { co_await pause(50ms); });
  GatewayConfig config;
  config.backend = backend.address();
  auto gateway = std::make_unique<FakeGateway>(io, config);
  gateway->start();
  Exchange x;
  bool done = false;
  asio::co_spawn(io, fh::client::exchange(gateway->address(), get("/"), x),
                 [&](std::exception_ptr) { done = true; });
  io.run_for(20ms);  // the request reached the (silent) backend
  gateway->stop();
  gateway->stop();  // idempotent
  backend.stop();
  const auto started = Clock::now();
  io.run_for(3s);  // returns as soon as no work is left
  EXPECT_LT(Clock::now() - started, 1s);
  EXPECT_TRUE(done);
  EXPECT_NE(x.outcome, Outcome::pending) << x.summary();
  gateway.reset();
}

// ---------------------------------------------------------------- end to end, fake backend

namespace e2e {

// Client -> fake gateway -> fake backend (probe contract), all on one io_context.

struct Chain {
  explicit Chain(fh::fake::BackendConfig backend_config = {}, GatewayConfig config = {}) {
    backend = std::make_unique<fh::fake::FakeBackend>(io, std::move(backend_config));
    backend->start();
    config.backend = backend->address();
    gateway = std::make_unique<FakeGateway>(io, std::move(config));
    gateway->start();
  }
  ~Chain() {
    gateway->stop();
    backend->stop();
    io.run_for(200ms);
  }

  Exchange run(RequestSpec spec, std::chrono::milliseconds limit = 30s) {
    return fh::test_support::run_exchange(io, gateway->address(), std::move(spec), limit);
  }

  asio::io_context io;
  std::unique_ptr<fh::fake::FakeBackend> backend;
  std::unique_ptr<FakeGateway> gateway;
};

TEST(fake_gateway_e2e, SixteenMebibytesThroughFakeBackend) {
  constexpr std::uint64_t kSize = 16u << 20;
  Chain chain;
  auto x = chain.run(get("/probe?size=" + std::to_string(kSize) + "&chunk=65536"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 200);
  EXPECT_EQ(x.framing, Framing::chunked);
  EXPECT_EQ(x.body_bytes, kSize);
  EXPECT_EQ(x.body_sha256, fh::probe::pattern_sha256(kSize));
}

TEST(fake_gateway_e2e, EchoesPostBody) {
  const std::string body = random_body(200000);
  Chain chain;
  auto x = chain.run(post("/probe?echo=1", body));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_sha256, fh::util::sha256_hex(body));
  auto chunked = chain.run(post("/probe?echo=1", body, true));
  EXPECT_EQ(chunked.outcome, Outcome::complete) << chunked.summary();
  EXPECT_EQ(chunked.body_sha256, fh::util::sha256_hex(body));
}

TEST(fake_gateway_e2e, ListingShowsCgiParams) {
  Chain chain;
  auto spec = get("/probe/list?mode=x");
  spec.headers = {{"X-Foo", "bar"}};
  auto x = chain.run(spec);
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_NE(x.body_prefix.find("REQUEST_METHOD=GET\n"), std::string::npos) << x.body_prefix;
  EXPECT_NE(x.body_prefix.find("QUERY_STRING=mode=x\n"), std::string::npos) << x.body_prefix;
  EXPECT_NE(x.body_prefix.find("HTTP_X_FOO=bar\n"), std::string::npos) << x.body_prefix;
  EXPECT_NE(x.body_prefix.find("STDIN-BYTES=0\n"), std::string::npos) << x.body_prefix;
}

TEST(fake_gateway_e2e, StatusFromQuery) {
  Chain chain;
  auto x = chain.run(get("/probe?status=418&size=3"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 418);
  EXPECT_EQ(x.body_prefix, "012");
}

TEST(fake_gateway_e2e, FaultCloseMidBodyTruncates) {
  Chain chain(
      fh::fake::backend_config_from_yaml("{faults: [{at: {body_bytes: 100000}, do: close}]}"));
  auto x = chain.run(get("/probe?size=1000000"));
  EXPECT_EQ(x.outcome, Outcome::truncated) << x.summary();
  EXPECT_EQ(x.body_bytes, 100000u);
}

TEST(fake_gateway_e2e, FaultResetAfterParamsIs502) {
  Chain chain(fh::fake::backend_config_from_yaml("{faults: [{at: params_complete, do: reset}]}"));
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 502);
}

TEST(fake_gateway_e2e, FaultStallBeforeHeadIs504) {
  auto backend_config =
      fh::fake::backend_config_from_yaml("{faults: [{at: params_complete, do: stall}]}");
  GatewayConfig config;
  config.backend_timeout_ms = 200;
  Chain chain(backend_config, config);
  auto x = chain.run(get("/probe?size=10"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.status, 504);
}

TEST(fake_gateway_e2e, UnixSocketsBothSides) {
  const std::string dir = ::testing::TempDir();
  fh::fake::BackendConfig backend_config;
  backend_config.listen = fh::net::Address::unix_socket(dir + "fh-gw-test-backend.sock");
  GatewayConfig config;
  config.listen = fh::net::Address::unix_socket(dir + "fh-gw-test-gateway.sock");
  Chain chain(backend_config, config);
  auto x = chain.run(get("/probe?size=5000"));
  EXPECT_EQ(x.outcome, Outcome::complete) << x.summary();
  EXPECT_EQ(x.body_sha256, fh::probe::pattern_sha256(5000));
}

}  // namespace e2e

}  // namespace

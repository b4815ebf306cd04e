// Fake FastCGI backend tests: a raw FastCGI client built from the codec drives the backend
// over loopback TCP and a unix socket. Every test runs its io_context with a deadline
// (io.run_for), so a wrong backend fails the test instead of hanging it.
#include "fake-backends/fake_backend.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <filesystem>

#include "codec/fcgi.hpp"
#include "probe/probe_contract.hpp"
#include "tests/support/fake_backend_fixture.hpp"
#include "tests/support/raw_fcgi_client.hpp"
#include "util/sha256.hpp"

namespace fh::fake {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace test_support;
using boost::system::error_code;
using fcgi::RecordType;

class FakeBackendTest : public FakeBackendFixture {};

// ---------------------------------------------------------------- the correct backend

TEST_F(FakeBackendTest, SizeResponseIsExactPatternThenEndRequestComplete) {
  start();
  RawClient c(io);
  constexpr std::uint64_t kSize = 200000;  // several 65535-byte records
  exchange(c, request(1, "size=200000"));
  EXPECT_EQ(c.head(1), probe::response_head(200));
  EXPECT_EQ(c.body(1).size(), kSize);
  EXPECT_EQ(c.body(1), probe::pattern(0, kSize));
  EXPECT_TRUE(c.stream_ended(1, RecordType::Stdout));
  auto end = c.end_body(1);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->app_status, 0u);
  EXPECT_EQ(end->protocol_status, static_cast<std::uint8_t>(fcgi::ProtocolStatus::RequestComplete));
  for (const auto& r : c.received) EXPECT_LE(r.record.content.size(), fcgi::kMaxContentLength);
  EXPECT_EQ(backend->requests_begun(), 1u);
  EXPECT_EQ(backend->requests_completed(), 1u);
  for (auto what : {"accepted", "begin_request", "params_complete", "stdin_terminator_received",
                    "headers_sent", "end_request_sent"})
    EXPECT_EQ(count(what), 1u) << what;
}

TEST_F(FakeBackendTest, SixteenMiBResponseStreamsCompletely) {
  start();
  RawClient c(io);
  constexpr std::uint64_t kSize = 16u << 20;
  run(
      [&]() -> asio::awaitable<void> {
        co_await c.connect(backend->address());
        co_await c.send(request(1, "size=" + std::to_string(kSize)));
        co_await c.read_until_end_request(1);
      },
      30s);
  const auto body = c.body(1);
  EXPECT_EQ(body.size(), kSize);
  EXPECT_EQ(util::sha256_hex(body), probe::pattern_sha256(kSize));
}

TEST_F(FakeBackendTest, KeepConnClearClosesAfterEndRequest) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=10"));
    co_await c.read_until_end_request(1);
    co_await c.read_until_closed();
  });
  EXPECT_TRUE(c.end_request(1));
  EXPECT_TRUE(c.eof);  // §5.1: FIN, not RST
  EXPECT_FALSE(c.error) << c.error.message();
  EXPECT_TRUE(c.received.back().record.is(RecordType::EndRequest));
}

TEST_F(FakeBackendTest, KeepConnSetServesSequentialRequestsOnOneConnection) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=100", {}, fcgi::kKeepConn));
    co_await c.read_until_end_request(1);
    co_await c.send(request(2, "size=200", {}, fcgi::kKeepConn));
    co_await c.read_until_end_request(2);
  });
  EXPECT_FALSE(c.ended());
  EXPECT_EQ(c.body(1), probe::pattern(0, 100));
  EXPECT_EQ(c.body(2), probe::pattern(0, 200));
  EXPECT_EQ(count("accepted"), 1u);
  EXPECT_EQ(backend->requests_completed(), 2u);
  // Closed by stop() only.
  const auto* closed = find("connection_closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->detail, "stopped");
}

TEST_F(FakeBackendTest, GetValuesAnswersKnownVariablesOnly) {
  BackendConfig config;
  config.max_conns = 7;
  config.max_reqs = 9;
  start(config);
  RawClient c(io);
  const auto ask = encoded(fcgi::make_get_values(
      {"FCGI_MAX_CONNS", "FCGI_NOT_A_VARIABLE", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"}));
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(ask);
    co_await c.read_until([&] { return c.first_of(RecordType::GetValuesResult) != nullptr; });
  });
  const auto* result = c.first_of(RecordType::GetValuesResult);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->request_id, 0);
  auto values = fcgi::decode_name_values(result->content);
  ASSERT_TRUE(values.ok());
  const fcgi::NameValues expected = {
      {"FCGI_MAX_CONNS", "7"}, {"FCGI_MAX_REQS", "9"}, {"FCGI_MPXS_CONNS", "0"}};
  EXPECT_EQ(values.value(), expected);
  EXPECT_EQ(count("get_values"), 1u);
}

TEST_F(FakeBackendTest, GetValuesReportsMpxsConnsWhenMultiplexing) {
  BackendConfig config;
  config.policy.mpxs_conns = true;
  start(config);
  RawClient c(io);
  const auto ask = encoded(fcgi::make_get_values({"FCGI_MPXS_CONNS"}));
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(ask);
    co_await c.read_until([&] { return c.first_of(RecordType::GetValuesResult) != nullptr; });
  });
  const auto* result = c.first_of(RecordType::GetValuesResult);
  ASSERT_TRUE(result);
  auto values = fcgi::decode_name_values(result->content);
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(values.value(), (fcgi::NameValues{{"FCGI_MPXS_CONNS", "1"}}));
}

TEST_F(FakeBackendTest, UnknownManagementTypeGetsUnknownType) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    fcgi::Record odd;
    odd.type = 42;
    odd.request_id = 0;
    odd.content = "whatever";
    co_await c.send(encoded(odd));
    co_await c.read_until([&] { return c.first_of(RecordType::UnknownType) != nullptr; });
  });
  const auto* r = c.first_of(RecordType::UnknownType);
  ASSERT_TRUE(r);
  auto body = fcgi::decode_unknown_type(*r);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body.value().type, 42);
  EXPECT_EQ(count("unknown_type_sent"), 1u);
}

TEST_F(FakeBackendTest, AuthorizerRoleGetsUnknownRole) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1, 0, fcgi::Role::Authorizer));
    co_await c.read_until_end_request(1);
    co_await c.read_until_closed();  // KEEP_CONN clear
  });
  auto end = c.end_body(1);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->protocol_status, static_cast<std::uint8_t>(fcgi::ProtocolStatus::UnknownRole));
  EXPECT_FALSE(c.first_of(RecordType::Stdout));
  EXPECT_TRUE(c.eof);
  EXPECT_EQ(count("unknown_role"), 1u);
}

TEST_F(FakeBackendTest, SecondRequestWhileBusyGetsCantMpxConn) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=10&first_byte_ms=200", {}, fcgi::kKeepConn));
    co_await c.send(begin(2, fcgi::kKeepConn));
    co_await c.read_until_end_request(2);
    co_await c.read_until_end_request(1);
  });
  auto rejected = c.end_body(2);
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->protocol_status,
            static_cast<std::uint8_t>(fcgi::ProtocolStatus::CantMpxConn));
  auto served = c.end_body(1);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->protocol_status,
            static_cast<std::uint8_t>(fcgi::ProtocolStatus::RequestComplete));
  EXPECT_EQ(c.body(1), probe::pattern(0, 10));
  EXPECT_EQ(count("cant_mpx_conn"), 1u);
}

TEST_F(FakeBackendTest, MpxsConnsServesInterleavedRequests) {
  BackendConfig config;
  config.policy.mpxs_conns = true;
  start(config);
  RawClient c(io);
  const std::string upload = probe::pattern(3, 100000);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    // Records of two requests interleaved on one connection (§3.3 request ids).
    co_await c.send(begin(1, fcgi::kKeepConn) + begin(2, fcgi::kKeepConn) +
                    params(2, "size=70000&chunk=1000") + params(1, "echo=1", "POST"));
    auto in = fcgi::make_stream(RecordType::Stdin, 1, upload, true, 8192);
    for (const auto& r : in) co_await c.send(encoded(r));
    co_await c.send(stdin_stream(2, ""));
    co_await c.read_until([&] { return c.end_request(1) && c.end_request(2); });
  });
  EXPECT_EQ(c.body(1), upload);
  EXPECT_EQ(c.body(2), probe::pattern(0, 70000));
  for (std::uint16_t id : {1, 2}) {
    auto end = c.end_body(id);
    ASSERT_TRUE(end);
    EXPECT_EQ(end->protocol_status,
              static_cast<std::uint8_t>(fcgi::ProtocolStatus::RequestComplete));
  }
  EXPECT_EQ(count("cant_mpx_conn"), 0u);
}

TEST_F(FakeBackendTest, AbortRequestEndsSlowResponsePromptly) {
  start();
  RawClient c(io);
  Clock::time_point aborted_at, ended_at;
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=100000&chunk=1000&delay_ms=50", {}, fcgi::kKeepConn));
    co_await c.read_until([&] { return !c.body(1).empty(); });
    aborted_at = Clock::now();
    co_await c.send(encoded(fcgi::make_abort_request(1)));
    co_await c.read_until_end_request(1);
    ended_at = Clock::now();
  });
  auto end = c.end_body(1);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->app_status, 0u);
  EXPECT_LT(ended_at - aborted_at, 500ms);
  EXPECT_LT(c.body(1).size(), 100000u);
  EXPECT_EQ(count("abort_request"), 1u);
}

TEST_F(FakeBackendTest, AbortBeforeParamsCompleteGetsEndRequest) {
  start();
  RawClient c(io);
  exchange(c, begin(1, fcgi::kKeepConn) + encoded(fcgi::make_abort_request(1)));
  EXPECT_TRUE(c.end_request(1));
  EXPECT_FALSE(c.first_of(RecordType::Stdout));
}

TEST_F(FakeBackendTest, EchoReturnsTheRequestBody) {
  start();
  RawClient c(io);
  std::string upload;
  for (int i = 0; i < 300000; ++i) upload.push_back(static_cast<char>((i * 7 + i / 251) & 0xff));
  exchange(c, request(1, "echo=1&chunk=50000", upload));
  EXPECT_EQ(c.body(1).size(), upload.size());
  EXPECT_TRUE(c.body(1) == upload);
  const auto* stdin_entry = find("stdin_terminator_received");
  ASSERT_TRUE(stdin_entry);
  EXPECT_EQ(stdin_entry->detail, "bytes=300000");
}

TEST_F(FakeBackendTest, DefaultBodyListsParamsAndStdinDigest) {
  start();
  RawClient c(io);
  const std::string upload = "hello, backend";
  exchange(c, request(1, "status=201", upload));
  EXPECT_EQ(c.head(1), probe::response_head(201));
  const auto body = c.body(1);
  EXPECT_NE(body.find("REQUEST_METHOD=POST\n"), std::string::npos) << body;
  EXPECT_NE(body.find("QUERY_STRING=status=201\n"), std::string::npos) << body;
  EXPECT_NE(body.find("STDIN-BYTES=" + std::to_string(upload.size()) + "\n"), std::string::npos);
  EXPECT_NE(body.find("STDIN-SHA256=" + util::sha256_hex(upload) + "\n"), std::string::npos)
      << body;
}

TEST_F(FakeBackendTest, BadQueryValueGets400) {
  start();
  RawClient c(io);
  exchange(c, request(1, "size=lots"));
  EXPECT_EQ(c.head(1).rfind("Status: 400", 0), 0u) << c.head(1);
  EXPECT_NE(c.body(1).find("size"), std::string::npos) << c.body(1);
  EXPECT_TRUE(c.end_request(1));
}

TEST_F(FakeBackendTest, StderrBytesGoToTheStderrStream) {
  start();
  RawClient c(io);
  exchange(c, request(1, "size=10&stderr=70000"));
  EXPECT_EQ(c.stream(1, RecordType::Stderr), std::string(70000, 'E'));
  EXPECT_TRUE(c.stream_ended(1, RecordType::Stderr));
  EXPECT_EQ(c.body(1), probe::pattern(0, 10));
}

TEST_F(FakeBackendTest, ChunkedPiecesArriveInOrderAndApart) {
  start();
  RawClient c(io);
  exchange(c, request(1, "size=4096&chunk=1024&delay_ms=60"));
  // The head is the first STDOUT record; each body piece is its own record.
  std::vector<const Received*> pieces;
  bool head_seen = false;
  for (const auto& r : c.received) {
    if (!r.record.is(RecordType::Stdout) || r.record.content.empty()) continue;
    if (!head_seen) {
      head_seen = true;
      continue;
    }
    pieces.push_back(&r);
  }
  ASSERT_EQ(pieces.size(), 4u);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_EQ(pieces[i]->record.content, probe::pattern(i * 1024, 1024));
    if (i > 0) {
      EXPECT_GE(pieces[i]->at, pieces[i - 1]->at);
    }
  }
  EXPECT_GE(pieces.back()->at - pieces.front()->at, 100ms);  // three 60 ms delays
}

TEST_F(FakeBackendTest, FirstByteDelayHoldsTheHead) {
  start();
  RawClient c(io);
  Clock::time_point sent;
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    sent = Clock::now();
    co_await c.send(request(1, "size=1&first_byte_ms=150"));
    co_await c.read_until_end_request(1);
  });
  ASSERT_FALSE(c.received.empty());
  EXPECT_GE(c.received.front().at - sent, 140ms);
}

TEST_F(FakeBackendTest, RecordsForUnknownRequestIdsAreIgnored) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(stdin_stream(9, "stray"));
    co_await c.send(request(1, "size=5"));
    co_await c.read_until_end_request(1);
  });
  EXPECT_EQ(c.body(1), probe::pattern(0, 5));
  EXPECT_GE(count("ignored_record"), 1u);
}

TEST_F(FakeBackendTest, PeerCloseMidResponseLogsWriteError) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=16777216"));
    co_await c.read_until([&] { return !c.body(1).empty(); });
    error_code ignored;
    c.socket().close(ignored);
    // Give the backend time to hit the closed socket.
    for (int i = 0; i < 100 && !find("write_error"); ++i) co_await sleep_for(10ms);
  });
  const auto* e = find("write_error");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->detail == "Broken pipe" || e->detail == "Connection reset by peer") << e->detail;
  EXPECT_EQ(backend->requests_completed(), 0u);
}

TEST_F(FakeBackendTest, PeerEofBeforeStdinEndsDropsTheRequestAndCloses) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "echo=1"));  // STDIN never ends
    co_await sleep_for(50ms);
    c.socket().shutdown(net::Socket::shutdown_send);
    co_await c.read_until_closed();
  });
  EXPECT_TRUE(c.eof);
  EXPECT_TRUE(c.received.empty());
  EXPECT_EQ(count("peer_closed"), 1u);
  EXPECT_EQ(count("request_dropped"), 1u);
  EXPECT_EQ(backend->requests_completed(), 0u);
}

TEST_F(FakeBackendTest, LingeringCloseDrainsStdinSentAfterTheResponse) {
  // size= answers before reading the body; with KEEP_CONN clear the backend must still read
  // the rest of STDIN before closing, or the close would be an RST (the uWSGI truncation).
  start();
  RawClient c(io);
  const std::string body(256 * 1024, 'b');
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=1000", "POST"));
    co_await c.read_until_end_request(1);
    co_await c.send(stdin_stream(1, body));  // the body and its terminator, late
    co_await c.read_until_closed();
  });
  EXPECT_TRUE(c.eof);
  EXPECT_FALSE(c.error) << c.error.message();  // FIN, not RST
  EXPECT_EQ(c.body(1).size(), 1000u);
  EXPECT_EQ(count("lingering"), 1u);
  const auto* closed = find("connection_closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->detail, "keep_conn clear");
}

TEST_F(FakeBackendTest, LingeringCloseEndsAtPeerEof) {
  start();
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=10", "POST"));
    co_await c.read_until_end_request(1);
    c.socket().shutdown(net::Socket::shutdown_send);  // no STDIN terminator ever
    co_await c.read_until_closed();
  });
  EXPECT_TRUE(c.eof);
  EXPECT_FALSE(c.error) << c.error.message();
  EXPECT_EQ(count("lingering"), 1u);
  EXPECT_EQ(count("connection_closed"), 1u);
}

// ---------------------------------------------------------------- transport and lifetime

TEST_F(FakeBackendTest, UnixSocketTransportWorksAndFileIsRemovedOnStop) {
  const std::string path = "/tmp/fh-fake-backend-test-" + std::to_string(::getpid()) + ".sock";
  BackendConfig config;
  config.listen = net::Address::unix_socket(path);
  start(config);
  EXPECT_EQ(backend->address().path, path);
  EXPECT_TRUE(std::filesystem::exists(path));
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=100000"));
    co_await c.read_until_end_request(1);
    co_await c.read_until_closed();
  });
  EXPECT_EQ(c.body(1), probe::pattern(0, 100000));
  EXPECT_TRUE(c.eof);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(FakeBackendTest, StopReturnsRunPromptlyWithAConnectionOpen) {
  start();
  RawClient c(io);
  const auto t0 = Clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await c.connect(backend->address());
        // A slow response in flight and a reader waiting: both must end on stop().
        co_await c.send(request(1, "size=100000&chunk=10&delay_ms=1000", {}, fcgi::kKeepConn));
        co_await c.read_until_closed();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await sleep_for(100ms);
        backend->stop();
        backend->stop();  // idempotent
      },
      asio::detached);
  io.run_for(10s);
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_TRUE(c.ended());
  EXPECT_EQ(count("connection_closed"), 1u);
}

TEST_F(FakeBackendTest, DestructorStopsWithoutRunningAgain) {
  start();
  RawClient c(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await c.connect(backend->address());
        co_await c.send(request(1, "size=100&first_byte_ms=5000"));
        co_await c.read_until_closed();
      },
      asio::detached);
  io.run_for(100ms);
  backend.reset();  // frames still suspended in io must not touch freed state
  io.run_for(1s);
  EXPECT_TRUE(c.ended());
}

TEST_F(FakeBackendTest, OneWorkerLeavesTheNextConnectionInTheBacklog) {
  // workers: 1 models a single-process app: the 2nd connection is accepted only after the
  // 1st closed (it waited in the kernel's listen queue meanwhile).
  start(configured("{workers: 1}"));
  RawClient first(io), second(io);
  run([&]() -> asio::awaitable<void> {
    co_await first.connect(backend->address());
    co_await second.connect(backend->address());  // completes in the kernel's backlog
    co_await second.send(request(1, "size=10"));
    co_await first.send(request(1, "size=10"));
    co_await first.read_until_closed();
    co_await second.read_until_closed();
  });
  EXPECT_TRUE(first.end_request(1));
  EXPECT_TRUE(second.end_request(1));
  std::vector<std::string> order;
  for (const auto& e : backend->log())
    if (e.what == "accepted" || e.what == "connection_closed")
      order.push_back(e.what + std::to_string(e.connection));
  EXPECT_EQ(order, (std::vector<std::string>{"accepted1", "connection_closed1", "accepted2",
                                             "connection_closed2"}));
}

}  // namespace
}  // namespace fh::fake

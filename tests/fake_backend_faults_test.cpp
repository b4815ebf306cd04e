// Fake backend fault vocabulary (docs/faults-backend.md): each fault driven by a raw
// FastCGI client over loopback, every run bounded by io.run_for. Orderings are asserted on
// the backend's own log (one clock, one thread), never on tight durations.
#include <gtest/gtest.h>

#include <array>
#include <boost/asio/use_awaitable.hpp>

#include "codec/fcgi.hpp"
#include "fake-backends/fake_backend.hpp"
#include "probe/probe_contract.hpp"
#include "tests/support/fake_backend_fixture.hpp"
#include "tests/support/raw_fcgi_client.hpp"

namespace fh::fake {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace test_support;
using boost::system::error_code;
using fcgi::RecordType;

/// Faults send records a stream assembler rejects (a stray request id, odd types): the client
/// keeps them and reads on instead of failing the test.
class RawClient : public test_support::RawClient {
 public:
  explicit RawClient(asio::io_context& io) : test_support::RawClient(io, StreamErrors::ignore) {}
};

/// The backend publishes on `bus`: tests anchor faults on its events and publish their own.
class FakeBackendFaultsTest : public FakeBackendFixture {
 protected:
  FakeBackendFaultsTest() : FakeBackendFixture(BusMode::attached) {}
};

std::vector<const fcgi::Record*> records_of(const RawClient& c, RecordType type) {
  std::vector<const fcgi::Record*> out;
  for (const auto& r : c.received)
    if (r.record.is(type)) out.push_back(&r.record);
  return out;
}

// ---------------------------------------------------------------- event anchors

TEST_F(FakeBackendFaultsTest, PublishesTheScenarioEventNames) {
  start();
  RawClient c(io);
  exchange(c, request(1, "size=10"));
  for (auto what : {"accepted", "begin_request", "params_complete", "stdin_terminator_received",
                    "headers_sent", "end_request_sent"})
    EXPECT_EQ(bus.count(events::Selector{"backend", what}), 1u) << what;
}

TEST_F(FakeBackendFaultsTest, StdinBytesAnchorResetsAfterThatMuchBody) {
  BackendConfig config;
  config.faults.push_back(fault(BackendEvent::stdin_bytes, BackendAction::reset));
  config.faults.back().bytes = 1000;
  start(config);
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "echo=1", "POST"));
    co_await c.send(encoded(fcgi::make_stream_record(RecordType::Stdin, 1, std::string(600, 'a'))));
    co_await logged("begin_request");
    EXPECT_EQ(count("fault:reset"), 0u);  // 600 < 1000
    co_await c.send(encoded(fcgi::make_stream_record(RecordType::Stdin, 1, std::string(600, 'b'))));
    co_await c.read_until_closed();
  });
  EXPECT_EQ(c.error, asio::error::connection_reset) << c.error.message();
  const auto* f = find("fault:reset");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->detail, "at=stdin_bytes:1000");
}

TEST_F(FakeBackendFaultsTest, RequestCountAnchorActsOnTheNthBeginRequest) {
  BackendConfig config;
  config.faults.push_back(fault(BackendEvent::request_count, BackendAction::close));
  config.faults.back().bytes = 2;
  start(config);
  RawClient first(io), second(io);
  run([&]() -> asio::awaitable<void> {
    co_await send_and_read(first, request(1, "size=10"), Until::closed);
    co_await send_and_read(second, request(1, "size=10"), Until::closed);
  });
  EXPECT_TRUE(first.end_request(1));
  EXPECT_TRUE(second.received.empty());
}

TEST_F(FakeBackendFaultsTest, BusEventOfAnotherPartyClosesTheNewestConnection) {
  BackendConfig config;
  config.faults.push_back(fault(BackendEvent::bus, BackendAction::close));
  config.faults.back().event = "gateway.stdin_terminator_sent";
  start(config);
  RawClient older(io), newer(io);
  run([&]() -> asio::awaitable<void> {
    co_await older.connect(backend->address());
    co_await older.send(request(1, "size=10&first_byte_ms=5000", {}, fcgi::kKeepConn));
    co_await newer.connect(backend->address());
    co_await newer.send(request(1, "size=10&first_byte_ms=5000", {}, fcgi::kKeepConn));
    co_await logged("begin_request", 2);
    // What the fake gateway would publish; the backend acts inside this call.
    bus.publish("gateway", "stdin_terminator_sent");
    EXPECT_EQ(count("fault:close"), 1u);
    co_await newer.read_until_closed();
  });
  EXPECT_TRUE(newer.eof);
  EXPECT_FALSE(older.ended());
  const auto* f = find("fault:close");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->connection, 2u);
  EXPECT_EQ(f->detail, "at=event gateway.stdin_terminator_sent");
}

// ---------------------------------------------------------------- writing records

TEST_F(FakeBackendFaultsTest, RecordSizeAndPaddingShapeEveryStdoutRecord) {
  for (bool align8 : {false, true}) {
    SCOPED_TRACE(align8 ? "align8" : "padding 3");
    io.restart();
    BackendConfig config;
    config.record_size = 1000;
    config.padding = 3;
    config.padding_align8 = align8;
    start(config);
    RawClient c(io);
    exchange(c, request(1, "size=2500"));
    EXPECT_EQ(c.body(1), probe::pattern(0, 2500));
    std::vector<std::size_t> sizes;
    for (const auto* r : records_of(c, RecordType::Stdout)) {
      sizes.push_back(r->content.size());
      if (align8) {
        EXPECT_EQ((r->content.size() + r->padding_length) % 8, 0u);
      } else {
        EXPECT_EQ(r->padding_length, 3u);
      }
    }
    // The head, three body records (1000, 1000, 500), the empty STDOUT.
    ASSERT_EQ(sizes.size(), 5u);
    EXPECT_EQ(sizes[1], 1000u);
    EXPECT_EQ(sizes[2], 1000u);
    EXPECT_EQ(sizes[3], 500u);
    EXPECT_EQ(sizes[4], 0u);
    backend.reset();
  }
}

TEST_F(FakeBackendFaultsTest, SegmentsArriveApartAndStillDecode) {
  BackendConfig config;
  config.segments = {3, 5};
  config.segment_delay_ms = 30;
  start(config);
  RawClient c(io);
  std::size_t first_read = 0;
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=100"));
    std::array<char, 64> buf{};
    // The first segment is 3 header bytes; the next leaves 30 ms later.
    first_read = co_await c.socket().async_read_some(asio::buffer(buf), asio::use_awaitable);
  });
  EXPECT_EQ(first_read, 3u);
}

TEST_F(FakeBackendFaultsTest, SegmentedResponseIsStillComplete) {
  BackendConfig config;
  config.segments = {3, 5};
  config.segment_delay_ms = 5;
  config.record_size = 40;
  start(config);
  RawClient c(io);
  exchange(c, request(1, "size=200"));
  EXPECT_EQ(c.body(1), probe::pattern(0, 200));
}

TEST_F(FakeBackendFaultsTest, MidRecordCloseLeavesAPartialRecordOnTheWire) {
  BackendConfig config;
  config.record_size = 1000;
  config.faults.push_back(fault(BackendEvent::body_bytes, BackendAction::close));
  config.faults.back().bytes = 1500;
  config.faults.back().mid_record = true;
  start(config);
  RawClient c(io);
  exchange(c, request(1, "size=3000"), Until::closed);
  EXPECT_TRUE(c.eof);
  // Whole records carry 1000 body bytes; the second record's header and 500 bytes wait.
  EXPECT_EQ(c.body(1).size(), 1000u);
  EXPECT_TRUE(c.decoder().mid_record());
  EXPECT_EQ(c.decoder().buffered(), fcgi::kHeaderLength + 500u);
  EXPECT_FALSE(c.end_request(1));
}

// ---------------------------------------------------------------- odd records

TEST_F(FakeBackendFaultsTest, StderrInterleavesWithStdout) {
  BackendConfig config;
  config.stderr_every = 1000;
  config.stderr_bytes = 10;
  start(config);
  RawClient c(io);
  exchange(c, request(1, "size=3500"));
  EXPECT_EQ(c.body(1), probe::pattern(0, 3500));
  EXPECT_EQ(c.stream(1, RecordType::Stderr), std::string(30, 'E'));
  // STDERR sits between STDOUT records.
  std::string order;
  for (const auto& r : c.received) order += r.record.is(RecordType::Stderr) ? 'E' : 'O';
  EXPECT_EQ(order.substr(0, 9), "OOEOEOEOO") << order;
}

TEST_F(FakeBackendFaultsTest, SendRecordWritesOddRecordsBeforeTheBody) {
  BackendConfig config;
  auto empty_stderr = fault(BackendEvent::params_complete, BackendAction::send_record);
  empty_stderr.record.type = 7;
  config.faults.push_back(empty_stderr);
  auto unknown = fault(BackendEvent::headers_sent, BackendAction::send_record);
  unknown.record.type = 42;
  unknown.record.length = 65535;
  unknown.record.padding = 7;
  config.faults.push_back(unknown);
  auto stray = fault(BackendEvent::headers_sent, BackendAction::send_record);
  stray.record.type = 6;
  stray.record.length = 5;
  stray.record.inactive_id = true;
  config.faults.push_back(stray);
  start(config);
  RawClient c(io);
  exchange(c, request(1, "size=100"));
  ASSERT_GE(c.received.size(), 5u);
  EXPECT_TRUE(c.received[0].record.is(RecordType::Stderr));
  EXPECT_TRUE(c.received[0].record.content.empty());
  EXPECT_TRUE(c.received[1].record.is(RecordType::Stdout));  // the head
  EXPECT_EQ(c.received[2].record.type, 42);
  EXPECT_EQ(c.received[2].record.content.size(), 65535u);
  EXPECT_EQ(c.received[2].record.padding_length, 7u);
  EXPECT_TRUE(c.received[3].record.is(RecordType::Stdout));
  EXPECT_NE(c.received[3].record.request_id, 1u);
  EXPECT_EQ(c.body(1), probe::pattern(0, 100));
  EXPECT_EQ(count("record_sent"), 3u);
}

// ---------------------------------------------------------------- END_REQUEST and Content-Length

TEST_F(FakeBackendFaultsTest, EarlyEndRequestPrecedesTheRestOfTheBody) {
  BackendConfig config;
  config.record_size = 1000;
  config.faults.push_back(fault(BackendEvent::body_bytes, BackendAction::end_request));
  config.faults.back().bytes = 1000;
  start(config);
  RawClient c(io);
  exchange(c, request(1, "size=3000"), Until::closed);
  std::size_t body_before_end = 0, end_requests = 0;
  bool after = false;
  for (const auto& r : c.received) {
    if (r.record.is(RecordType::EndRequest)) {
      ++end_requests;
      after = true;
    } else if (r.record.is(RecordType::Stdout) && !after) {
      body_before_end += r.record.content.size();
    }
  }
  EXPECT_EQ(end_requests, 1u);
  EXPECT_EQ(body_before_end, probe::response_head(200).size() + 1000u);
  EXPECT_EQ(c.body(1).size(), 3000u);  // the app wrote on after END_REQUEST
}

TEST_F(FakeBackendFaultsTest, LateEndRequestFollowsTheEmptyStdoutAfterTheDelay) {
  BackendConfig config;
  config.end_request_delay_ms = 150;
  start(config);
  RawClient c(io);
  exchange(c, request(1, "size=10"));
  ASSERT_TRUE(c.stream_ended(1, RecordType::Stdout));
  const Received* empty = nullptr;
  const Received* end = nullptr;
  for (const auto& r : c.received) {
    if (r.record.is(RecordType::Stdout) && r.record.content.empty()) empty = &r;
    if (r.record.is(RecordType::EndRequest)) end = &r;
  }
  ASSERT_TRUE(empty && end);
  EXPECT_GE(end->at - empty->at, 100ms);
}

TEST_F(FakeBackendFaultsTest, EndRequestNeverAndStdoutTerminatorMissing) {
  BackendConfig config;
  config.end_request = false;
  start(config);
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(request(1, "size=10"));
    co_await c.read_until([&] { return c.stream_ended(1, RecordType::Stdout); });
    co_await logged("end_request_withheld");
  });
  EXPECT_FALSE(c.end_request(1));
  EXPECT_FALSE(c.ended());  // no END_REQUEST, no close either

  io.restart();
  BackendConfig second;
  second.stdout_terminator = false;
  start(second);
  RawClient d(io);
  exchange(d, request(1, "size=10"));
  EXPECT_TRUE(d.end_request(1));
  EXPECT_FALSE(d.stream_ended(1, RecordType::Stdout));
}

TEST_F(FakeBackendFaultsTest, ContentLengthLiesInEitherDirection) {
  for (std::int64_t offset : {10, -10, 0}) {
    SCOPED_TRACE(offset);
    io.restart();
    BackendConfig config;
    config.content_length_offset = offset;
    start(config);
    RawClient c(io);
    exchange(c, request(1, "size=1000"));
    EXPECT_NE(c.head(1).find("\r\nContent-Length: " + std::to_string(1000 + offset) + "\r\n"),
              std::string::npos)
        << c.head(1);
    EXPECT_EQ(c.body(1).size(), 1000u);
  }
}

// ---------------------------------------------------------------- closing

TEST_F(FakeBackendFaultsTest, ShutdownSendsFinAndKeepsReading) {
  BackendConfig config;
  config.faults.push_back(fault(BackendEvent::headers_sent, BackendAction::shutdown));
  start(config);
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=100000", "POST"));
    co_await c.read_until_closed();
    // Our side may still write: the backend reads on (no RST), then closes at our EOF.
    co_await c.send(stdin_stream(1, std::string(100000, 'x')));
    c.socket().shutdown(net::Socket::shutdown_send);
    co_await logged("connection_closed");
  });
  EXPECT_TRUE(c.eof);
  EXPECT_FALSE(c.error) << c.error.message();
  EXPECT_EQ(c.head(1), probe::response_head(200));
  EXPECT_TRUE(c.body(1).empty());
  EXPECT_EQ(count("fault:shutdown"), 1u);
  const auto* closed = find("connection_closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->detail, "peer_closed");
}

TEST_F(FakeBackendFaultsTest, LingerOffClosesWithUnreadInputAsRst) {
  // The uWSGI bug (seed 5): answered before reading the body, closed with input unread.
  BackendConfig config;
  config.linger = false;
  config.faults.push_back(fault(BackendEvent::params_complete, BackendAction::stall_reading));
  config.faults.push_back(fault(BackendEvent::params_complete, BackendAction::stall_writing));
  config.faults.back().until = "test.body_sent";
  start(config);
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=1000", "POST"));
    co_await logged("params_complete");
    // On loopback the body is in the backend's receive queue once the write returns.
    co_await c.send(
        encoded(fcgi::make_stream_record(RecordType::Stdin, 1, std::string(5000, 'x'))));
    bus.publish("test", "body_sent");
    co_await c.read_until_closed();
  });
  EXPECT_EQ(c.error, asio::error::connection_reset) << c.error.message();
  EXPECT_EQ(count("lingering"), 0u);
}

TEST_F(FakeBackendFaultsTest, LateStdinTerminatorIsIgnoredAndTheConnectionStaysOpen) {
  // Go net/http/fcgi < 1.16 (seed 4): KEEP_CONN clear, yet no close after END_REQUEST.
  BackendConfig config;
  config.ignore_late_stdin_terminator = true;
  start(config);
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=10", "POST"));
    co_await c.read_until_end_request(1);
    co_await c.send(stdin_stream(1, "late body"));
    EXPECT_TRUE(co_await logged("stdin_terminator_ignored"));
  });
  EXPECT_FALSE(c.ended());
  EXPECT_EQ(bus.count(events::Selector{"backend", "stdin_terminator_ignored"}), 1u);
  const auto* closed = find("connection_closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->detail, "stopped");  // only stop() closed it
}

TEST_F(FakeBackendFaultsTest, KeepConnPolicies) {
  {
    BackendConfig config;
    config.keep_conn = KeepConnPolicy::ignore_set;
    start(config);
    RawClient c(io);
    exchange(c, request(1, "size=10", {}, fcgi::kKeepConn), Until::closed);
    EXPECT_TRUE(c.end_request(1));
    EXPECT_TRUE(c.eof);
    EXPECT_EQ(count("keep_conn_ignored"), 1u);
  }
  io.restart();
  {
    BackendConfig config;
    config.keep_conn = KeepConnPolicy::ignore_clear;
    start(config);
    RawClient c(io);
    run([&]() -> asio::awaitable<void> {
      co_await c.connect(backend->address());
      co_await c.send(request(1, "size=10"));
      co_await c.read_until_end_request(1);
      co_await logged("keep_conn_ignored");
    });
    EXPECT_FALSE(c.ended());
    ASSERT_TRUE(find("connection_closed"));
    EXPECT_EQ(find("connection_closed")->detail, "stopped");
  }
}

// ---------------------------------------------------------------- stalls

TEST_F(FakeBackendFaultsTest, StallReadingBlocksThePeersWrites) {
  BackendConfig config;
  config.receive_buffer = 4096;
  config.faults.push_back(fault(BackendEvent::params_complete, BackendAction::stall_reading));
  config.faults.back().stall_ms = 300;
  start(config);
  RawClient c(io);
  const std::string upload = probe::pattern(0, 16u << 20);
  Clock::time_point t0{}, written{};
  run(
      [&]() -> asio::awaitable<void> {
        co_await c.connect(backend->address());
        t0 = Clock::now();
        co_await c.send(request(1, "echo=1", upload));
        written = Clock::now();
        co_await c.read_until_end_request(1);
      },
      30s);
  EXPECT_EQ(c.body(1).size(), upload.size());
  // 16 MiB cannot fit the socket buffers: the write finished only after the stall.
  EXPECT_GE(written - t0, 250ms);
}

TEST_F(FakeBackendFaultsTest, StallWritingUntilAnEventHoldsTheResponse) {
  BackendConfig config;
  config.faults.push_back(fault(BackendEvent::params_complete, BackendAction::stall_writing));
  config.faults.back().until = "backend.stdin_terminator_received";
  start(config);
  RawClient c(io);
  run([&]() -> asio::awaitable<void> {
    co_await c.connect(backend->address());
    co_await c.send(begin(1) + params(1, "size=10", "POST"));
    co_await logged("params_complete");
    co_await c.send(stdin_stream(1, "body"));
    co_await c.read_until_end_request(1);
  });
  const auto* terminator = find("stdin_terminator_received");
  const auto* head = find("headers_sent");
  ASSERT_TRUE(terminator && head);
  EXPECT_GE(head->at, terminator->at);
  EXPECT_EQ(count("stall_ended"), 1u);
}

// ---------------------------------------------------------------- exit after N requests

TEST_F(FakeBackendFaultsTest, ExitWithListenerClosedResetsQueuedConnections) {
  BackendConfig config;
  config.exit_after_requests = 1;
  start(config);
  RawClient a(io), queued1(io), queued2(io), late(io);
  error_code late_connect;
  run([&]() -> asio::awaitable<void> {
    co_await a.connect(backend->address());
    co_await a.send(request(1, "size=10&first_byte_ms=100"));
    EXPECT_TRUE(co_await logged("accepting_stopped"));
    // These complete the handshake in the kernel's backlog; nobody accepts them.
    co_await queued1.connect(backend->address());
    co_await queued2.connect(backend->address());
    co_await queued1.send(request(1, "size=10"));
    co_await a.read_until_closed();
    co_await queued1.read_until_closed();
    co_await queued2.read_until_closed();
    auto [ec] = co_await late.socket().async_connect(backend->address().endpoint(), kAwait);
    late_connect = ec;
  });
  EXPECT_TRUE(a.end_request(1));
  EXPECT_EQ(queued1.error, asio::error::connection_reset) << queued1.error.message();
  EXPECT_EQ(queued2.error, asio::error::connection_reset) << queued2.error.message();
  EXPECT_EQ(late_connect, asio::error::connection_refused) << late_connect.message();
  EXPECT_EQ(count("exited"), 1u);
  EXPECT_EQ(count("accepted"), 1u);
}

TEST_F(FakeBackendFaultsTest, ExitWithListenerKeptServesQueuedConnectionsAfterRespawn) {
  BackendConfig config;
  config.exit_after_requests = 1;
  config.keep_listener = true;
  config.respawn_after_ms = 50;
  start(config);
  RawClient a(io), queued(io);
  run([&]() -> asio::awaitable<void> {
    co_await a.connect(backend->address());
    co_await a.send(request(1, "size=10&first_byte_ms=50"));
    EXPECT_TRUE(co_await logged("accepting_stopped"));
    co_await queued.connect(backend->address());
    co_await queued.send(request(1, "size=20"));
    co_await a.read_until_closed();
    co_await queued.read_until_end_request(1);
  });
  EXPECT_TRUE(a.end_request(1));
  EXPECT_EQ(queued.body(1), probe::pattern(0, 20));
  const auto* exited = find("exited");
  const auto* respawned = find("respawned");
  ASSERT_TRUE(exited && respawned);
  EXPECT_LE(exited->at, respawned->at);
}

TEST_F(FakeBackendFaultsTest, ExitWithListenerClosedListensAgainAfterRespawn) {
  BackendConfig config;
  config.exit_after_requests = 1;
  config.respawn_after_ms = 20;
  start(config);
  RawClient a(io), b(io);
  run([&]() -> asio::awaitable<void> {
    co_await send_and_read(a, request(1, "size=10"), Until::closed);
    EXPECT_TRUE(co_await logged("respawned"));
    co_await send_and_read(b, request(1, "size=10"));
    EXPECT_TRUE(co_await logged("exited", 2));  // b's request ended the second life too
  });
  EXPECT_TRUE(b.end_request(1));
}

}  // namespace
}  // namespace fh::fake

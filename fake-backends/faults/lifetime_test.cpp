// Family "lifetime" (lifetime.cpp): exit after N requests, the listener closed or kept, respawn.
#include "tests/support/fake_backend_faults.hpp"

namespace fh::fake::family_test {
namespace {

TEST_F(FaultFamilyTest, ExitWithListenerClosedResetsQueuedConnections) {
  start(configured("{exit_after_requests: 1}"));
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

TEST_F(FaultFamilyTest, ExitWithListenerKeptServesQueuedConnectionsAfterRespawn) {
  start(configured("{exit_after_requests: 1, listener: keep, respawn_after_ms: 50}"));
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

TEST_F(FaultFamilyTest, ExitWithListenerClosedListensAgainAfterRespawn) {
  start(configured("{exit_after_requests: 1, respawn_after_ms: 20}"));
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
}  // namespace fh::fake::family_test

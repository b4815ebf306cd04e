// Bug emulation "lighttpd_2796" (lighttpd_2796.cpp): the stream stalls once a slow client
// catches up; fixed, it resumes and completes (seed 000).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

// Reads nothing until the gateway paused reading the backend (the client is behind), then
// everything at full speed: the client catches up with the stream (seed 000).
boost::asio::awaitable<void> catching_up_client(net::Address gateway, events::Bus& bus,
                                                std::shared_ptr<std::uint64_t> received,
                                                std::shared_ptr<bool> complete) {
  auto executor = co_await boost::asio::this_coro::executor;
  net::Socket socket(executor);
  socket.open(gateway.endpoint().protocol());
  socket.set_option(boost::asio::socket_base::receive_buffer_size(16384));
  co_await socket.async_connect(gateway.endpoint(), boost::asio::use_awaitable);
  const std::string request = "GET /probe?size=1000000 HTTP/1.1\r\nHost: t\r\n\r\n";
  co_await boost::asio::async_write(socket, boost::asio::buffer(request),
                                    boost::asio::use_awaitable);
  boost::asio::steady_timer gate(executor, boost::asio::steady_timer::time_point::max());
  const int id = bus.subscribe(events::Selector::parse("gateway.backend_read_paused"),
                               [&gate](const events::Event&) { gate.cancel(); });
  if (bus.count(events::Selector::parse("gateway.backend_read_paused")) == 0)
    co_await gate.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  bus.unsubscribe(id);
  std::string all;
  char buf[65536];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(
        boost::asio::buffer(buf), boost::asio::as_tuple(boost::asio::use_awaitable));
    all.append(buf, n);
    *received = all.size();
    if (all.size() >= 5 && all.compare(all.size() - 5, 5, "0\r\n\r\n") == 0) {
      *complete = true;
      co_return;
    }
    if (ec) co_return;
  }
}

std::pair<std::uint64_t, bool> stream_two_with_slow_client(bool bug) {
  Chain chain(bug ? "{stream_response_body: 2, bug: lighttpd_2796}" : "{stream_response_body: 2}");
  auto received = std::make_shared<std::uint64_t>(0);
  auto complete = std::make_shared<bool>(false);
  boost::asio::co_spawn(chain.io,
                        catching_up_client(chain.gateway->address(), chain.bus, received, complete),
                        [](std::exception_ptr) {});
  // Bounded: complete, or nothing more for 500 ms (the hang).
  std::uint64_t last = 0;
  auto quiet_since = Clock::now();
  while (!*complete && Clock::now() - quiet_since < 500ms) {
    chain.io.run_one_for(20ms);
    if (*received != last) last = *received, quiet_since = Clock::now();
  }
  EXPECT_GE(chain.count("gateway.backend_read_paused"), 1u) << chain.timeline();
  return {*received, *complete};
}

TEST(gateway_seed_races, Lighttpd2796HangsWhenTheClientCatchesUp) {
  auto [received, complete] = stream_two_with_slow_client(true);
  EXPECT_FALSE(complete);
  EXPECT_LT(received, 1000000u);
}

TEST(gateway_seed_races, StreamTwoFixedResumesAndCompletes) {
  auto [received, complete] = stream_two_with_slow_client(false);
  EXPECT_TRUE(complete) << received;
}

}  // namespace
}  // namespace fh::fake::gateway_family_test

// One client exchange run to its end on the test's io_context, bounded: a hang fails the test
// instead of blocking ctest.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>

#include "client/http_client.hpp"
#include "events/bus.hpp"
#include "net/address.hpp"

namespace fh::test_support {

/// Runs client::exchange(address, spec) until it ends or `limit` passes. With `bus`, the
/// client publishes its events there as connection `connection`.
inline client::Exchange run_exchange(boost::asio::io_context& io, const net::Address& address,
                                     client::RequestSpec spec,
                                     std::chrono::milliseconds limit = std::chrono::seconds(10),
                                     events::Bus* bus = nullptr, std::uint32_t connection = 0) {
  client::Exchange x;
  bool done = false;
  boost::asio::co_spawn(io, client::exchange(address, std::move(spec), x, bus, connection),
                        [&](std::exception_ptr e) {
                          EXPECT_FALSE(e) << "exchange threw";
                          done = true;
                        });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline)
    io.run_one_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(done) << "exchange did not end within the limit: " << x.summary();
  return x;
}

}  // namespace fh::test_support

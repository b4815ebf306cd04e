// What the fake backend's fault-family tests (fake-backends/faults/*_test.cpp) share: the
// fixture with the backend on a bus, a raw client that tolerates odd records, and helpers.
// Each family's test drives one family over loopback, bounded by io.run_for; orderings are
// asserted on the backend's own log (one clock, one thread), never on tight durations.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "codec/fcgi.hpp"
#include "fake-backends/fake_backend.hpp"
#include "probe/probe_contract.hpp"
#include "tests/support/fake_backend_fixture.hpp"
#include "tests/support/raw_fcgi_client.hpp"

namespace fh::fake::family_test {

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

/// The backend publishes on `bus`: tests trigger faults on its events and publish their own.
class FaultFamilyTest : public FakeBackendFixture {
 protected:
  FaultFamilyTest() : FakeBackendFixture(BusMode::attached) {}
};

inline std::vector<const fcgi::Record*> records_of(const RawClient& c, RecordType type) {
  std::vector<const fcgi::Record*> out;
  for (const auto& r : c.received)
    if (r.record.is(type)) out.push_back(&r.record);
  return out;
}

}  // namespace fh::fake::family_test

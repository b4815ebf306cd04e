// The wire observer's cost: a response through the fake gateway and fake backend (the fastest
// transfer the fakes can do, on loopback) with and without a live capture of both legs, and the
// reassembly + decoding of what was captured. A capture that drops a packet fails the benchmark:
// 0 drops is the goal, a lossy capture would make runs ERROR.
// Run as root: cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DFH_BENCH=ON &&
//      ninja -C build-bench capture_bench && build-bench/bench/capture_bench
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>

#include "client/http_client.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"
#include "observers/pcap_capture.hpp"
#include "observers/tcp_reassembly.hpp"
#include "observers/wire_decoder.hpp"

namespace {

namespace asio = boost::asio;
namespace obs = fh::observers;
using Clock = std::chrono::steady_clock;

struct Chain {
  Chain() {
    backend = std::make_unique<fh::fake::FakeBackend>(io, fh::fake::BackendConfig{});
    backend->start();
    fh::fake::GatewayConfig config;
    config.backend = backend->address();
    gateway = std::make_unique<fh::fake::FakeGateway>(io, config);
    gateway->start();
    roles = {backend->address().port, gateway->address().port};
  }
  ~Chain() {
    gateway->stop();
    backend->stop();
    io.run_for(std::chrono::seconds(2));
  }
  // One GET of `size` body bytes; returns the body bytes the client got (0 on failure).
  std::uint64_t get(std::uint64_t size) {
    fh::client::RequestSpec spec;
    spec.target = "/probe?size=" + std::to_string(size) + "&chunk=65536";
    fh::client::Exchange x;
    bool done = false;
    asio::co_spawn(io, fh::client::exchange(gateway->address(), spec, x),
                   [&](std::exception_ptr) { done = true; });
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!done && Clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
    return x.outcome == fh::client::Outcome::complete ? x.body_bytes : 0;
  }
  asio::io_context io;
  std::unique_ptr<fh::fake::FakeBackend> backend;
  std::unique_ptr<fh::fake::FakeGateway> gateway;
  obs::WireRoles roles;
};

// Arg: response size in MiB. Time: the exchange only (manual time); MB/s of response body.
void BM_TransferWithoutCapture(benchmark::State& state) {
  const std::uint64_t size = static_cast<std::uint64_t>(state.range(0)) << 20;
  Chain chain;
  for (auto _ : state) {
    const auto start = Clock::now();
    if (chain.get(size) != size) state.SkipWithError("the exchange failed");
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_TransferWithoutCapture)
    ->Arg(16)
    ->Arg(64)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_TransferUnderCapture(benchmark::State& state) {
  const std::uint64_t size = static_cast<std::uint64_t>(state.range(0)) << 20;
  Chain chain;
  double packets = 0, dropped = 0, wire_bytes = 0;
  for (auto _ : state) {
    obs::PcapCapture capture;
    capture.start({chain.roles.backend_port, chain.roles.gateway_port});
    const auto start = Clock::now();
    const std::uint64_t got = chain.get(size);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    const auto stats = capture.stop();
    packets += static_cast<double>(stats.captured);
    dropped += static_cast<double>(stats.dropped + stats.if_dropped + stats.truncated);
    for (const auto& p : capture.packets()) wire_bytes += static_cast<double>(p.data.size());
    if (got != size) state.SkipWithError("the exchange failed");
    if (stats.lost_packets())
      state.SkipWithError(("capture lost packets: " + stats.to_string()).c_str());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.counters["packets"] = benchmark::Counter(packets, benchmark::Counter::kAvgIterations);
  state.counters["dropped"] = dropped;
  state.counters["captured_MB"] =
      benchmark::Counter(wire_bytes / 1e6, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_TransferUnderCapture)
    ->Arg(16)
    ->Arg(64)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Reassembly + FastCGI/HTTP decoding of a captured 16 MiB exchange (both legs).
void BM_ReassembleAndDecode16MiB(benchmark::State& state) {
  constexpr std::uint64_t kSize = 16u << 20;
  Chain chain;
  obs::PcapCapture capture;
  capture.start({chain.roles.backend_port, chain.roles.gateway_port});
  const bool ok = chain.get(kSize) == kSize;
  const auto stats = capture.stop();
  if (!ok || stats.lost_packets()) {
    state.SkipWithError("the capture of the 16 MiB exchange failed");
    for (auto _ : state) {
    }
    return;
  }
  for (auto _ : state) {
    obs::Reassembler tcp({chain.roles.backend_port, chain.roles.gateway_port});
    tcp.add_all(capture.packets(), capture.linktype());
    obs::WireDecoder wire(chain.roles);
    wire.decode(tcp);
    if (wire.stdout_body_bytes() != kSize) state.SkipWithError("decoded STDOUT bytes differ");
    benchmark::DoNotOptimize(wire.events().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kSize));
}
BENCHMARK(BM_ReassembleAndDecode16MiB)->Unit(benchmark::kMillisecond);

}  // namespace

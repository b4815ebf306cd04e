// The syscall timeline's cost on a real peer: real nginx (harness/peers, its template's defaults,
// so fastcgi_buffering on) in front of the embedded fake backend, with and without strace -f
// attached to nginx's whole process group (observers/strace_timeline.hpp), for small GETs
// (requests per second, sequential, one connection each) and a 16 MiB response (MB/s, MB = 1e6
// bytes): what observing a real peer's syscalls costs a run. strace (ptrace, no --seccomp-bpf)
// stops the traced processes at every syscall, printed or not, so the slowdown grows with the
// syscalls per request and per byte (`syscalls`: the printed ones per iteration).
// Small requests pay more than their syscall count suggests: for -yy, strace resolves each new
// TCP socket (and, each time, one not connected yet) with a sock_diag dump of every TCP socket
// of the host, TIME_WAIT ones included, so the traced req/s falls as sockets pile up (the
// untraced run alone leaves thousands in TIME_WAIT for 60 s). `tcp_sockets` is that count at
// the start; for the low-load figure run `--benchmark_filter=strace:1` on a quiet host.
// A request that does not complete (or strace detaching midway) fails the benchmark.
// Run as root: cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DFH_BENCH=ON &&
//      ninja -C build-bench strace_bench && build-bench/bench/strace_bench
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "client/http_client.hpp"
#include "fake-backends/fake_backend.hpp"
#include "observers/strace_timeline.hpp"
#include "peers/gateways.hpp"
#include "peers/process.hpp"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace obs = fh::observers;
namespace peers = fh::peers;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// client -> nginx -> fake backend, the fakes and the client on one io_context; optionally the
// syscall timeline on nginx. Teardown (also after a failed start): strace detached and reaped,
// nginx's group stopped and reaped, the backend stopped and drained, the run folder removed.
class NginxChain {
 public:
  NginxChain() = default;
  NginxChain(const NginxChain&) = delete;
  NginxChain& operator=(const NginxChain&) = delete;
  ~NginxChain() {
    if (timeline_) timeline_->stop();
    if (gateway_) gateway_->stop();
    if (backend_) backend_->stop();
    io_.restart();
    io_.run_for(2s);
    std::error_code ignored;
    if (!run_dir_.empty()) fs::remove_all(run_dir_, ignored);
  }

  /// Starts the chain; "" or what failed.
  std::string start(bool traced) {
    try {
      char dir[] = "/tmp/fh-strace-bench-XXXXXX";
      if (!::mkdtemp(dir)) return "mkdtemp failed";
      run_dir_ = dir;
      backend_ = std::make_unique<fh::fake::FakeBackend>(io_, fh::fake::BackendConfig{});
      backend_->start();
      peers::PeerOptions options;
      options.run_dir = run_dir_;
      options.listen = fh::net::Address::tcp("127.0.0.1", 0);
      options.upstream = backend_->address();
      options.pump = [this] { pump(); };
      gateway_ = peers::make_gateway("nginx", options);
      gateway_->start();
      if (!gateway_->process()) return "nginx started without a process";
      if (traced) {
        timeline_ = std::make_unique<obs::StraceTimeline>(
            obs::StraceTimeline::Options{.dir = run_dir_, .stem = "gateway-nginx-strace"});
        const auto t0 = Clock::now();
        timeline_->attach(gateway_->process()->pgid(), [this] { pump(); });
        attach_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      }
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  }

  /// One GET through nginx, on a connection of its own; the exchange as far as it got.
  fh::client::Exchange get(const std::string& target) {
    // Shared with the completion handler: an exchange that misses the deadline keeps running
    // until teardown, and must not write into a dead frame.
    struct Pending {
      fh::client::Exchange x;
      bool done = false;
    };
    auto pending = std::make_shared<Pending>();
    fh::client::RequestSpec spec;
    spec.target = target;
    asio::co_spawn(io_, fh::client::exchange(gateway_->address(), spec, pending->x),
                   [pending](std::exception_ptr) { pending->done = true; });
    io_.restart();
    const auto deadline = Clock::now() + 60s;
    while (!pending->done && Clock::now() < deadline) io_.run_one_for(50ms);
    return pending->x;
  }

  /// "" while strace still traces every nginx process it attached to.
  std::string still_traced() const {
    for (const pid_t pid : timeline_->pids())
      if (obs::tracer_of(pid) != timeline_->tracer_pid())
        return "strace no longer traces nginx pid " + std::to_string(pid);
    return "";
  }

  obs::StraceTimeline* timeline() { return timeline_.get(); }
  double attach_ms() const { return attach_ms_; }

 private:
  void pump() {
    io_.restart();
    io_.run_for(2ms);
  }

  asio::io_context io_;
  fs::path run_dir_;
  std::unique_ptr<fh::fake::FakeBackend> backend_;
  std::unique_ptr<peers::Peer> gateway_;
  std::unique_ptr<obs::StraceTimeline> timeline_;
  double attach_ms_ = 0;
};

// TCP sockets of this network namespace in any state (TIME_WAIT too): strace -yy resolves
// each new TCP socket with a sock_diag dump of all of them, so the traced figures depend on it.
double host_tcp_sockets() {
  double count = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) ++count;
  }
  return count;
}

bool complete(const fh::client::Exchange& x, std::uint64_t size) {
  return x.outcome == fh::client::Outcome::complete && x.status == 200 && x.body_bytes == size;
}

// Detaches strace (outside the timed loop) and reports what it recorded per iteration.
void finish_timeline(benchmark::State& state, NginxChain& chain) {
  obs::StraceTimeline* timeline = chain.timeline();
  if (!timeline) {
    state.SetLabel("no strace");
    return;
  }
  state.SetLabel("strace attached");
  if (const std::string lost = chain.still_traced(); !lost.empty() && !state.error_occurred())
    state.SkipWithError(lost.c_str());
  timeline->stop();
  std::error_code ignored;
  const auto log_bytes = fs::file_size(timeline->log_path(), ignored);
  const double syscalls = static_cast<double>(timeline->records().size());
  state.counters["attach_ms"] = chain.attach_ms();
  state.counters["syscalls"] = benchmark::Counter(syscalls, benchmark::Counter::kAvgIterations);
  state.counters["log_MB"] =
      log_bytes == static_cast<std::uintmax_t>(-1) ? 0.0 : static_cast<double>(log_bytes) / 1e6;
}

// One GET of `target` (a `size`-byte body) per iteration, each timed from connect to last
// byte (manual time); returns the seconds they took together. An incomplete response fails
// the benchmark; then, or when the chain would not start, state.error_occurred().
double timed_gets(benchmark::State& state, NginxChain& chain, const std::string& target,
                  std::uint64_t size) {
  if (const std::string error = chain.start(state.range(0) != 0); !error.empty())
    state.SkipWithError(error.c_str());
  state.counters["tcp_sockets"] = host_tcp_sockets();
  double seconds = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    const auto x = chain.get(target);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(elapsed);
    seconds += elapsed;
    if (!complete(x, size)) {
      state.SkipWithError(("GET " + target + " failed: " + x.summary()).c_str());
      break;
    }
  }
  if (!state.error_occurred()) finish_timeline(state, chain);
  return seconds;
}

// Arg: 1 = strace attached. Time: each exchange (manual time), connect to last byte.
void BM_NginxSmallGets(benchmark::State& state) {
  NginxChain chain;
  const double seconds = timed_gets(state, chain, "/probe?size=100", 100);
  if (state.error_occurred()) return;
  state.counters["req/s"] = seconds > 0 ? static_cast<double>(state.iterations()) / seconds : 0.0;
}
BENCHMARK(BM_NginxSmallGets)
    ->ArgName("strace")
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Arg: 1 = strace attached. One 16 MiB response per iteration, in 64 KiB STDOUT records.
void BM_NginxTransfer16MiB(benchmark::State& state) {
  constexpr std::uint64_t kSize = 16u << 20;
  const std::string target = "/probe?size=" + std::to_string(kSize) + "&chunk=65536";
  NginxChain chain;
  const double seconds = timed_gets(state, chain, target, kSize);
  if (state.error_occurred()) return;
  const double bytes = static_cast<double>(state.iterations() * kSize);
  state.counters["MB/s"] = seconds > 0 ? bytes / 1e6 / seconds : 0.0;
}
BENCHMARK(BM_NginxTransfer16MiB)
    ->ArgName("strace")
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

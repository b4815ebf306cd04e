// A party of a run behind the client: the gateway or the backend, each either the embedded
// fake or a real program (a peers/ adapter, or any command line). The runner starts, observes
// and stops both through this one interface, so it has no fake/real fork at each step.
#pragma once

#include <sys/types.h>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "net/address.hpp"
#include "scenario/model.hpp"

namespace fh::runner {

/// What strace attaches to when a party's syscalls are observed.
struct TraceTarget {
  pid_t pgid = 0;           // a real program: its whole process group
  bool in_harness = false;  // a fake: the harness process itself (records split by socket)
};

/// A party that listens but answered its readiness request wrongly (or, already running, did
/// not answer): its own failure. Graded FAIL when it is the implementation under test
/// (RunOptions::under_test), ERROR otherwise.
class PartyNotReady : public std::runtime_error {
 public:
  PartyNotReady(std::string role, const std::string& what)
      : std::runtime_error(what), role_(std::move(role)) {}
  const std::string& role() const { return role_; }

 private:
  std::string role_;
};

class Party {
 public:
  struct StartContext {
    boost::asio::io_context& io;
    events::Bus& bus;
    std::filesystem::path run_dir;
    std::function<void()> pump;           // runs the run's io_context while a real program starts
    net::Address listen;                  // where it listens (the backend: tcp or a unix path)
    net::Address upstream;                // the gateway: the backend's address
    std::filesystem::path document_root;  // the gateway: the backend's probe app root
  };

  virtual ~Party() = default;
  /// "gateway" or "backend".
  virtual const std::string& role() const = 0;
  /// "fake", a real program's kind, or "command".
  virtual const std::string& kind() const = 0;
  /// Why it cannot run here (a program or strace not installed, with the apt package).
  virtual std::optional<std::string> missing() const = 0;
  /// Starts it; returns once it is ready. Throws on failure.
  virtual void start(const StartContext& context) = 0;
  virtual net::Address address() const = 0;
  /// The backend: where its probe app is (the gateway's SCRIPT_FILENAME root).
  virtual std::filesystem::path document_root(const std::filesystem::path& run_dir) const = 0;
  /// Both parties are ready: what came before (a real gateway's readiness requests through a
  /// fake backend) was not the scenario's. Returns once those requests are answered (the
  /// pcap capture starts next), `pump` running the loop meanwhile.
  virtual void begin_scenario(const std::function<void()>& pump) = 0;
  /// Process and syscall faults (real programs): armed once both parties are ready, so the
  /// readiness requests neither trip nor count them; disarmed before the party stops.
  virtual void arm_faults(const std::function<void()>& pump) = 0;
  virtual void disarm_faults() = 0;
  virtual TraceTarget trace_target() const = 0;
  /// When its syscall faults run strace, that one tracer is also its syscall timeline (a
  /// process has one tracer): the log, once the faults are disarmed.
  virtual std::optional<std::filesystem::path> faults_strace_log() const = 0;
  /// Stops it (fakes close every socket; real programs get their graceful signal, then the
  /// group is killed and reaped). Idempotent.
  virtual void stop() = 0;
  /// Configs and logs of a real program (and its faults' strace log); none for a fake.
  virtual std::vector<std::filesystem::path> artefacts() const = 0;
};

/// The scenario's gateway and backend as parties.
std::unique_ptr<Party> make_backend_party(const scenario::Scenario& scenario);
std::unique_ptr<Party> make_gateway_party(const scenario::Scenario& scenario);

}  // namespace fh::runner

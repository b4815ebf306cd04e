// A scenario, as loaded from YAML and validated: who plays client, gateway and backend, what
// the client asks, which faults fire at which protocol events, and which observed outcomes are
// acceptable with which grade. The loader (loader.hpp) is the only producer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/http_client.hpp"
#include "events/bus.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"
#include "language/source_mark.hpp"
#include "net/address.hpp"
#include "probe/probe_contract.hpp"
#include "scenario/peer_faults.hpp"

namespace fh::scenario {

/// An HTTP status a scenario can name (RFC 9110 §15: three digits, classes 1xx-5xx).
inline constexpr int kStatusMin = 100;
inline constexpr int kStatusMax = 599;

using language::ScenarioError;
using language::SourceMark;

/// Verdict grades, worst last but one: ERROR outranks FAIL (the harness could not judge).
enum class Verdict { pass, non_strict, informational, fail, error, skip };
std::string_view verdict_name(Verdict verdict);  // "PASS", "NON-STRICT", ...
std::optional<Verdict> parse_verdict(std::string_view text);
/// Severity for combining several requests' verdicts: ERROR > FAIL > NON-STRICT >
/// INFORMATIONAL > PASS > SKIP.
int severity(Verdict verdict);
Verdict worst(Verdict a, Verdict b);

/// An inclusive range on milliseconds; either end may be open.
struct MsRange {
  std::optional<double> min;
  std::optional<double> max;
  bool contains(double value) const;
  std::string to_string() const;  // "<= 1500", ">= 200", "200..1500"
};

/// An outcome the scenario accepts, and the grade it earns. Every field that is set must
/// match; unset fields match anything.
struct Expectation {
  Verdict grade = Verdict::pass;
  std::string because;                 // why this grade, shown in the verdict reason
  std::vector<int> status;             // any of these
  std::optional<std::string> outcome;  // client::outcome_name() values, or "hung";
                                       // unset means "complete"
  bool body_as_probe = false;          // the body the probe contract promises
  std::optional<std::uint64_t> body_bytes;
  std::optional<std::string> body_sha256;
  std::vector<std::string> body_contains;                    // substrings of the first 64 KiB
  std::vector<std::pair<std::string, std::string>> headers;  // name (case-insensitive), value
  std::optional<MsRange> first_byte_ms;
  std::optional<MsRange> first_body_byte_ms;
  std::optional<MsRange> last_byte_ms;
  std::optional<MsRange> streamed_ms;  // last_byte_ms - first_body_byte_ms
  SourceMark mark;

  std::string describe() const;  // "[PASS] status=502 outcome=complete"
};

/// A check over the run's events (the bus log): what the fakes and the client saw and did.
/// All constraints given must hold; a violated check earns `otherwise` (FAIL by default).
struct EventCheck {
  events::Selector that;                   // the events checked: party.name
  std::string detail_contains;             // only events whose detail contains this
  std::optional<std::uint64_t> count_min;  // how many (default: at least one, unless
  std::optional<std::uint64_t> count_max;  //   another constraint says otherwise)
  std::optional<events::Selector> after;   // with within_ms: the first `that` event after
  std::optional<double> within_ms;         //   the first `after` event comes within this
  /// `if_after_happened: true`: an `after` event that never came is no violation (what the
  /// run did instead is judged by the expectations or another check).
  bool if_after_happened = false;
  std::optional<events::Selector> before;        // the first `that` event precedes the first
                                                 //   `before` event (or that never happens)
  std::optional<events::Selector> value_equals;  // the first `that` event's value equals the
                                                 //   value of the first event of this selector
  /// `if_observable: true`: in a topology that cannot produce one of its events, the check
  /// judges nothing (SKIP, with the reason) instead of being a load error.
  bool if_observable = false;
  /// Set by the loader when if_observable applied: why the check judges nothing here.
  std::string unobservable;
  Verdict otherwise = Verdict::fail;
  std::string because;
  SourceMark mark;

  std::string describe()
      const;  // "backend.connection_closed within 500 ms after backend.end_request_sent"
};

/// A request sent many times (`load:`): `count` copies, `concurrency` at once, each client
/// connection carrying `per_connection` of them (keep-alive). Every response is judged by the
/// request's expectations; the latencies (connect to last byte) are bounded by the limits.
struct LoadDef {
  std::uint32_t count = 1;
  std::uint32_t concurrency = 1;
  std::uint32_t per_connection = 1;
  std::optional<std::uint32_t> max_latency_ms;  // no response slower than this
  std::optional<std::uint32_t> p99_latency_ms;  // the 99th percentile at most this
};

struct RequestDef {
  std::string name;                        // "r1" unless named
  client::RequestSpec spec;                // what the client sends (target includes the query)
  std::optional<probe::ProbeQuery> probe;  // set when the target's query is a probe query
  std::vector<Expectation> expect;         // the request's own, else the scenario's
  std::optional<LoadDef> load;             // sent many times (load checks)
  SourceMark mark;
};

/// "fake" (the embedded fake), a real program's kind ("nginx", "php-fpm", ..., see
/// `fcgi-harness list --peers`), or "command" (any program given as a command line).
inline constexpr std::string_view kFakeKind = "fake";

/// The gateway. For a fake, `fake` is its whole configuration except the addresses, which
/// the runner fills in (listen on a port picked at run time, the backend's address). For a
/// real program, `knobs` configure it (and carry command/config for kind "command").
struct GatewayDef {
  std::string kind = std::string(kFakeKind);
  fake::GatewayConfig fake;
  std::map<std::string, std::string> knobs;
  std::vector<ProcessFault> process_faults;  // real programs only
  std::vector<SyscallFault> syscall_faults;  // real programs only
  bool is_fake() const { return kind == kFakeKind; }
};

/// "external": a backend already running (certify backend --connect), at `external_address`.
inline constexpr std::string_view kExternalKind = "external";

/// The backend. As for the gateway, `fake.listen` is chosen by the runner from `transport`.
struct BackendDef {
  std::string kind = std::string(kFakeKind);
  std::optional<net::Address> external_address;  // kind external
  enum class Transport { tcp, unix_socket } transport = Transport::tcp;
  fake::BackendConfig fake;
  std::map<std::string, std::string> knobs;
  std::vector<ProcessFault> process_faults;  // real programs only
  std::vector<SyscallFault> syscall_faults;  // real programs only
  bool is_fake() const { return kind == kFakeKind; }
};

/// What the run observes besides the parties' own events.
struct ObserveDef {
  /// Capture the run's TCP legs on lo (pcap) and publish the decoded `wire.*` events.
  /// Unix-socket legs are invisible to pcap.
  bool wire = false;
  /// Attach strace to these parties (a real program's whole process group; for a fake, the
  /// harness process, split by socket) after readiness, and put their syscalls on the
  /// timeline as `gateway.syscall:<name>` / `backend.syscall:<name>`.
  bool gateway_syscalls = false;
  bool backend_syscalls = false;
};

/// A check of the certification catalogue (scenarios/certify/): what it certifies, keyed to
/// the specification (h2spec's model: the section, the sentence, the level).
struct Certification {
  enum class Level { must, should, field };
  std::string id;       // "backend/3.3/padding-accepted": party/section/slug
  std::string party;    // "backend" or "gateway": the implementation it judges
  std::string section;  // "3.3", "rfc3875-4.1", "rfc9112-6.3", "seed-001", ...
  Level level = Level::must;
  std::string requirement;  // quoted briefly, with its source: "... (FastCGI 1.0 §3.3)"
  std::string bug;          // FIELD: the field bug it comes from (seed 000, lighttpd #2796)
};
std::string_view level_name(Certification::Level level);  // "MUST", "SHOULD", "FIELD"

struct Scenario {
  std::string id;       // unique in a run; the file's stem unless `id:` says otherwise
  std::string file;     // as given on the command line / found in a folder
  std::string variant;  // empty when the scenario has no variants
  std::string title;
  std::string description;
  std::vector<std::string> tags;
  std::uint32_t deadline_ms = 10000;  // bounds every wait of the run
  std::optional<std::string> skip;    // reason: the scenario is SKIP, nothing runs
  /// Set on variants whose fake emulates a known bug: the harness must grade them FAIL, so
  /// FAIL is the expected verdict there and anything else means the scenario went blind.
  std::optional<Verdict> expected_verdict;
  std::string emulates;   // which bug, for people ("lighttpd #2796")
  bool parallel = false;  // all requests start together instead of in turn
  ObserveDef observe;
  GatewayDef gateway;
  BackendDef backend;
  std::vector<RequestDef> requests;
  std::vector<EventCheck> checks;
  std::optional<Certification> certify;  // a check of the certification catalogue

  /// "id" or "id[variant]".
  std::string display_name() const { return variant.empty() ? id : id + "[" + variant + "]"; }
};

}  // namespace fh::scenario

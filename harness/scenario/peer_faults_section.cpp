// The `process_faults:` and `syscall_faults:` keys of a real gateway or backend.
#include <string.h>

#include <csignal>
#include <regex>

#include "events/harness_events.hpp"
#include "language/yaml_reader.hpp"
#include "scenario/peer_faults.hpp"

namespace fh::scenario {
namespace {

using namespace language;
using namespace language::yaml;

const std::pair<std::string_view, int> kSignals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
    {"USR1", SIGUSR1},   {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
    {"TERM", SIGTERM},   {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"WINCH", SIGWINCH}, {"ABRT", SIGABRT}, {"SEGV", SIGSEGV}};

std::string signal_list() {
  std::string out;
  for (const auto& [name, _] : kSignals) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

/// errno names glibc knows (EPIPE, ECONNRESET, ...): strace accepts the same names.
bool known_errno(const std::string& name) {
  for (int e = 1; e < 200; ++e)
    if (const char* n = ::strerrorname_np(e); n && name == n) return true;
  return false;
}

ProcessFault read_process_fault(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "process fault");
  ProcessFault f;
  f.origin = r.mark().to_string();
  f.at = read_trigger(r, process_fault_trigger_rules());
  const auto action = one_of(r.require("do"), file, "do", {"freeze", "kill", "stop", "signal"});
  f.action = action == "freeze" ? ProcessFault::Action::freeze
             : action == "kill" ? ProcessFault::Action::kill
             : action == "stop" ? ProcessFault::Action::stop
                                : ProcessFault::Action::signal;
  if (r.has("for_ms")) {
    if (f.action != ProcessFault::Action::freeze)
      throw ScenarioError(mark_of(r.get("for_ms"), file), "for_ms: only with do: freeze");
    f.for_ms = as_ms(r.get("for_ms"), file, "for_ms");
  }
  if (f.action == ProcessFault::Action::signal) {
    const auto sig = r.require("signal");
    auto name = as_string(sig, file, "signal");
    if (name.rfind("SIG", 0) == 0) name = name.substr(3);
    if (signal_number(name) == 0) bad_value(sig, file, "signal", "one of " + signal_list());
    f.signal = name;
  } else if (r.has("signal")) {
    throw ScenarioError(mark_of(r.get("signal"), file), "signal: only with do: signal");
  }
  r.finish();
  return f;
}

SyscallFault read_syscall_fault(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "syscall fault");
  SyscallFault f;
  f.origin = r.mark().to_string();
  const auto name = r.require("syscall");
  f.syscall = as_string(name, file, "syscall");
  static const std::regex kName("[a-z_][a-z0-9_]*");
  if (!std::regex_match(f.syscall, kName))
    bad_value(name, file, "syscall", "a Linux syscall name (writev, close, ...)");
  if (r.has("error")) {
    const auto e = r.get("error");
    f.error = as_string(e, file, "error");
    if (!known_errno(f.error))
      bad_value(e, file, "error", "an errno name (EPIPE, ECONNRESET, ...)");
  }
  if (r.has("delay_ms")) f.delay_ms = as_ms(r.get("delay_ms"), file, "delay_ms");
  if (r.has("delay_exit_ms"))
    f.delay_exit_ms = as_ms(r.get("delay_exit_ms"), file, "delay_exit_ms");
  if (r.has("when")) {
    const auto w = r.get("when");
    f.when = as_string(w, file, "when");
    static const std::regex kWhen("[1-9][0-9]*(\\.\\.[1-9][0-9]*)?(\\+([1-9][0-9]*)?)?");
    if (!std::regex_match(f.when, kWhen))
      bad_value(w, file, "when", "strace's first[..last][+[step]] (3, 2+, 1..4, 1+2)");
  }
  if (f.error.empty() && !f.delay_ms && !f.delay_exit_ms)
    throw ScenarioError(r.mark(), "syscall fault: give error, delay_ms or delay_exit_ms");
  r.finish();
  return f;
}

}  // namespace

std::string_view action_name(ProcessFault::Action action) {
  switch (action) {
    case ProcessFault::Action::freeze:
      return "freeze";
    case ProcessFault::Action::kill:
      return "kill";
    case ProcessFault::Action::stop:
      return "stop";
    case ProcessFault::Action::signal:
      return "signal";
  }
  return "?";
}

int signal_number(std::string_view name) {
  if (name.rfind("SIG", 0) == 0) name.remove_prefix(3);
  for (const auto& [n, s] : kSignals)
    if (n == name) return s;
  return 0;
}

std::string signal_name(int signal) {
  for (const auto& [n, s] : kSignals)
    if (s == signal) return std::string(n);
  return "signal " + std::to_string(signal);
}

std::string ProcessFault::describe() const {
  std::string out(action_name(action));
  if (action == Action::signal) out += " SIG" + signal;
  if (for_ms) out += " " + std::to_string(*for_ms) + " ms";
  if (at.kind == language::Trigger::Kind::elapsed) {
    out += " " + std::to_string(at.amount) + " ms after the first request started";
    if (at.delay_ms) out += " + " + std::to_string(at.delay_ms) + " ms";
  } else {
    out += " at " + at.to_string();
  }
  return out;
}

const language::TriggerRules& process_fault_trigger_rules() {
  static const language::TriggerRules rules{"", "process fault", {}, false, true, false, ""};
  return rules;
}

std::vector<language::FamilyDoc> peer_fault_families() {
  using namespace language;
  auto keys = trigger_keys(process_fault_trigger_rules());
  keys.push_back({"for_ms", shapes::ms(), "freeze: SIGCONT after this long (default: the end)"});
  std::vector<std::string> signals;
  for (const auto& [name, _] : kSignals) signals.emplace_back(name);
  keys.push_back({"signal", shapes::choice(signals), "do: signal: which (with or without SIG)"});
  FamilyDoc process{
      "process",
      "process",
      "Process faults on real programs",
      "Under a real topology.gateway or topology.backend, `process_faults:` signals the "
      "program's whole process group at a trigger: `freeze` (SIGSTOP, SIGCONT after for_ms or at "
      "the end of the run), `kill` (SIGKILL), `stop` (the program's graceful stop signal), "
      "`signal` (a named one). Armed once the program is ready, disarmed before it stops.",
      "topology.gateway.process_faults[], topology.backend.process_faults[]",
      {{"freeze", "SIGSTOP the group (SIGCONT after for_ms, or at the end of the run)", {}},
       {"kill", "SIGKILL the group", {}},
       {"stop", "the program's graceful stop signal (nginx QUIT, php-fpm QUIT, ...)", {}},
       {"signal", "send `signal` to the group", {}}},
      keys,
      {&events::harness_events::process_frozen, &events::harness_events::process_thawed,
       &events::harness_events::process_killed, &events::harness_events::process_signalled}};
  FamilyDoc syscall{
      "syscall",
      "syscall",
      "Syscall faults on real programs",
      "`syscall_faults:` runs strace --inject on every process of the program's group: a "
      "`syscall` fails with `error` (an errno name) or is delayed (`delay_ms` entering, "
      "`delay_exit_ms` leaving), at the calls `when` selects (strace's first[..last][+[step]], "
      "per process, from the moment strace attached).",
      "topology.gateway.syscall_faults[], topology.backend.syscall_faults[]",
      {},
      {{"syscall", shapes::text(), "a Linux syscall name (writev, close, ...)"},
       {"error", shapes::text(), "fail it with this errno name (EPIPE, ...)"},
       {"delay_ms", shapes::ms(), "delay entering it"},
       {"delay_exit_ms", shapes::ms(), "delay leaving it"},
       {"when", shapes::either({shapes::integer(1, UINT32_MAX), shapes::text()}),
        "strace's first[..last][+[step]]: 3, 2+, 1..4, 1+2"}},
      {&events::harness_events::syscall_fault_armed,
       &events::harness_events::syscall_fault_injected}};
  return {process, syscall};
}

std::string SyscallFault::inject_expression() const {
  std::string out = syscall;
  if (!error.empty()) out += ":error=" + error;
  if (delay_ms) out += ":delay_enter=" + std::to_string(*delay_ms) + "ms";
  if (delay_exit_ms) out += ":delay_exit=" + std::to_string(*delay_exit_ms) + "ms";
  if (!when.empty()) out += ":when=" + when;
  return out;
}

void read_peer_faults(yaml::MapReader& peer, std::vector<ProcessFault>& process_faults,
                      std::vector<SyscallFault>& syscall_faults) {
  const auto& file = peer.file();
  if (peer.has("process_faults")) {
    const auto list = peer.get("process_faults");
    if (!list.IsSequence()) bad_value(list, file, "process_faults", "a list of process faults");
    for (const auto& item : list) process_faults.push_back(read_process_fault(item, file));
  }
  if (peer.has("syscall_faults")) {
    const auto list = peer.get("syscall_faults");
    if (!list.IsSequence()) bad_value(list, file, "syscall_faults", "a list of syscall faults");
    for (const auto& item : list) syscall_faults.push_back(read_syscall_fault(item, file));
  }
}

}  // namespace fh::scenario

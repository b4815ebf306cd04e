#include "events/declaration.hpp"

namespace fh::events {

std::string_view source_needs(Source source) {
  switch (source) {
    case Source::client:
    case Source::harness:
      return "nothing: every run has it";
    case Source::real_peer:
      return "a real program as gateway or backend";
    case Source::process_faults:
      return "process_faults on a real gateway or backend";
    case Source::syscall_faults:
      return "syscall_faults on a real gateway or backend";
    case Source::syscall_observer:
      return "observe: {syscalls: ...}";
    case Source::fake_backend:
      return "the embedded fake backend (topology.backend.kind: fake)";
    case Source::fake_gateway:
      return "the embedded fake gateway (topology.gateway.kind: fake)";
    case Source::wire:
      return "observe: {wire: true}";
    case Source::backend_syscalls:
      return "observe: {syscalls: backend}";
    case Source::gateway_syscalls:
      return "observe: {syscalls: gateway}";
  }
  return "?";
}

std::string EventDecl::qualified() const {
  return std::string(party) + "." + std::string(name) + std::string(variable);
}

}  // namespace fh::events

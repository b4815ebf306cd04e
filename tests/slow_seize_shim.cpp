// LD_PRELOAD for strace in strace_timeline_test: ptrace() as libc has it, with sleeps around
// each PTRACE_SEIZE to hold open, every time, the gaps a starved strace opens by chance:
//   FH_SLEEP_AFTER_SEIZE_MS   the tracee's TracerPid is set, but strace has not yet
//                             interrupted it and restarted it with syscall tracing;
//   FH_SLEEP_BEFORE_SEIZE_MS  the group was listed, but what it forks now is in no list and,
//                             its parent not yet traced, followed by nobody.
#include <dlfcn.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdlib>

namespace {

void sleep_ms(const char* variable) {
  if (const char* ms = std::getenv(variable))
    ::usleep(static_cast<useconds_t>(std::atoi(ms)) * 1000);
}

}  // namespace

extern "C" long ptrace(enum __ptrace_request request, ...) {
  va_list args;
  va_start(args, request);
  const auto pid = va_arg(args, pid_t);
  auto* addr = va_arg(args, void*);
  auto* data = va_arg(args, void*);
  va_end(args);
  using Ptrace = long (*)(enum __ptrace_request, pid_t, void*, void*);
  static const auto real = reinterpret_cast<Ptrace>(::dlsym(RTLD_NEXT, "ptrace"));
  if (request == PTRACE_SEIZE) sleep_ms("FH_SLEEP_BEFORE_SEIZE_MS");
  const long result = real(request, pid, addr, data);
  if (request == PTRACE_SEIZE) sleep_ms("FH_SLEEP_AFTER_SEIZE_MS");
  return result;
}

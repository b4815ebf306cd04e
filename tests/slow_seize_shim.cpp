// LD_PRELOAD for strace in strace_timeline_test: ptrace() as libc has it, but 200 ms of sleep
// after each PTRACE_SEIZE. That holds open, every time, the gap a starved strace opens by
// chance: the tracee's TracerPid is set, but strace has not yet interrupted it and restarted
// it with syscall tracing, so what it calls meanwhile goes untraced.
#include <dlfcn.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <cstdarg>

extern "C" long ptrace(enum __ptrace_request request, ...) {
  va_list args;
  va_start(args, request);
  const auto pid = va_arg(args, pid_t);
  auto* addr = va_arg(args, void*);
  auto* data = va_arg(args, void*);
  va_end(args);
  using Ptrace = long (*)(enum __ptrace_request, pid_t, void*, void*);
  static const auto real = reinterpret_cast<Ptrace>(::dlsym(RTLD_NEXT, "ptrace"));
  const long result = real(request, pid, addr, data);
  if (request == PTRACE_SEIZE) ::usleep(200 * 1000);
  return result;
}

// strace output (strace -f -tt -T -yy -s N) from a tracer of a program we do not control: the
// syscall-timeline parser must take any text, whole (where "<unfinished ...>" and "resumed>"
// lines are joined) and line by line, without a crash, a sanitizer report or a hang.
#include <cstdint>
#include <string_view>

#include "observers/strace_timeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto records = fh::observers::parse_strace(text);
  for (const auto& record : records) (void)record.describe();
  std::size_t from = 0;
  while (from <= text.size()) {
    const auto eol = text.find('\n', from);
    const auto line = text.substr(from, eol == std::string_view::npos ? text.npos : eol - from);
    if (const auto one = fh::observers::parse_strace_line(line)) (void)one->describe();
    if (eol == std::string_view::npos) break;
    from = eol + 1;
  }
  return 0;
}

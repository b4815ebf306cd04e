#include "peers/peer.hpp"

#include <unistd.h>

#include <cstdlib>

#include <fstream>
#include <sstream>

namespace fh::peers {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

std::string render(std::string_view text, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {  // escaped literal brace
      out += '{';
      i += 2;
      continue;
    }
    std::size_t j = i + 1;
    while (j < text.size() && is_name_char(text[j])) ++j;
    if (j == i + 1 || j >= text.size() || text[j] != '}') {  // not a placeholder
      out += c;
      ++i;
      continue;
    }
    const std::string name(text.substr(i + 1, j - i - 1));
    auto it = vars.find(name);
    if (it == vars.end()) {
      std::string known;
      for (const auto& [k, v] : vars) known += (known.empty() ? "" : ", ") + k;
      throw PeerError("unknown placeholder {" + name + "} (known: " + known + ")");
    }
    out += it->second;
    i = j + 1;
  }
  return out;
}

std::filesystem::path render_file(const std::filesystem::path& template_file,
                                  const std::filesystem::path& out,
                                  const std::map<std::string, std::string>& vars) {
  std::ifstream in(template_file, std::ios::binary);
  if (!in) throw PeerError("cannot read template " + template_file.string());
  std::stringstream text;
  text << in.rdbuf();
  std::string rendered;
  try {
    rendered = render(text.str(), vars);
  } catch (const PeerError& e) {
    throw PeerError(template_file.string() + ": " + e.what());
  }
  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  o << rendered;
  if (!o) throw PeerError("cannot write " + out.string());
  return out;
}

void check_knobs(std::string_view kind, const std::map<std::string, std::string>& knobs,
                 const std::vector<std::string>& valid) {
  for (const auto& [name, value] : knobs) {
    bool ok = false;
    for (const auto& v : valid) ok = ok || v == name;
    if (ok) continue;
    std::string list;
    for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
    throw PeerError("unknown knob '" + name + "' for " + std::string(kind) +
                    " (valid: " + (list.empty() ? "none" : list) + ")");
  }
}

std::string capture_output(const std::vector<std::string>& argv) {
  char templ[] = "/tmp/fh_capture_XXXXXX";
  const int fd = ::mkstemp(templ);
  if (fd < 0) return {};
  ::close(fd);
  const std::filesystem::path log = templ;
  std::string out;
  try {
    Process p = Process::start(ProcessSpec{argv, {}, {}, log, {}});
    wait_until([&] { return !p.running(); }, std::chrono::seconds(5), {});
    p.stop(std::chrono::milliseconds(100));
    out = file_tail(log, 4096);
  } catch (const std::exception&) {
  }
  std::error_code ignored;
  std::filesystem::remove(log, ignored);
  return out;
}

}  // namespace fh::peers

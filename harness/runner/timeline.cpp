#include "runner/timeline.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fh::runner {

std::string event_source(const events::Event& e) {
  using events::Source;
  const auto source = e.decl ? e.decl->source : Source::harness;
  if (source == Source::wire) return "wire";
  if (source == Source::gateway_syscalls || source == Source::backend_syscalls) return "syscall";
  return "party";
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const unsigned char ch : text) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

std::vector<std::string> timeline_text(const std::vector<Lane>& lanes, const events::Bus& bus,
                                       const std::vector<events::Event>& log) {
  std::vector<std::string> lines;
  std::string legend = "lanes:";
  for (const auto& lane : lanes) legend += " " + lane.name + " = " + lane.who + ";";
  legend.pop_back();
  lines.push_back(legend);
  for (const auto& e : log) {
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(1);
    o << "+" << bus.ms_since_origin(e.at) << " ms  " << e.party;
    if (e.party.size() < 8) o << std::string(8 - e.party.size(), ' ');
    o << " ";
    if (e.connection) o << "conn " << e.connection << " ";
    if (e.request_id) o << "id " << e.request_id << " ";
    o << e.name;
    if (!e.detail.empty()) o << " (" << e.detail << ")";
    lines.push_back(o.str());
  }
  return lines;
}

void write_timeline_json(const std::filesystem::path& path, const TimelineHeader& header,
                         const std::vector<Lane>& lanes, const events::Bus& bus,
                         const std::vector<events::Event>& log) {
  std::ofstream out(path);
  out << "{\n  \"scenario\": " << json_string(header.scenario)
      << ",\n  \"file\": " << json_string(header.file)
      << ",\n  \"verdict\": " << json_string(header.verdict)
      << ",\n  \"reason\": " << json_string(header.reason) << ",\n  \"lanes\": [";
  for (std::size_t i = 0; i < lanes.size(); ++i)
    out << (i ? ",\n" : "\n") << "    {\"name\": " << json_string(lanes[i].name)
        << ", \"who\": " << json_string(lanes[i].who) << "}";
  out << (lanes.empty() ? "],\n" : "\n  ],\n") << "  \"events\": [";
  bool first = true;
  for (const auto& e : log) {
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.3f", bus.ms_since_origin(e.at));
    out << (first ? "\n" : ",\n") << "    {\"ms\": " << ms << ", \"lane\": " << json_string(e.party)
        << ", \"source\": " << json_string(event_source(e)) << ", \"name\": " << json_string(e.name)
        << ", \"connection\": " << e.connection << ", \"request_id\": " << e.request_id
        << ", \"value\": " << e.value << ", \"detail\": " << json_string(e.detail) << "}";
    first = false;
  }
  out << (first ? "]\n}\n" : "\n  ]\n}\n");
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace fh::runner

// The run's joined timeline: every event of the run on one clock, in lanes (client, gateway,
// backend, harness, wire). The parties publish their own events; the wire lane is the pcap
// observer's; syscall events (strace) sit in the lane of the program that made them.
// Written as timeline.json in the run's evidence and printed as text with -v or on FAIL.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "events/bus.hpp"

namespace fh::runner {

/// One lane: a party and who was behind it in this run ("nginx (its syscalls by strace)").
struct Lane {
  std::string name;  // "client", "gateway", "backend", "harness", "wire"
  std::string who;
};

/// Where an event came from: "syscall" (strace of a real program), "wire" (pcap) or "party"
/// (published by the client, a fake or the harness itself).
std::string event_source(const events::Event& event);

/// The compact text timeline: a legend line naming the lanes, then one line per event,
/// "+12.3 ms  gateway  conn 1 id 1 name (detail)".
std::vector<std::string> timeline_text(const std::vector<Lane>& lanes, const events::Bus& bus,
                                       const std::vector<events::Event>& log);

struct TimelineHeader {
  std::string scenario, file, verdict, reason;
};

/// timeline.json: the header, the lanes, and every event with its ms since the run started,
/// lane and source (schema in README.md).
void write_timeline_json(const std::filesystem::path& path, const TimelineHeader& header,
                         const std::vector<Lane>& lanes, const events::Bus& bus,
                         const std::vector<events::Event>& log);

/// JSON string literal of `text` (quotes included).
std::string json_string(const std::string& text);

}  // namespace fh::runner

// topology.backend keys of a fake backend. The vocabulary is documented in
// docs/faults-backend.md; every key is validated here (ScenarioError with file:line:column).
#include <cctype>
#include <map>

#include "scenario/sections.hpp"

namespace fh::scenario {
namespace {

using namespace yaml;

// The backend's published event names (docs/faults-backend.md), usable as `at:`.
const std::map<std::string, fake::BackendEvent> kBackendEvents = {
    {"accepted", fake::BackendEvent::accepted},
    {"begin_request", fake::BackendEvent::begin_request},
    {"params_complete", fake::BackendEvent::params_complete},
    {"stdin_terminator_received", fake::BackendEvent::stdin_terminator_received},
    {"headers_sent", fake::BackendEvent::headers_sent},
    {"end_request_sent", fake::BackendEvent::end_request_sent},
};

const std::map<std::string, fake::BackendAction> kActions = {
    {"close", fake::BackendAction::close},
    {"shutdown", fake::BackendAction::shutdown},
    {"reset", fake::BackendAction::reset},
    {"stall", fake::BackendAction::stall},
    {"stall_reading", fake::BackendAction::stall_reading},
    {"stall_writing", fake::BackendAction::stall_writing},
    {"end_request", fake::BackendAction::end_request},
    {"send_record", fake::BackendAction::send_record},
};

bool is_stall(fake::BackendAction a) {
  return a == fake::BackendAction::stall || a == fake::BackendAction::stall_reading ||
         a == fake::BackendAction::stall_writing;
}

std::vector<std::string> names_of(const auto& map) {
  std::vector<std::string> names;
  for (const auto& [name, _] : map) names.push_back(name);
  return names;
}

// "party.name" as the bus selects events; both halves required.
std::string read_selector(const YAML::Node& node, const std::string& file,
                          const std::string& what) {
  return as_event(node, file, what).to_string();
}

void read_at(const YAML::Node& at, const std::string& file, fake::BackendFault& fault) {
  if (!at.IsMap()) {
    auto names = names_of(kBackendEvents);
    for (auto form :
         {"{body_bytes: N}", "{stdin_bytes: N}", "{request_count: N}", "{event: party.name}"})
      names.push_back(form);
    fault.at = kBackendEvents.at(one_of(at, file, "at", names));
    return;
  }
  MapReader a(at, file, "fault 'at'");
  int forms = 0;
  if (a.has("body_bytes")) {
    fault.at = fake::BackendEvent::body_bytes;
    fault.bytes = as_size(a.get("body_bytes"), file, "body_bytes");
    ++forms;
  }
  if (a.has("stdin_bytes")) {
    fault.at = fake::BackendEvent::stdin_bytes;
    fault.bytes = as_size(a.get("stdin_bytes"), file, "stdin_bytes");
    if (fault.bytes == 0) bad_value(a.get("stdin_bytes"), file, "stdin_bytes", "at least 1");
    ++forms;
  }
  if (a.has("request_count")) {
    fault.at = fake::BackendEvent::request_count;
    fault.bytes = as_uint(a.get("request_count"), file, "request_count", UINT32_MAX);
    if (fault.bytes == 0) bad_value(a.get("request_count"), file, "request_count", "at least 1");
    ++forms;
  }
  if (a.has("event")) {
    fault.at = fake::BackendEvent::bus;
    fault.event = read_selector(a.get("event"), file, "event");
    ++forms;
  }
  a.finish();
  if (forms != 1)
    throw ScenarioError(mark_of(at, file),
                        "fault 'at': give exactly one of body_bytes, stdin_bytes, request_count, "
                        "event");
}

fake::OddRecord read_record(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "record");
  fake::OddRecord rec;
  auto type = r.require("type");
  if (type.IsScalar() && type.Scalar() == "stderr") {
    rec.type = 7;
  } else if (type.IsScalar() && type.Scalar() == "stdout") {
    rec.type = 6;
  } else if (type.IsScalar() && !type.Scalar().empty() &&
             std::isdigit(static_cast<unsigned char>(type.Scalar()[0]))) {
    rec.type = static_cast<std::uint8_t>(as_uint(type, file, "record type", 255));
  } else {
    bad_value(type, file, "record type", "stderr, stdout or a type byte 0-255");
  }
  if (r.has("length"))
    rec.length = static_cast<std::uint32_t>(as_uint(r.get("length"), file, "length", 65535));
  if (r.has("padding"))
    rec.padding = static_cast<std::uint8_t>(as_uint(r.get("padding"), file, "padding", 255));
  if (r.has("request_id")) {
    auto id = r.get("request_id");
    if (id.IsScalar() && id.Scalar() == "inactive") {
      rec.inactive_id = true;
    } else if (id.IsScalar() && !id.Scalar().empty() &&
               std::isdigit(static_cast<unsigned char>(id.Scalar()[0]))) {
      rec.request_id = static_cast<std::uint16_t>(as_uint(id, file, "request_id", 65535));
    } else {
      bad_value(id, file, "request_id", "inactive or a request id 0-65535");
    }
  }
  r.finish();
  return rec;
}

fake::BackendFault read_backend_fault(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "backend fault");
  fake::BackendFault fault;
  read_at(r.require("at"), file, fault);
  fault.action = kActions.at(one_of(r.require("do"), file, "do", names_of(kActions)));
  if (r.has("delay_ms")) fault.delay_ms = as_ms(r.get("delay_ms"), file, "delay_ms");
  for (const char* key : {"stall_ms", "until"}) {
    if (r.has(key) && !is_stall(fault.action))
      throw ScenarioError(
          mark_of(r.get(key), file),
          std::string(key) + " only applies to do: stall, stall_reading, stall_writing");
  }
  if (r.has("stall_ms")) fault.stall_ms = as_ms(r.get("stall_ms"), file, "stall_ms");
  if (r.has("until")) fault.until = read_selector(r.get("until"), file, "until");
  if (r.has("mid_record")) {
    fault.mid_record = as_bool(r.get("mid_record"), file, "mid_record");
    if (fault.mid_record && fault.at != fake::BackendEvent::body_bytes)
      throw ScenarioError(mark_of(r.get("mid_record"), file),
                          "mid_record only applies to at: {body_bytes: N}");
  }
  if (fault.action == fake::BackendAction::send_record) {
    fault.record = read_record(r.require("record"), file);
  } else if (r.has("record")) {
    throw ScenarioError(mark_of(r.get("record"), file), "record only applies to do: send_record");
  }
  if (r.has("request")) {
    auto index = as_uint(r.get("request"), file, "request", UINT32_MAX);
    if (index == 0) bad_value(r.get("request"), file, "request", "a 1-based request number");
    fault.request_index = static_cast<std::uint32_t>(index);
  }
  r.finish();
  return fault;
}

}  // namespace

void read_fake_backend(MapReader& r, fake::BackendConfig& config) {
  const auto& file = r.file();
  if (r.has("mpxs_conns")) config.mpxs_conns = as_bool(r.get("mpxs_conns"), file, "mpxs_conns");
  if (r.has("faults")) {
    auto faults = r.get("faults");
    if (!faults.IsSequence()) bad_value(faults, file, "faults", "a list of faults");
    for (const auto& f : faults) config.faults.push_back(read_backend_fault(f, file));
  }

  // Writing records.
  if (r.has("record_size")) {
    auto n = r.get("record_size");
    config.record_size = as_size(n, file, "record_size");
    if (config.record_size == 0 || config.record_size > 65535)
      bad_value(n, file, "record_size", "1 to 65535 content bytes (FastCGI 1.0 §3.3)");
  }
  if (r.has("padding")) {
    auto p = r.get("padding");
    if (p.IsScalar() && p.Scalar() == "align8") {
      config.padding_align8 = true;
    } else if (p.IsScalar() && !p.Scalar().empty() &&
               std::isdigit(static_cast<unsigned char>(p.Scalar()[0]))) {
      config.padding = static_cast<std::uint8_t>(as_uint(p, file, "padding", 255));
    } else {
      bad_value(p, file, "padding", "0 to 255 or align8");
    }
  }
  if (r.has("segments")) {
    auto segs = r.get("segments");
    if (!segs.IsSequence() || segs.size() == 0)
      bad_value(segs, file, "segments", "a list of byte counts, e.g. [3, 5]");
    for (const auto& s : segs) {
      auto n = as_size(s, file, "segment");
      if (n == 0) bad_value(s, file, "segment", "at least 1 byte");
      config.segments.push_back(n);
    }
  }
  if (r.has("segment_delay_ms")) {
    config.segment_delay_ms = as_ms(r.get("segment_delay_ms"), file, "segment_delay_ms");
    if (config.segments.empty())
      throw ScenarioError(mark_of(r.get("segment_delay_ms"), file),
                          "segment_delay_ms needs segments");
  }
  if (r.has("stderr_interleave")) {
    MapReader s(r.get("stderr_interleave"), file, "stderr_interleave");
    config.stderr_bytes = as_size(s.require("bytes"), file, "bytes");
    config.stderr_every = as_size(s.require("every"), file, "every");
    if (config.stderr_bytes == 0 || config.stderr_bytes > 65535)
      bad_value(s.get("bytes"), file, "bytes", "1 to 65535");
    if (config.stderr_every == 0) bad_value(s.get("every"), file, "every", "at least 1 byte");
    s.finish();
  }

  // The response's end.
  if (r.has("content_length")) {
    auto cl = r.get("content_length");
    if (cl.IsScalar()) {
      if (cl.Scalar() != "honest")
        bad_value(cl, file, "content_length", "honest, {more: N} or {fewer: N}");
      config.content_length_offset = 0;
    } else {
      MapReader c(cl, file, "content_length");
      if (c.has("more") == c.has("fewer"))
        throw ScenarioError(c.mark(), "content_length: give exactly one of more, fewer");
      if (c.has("more"))
        config.content_length_offset =
            static_cast<std::int64_t>(as_uint(c.get("more"), file, "more", INT32_MAX));
      if (c.has("fewer"))
        config.content_length_offset =
            -static_cast<std::int64_t>(as_uint(c.get("fewer"), file, "fewer", INT32_MAX));
      c.finish();
    }
  }
  if (r.has("stdout_terminator"))
    config.stdout_terminator = as_bool(r.get("stdout_terminator"), file, "stdout_terminator");
  if (r.has("end_request"))
    config.end_request =
        one_of(r.get("end_request"), file, "end_request", {"sent", "never"}) == "sent";
  if (r.has("end_request_delay_ms"))
    config.end_request_delay_ms =
        as_ms(r.get("end_request_delay_ms"), file, "end_request_delay_ms");

  // Connection lifetime.
  if (r.has("keep_conn")) {
    const auto k =
        one_of(r.get("keep_conn"), file, "keep_conn", {"honour", "ignore_set", "ignore_clear"});
    config.keep_conn = k == "honour"       ? fake::KeepConnPolicy::honour
                       : k == "ignore_set" ? fake::KeepConnPolicy::ignore_set
                                           : fake::KeepConnPolicy::ignore_clear;
  }
  if (r.has("linger")) config.linger = as_bool(r.get("linger"), file, "linger");
  if (r.has("ignore_late_stdin_terminator"))
    config.ignore_late_stdin_terminator =
        as_bool(r.get("ignore_late_stdin_terminator"), file, "ignore_late_stdin_terminator");
  if (r.has("receive_buffer")) {
    auto n = as_size(r.get("receive_buffer"), file, "receive_buffer");
    if (n == 0 || n > (64u << 20))
      bad_value(r.get("receive_buffer"), file, "receive_buffer", "1 byte to 64MiB");
    config.receive_buffer = static_cast<std::uint32_t>(n);
  }

  // Process lifetime.
  if (r.has("workers"))
    config.workers = static_cast<std::uint32_t>(as_uint(r.get("workers"), file, "workers", 1024));
  if (r.has("exit_after_requests")) {
    auto n = as_uint(r.get("exit_after_requests"), file, "exit_after_requests", UINT32_MAX);
    if (n == 0) bad_value(r.get("exit_after_requests"), file, "exit_after_requests", "at least 1");
    config.exit_after_requests = static_cast<std::uint32_t>(n);
  }
  for (const char* key : {"listener", "respawn_after_ms"}) {
    if (r.has(key) && !config.exit_after_requests)
      throw ScenarioError(mark_of(r.get(key), file),
                          std::string(key) + " needs exit_after_requests");
  }
  if (r.has("listener"))
    config.keep_listener = one_of(r.get("listener"), file, "listener", {"close", "keep"}) == "keep";
  if (r.has("respawn_after_ms"))
    config.respawn_after_ms = as_ms(r.get("respawn_after_ms"), file, "respawn_after_ms");
}

}  // namespace fh::scenario

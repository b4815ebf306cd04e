// Request keys of the scripted client's behaviour: body_encoding, body_chunk, and the `client:`
// map of faults and connection sharing. The language is documented in docs/faults-client.md.
#include <regex>

#include "scenario/sections.hpp"

namespace fh::scenario {
namespace {

using namespace yaml;

// at: connected | request_sent | response_head | {request_body_bytes: N} | {body_bytes: N}
//     | {event: party.name, nth: K}
client::Anchor read_anchor(const YAML::Node& node, const std::string& file,
                           const std::string& what) {
  client::Anchor a;
  using Kind = client::Anchor::Kind;
  if (node.IsMap()) {
    MapReader r(node, file, what);
    const bool request_bytes = r.has("request_body_bytes");
    const bool body_bytes = r.has("body_bytes");
    const bool event = r.has("event");
    if (request_bytes + body_bytes + event != 1)
      throw ScenarioError(r.mark(), what +
                                        ": expected exactly one of request_body_bytes, "
                                        "body_bytes, event");
    if (request_bytes) {
      a.kind = Kind::request_body_bytes;
      a.bytes = as_size(r.get("request_body_bytes"), file, what + ".request_body_bytes");
    } else if (body_bytes) {
      a.kind = Kind::body_bytes;
      a.bytes = as_size(r.get("body_bytes"), file, what + ".body_bytes");
    } else {
      a.kind = Kind::event;
      a.event = as_event(r.get("event"), file, what + ".event");
      if (r.has("nth")) {
        a.nth = static_cast<std::uint32_t>(as_uint(r.get("nth"), file, what + ".nth", UINT32_MAX));
        if (a.nth == 0) bad_value(r.get("nth"), file, what + ".nth", "a 1-based count");
      }
    }
    if (!event && r.has("nth"))
      throw ScenarioError(mark_of(r.get("nth"), file), what + ": nth only applies to event");
    r.finish();
    return a;
  }
  const auto name = one_of(node, file, what,
                           {"connected", "request_sent", "response_head", "{request_body_bytes: N}",
                            "{body_bytes: N}", "{event: party.name}"});
  if (name == "connected")
    a.kind = Kind::connected;
  else if (name == "request_sent")
    a.kind = Kind::request_sent;
  else if (name == "response_head")
    a.kind = Kind::response_head;
  else
    bad_value(node, file, what, "a mapping for " + name);
  return a;
}

// `at` (or its default) and `delay_ms` of one action.
client::Anchor read_when(MapReader& r, const std::string& what, bool at_required) {
  const auto& file = r.file();
  client::Anchor a;
  if (at_required)
    a = read_anchor(r.require("at"), file, what + ".at");
  else if (r.has("at"))
    a = read_anchor(r.get("at"), file, what + ".at");
  if (r.has("delay_ms")) a.delay_ms = as_ms(r.get("delay_ms"), file, what + ".delay_ms");
  return a;
}

std::uint32_t positive_ms(MapReader& r, const std::string& key, const std::string& what) {
  const auto v = as_ms(r.get(key), r.file(), what + "." + key);
  if (v == 0) bad_value(r.get(key), r.file(), what + "." + key, "at least 1 ms");
  return v;
}

std::uint64_t positive_size(MapReader& r, const std::string& key, const std::string& what) {
  const auto v = as_size(r.get(key), r.file(), what + "." + key);
  if (v == 0) bad_value(r.get(key), r.file(), what + "." + key, "at least 1 byte");
  return v;
}

client::ReadFault read_read(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "client.read");
  client::ReadFault f;
  f.at = read_when(r, "client.read", false);
  if (r.has("pause_ms")) f.pause_ms = positive_ms(r, "pause_ms", "client.read");
  if (r.has("until")) f.until = as_event(r.get("until"), file, "client.read.until");
  if (r.has("bytes") != r.has("every_ms"))
    throw ScenarioError(r.mark(), "client.read: bytes and every_ms go together");
  if (r.has("bytes")) {
    f.bytes = positive_size(r, "bytes", "client.read");
    f.every_ms = positive_ms(r, "every_ms", "client.read");
  }
  if (!f.pause_ms && !f.bytes && !f.until)
    throw ScenarioError(r.mark(), "client.read: give pause_ms, or bytes and every_ms, or both");
  r.finish();
  return f;
}

client::AbortFault read_abort(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "client.abort");
  client::AbortFault f;
  f.at = read_when(r, "client.abort", true);
  if (r.has("do"))
    f.how = one_of(r.get("do"), file, "client.abort.do", {"close", "reset"}) == "reset"
                ? client::AbortFault::How::reset
                : client::AbortFault::How::close;
  r.finish();
  return f;
}

client::BodyPace read_body_pace(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "client.body_pace");
  client::BodyPace f;
  f.at = read_when(r, "client.body_pace", false);
  r.require("bytes");
  f.bytes = positive_size(r, "bytes", "client.body_pace");
  r.require("every_ms");
  f.every_ms = positive_ms(r, "every_ms", "client.body_pace");
  r.finish();
  return f;
}

client::BodyStall read_body_stall(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "client.body_stall");
  client::BodyStall f;
  f.at = read_when(r, "client.body_stall", true);
  r.require("stall_ms");
  f.stall_ms = positive_ms(r, "stall_ms", "client.body_stall");
  r.finish();
  return f;
}

void read_client_map(const YAML::Node& node, const std::string& file, client::ClientBehaviour& c) {
  MapReader r(node, file, "client");
  if (r.has("rcvbuf")) c.rcvbuf = positive_size(r, "rcvbuf", "client");
  if (r.has("mss")) {
    // Linux accepts 88 (TCP_MIN_MSS) up to the loopback MTU's 65495.
    const auto v = as_size(r.get("mss"), file, "client.mss");
    if (v < 88 || v > 65495) bad_value(r.get("mss"), file, "client.mss", "88 to 65495 bytes");
    c.mss = static_cast<std::uint32_t>(v);
  }
  if (r.has("read")) c.read = read_read(r.get("read"), file);
  if (r.has("abort")) c.abort = read_abort(r.get("abort"), file);
  if (r.has("body_pace")) c.body_pace = read_body_pace(r.get("body_pace"), file);
  if (r.has("body_stall")) c.body_stall = read_body_stall(r.get("body_stall"), file);
  if (r.has("connection")) {
    c.connection = as_string(r.get("connection"), file, "client.connection");
    if (!std::regex_match(c.connection, std::regex("[A-Za-z0-9_.-]+")))
      bad_value(r.get("connection"), file, "client.connection",
                "a connection name (letters, digits, _ . -)");
  }
  if (r.has("pipeline")) {
    c.pipeline = as_bool(r.get("pipeline"), file, "client.pipeline");
    if (c.connection.empty())
      throw ScenarioError(mark_of(r.get("pipeline"), file),
                          "client.pipeline needs client.connection: pipelining shares a "
                          "connection with the previous request");
  }
  r.finish();
}

}  // namespace

void read_client_behaviour(MapReader& r, client::RequestSpec& spec) {
  const auto& file = r.file();
  if (r.has("body_encoding"))
    spec.chunked = one_of(r.get("body_encoding"), file, "body_encoding",
                          {"content-length", "chunked"}) == "chunked";
  if (r.has("body_chunk")) {
    spec.chunk_size = as_size(r.get("body_chunk"), file, "body_chunk");
    if (spec.chunk_size == 0) bad_value(r.get("body_chunk"), file, "body_chunk", "at least 1 byte");
  }
  if (r.has("client")) read_client_map(r.get("client"), file, spec.client);
}

}  // namespace fh::scenario

// Request keys of the scripted client's behaviour: body_encoding, body_chunk, and the `client:`
// map of faults and connection sharing. The language is documented in docs/faults-client.md.
#include <regex>

#include "client/client_events.hpp"
#include "language/event_names.hpp"
#include "scenario/sections.hpp"

namespace fh::scenario {
namespace {

using namespace language;
using namespace language::yaml;
using client::Trigger;

// The trigger grammar as the client's actions take it: the client's own events
// (connected, request_body_sent, response_head), its counters, any party's event.
TriggerRules client_rules(const std::string& what, bool at_required) {
  return TriggerRules{"client",
                      what,
                      {Counter::request_body_bytes, Counter::body_bytes},
                      false,
                      false,
                      false,
                      at_required ? "" : "connected"};
}

// `at` (or its default, connected), `nth` and `delay_ms` of one action.
Trigger read_when(MapReader& r, const std::string& what, bool at_required) {
  if (const auto at = r.peek("at"); at.IsScalar() && at.Scalar() == "request_sent")
    throw ScenarioError(mark_of(at, r.file()),
                        what + ".at: 'request_sent' is now the client's event request_body_sent");
  auto t = read_trigger(r, client_rules(what, at_required));
  if (t.kind == Trigger::Kind::standing) {
    const auto delay = t.delay_ms;
    const auto mark = t.mark;
    t = Trigger::on(client::client_events::connected);
    t.delay_ms = delay;
    t.mark = mark;
  }
  return t;
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
  if (r.has("until"))
    f.until = read_event_name(r.get("until"), file, "client.read.until",
                              EventNameRules{"", false, /*trigger=*/true});
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
    static const std::regex kConnectionName("[A-Za-z0-9_.-]+");  // compiled once
    if (!std::regex_match(c.connection, kConnectionName))
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

namespace fh::scenario {

std::vector<language::FamilyDoc> client_families() {
  using namespace language;
  auto with_trigger = [](std::vector<Key> keys, bool at_required) {
    auto all = trigger_keys(client_rules("client action", at_required));
    all.insert(all.end(), keys.begin(), keys.end());
    return all;
  };
  const auto read_keys = with_trigger({{"pause_ms", shapes::ms(), "stop reading this long"},
                                       {"until", shapes::event(), "or until this event"},
                                       {"bytes", shapes::size(), "then at most N bytes ..."},
                                       {"every_ms", shapes::ms(), "... every T ms"}},
                                      false);
  const auto abort_keys =
      with_trigger({{"do", shapes::choice({"close", "reset"}), "FIN (default) or RST"}}, true);
  const auto pace_keys = with_trigger(
      {{"bytes", shapes::size(), "N bytes ..."}, {"every_ms", shapes::ms(), "... every T ms"}},
      false);
  const auto stall_keys = with_trigger({{"stall_ms", shapes::ms(), "how long"}}, true);
  return {
      FamilyDoc{"client",
                "slow_reader",
                "Slow reader: read",
                "`read: {at, pause_ms, until, bytes, every_ms}`: at the trigger, stop reading "
                "for pause_ms (or until the event), then read at most `bytes` every `every_ms`.",
                "requests[].client",
                {},
                {{"read", shapes::mapping(read_keys), "read slowly from the trigger on"}},
                {&client::client_events::read_paused, &client::client_events::read_resumed,
                 &client::client_events::read_throttled}},
      FamilyDoc{"client",
                "abort",
                "Abort: abort",
                "`abort: {at, do: close | reset}`: close (FIN, after reading what arrived) or "
                "reset (RST) the connection; every pending exchange of it ends as `aborted`.",
                "requests[].client",
                {},
                {{"abort", shapes::mapping(abort_keys, {"at"}), "hang up at the trigger"}},
                {&client::client_events::aborted}},
      FamilyDoc{
          "client",
          "request_body",
          "Paced or stalled request body: body_pace, body_stall",
          "`body_pace: {at, bytes, every_ms}` dribbles the body; `body_stall: {at, "
          "stall_ms}` stops the writer for a while. The body always arrives intact.",
          "requests[].client",
          {},
          {{"body_pace", shapes::mapping(pace_keys, {"bytes", "every_ms"}),
            "at most N bytes every T ms"},
           {"body_stall", shapes::mapping(stall_keys, {"at", "stall_ms"}),
            "stop writing the body for a while"}},
          {&client::client_events::request_body_paced, &client::client_events::request_body_stalled,
           &client::client_events::request_body_resumed}},
      FamilyDoc{"client",
                "connection",
                "Connection: rcvbuf, mss, connection, pipeline",
                "`rcvbuf` sets SO_RCVBUF and `mss` TCP_MAXSEG before connect (together they make "
                "a server's writes block on loopback); requests naming the same `connection` "
                "share one keep-alive connection, `pipeline: true` writes a request before the "
                "previous response was read (RFC 9112 §9.3.2).",
                "requests[].client",
                {},
                {{"rcvbuf", shapes::size(), "SO_RCVBUF before connect"},
                 {"mss", shapes::integer(88, 65495), "TCP_MAXSEG before connect"},
                 {"connection", shapes::text(), "a connection name shared by requests"},
                 {"pipeline", shapes::boolean(), "write before the previous response"}},
                {&client::client_events::connected}},
  };
}

}  // namespace fh::scenario

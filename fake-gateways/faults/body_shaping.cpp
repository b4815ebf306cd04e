// Family "body shaping": the request body to the backend paced, in records of a given size,
// and in writes cut into segments.
#include "fake-gateways/faults/body_shaping.hpp"

#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

std::size_t as_positive_size(const YAML::Node& node, const std::string& file,
                             const std::string& what, std::uint64_t max) {
  const auto v = as_size(node, file, what);
  if (v == 0 || v > max) bad_value(node, file, what, "a size from 1 to " + std::to_string(max));
  return static_cast<std::size_t>(v);
}

void read_keys(MapReader& r, GatewayConfig& config) {
  const auto& file = r.file();
  auto& body = config.body;
  if (r.has("body_pace")) {
    MapReader p(r.get("body_pace"), file, "body_pace");
    BodyPace pace;
    pace.bytes = as_positive_size(p.require("bytes"), file, "bytes", UINT32_MAX);
    pace.every_ms = as_ms(p.require("every_ms"), file, "every_ms");
    p.finish();
    body.pace = pace;
  }
  if (r.has("stdin_record_size"))
    body.stdin_record_size =
        as_positive_size(r.get("stdin_record_size"), file, "stdin_record_size", 65535);
  if (r.has("stdin_segments")) {
    auto segments = r.get("stdin_segments");
    if (!segments.IsSequence() || segments.size() == 0)
      bad_value(segments, file, "stdin_segments", "a list of byte counts");
    for (const auto& s : segments)
      body.stdin_segments.push_back(as_positive_size(s, file, "stdin_segments", 1 << 20));
  }
}

}  // namespace

const GatewayFamily& body_shaping_family() {
  static const GatewayFamily family{
      "body_shaping",
      "Body shaping",
      "`body_pace: {bytes: N, every_ms: T}` sends the body N bytes every T ms; "
      "`stdin_record_size: N` (1-65535) caps each STDIN record; `stdin_segments: [3, 5, 4096]` "
      "splits each STDIN write into writes of these sizes (the last size repeats).",
      {{"body_pace",
        shapes::mapping({{"bytes", shapes::size(), ""}, {"every_ms", shapes::ms(), ""}},
                        {"bytes", "every_ms"}),
        "N bytes every T ms"},
       {"stdin_record_size", shapes::integer(1, 65535), "content bytes per STDIN record"},
       {"stdin_segments", shapes::list_of(shapes::size()), "each STDIN write in these pieces"}},
      {},
      &read_keys};
  return family;
}

}  // namespace fh::fake

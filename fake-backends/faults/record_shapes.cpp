// Family "record shapes": how the backend cuts its output into records and writes. A correct
// gateway accepts any of them (FastCGI 1.0 §3.3: any content length, padding up to 255, a
// record split across any number of reads).
#include "fake-backends/faults/record_shapes.hpp"

#include <algorithm>
#include <cctype>

#include "codec/fcgi.hpp"
#include "fake-backends/fake_backend.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

void read_keys(MapReader& r, BackendConfig& config) {
  const auto& file = r.file();
  auto& shape = config.shape;
  if (r.has("record_size")) {
    auto n = r.get("record_size");
    shape.record_size = as_size(n, file, "record_size");
    if (shape.record_size == 0 || shape.record_size > 65535)
      bad_value(n, file, "record_size", "1 to 65535 content bytes (FastCGI 1.0 §3.3)");
  }
  if (r.has("padding")) {
    auto p = r.get("padding");
    if (p.IsScalar() && p.Scalar() == "align8") {
      shape.align8 = true;
    } else if (p.IsScalar() && !p.Scalar().empty() &&
               std::isdigit(static_cast<unsigned char>(p.Scalar()[0]))) {
      shape.padding = static_cast<std::uint8_t>(as_uint(p, file, "padding", 255));
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
      shape.segments.push_back(n);
    }
  }
  if (r.has("segment_delay_ms")) {
    shape.segment_delay_ms = as_ms(r.get("segment_delay_ms"), file, "segment_delay_ms");
    if (shape.segments.empty())
      throw ScenarioError(mark_of(r.get("segment_delay_ms"), file),
                          "segment_delay_ms needs segments");
  }
}

}  // namespace

std::size_t RecordShape::content_limit() const {
  return std::clamp<std::size_t>(record_size, 1, fcgi::kMaxContentLength);
}

std::uint8_t RecordShape::padding_for(std::size_t content) const {
  return align8 ? fcgi::padding_to_align8(content) : padding;
}

std::vector<std::size_t> RecordShape::segment_ends(std::size_t wire_size) const {
  std::vector<std::size_t> out;
  std::size_t at = 0;
  for (auto s : segments) {
    at += s;
    if (at >= wire_size) break;
    out.push_back(at);
  }
  return out;
}

const BackendFamily& record_shapes_family() {
  static const BackendFamily family{
      "record_shapes",
      "Record shapes",
      "`record_size` caps the content of every STDOUT/STDERR record (1-65535); `padding` sets "
      "every record's paddingLength (0-255, or `align8`: to a multiple of 8, as §3.3 "
      "recommends); `segments: [3, 5]` writes each record as 3, then 5 bytes, then the rest, "
      "`segment_delay_ms` apart (TCP_NODELAY keeps them apart on the wire).",
      {},
      {{"record_size", shapes::integer(1, 65535), "content bytes per STDOUT/STDERR record"},
       {"padding", shapes::either({shapes::integer(0, 255), shapes::choice({"align8"})}),
        "paddingLength of every record"},
       {"segments", shapes::list_of(shapes::size()), "write each record in these pieces"},
       {"segment_delay_ms", shapes::ms(), "between the pieces"}},
      {},
      &read_keys};
  return family;
}

}  // namespace fh::fake

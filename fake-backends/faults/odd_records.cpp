// Family "odd records": records a correct gateway must tolerate: STDERR interleaved with the
// body, empty STDERR, unknown types, records for a request id that is not active.
#include "fake-backends/faults/odd_records.hpp"

#include <algorithm>
#include <cctype>

#include "fake-backends/fake_backend.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

inline constexpr events::EventDecl record_sent{"backend",
                                               "record_sent",
                                               events::Source::fake_backend,
                                               "a send_record fault wrote its record",
                                               "",
                                               "type, length, padding"};

/// The record `send_record` writes.
struct OddRecord {
  std::uint8_t type = 7;                    // FCGI_STDERR unless told; any byte
  std::uint32_t length = 0;                 // content bytes, up to 65535
  std::uint8_t padding = 0;                 // §3.3 paddingLength
  bool inactive_id = false;                 // a request id that is not active on the connection
  std::optional<std::uint16_t> request_id;  // explicit id; default: the request's own
};

class SendRecord : public FaultAction {
 public:
  explicit SendRecord(OddRecord record) : record_(record) {}

  void act(FaultSeam& c, std::uint16_t id) const override {
    fcgi::Record rec;
    rec.type = record_.type;
    rec.request_id = record_.request_id    ? *record_.request_id
                     : record_.inactive_id ? c.inactive_request_id(id)
                                           : id;
    rec.content.assign(record_.length, rec.type == 7 ? 'E' : 'R');
    rec.padding_length = record_.padding;
    const auto detail = fcgi::type_name(rec.type) + " length=" + std::to_string(record_.length) +
                        " padding=" + std::to_string(record_.padding);
    c.queue_record(std::move(rec), record_sent, detail);
  }

 private:
  OddRecord record_;
};

OddRecord read_record(const YAML::Node& node, const std::string& file) {
  MapReader r(node, file, "record");
  OddRecord rec;
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

std::shared_ptr<const FaultAction> read_send_record(MapReader& r) {
  return std::make_shared<SendRecord>(read_record(r.require("record"), r.file()));
}

const BackendVerb kSendRecord{
    {"send_record",
     "write `record` now, before the next record (never inside one)",
     {{"record",
       shapes::mapping(
           {{"type",
             shapes::either({shapes::choice({"stderr", "stdout"}), shapes::integer(0, 255)}),
             "stderr, stdout or a type byte"},
            {"length", shapes::integer(0, 65535), "content bytes"},
            {"padding", shapes::integer(0, 255), "paddingLength"},
            {"request_id",
             shapes::either({shapes::choice({"inactive"}), shapes::integer(0, 65535)}),
             "inactive, or an id; default the request's own"}},
           {"type"}),
       "the record"}}},
    &read_send_record};

void read_keys(MapReader& r, BackendConfig& config) {
  if (!r.has("stderr_interleave")) return;
  const auto& file = r.file();
  MapReader s(r.get("stderr_interleave"), file, "stderr_interleave");
  auto& keys = config.stderr_interleave;
  keys.bytes = as_size(s.require("bytes"), file, "bytes");
  keys.every = as_size(s.require("every"), file, "every");
  if (keys.bytes == 0 || keys.bytes > 65535) bad_value(s.get("bytes"), file, "bytes", "1 to 65535");
  if (keys.every == 0) bad_value(s.get("every"), file, "every", "at least 1 byte");
  s.finish();
}

}  // namespace

std::uint64_t StderrInterleave::limit(std::uint64_t at, std::uint64_t end) const {
  if (!active()) return end;
  return std::min(end, (at / every + 1) * every);
}

const BackendFamily& odd_records_family() {
  static const BackendFamily family{
      "odd_records",
      "Odd records",
      "`stderr_interleave: {bytes: N, every: K}` writes N bytes of STDERR after every K body "
      "bytes (FastCGI 1.0 §6.1 allows STDERR between STDOUT records). `do: send_record` writes "
      "a record of its own: `type` stderr, stdout or any type byte (unknown types too), "
      "`length`, `padding`, and `request_id` (a number, or `inactive`: an id not in use on the "
      "connection).",
      {&kSendRecord},
      {{"stderr_interleave",
        shapes::mapping({{"bytes", shapes::integer(1, 65535), "STDERR bytes"},
                         {"every", shapes::size(), "after every K body bytes"}},
                        {"bytes", "every"}),
        "STDERR interleaved with the body"}},
      {&record_sent},
      &read_keys};
  return family;
}

}  // namespace fh::fake

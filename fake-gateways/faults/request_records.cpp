// Family "request records": the request's PARAMS and STDIN records with a chosen padding
// (every length 0-255 in turn, to exercise §3.3's paddingLength), PARAMS cut into small records
// (so that name-value pairs and their length bytes are split across records, §3.4), and extra
// parameters of any size (4-byte lengths, 64 KiB+ names and values; a name_size name is A_NNN...,
// so a listing sorted by name shows it early).
#include "fake-gateways/faults/request_records.hpp"

#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

constexpr std::uint64_t kMaxParamSize = 16 << 20;

std::string sized(const YAML::Node& node, const std::string& file, const std::string& what,
                  char fill) {
  const auto size = as_size(node, file, what);
  if (size > kMaxParamSize) bad_value(node, file, what, "at most 16MiB");
  return std::string(static_cast<std::size_t>(size), fill);
}

// {name: X | name_size: N, value: Y | value_size: M}
std::pair<std::string, std::string> read_param(const YAML::Node& node, const std::string& file) {
  MapReader p(node, file, "extra_params");
  std::pair<std::string, std::string> out;
  if (p.has("name") == p.has("name_size"))
    throw ScenarioError(p.mark(), "extra_params: exactly one of name or name_size");
  if (p.has("value") && p.has("value_size"))
    throw ScenarioError(p.mark(), "extra_params: value or value_size, not both");
  if (p.has("name")) {
    out.first = as_string(p.get("name"), file, "name");
  } else {  // A_NNNN...: exactly name_size bytes, a name a CGI app could read (sorted early)
    out.first = sized(p.get("name_size"), file, "name_size", 'N');
    if (out.first.size() >= 2) out.first.replace(0, 2, "A_");
  }
  if (p.has("value")) out.second = as_string(p.get("value"), file, "value");
  if (p.has("value_size")) out.second = sized(p.get("value_size"), file, "value_size", 'v');
  p.finish();
  return out;
}

void read_keys(MapReader& r, GatewayConfig& config) {
  const auto& file = r.file();
  auto& records = config.records;
  if (r.has("record_padding")) {
    const auto node = r.get("record_padding");
    if (node.IsScalar() && node.Scalar() == "align8") {
      records.padding.kind = RecordPadding::Kind::align8;
    } else if (node.IsScalar() && node.Scalar() == "cycle") {
      records.padding.kind = RecordPadding::Kind::cycle;
    } else {
      records.padding.kind = RecordPadding::Kind::fixed;
      records.padding.bytes = static_cast<std::uint8_t>(as_uint(node, file, "record_padding", 255));
    }
  }
  if (r.has("params_record_size")) {
    const auto node = r.get("params_record_size");
    records.params_record_size =
        static_cast<std::size_t>(as_uint(node, file, "params_record_size", 65535));
    if (records.params_record_size == 0)
      bad_value(node, file, "params_record_size", "1 to 65535 bytes");
  }
  if (r.has("extra_params")) {
    const auto list = r.get("extra_params");
    if (!list.IsSequence()) bad_value(list, file, "extra_params", "a list of {name, value}");
    for (const auto& p : list) records.extra_params.push_back(read_param(p, file));
  }
}

}  // namespace

void RequestRecords::pad(std::vector<fcgi::Record>& records, std::uint64_t& nth) const {
  for (auto& record : records) {
    switch (padding.kind) {
      case RecordPadding::Kind::personality:
        break;
      case RecordPadding::Kind::fixed:
        record.padding_length = padding.bytes;
        break;
      case RecordPadding::Kind::align8:
        record.padding_length = fcgi::padding_to_align8(record.content.size());
        break;
      case RecordPadding::Kind::cycle:
        record.padding_length = static_cast<std::uint8_t>(nth % 256);
        break;
    }
    ++nth;
  }
}

const GatewayFamily& request_records_family() {
  const auto param = shapes::mapping({{"name", shapes::text(), ""},
                                      {"name_size", shapes::size(), ""},
                                      {"value", shapes::text(), ""},
                                      {"value_size", shapes::size(), ""}});
  static const GatewayFamily family{
      "request_records",
      "Request records: padding, PARAMS split, large parameters",
      "`record_padding: 0-255 | align8 | cycle` sets the paddingLength of every PARAMS and "
      "STDIN record (`cycle`: 0, 1, ... 255 in turn, so 256 records carry every length; "
      "FastCGI 1.0 §3.3); `params_record_size: N` cuts the PARAMS stream into records of N "
      "bytes, so name-value pairs and their length bytes are split across records (§3.4); "
      "`extra_params: [{name: X, value_size: 70KiB}, {name_size: 70KiB, value: v}]` adds "
      "parameters after the CGI set (lengths of 128 and more take 4 bytes, §3.4).",
      {{"record_padding",
        shapes::either({shapes::choice({"align8", "cycle"}), shapes::integer(0, 255)}),
        "paddingLength of every request record"},
       {"params_record_size", shapes::integer(1, 65535), "content bytes per PARAMS record"},
       {"extra_params", shapes::list_of(param), "parameters after the CGI set"}},
      {},
      &read_keys};
  return family;
}

}  // namespace fh::fake

// FastCGI records (§3.3) from a peer we do not control: the incremental decoder, the stream
// assembler and the typed body decoders. Input: one byte choosing a chunk size, then the
// stream. Promise checked (fcgi.hpp): feeding in chunks gives the same records and the same
// error as feeding everything at once; every decoded record encodes back to its wire size.
#include <cstdint>
#include <string_view>
#include <vector>

#include "codec/fcgi.hpp"
#include "fuzz_check.hpp"

using namespace fh::fcgi;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = static_cast<std::size_t>(data[0]) + 1;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  RecordDecoder whole, split;
  std::vector<Record> at_once, in_chunks;
  const auto whole_error = whole.feed(stream, at_once);
  for (std::size_t at = 0; at < stream.size() && !split.error(); at += chunk)
    split.feed(stream.substr(at, chunk), in_chunks);
  FH_FUZZ_CHECK(at_once.size() == in_chunks.size(), "same records in chunks as at once");
  FH_FUZZ_CHECK(whole_error.has_value() == split.error().has_value(), "same error either way");
  if (whole_error && split.error())
    FH_FUZZ_CHECK(whole_error->offset == split.error()->offset, "the error at the same offset");

  StreamAssembler assembler;
  for (std::size_t i = 0; i < at_once.size(); ++i) {
    const Record& record = at_once[i];
    FH_FUZZ_CHECK(record.content == in_chunks[i].content && record.offset == in_chunks[i].offset,
                  "record i is the same record");
    const auto encoded = encode_record(record);
    if (encoded) FH_FUZZ_CHECK(encoded.value().size() == record.wire_size(), "encodes to its size");
    (void)assembler.add(record);
    if (record.is(RecordType::BeginRequest)) (void)decode_begin_request(record);
    if (record.is(RecordType::UnknownType)) (void)decode_unknown_type(record);
    if (record.is(RecordType::Params) || record.is(RecordType::GetValues) ||
        record.is(RecordType::GetValuesResult)) {
      const std::string_view content(record.content);
      (void)decode_name_values(content, record.offset);
    }
    if (record.is(RecordType::EndRequest)) {
      (void)decode_end_request(record);
      assembler.erase(record.request_id);
    }
  }
  return 0;
}

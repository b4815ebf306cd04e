#include "codec/fcgi.hpp"

#include <algorithm>
#include <stdexcept>

namespace fh::fcgi {
namespace {

Error make_error(ErrorCode code, std::uint64_t offset, const std::string& detail) {
  std::string message(error_code_name(code));
  message += " at offset " + std::to_string(offset) + ": " + detail;
  return Error{code, offset, std::move(message)};
}

std::uint8_t byte_at(std::string_view data, std::size_t i) {
  return static_cast<std::uint8_t>(data[i]);
}

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_u32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

// Checks type and the fixed 8-byte body length shared by §5.1, §5.5 and §4.2 bodies.
// Offsets point at the offending header field: type at +1, contentLengthB1 at +4.
std::optional<Error> check_fixed_body(const Record& record, RecordType expected) {
  if (!record.is(expected)) {
    return make_error(ErrorCode::WrongRecordType, record.offset + 1,
                      "expected " + type_name(static_cast<std::uint8_t>(expected)) + ", got " +
                          type_name(record.type));
  }
  if (record.content.size() != 8) {
    return make_error(ErrorCode::BadBodyLength, record.offset + 4,
                      type_name(record.type) + " body is " + std::to_string(record.content.size()) +
                          " bytes, expected 8");
  }
  return std::nullopt;
}

// Reads a §3.4 length at data[pos]: 1 byte if the top bit is clear, else 4 bytes
// (value & 0x7fffffff). Returns false if the length bytes run past the end.
bool read_nv_length(std::string_view data, std::size_t& pos, std::uint32_t& length,
                    bool& four_bytes) {
  if (pos >= data.size()) return false;
  const std::uint8_t b0 = byte_at(data, pos);
  four_bytes = (b0 & 0x80) != 0;
  if (!four_bytes) {
    length = b0;
    pos += 1;
    return true;
  }
  if (data.size() - pos < 4) return false;
  length = (static_cast<std::uint32_t>(b0 & 0x7F) << 24) |
           (static_cast<std::uint32_t>(byte_at(data, pos + 1)) << 16) |
           (static_cast<std::uint32_t>(byte_at(data, pos + 2)) << 8) | byte_at(data, pos + 3);
  pos += 4;
  return true;
}

void append_nv_length(std::size_t length, Bytes& out) {
  if (length < 128) {
    out.push_back(static_cast<char>(length));
  } else {
    put_u32(out, static_cast<std::uint32_t>(length) | 0x80000000u);
  }
}

}  // namespace

// ---------------------------------------------------------------- names

std::string type_name(std::uint8_t type) {
  switch (type) {  // FastCGI 1.0 §8
    case 1:
      return "FCGI_BEGIN_REQUEST";
    case 2:
      return "FCGI_ABORT_REQUEST";
    case 3:
      return "FCGI_END_REQUEST";
    case 4:
      return "FCGI_PARAMS";
    case 5:
      return "FCGI_STDIN";
    case 6:
      return "FCGI_STDOUT";
    case 7:
      return "FCGI_STDERR";
    case 8:
      return "FCGI_DATA";
    case 9:
      return "FCGI_GET_VALUES";
    case 10:
      return "FCGI_GET_VALUES_RESULT";
    case 11:
      return "FCGI_UNKNOWN_TYPE";
    default:
      return "FCGI_TYPE_" + std::to_string(type);
  }
}

std::string_view protocol_status_name(std::uint8_t status) {
  switch (status) {  // FastCGI 1.0 §8
    case 0:
      return "FCGI_REQUEST_COMPLETE";
    case 1:
      return "FCGI_CANT_MPX_CONN";
    case 2:
      return "FCGI_OVERLOADED";
    case 3:
      return "FCGI_UNKNOWN_ROLE";
    default:
      return "FCGI_PROTOCOL_STATUS_UNKNOWN";
  }
}

bool is_stream_type(std::uint8_t type) {
  switch (static_cast<RecordType>(type)) {  // FastCGI 1.0 §3.3
    case RecordType::Params:
    case RecordType::Stdin:
    case RecordType::Stdout:
    case RecordType::Stderr:
    case RecordType::Data:
      return true;
    default:
      return false;
  }
}

bool is_management_type(std::uint8_t type) {
  switch (static_cast<RecordType>(type)) {  // FastCGI 1.0 §3.3, §4
    case RecordType::GetValues:
    case RecordType::GetValuesResult:
    case RecordType::UnknownType:
      return true;
    default:
      return false;
  }
}

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::UnsupportedVersion:
      return "UnsupportedVersion";
    case ErrorCode::BadBodyLength:
      return "BadBodyLength";
    case ErrorCode::WrongRecordType:
      return "WrongRecordType";
    case ErrorCode::NameValueTruncated:
      return "NameValueTruncated";
    case ErrorCode::NameValueLengthTooBig:
      return "NameValueLengthTooBig";
    case ErrorCode::StreamAfterTerminator:
      return "StreamAfterTerminator";
    case ErrorCode::ContentTooLong:
      return "ContentTooLong";
    case ErrorCode::PaddingTooLong:
      return "PaddingTooLong";
  }
  return "UnknownError";
}

// ---------------------------------------------------------------- records

// FastCGI 1.0 §3.3: version, type, requestIdB1/B0, contentLengthB1/B0, paddingLength, reserved.
void encode_header(const Header& header, std::uint8_t out[kHeaderLength]) {
  out[0] = header.version;
  out[1] = header.type;
  out[2] = static_cast<std::uint8_t>(header.request_id >> 8);
  out[3] = static_cast<std::uint8_t>(header.request_id & 0xFF);
  out[4] = static_cast<std::uint8_t>(header.content_length >> 8);
  out[5] = static_cast<std::uint8_t>(header.content_length & 0xFF);
  out[6] = header.padding_length;
  out[7] = header.reserved;
}

Header decode_header(const std::uint8_t in[kHeaderLength]) {
  Header h;
  h.version = in[0];
  h.type = in[1];
  h.request_id = static_cast<std::uint16_t>((in[2] << 8) | in[3]);
  h.content_length = static_cast<std::uint16_t>((in[4] << 8) | in[5]);
  h.padding_length = in[6];
  h.reserved = in[7];
  return h;
}

// Encoder errors have no input stream: their offset is the index in `content` of the
// first byte that does not fit (65535).
std::optional<Error> append_record(const Record& record, Bytes& out) {
  if (record.content.size() > kMaxContentLength) {
    return make_error(ErrorCode::ContentTooLong, kMaxContentLength,
                      type_name(record.type) + " content is " +
                          std::to_string(record.content.size()) + " bytes, at most 65535 fit");
  }
  std::uint8_t header[kHeaderLength];
  encode_header(Header{record.version, record.type, record.request_id,
                       static_cast<std::uint16_t>(record.content.size()), record.padding_length,
                       record.reserved},
                header);
  out.reserve(out.size() + record.wire_size());
  out.append(reinterpret_cast<const char*>(header), kHeaderLength);
  out.append(record.content);
  out.append(record.padding_length, '\0');
  return std::nullopt;
}

Expected<Bytes> encode_record(const Record& record) {
  Bytes out;
  if (auto error = append_record(record, out)) return *error;
  return out;
}

// ---------------------------------------------------------------- fixed bodies

Record make_begin_request(std::uint16_t request_id, Role role, std::uint8_t flags) {
  Record r;  // FastCGI 1.0 §5.1: roleB1 roleB0 flags reserved[5]
  r.type = static_cast<std::uint8_t>(RecordType::BeginRequest);
  r.request_id = request_id;
  put_u16(r.content, static_cast<std::uint16_t>(role));
  r.content.push_back(static_cast<char>(flags));
  r.content.append(5, '\0');
  return r;
}

Record make_abort_request(std::uint16_t request_id) {
  Record r;  // FastCGI 1.0 §5.4: empty body
  r.type = static_cast<std::uint8_t>(RecordType::AbortRequest);
  r.request_id = request_id;
  return r;
}

Record make_end_request(std::uint16_t request_id, std::uint32_t app_status,
                        ProtocolStatus protocol_status) {
  Record r;  // FastCGI 1.0 §5.5: appStatusB3..B0 protocolStatus reserved[3]
  r.type = static_cast<std::uint8_t>(RecordType::EndRequest);
  r.request_id = request_id;
  put_u32(r.content, app_status);
  r.content.push_back(static_cast<char>(protocol_status));
  r.content.append(3, '\0');
  return r;
}

Record make_unknown_type(std::uint8_t unknown_type) {
  Record r;  // FastCGI 1.0 §4.2: type reserved[7], request id 0
  r.type = static_cast<std::uint8_t>(RecordType::UnknownType);
  r.request_id = kNullRequestId;
  r.content.push_back(static_cast<char>(unknown_type));
  r.content.append(7, '\0');
  return r;
}

Record make_stream_record(RecordType type, std::uint16_t request_id, std::string_view data,
                          std::uint8_t padding_length) {
  Record r;
  r.type = static_cast<std::uint8_t>(type);
  r.request_id = request_id;
  r.content = Bytes(data);
  r.padding_length = padding_length;
  return r;
}

Expected<BeginRequestBody> decode_begin_request(const Record& record) {
  if (auto error = check_fixed_body(record, RecordType::BeginRequest)) return *error;
  const std::string_view c = record.content;
  return BeginRequestBody{static_cast<std::uint16_t>((byte_at(c, 0) << 8) | byte_at(c, 1)),
                          byte_at(c, 2)};
}

Expected<EndRequestBody> decode_end_request(const Record& record) {
  if (auto error = check_fixed_body(record, RecordType::EndRequest)) return *error;
  const std::string_view c = record.content;
  const std::uint32_t app_status = (static_cast<std::uint32_t>(byte_at(c, 0)) << 24) |
                                   (static_cast<std::uint32_t>(byte_at(c, 1)) << 16) |
                                   (static_cast<std::uint32_t>(byte_at(c, 2)) << 8) | byte_at(c, 3);
  return EndRequestBody{app_status, byte_at(c, 4)};
}

Expected<UnknownTypeBody> decode_unknown_type(const Record& record) {
  if (auto error = check_fixed_body(record, RecordType::UnknownType)) return *error;
  return UnknownTypeBody{byte_at(record.content, 0)};
}

// ---------------------------------------------------------------- name-value pairs (§3.4)

void append_name_value(std::string_view name, std::string_view value, Bytes& out) {
  append_nv_length(name.size(), out);
  append_nv_length(value.size(), out);
  out.append(name);
  out.append(value);
}

Bytes encode_name_values(const NameValues& pairs) {
  Bytes out;
  for (const auto& [name, value] : pairs) append_name_value(name, value, out);
  return out;
}

// Errors: NameValueLengthTooBig at the length's first byte when a 4-byte length exceeds the
// whole of `data`; otherwise NameValueTruncated at the pair's first byte when any part of the
// pair (lengths, name, value) runs past the end.
Expected<NameValues> decode_name_values(std::string_view data, std::uint64_t base_offset) {
  NameValues pairs;
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t pair_start = pos;
    std::uint32_t lengths[2] = {0, 0};
    for (std::uint32_t& length : lengths) {
      const std::size_t length_start = pos;
      bool four_bytes = false;
      if (!read_nv_length(data, pos, length, four_bytes)) {
        return make_error(ErrorCode::NameValueTruncated, base_offset + pair_start,
                          "length field runs past the end of " + std::to_string(data.size()) +
                              " bytes of name-value data");
      }
      if (four_bytes && length > data.size()) {
        return make_error(ErrorCode::NameValueLengthTooBig, base_offset + length_start,
                          "length " + std::to_string(length) + " exceeds the " +
                              std::to_string(data.size()) + " bytes of name-value data");
      }
    }
    const std::uint64_t needed = std::uint64_t{lengths[0]} + lengths[1];
    if (needed > data.size() - pos) {
      return make_error(ErrorCode::NameValueTruncated, base_offset + pair_start,
                        "pair needs " + std::to_string(needed) + " bytes, " +
                            std::to_string(data.size() - pos) + " remain");
    }
    pairs.emplace_back(std::string(data.substr(pos, lengths[0])),
                       std::string(data.substr(pos + lengths[0], lengths[1])));
    pos += needed;
  }
  return pairs;
}

Record make_get_values(const std::vector<std::string>& names) {
  Record r;  // FastCGI 1.0 §4.1: names with empty values, request id 0
  r.type = static_cast<std::uint8_t>(RecordType::GetValues);
  r.request_id = kNullRequestId;
  for (const auto& name : names) append_name_value(name, {}, r.content);
  return r;
}

Record make_get_values_result(const NameValues& values) {
  Record r;  // FastCGI 1.0 §4.1
  r.type = static_cast<std::uint8_t>(RecordType::GetValuesResult);
  r.request_id = kNullRequestId;
  r.content = encode_name_values(values);
  return r;
}

// ---------------------------------------------------------------- streams

std::vector<Record> make_stream(RecordType type, std::uint16_t request_id, std::string_view data,
                                bool terminate, std::size_t max_record_content, bool align8) {
  const std::size_t piece_max = std::clamp<std::size_t>(max_record_content, 1, kMaxContentLength);
  std::vector<Record> records;
  records.reserve(data.size() / piece_max + 2);
  for (std::size_t pos = 0; pos < data.size(); pos += piece_max) {
    const std::string_view piece = data.substr(pos, piece_max);
    records.push_back(
        make_stream_record(type, request_id, piece, align8 ? padding_to_align8(piece.size()) : 0));
  }
  if (terminate) records.push_back(make_stream_record(type, request_id, {}));  // §3.3
  return records;
}

Bytes encode_all(const std::vector<Record>& records) {
  Bytes out;
  for (const auto& record : records) {
    // No error channel here: an unencodable record is a caller bug.
    if (auto error = append_record(record, out)) throw std::length_error(error->message);
  }
  return out;
}

// ---------------------------------------------------------------- incremental decoding

// The version byte is checked as soon as it arrives, so the error (and offset()) is the same
// however the input is chunked: offset() stops at the bad header's first byte.
std::optional<Error> RecordDecoder::feed(std::string_view bytes, std::vector<Record>& out) {
  if (error_) return error_;
  while (!bytes.empty()) {
    const std::uint64_t record_start = offset_ - pending_.size();
    if (pending_.empty() && byte_at(bytes, 0) != kVersion1) {  // FastCGI 1.0 §3.3
      error_ = make_error(
          ErrorCode::UnsupportedVersion, record_start,
          "header version " + std::to_string(byte_at(bytes, 0)) + ", only version 1 is supported");
      return error_;
    }
    // Fast path: a whole record available with nothing buffered needs no copy into pending_.
    if (pending_.empty() && bytes.size() >= kHeaderLength) {
      const Header h = decode_header(reinterpret_cast<const std::uint8_t*>(bytes.data()));
      const std::size_t total = kHeaderLength + h.content_length + h.padding_length;
      if (bytes.size() >= total) {
        out.push_back(Record{h.version, h.type, h.request_id,
                             Bytes(bytes.substr(kHeaderLength, h.content_length)), h.padding_length,
                             h.reserved, record_start});
        bytes.remove_prefix(total);
        offset_ += total;
        continue;
      }
    }
    // Slow path: buffer the header, then content and padding.
    std::size_t want = kHeaderLength;
    if (pending_.size() >= kHeaderLength) {
      const Header h = decode_header(reinterpret_cast<const std::uint8_t*>(pending_.data()));
      want = kHeaderLength + h.content_length + h.padding_length;
    }
    const std::size_t take = std::min(want - pending_.size(), bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    offset_ += take;
    if (pending_.size() < kHeaderLength) continue;
    const Header h = decode_header(reinterpret_cast<const std::uint8_t*>(pending_.data()));
    if (pending_.size() == kHeaderLength + h.content_length + h.padding_length) {
      out.push_back(Record{h.version, h.type, h.request_id,
                           pending_.substr(kHeaderLength, h.content_length), h.padding_length,
                           h.reserved, record_start});
      pending_.clear();
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- stream reassembly

// A record rejected with StreamAfterTerminator leaves data and records unchanged; a repeated
// terminator is still counted in `terminators`.
std::optional<Error> StreamAssembler::add(const Record& record) {
  if (!is_stream_type(record.type)) return std::nullopt;
  Stream& stream = streams_[{record.request_id, record.type}];
  if (stream.ended) {  // FastCGI 1.0 §3.3: the empty record ends the stream
    if (record.content.empty()) ++stream.terminators;
    return make_error(ErrorCode::StreamAfterTerminator, record.offset,
                      type_name(record.type) + " record for request " +
                          std::to_string(record.request_id) + " after the stream's terminator" +
                          (record.content.empty() ? " (second terminator)" : ""));
  }
  if (record.content.empty()) {
    stream.ended = true;
    ++stream.terminators;
  } else {
    stream.data += record.content;
    ++stream.records;
  }
  return std::nullopt;
}

const StreamAssembler::Stream* StreamAssembler::find(std::uint16_t request_id,
                                                     RecordType type) const {
  auto it = streams_.find({request_id, static_cast<std::uint8_t>(type)});
  return it == streams_.end() ? nullptr : &it->second;
}

void StreamAssembler::erase(std::uint16_t request_id) {
  auto it = streams_.lower_bound({request_id, 0});
  while (it != streams_.end() && it->first.first == request_id) it = streams_.erase(it);
}

}  // namespace fh::fcgi

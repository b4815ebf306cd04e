// FastCGI 1.0 codec: records, bodies, name-value pairs, incremental decoding and
// per-request stream reassembly. Pure bytes in, bytes out: no I/O, no sockets.
// Section numbers refer to the FastCGI Specification 1.0 (Open Market, 1996).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace fh::fcgi {

/// Raw bytes. std::string because asio buffers, hashing and comparisons all take it.
using Bytes = std::string;

inline constexpr std::uint8_t kVersion1 = 1;     // §8 FCGI_VERSION_1
inline constexpr std::size_t kHeaderLength = 8;  // §8 FCGI_HEADER_LEN
inline constexpr std::size_t kMaxContentLength = 65535;
inline constexpr std::size_t kMaxPaddingLength = 255;
inline constexpr std::uint16_t kNullRequestId = 0;  // §3.3 management records

/// §8 record types. Records carry the raw byte so unknown types survive decoding.
enum class RecordType : std::uint8_t {
  BeginRequest = 1,
  AbortRequest = 2,
  EndRequest = 3,
  Params = 4,
  Stdin = 5,
  Stdout = 6,
  Stderr = 7,
  Data = 8,
  GetValues = 9,
  GetValuesResult = 10,
  UnknownType = 11,
};
inline constexpr std::uint8_t kMaxKnownType = 11;  // §8 FCGI_MAXTYPE

/// §5.1 roles.
enum class Role : std::uint16_t { Responder = 1, Authorizer = 2, Filter = 3 };
inline constexpr std::uint8_t kKeepConn = 1;  // §5.1 FCGI_KEEP_CONN flag bit

/// §5.5 protocolStatus values.
enum class ProtocolStatus : std::uint8_t {
  RequestComplete = 0,
  CantMpxConn = 1,
  Overloaded = 2,
  UnknownRole = 3,
};

/// §4.1 management variable names.
inline constexpr std::string_view kMaxConns = "FCGI_MAX_CONNS";
inline constexpr std::string_view kMaxReqs = "FCGI_MAX_REQS";
inline constexpr std::string_view kMpxsConns = "FCGI_MPXS_CONNS";

/// "FCGI_STDOUT", "FCGI_END_REQUEST", ... or "FCGI_TYPE_<n>" for unknown types.
std::string type_name(std::uint8_t type);
std::string_view protocol_status_name(std::uint8_t status);
/// A stream record type (§3.3): PARAMS, STDIN, STDOUT, STDERR, DATA, GET_VALUES(_RESULT) excluded.
bool is_stream_type(std::uint8_t type);
/// Management records (§3.3) have request id 0; these types are the management ones.
bool is_management_type(std::uint8_t type);

// ---------------------------------------------------------------- errors

enum class ErrorCode {
  UnsupportedVersion,     // header version != 1 (§3.3)
  BadBodyLength,          // fixed-size body (BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE) not 8 bytes
  WrongRecordType,        // a body decoder was given a record of another type
  NameValueTruncated,     // §3.4 pair runs past the end of its content
  NameValueLengthTooBig,  // §3.4 4-byte length with the value above what the content can hold
  StreamAfterTerminator,  // a stream record after that stream's empty record (§3.3)
  ContentTooLong,         // encoder: content above 65535 bytes
  PaddingTooLong,         // encoder: padding above 255 bytes
};
std::string_view error_code_name(ErrorCode code);

/// A typed error. `offset` is the byte offset in the decoded input (for the incremental
/// decoder: in the whole connection stream) of the first offending byte.
struct Error {
  ErrorCode code;
  std::uint64_t offset = 0;
  std::string message;  // human-readable, includes the offset
};

/// Minimal expected<T, Error> (std::expected is C++23).
template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error error) : v_(std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// ---------------------------------------------------------------- records

/// §3.3 FCGI_Header fields.
struct Header {
  std::uint8_t version = kVersion1;
  std::uint8_t type = 0;
  std::uint16_t request_id = 0;
  std::uint16_t content_length = 0;
  std::uint8_t padding_length = 0;
  std::uint8_t reserved = 0;
};

/// One record as it travels (§3.3). The padding bytes' values are not kept: the spec lets
/// the sender choose them and the receiver ignore them.
struct Record {
  std::uint8_t version = kVersion1;
  std::uint8_t type = 0;
  std::uint16_t request_id = 0;
  Bytes content;
  std::uint8_t padding_length = 0;
  std::uint8_t reserved = 0;
  /// Byte offset of the header's first byte in the decoded stream (decoder output only).
  std::uint64_t offset = 0;

  RecordType known_type() const { return static_cast<RecordType>(type); }
  bool is(RecordType t) const { return type == static_cast<std::uint8_t>(t); }
  /// Header + content + padding.
  std::size_t wire_size() const { return kHeaderLength + content.size() + padding_length; }
};

/// 8 header bytes, big-endian fields (§3.3).
void encode_header(const Header& header, std::uint8_t out[kHeaderLength]);
Header decode_header(const std::uint8_t in[kHeaderLength]);

/// Header + content + `padding_length` zero bytes. Errors: ContentTooLong.
Expected<Bytes> encode_record(const Record& record);
/// Appends the encoding to `out`; same errors.
std::optional<Error> append_record(const Record& record, Bytes& out);

/// Padding that brings content to a multiple of 8 (§3.3 recommends aligned records).
inline std::uint8_t padding_to_align8(std::size_t content_length) {
  return static_cast<std::uint8_t>((8 - content_length % 8) % 8);
}

// ---------------------------------------------------------------- fixed bodies

struct BeginRequestBody {  // §5.1
  std::uint16_t role = static_cast<std::uint16_t>(Role::Responder);
  std::uint8_t flags = 0;
  bool keep_conn() const { return (flags & kKeepConn) != 0; }
};
struct EndRequestBody {  // §5.5
  std::uint32_t app_status = 0;
  std::uint8_t protocol_status = 0;
};
struct UnknownTypeBody {  // §4.2
  std::uint8_t type = 0;
};

Record make_begin_request(std::uint16_t request_id, Role role, std::uint8_t flags);
Record make_abort_request(std::uint16_t request_id);
Record make_end_request(std::uint16_t request_id, std::uint32_t app_status,
                        ProtocolStatus protocol_status);
Record make_unknown_type(std::uint8_t unknown_type);
/// A stream record (data may be empty: that is the stream's terminator). data.size() <= 65535.
Record make_stream_record(RecordType type, std::uint16_t request_id, std::string_view data,
                          std::uint8_t padding_length = 0);

/// Body decoders check type and the 8-byte length; error offsets point into the record.
Expected<BeginRequestBody> decode_begin_request(const Record& record);
Expected<EndRequestBody> decode_end_request(const Record& record);
Expected<UnknownTypeBody> decode_unknown_type(const Record& record);

// ---------------------------------------------------------------- name-value pairs (§3.4)

/// Order and duplicates preserved, as on the wire.
using NameValues = std::vector<std::pair<std::string, std::string>>;

/// Lengths below 128 take 1 byte; others 4 bytes with the top bit set (§3.4).
void append_name_value(std::string_view name, std::string_view value, Bytes& out);
Bytes encode_name_values(const NameValues& pairs);
/// `base_offset` is added to error offsets (pass the content's offset in the stream).
Expected<NameValues> decode_name_values(std::string_view data, std::uint64_t base_offset = 0);

/// GET_VALUES (§4.1): names with empty values, request id 0.
Record make_get_values(const std::vector<std::string>& names);
Record make_get_values_result(const NameValues& values);

// ---------------------------------------------------------------- streams

/// Splits `data` into stream records of at most `max_record_content` bytes (1..65535) and,
/// when `terminate`, appends the empty terminator record. Empty data with terminate yields
/// only the terminator. `align8` pads each record to a multiple of 8.
std::vector<Record> make_stream(RecordType type, std::uint16_t request_id, std::string_view data,
                                bool terminate, std::size_t max_record_content = kMaxContentLength,
                                bool align8 = false);

/// Encodes records back to back into one buffer.
Bytes encode_all(const std::vector<Record>& records);

// ---------------------------------------------------------------- incremental decoding

/// Decodes records from arbitrary byte chunks. Feeding one byte at a time gives the same
/// records as feeding everything at once. After an error the decoder stays failed.
class RecordDecoder {
 public:
  /// Appends every record completed by `bytes` to `out`. Returns the error, if any; records
  /// completed before the malformed header are still appended.
  std::optional<Error> feed(std::string_view bytes, std::vector<Record>& out);

  /// Bytes consumed so far (the offset of the next byte to be fed).
  std::uint64_t offset() const { return offset_; }
  /// True when a record has started but is not complete (a truncation if the stream ends now).
  bool mid_record() const { return !pending_.empty(); }
  std::size_t buffered() const { return pending_.size(); }
  const std::optional<Error>& error() const { return error_; }

 private:
  Bytes pending_;  // bytes of the record in progress (header first)
  std::uint64_t offset_ = 0;
  std::optional<Error> error_;
};

/// Per-request stream reassembly (§3.3): concatenates PARAMS, STDIN, STDOUT, STDERR and
/// DATA content per request id and notes each stream's terminator.
class StreamAssembler {
 public:
  struct Stream {
    Bytes data;
    bool ended = false;           // the empty record was seen
    std::size_t records = 0;      // non-empty records
    std::size_t terminators = 0;  // empty records (more than one is a StreamAfterTerminator)
  };

  /// Adds a stream record. Non-stream records are ignored (returns no error). A non-empty
  /// record after the terminator is StreamAfterTerminator at the record's offset; a second
  /// terminator is also reported.
  std::optional<Error> add(const Record& record);

  /// nullptr if nothing was seen for that request id and type.
  const Stream* find(std::uint16_t request_id, RecordType type) const;
  /// Forgets a finished request (after END_REQUEST) so the id can be reused (§3.3).
  void erase(std::uint16_t request_id);

 private:
  std::map<std::pair<std::uint16_t, std::uint8_t>, Stream> streams_;
};

}  // namespace fh::fcgi

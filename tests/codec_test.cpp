// FastCGI 1.0 codec tests. Expected bytes are written out by hand from the spec's layouts
// (§3.3 header, §3.4 name-value pairs, §4.1, §4.2, §5.1, §5.5) rather than taken from the
// encoder, so an encoder bug shows up as a mismatch.
#include "codec/fcgi.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <random>

namespace fh::fcgi {
namespace {

Bytes B(std::initializer_list<int> bytes) {
  Bytes out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

Bytes encoded(const Record& r) {
  auto e = encode_record(r);
  EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().message);
  return e.ok() ? e.value() : Bytes();
}

// ---------------------------------------------------------------- header

TEST(codec_header, EncodeIsBigEndianInSpecOrder) {
  std::uint8_t out[kHeaderLength];
  encode_header(Header{1, 6, 0x1234, 0xABCD, 0x07, 0x00}, out);
  EXPECT_EQ(Bytes(reinterpret_cast<char*>(out), kHeaderLength),
            B({0x01, 0x06, 0x12, 0x34, 0xAB, 0xCD, 0x07, 0x00}));
}

TEST(codec_header, DecodeReadsEveryField) {
  const std::uint8_t in[kHeaderLength] = {0x01, 0x05, 0xFF, 0x01, 0x00, 0x80, 0xFF, 0x09};
  const Header h = decode_header(in);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.type, 5);
  EXPECT_EQ(h.request_id, 0xFF01);
  EXPECT_EQ(h.content_length, 0x0080);
  EXPECT_EQ(h.padding_length, 0xFF);
  EXPECT_EQ(h.reserved, 0x09);
}

TEST(codec_header, RoundTrip) {
  const Header h{1, 11, 0, 65535, 255, 0};
  std::uint8_t buf[kHeaderLength];
  encode_header(h, buf);
  const Header back = decode_header(buf);
  EXPECT_EQ(back.type, 11);
  EXPECT_EQ(back.request_id, 0);
  EXPECT_EQ(back.content_length, 65535);
  EXPECT_EQ(back.padding_length, 255);
}

// ---------------------------------------------------------------- names

TEST(codec_names, TypeNames) {
  EXPECT_EQ(type_name(1), "FCGI_BEGIN_REQUEST");
  EXPECT_EQ(type_name(2), "FCGI_ABORT_REQUEST");
  EXPECT_EQ(type_name(3), "FCGI_END_REQUEST");
  EXPECT_EQ(type_name(4), "FCGI_PARAMS");
  EXPECT_EQ(type_name(5), "FCGI_STDIN");
  EXPECT_EQ(type_name(6), "FCGI_STDOUT");
  EXPECT_EQ(type_name(7), "FCGI_STDERR");
  EXPECT_EQ(type_name(8), "FCGI_DATA");
  EXPECT_EQ(type_name(9), "FCGI_GET_VALUES");
  EXPECT_EQ(type_name(10), "FCGI_GET_VALUES_RESULT");
  EXPECT_EQ(type_name(11), "FCGI_UNKNOWN_TYPE");
  EXPECT_EQ(type_name(0), "FCGI_TYPE_0");
  EXPECT_EQ(type_name(200), "FCGI_TYPE_200");
}

TEST(codec_names, ProtocolStatusNames) {
  EXPECT_EQ(protocol_status_name(0), "FCGI_REQUEST_COMPLETE");
  EXPECT_EQ(protocol_status_name(1), "FCGI_CANT_MPX_CONN");
  EXPECT_EQ(protocol_status_name(2), "FCGI_OVERLOADED");
  EXPECT_EQ(protocol_status_name(3), "FCGI_UNKNOWN_ROLE");
  EXPECT_FALSE(protocol_status_name(4).empty());
}

TEST(codec_names, StreamAndManagementTypes) {
  for (int t = 0; t < 256; ++t) {
    const bool stream = t >= 4 && t <= 8;
    const bool management = t >= 9 && t <= 11;
    EXPECT_EQ(is_stream_type(static_cast<std::uint8_t>(t)), stream) << t;
    EXPECT_EQ(is_management_type(static_cast<std::uint8_t>(t)), management) << t;
  }
}

TEST(codec_names, ErrorCodeNames) {
  EXPECT_EQ(error_code_name(ErrorCode::UnsupportedVersion), "UnsupportedVersion");
  EXPECT_EQ(error_code_name(ErrorCode::NameValueTruncated), "NameValueTruncated");
  EXPECT_EQ(error_code_name(ErrorCode::StreamAfterTerminator), "StreamAfterTerminator");
  EXPECT_EQ(error_code_name(ErrorCode::ContentTooLong), "ContentTooLong");
}

// ---------------------------------------------------------------- record types

TEST(codec_records, BeginRequestKeepConn) {
  const Record r = make_begin_request(1, Role::Responder, kKeepConn);
  EXPECT_EQ(encoded(r), B({1, 1, 0, 1, 0, 8, 0, 0,  //
                           0, 1, 1, 0, 0, 0, 0, 0}));
  auto body = decode_begin_request(r);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body.value().role, 1);
  EXPECT_EQ(body.value().flags, 1);
  EXPECT_TRUE(body.value().keep_conn());
}

TEST(codec_records, BeginRequestFilterNoKeepConn) {
  const Record r = make_begin_request(0x0203, Role::Filter, 0);
  EXPECT_EQ(encoded(r), B({1, 1, 2, 3, 0, 8, 0, 0,  //
                           0, 3, 0, 0, 0, 0, 0, 0}));
  auto body = decode_begin_request(r);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body.value().role, static_cast<std::uint16_t>(Role::Filter));
  EXPECT_FALSE(body.value().keep_conn());
}

TEST(codec_records, BeginRequestDecodeFromWireBytes) {
  Record r;
  r.type = 1;
  r.content = B({0x01, 0x02, 0xFF, 9, 9, 9, 9, 9});  // reserved bytes are ignored
  auto body = decode_begin_request(r);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body.value().role, 0x0102);
  EXPECT_EQ(body.value().flags, 0xFF);
  EXPECT_TRUE(body.value().keep_conn());
}

TEST(codec_records, AbortRequest) {
  EXPECT_EQ(encoded(make_abort_request(0x0102)), B({1, 2, 1, 2, 0, 0, 0, 0}));
}

TEST(codec_records, EndRequestAppStatus) {
  const Record r = make_end_request(7, 0x01020304, ProtocolStatus::RequestComplete);
  EXPECT_EQ(encoded(r), B({1, 3, 0, 7, 0, 8, 0, 0,  //
                           1, 2, 3, 4, 0, 0, 0, 0}));
  auto body = decode_end_request(r);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body.value().app_status, 0x01020304u);
  EXPECT_EQ(body.value().protocol_status, 0);
}

TEST(codec_records, EndRequestEachProtocolStatus) {
  for (auto ps : {ProtocolStatus::RequestComplete, ProtocolStatus::CantMpxConn,
                  ProtocolStatus::Overloaded, ProtocolStatus::UnknownRole}) {
    const int v = static_cast<int>(ps);
    const Record r = make_end_request(1, 0xFFFFFFFF, ps);
    EXPECT_EQ(encoded(r), B({1, 3, 0, 1, 0, 8, 0, 0,  //
                             0xFF, 0xFF, 0xFF, 0xFF, v, 0, 0, 0}))
        << v;
    auto body = decode_end_request(r);
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(body.value().app_status, 0xFFFFFFFFu);
    EXPECT_EQ(body.value().protocol_status, v);
  }
}

TEST(codec_records, UnknownType) {
  const Record r = make_unknown_type(42);
  EXPECT_EQ(encoded(r), B({1, 11, 0, 0, 0, 8, 0, 0,  //
                           42, 0, 0, 0, 0, 0, 0, 0}));
  auto body = decode_unknown_type(r);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body.value().type, 42);
}

TEST(codec_records, StreamTypes) {
  for (auto t : {RecordType::Params, RecordType::Stdin, RecordType::Stdout, RecordType::Stderr,
                 RecordType::Data}) {
    const int v = static_cast<int>(t);
    EXPECT_EQ(encoded(make_stream_record(t, 0x0100, "ab")), B({1, v, 1, 0, 0, 2, 0, 0, 'a', 'b'}));
  }
}

TEST(codec_records, GetValues) {
  const Record r = make_get_values({std::string(kMaxConns), std::string(kMpxsConns)});
  // "FCGI_MAX_CONNS" is 14 bytes, "FCGI_MPXS_CONNS" 15; values empty.
  Bytes expected = B({1, 9, 0, 0, 0, 33, 0, 0, 14, 0});
  expected += "FCGI_MAX_CONNS";
  expected += B({15, 0});
  expected += "FCGI_MPXS_CONNS";
  EXPECT_EQ(encoded(r), expected);
  EXPECT_EQ(r.request_id, kNullRequestId);
}

TEST(codec_records, GetValuesResultRoundTrip) {
  const NameValues values = {{"FCGI_MAX_CONNS", "10"}, {"FCGI_MPXS_CONNS", "0"}};
  const Record r = make_get_values_result(values);
  Bytes expected = B({1, 10, 0, 0, 0, 36, 0, 0, 14, 2});
  expected += "FCGI_MAX_CONNS10";
  expected += B({15, 1});
  expected += "FCGI_MPXS_CONNS0";
  const Bytes wire = encoded(r);
  EXPECT_EQ(wire, expected);

  RecordDecoder decoder;
  std::vector<Record> out;
  ASSERT_FALSE(decoder.feed(wire, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].is(RecordType::GetValuesResult));
  EXPECT_EQ(out[0].request_id, 0);
  auto decoded = decode_name_values(out[0].content);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.value(), values);

  auto names = decode_name_values(make_get_values({"FCGI_MAX_REQS"}).content);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names.value(), (NameValues{{"FCGI_MAX_REQS", ""}}));
}

TEST(codec_records, BodyDecoderWrongType) {
  Record r = make_end_request(1, 0, ProtocolStatus::RequestComplete);
  r.offset = 100;
  auto body = decode_begin_request(r);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().code, ErrorCode::WrongRecordType);
  EXPECT_EQ(body.error().offset, 101u);  // the header's type byte
  EXPECT_NE(body.error().message.find("101"), std::string::npos);
  EXPECT_FALSE(decode_unknown_type(r).ok());
  EXPECT_TRUE(decode_end_request(r).ok());
}

TEST(codec_records, BodyDecoderBadLength) {
  for (std::size_t len : {0u, 7u, 9u}) {
    Record r;
    r.type = static_cast<std::uint8_t>(RecordType::EndRequest);
    r.content = Bytes(len, '\0');
    r.offset = 16;
    auto body = decode_end_request(r);
    ASSERT_FALSE(body.ok()) << len;
    EXPECT_EQ(body.error().code, ErrorCode::BadBodyLength);
    EXPECT_EQ(body.error().offset, 20u);  // contentLengthB1
    r.type = static_cast<std::uint8_t>(RecordType::BeginRequest);
    EXPECT_EQ(decode_begin_request(r).error().code, ErrorCode::BadBodyLength);
    r.type = static_cast<std::uint8_t>(RecordType::UnknownType);
    EXPECT_EQ(decode_unknown_type(r).error().code, ErrorCode::BadBodyLength);
  }
}

// ---------------------------------------------------------------- content and padding

TEST(codec_content, LengthZero) {
  EXPECT_EQ(encoded(make_stream_record(RecordType::Stdin, 1, "")), B({1, 5, 0, 1, 0, 0, 0, 0}));
}

TEST(codec_content, LengthOne) {
  EXPECT_EQ(encoded(make_stream_record(RecordType::Stdout, 1, "x")),
            B({1, 6, 0, 1, 0, 1, 0, 0, 'x'}));
}

TEST(codec_content, LengthMax) {
  const Bytes data(65535, 'z');
  const Bytes wire = encoded(make_stream_record(RecordType::Stdout, 1, data));
  ASSERT_EQ(wire.size(), 8u + 65535u);
  EXPECT_EQ(wire.substr(0, 8), B({1, 6, 0, 1, 0xFF, 0xFF, 0, 0}));
  EXPECT_EQ(wire.substr(8), data);

  RecordDecoder decoder;
  std::vector<Record> out;
  ASSERT_FALSE(decoder.feed(wire, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].content, data);
}

TEST(codec_content, TooLong) {
  const Record r = make_stream_record(RecordType::Stdout, 1, Bytes(65536, 'z'));
  auto e = encode_record(r);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, ErrorCode::ContentTooLong);
  Bytes out = "keep";
  auto err = append_record(r, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::ContentTooLong);
  EXPECT_EQ(out, "keep");  // nothing appended
  EXPECT_THROW(encode_all({r}), std::length_error);
}

TEST(codec_content, PaddingZeroAndMax) {
  EXPECT_EQ(encoded(make_stream_record(RecordType::Stdout, 1, "ab", 0)),
            B({1, 6, 0, 1, 0, 2, 0, 0, 'a', 'b'}));
  const Bytes wire = encoded(make_stream_record(RecordType::Stdout, 1, "ab", 255));
  ASSERT_EQ(wire.size(), 8u + 2u + 255u);
  EXPECT_EQ(wire.substr(0, 10), B({1, 6, 0, 1, 0, 2, 255, 0, 'a', 'b'}));
  EXPECT_EQ(wire.substr(10), Bytes(255, '\0'));
}

TEST(codec_content, DecoderSkipsPaddingWhateverItsValue) {
  Bytes wire = B({1, 6, 0, 1, 0, 1, 255, 0, 'q'});
  wire += Bytes(255, '\xAA');  // §3.3: the receiver ignores padding bytes
  wire += B({1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  RecordDecoder decoder;
  std::vector<Record> out;
  ASSERT_FALSE(decoder.feed(wire, out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].content, "q");
  EXPECT_EQ(out[0].padding_length, 255);
  EXPECT_EQ(out[0].wire_size(), 264u);
  EXPECT_EQ(out[1].offset, 264u);
  EXPECT_TRUE(out[1].is(RecordType::EndRequest));
}

TEST(codec_content, PaddingToAlign8) {
  EXPECT_EQ(padding_to_align8(0), 0);
  EXPECT_EQ(padding_to_align8(1), 7);
  EXPECT_EQ(padding_to_align8(7), 1);
  EXPECT_EQ(padding_to_align8(8), 0);
  EXPECT_EQ(padding_to_align8(65535), 1);
}

TEST(codec_content, VersionAndReservedAreEncodedAsGiven) {
  Record r = make_abort_request(1);
  r.version = 2;
  r.reserved = 0x5A;
  EXPECT_EQ(encoded(r), B({2, 2, 0, 1, 0, 0, 0, 0x5A}));
}

// ---------------------------------------------------------------- name-value pairs (§3.4)

TEST(codec_name_value, OneByteLengths) {
  Bytes out;
  append_name_value("ab", "xyz", out);
  EXPECT_EQ(out, B({2, 3, 'a', 'b', 'x', 'y', 'z'}));
  EXPECT_EQ(encode_name_values({{"", ""}}), B({0, 0}));
}

TEST(codec_name_value, LengthBoundary127And128) {
  const std::string n127(127, 'n'), n128(128, 'n'), v127(127, 'v'), v128(128, 'v');
  EXPECT_EQ(encode_name_values({{n127, v127}}), B({127, 127}) + n127 + v127);
  EXPECT_EQ(encode_name_values({{n128, v127}}), B({0x80, 0, 0, 128, 127}) + n128 + v127);
  EXPECT_EQ(encode_name_values({{n127, v128}}), B({127, 0x80, 0, 0, 128}) + n127 + v128);
  EXPECT_EQ(encode_name_values({{n128, v128}}),
            B({0x80, 0, 0, 128, 0x80, 0, 0, 128}) + n128 + v128);
}

TEST(codec_name_value, FourByteLengthLarge) {
  const std::string big(0x012345, 'v');
  const Bytes wire = encode_name_values({{"K", big}});
  EXPECT_EQ(wire.substr(0, 6), B({1, 0x80, 0x01, 0x23, 0x45, 'K'}));
  auto back = decode_name_values(wire);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back.value().size(), 1u);
  EXPECT_EQ(back.value()[0].second, big);
}

TEST(codec_name_value, DecodeRoundTripKeepsOrderAndDuplicates) {
  const NameValues pairs = {
      {"B", "2"}, {"A", "1"}, {"B", "3"}, {std::string(128, 'x'), ""}, {"", std::string(200, 'y')}};
  auto back = decode_name_values(encode_name_values(pairs));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), pairs);
}

TEST(codec_name_value, DecodeAcceptsFourByteFormForShortLengths) {
  auto back = decode_name_values(B({0x80, 0, 0, 1, 1, 'a', 'b'}));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), (NameValues{{"a", "b"}}));
}

TEST(codec_name_value, DecodeEmpty) {
  auto back = decode_name_values("");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back.value().empty());
}

TEST(codec_name_value, TruncatedValue) {
  // First pair complete (5 bytes), second pair claims 3+1 bytes but has 2.
  const Bytes data = B({1, 2, 'a', 'x', 'y', 3, 1, 'a', 'b'});
  auto r = decode_name_values(data, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::NameValueTruncated);
  EXPECT_EQ(r.error().offset, 1005u);  // the truncated pair's first byte
  EXPECT_NE(r.error().message.find("1005"), std::string::npos);
}

TEST(codec_name_value, TruncatedLengthFields) {
  {
    auto r = decode_name_values(B({5}));  // value length missing
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::NameValueTruncated);
    EXPECT_EQ(r.error().offset, 0u);
  }
  {
    auto r = decode_name_values(B({0x80, 0, 0}), 8);  // 4-byte name length cut short
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::NameValueTruncated);
    EXPECT_EQ(r.error().offset, 8u);
  }
  {
    auto r = decode_name_values(B({0, 0, 1, 0x80, 0}), 8);  // second pair's value length cut
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::NameValueTruncated);
    EXPECT_EQ(r.error().offset, 10u);
  }
}

TEST(codec_name_value, FourByteLengthTruncatedWithinContent) {
  // Name length 10 (4-byte form) is within the 10-byte content, but only 5 name bytes follow.
  const Bytes data = B({0x80, 0, 0, 10, 0}) + Bytes(5, 'n');
  auto r = decode_name_values(data, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::NameValueTruncated);
  EXPECT_EQ(r.error().offset, 3u);
}

TEST(codec_name_value, LengthTooBig) {
  {
    auto r = decode_name_values(B({0xFF, 0xFF, 0xFF, 0xFF, 0, 'a'}), 40);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::NameValueLengthTooBig);
    EXPECT_EQ(r.error().offset, 40u);
    EXPECT_NE(r.error().message.find("40"), std::string::npos);
  }
  {
    auto r = decode_name_values(B({1, 0x80, 0, 1, 0, 'a'}), 40);  // value length 256
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::NameValueLengthTooBig);
    EXPECT_EQ(r.error().offset, 41u);  // the value length's first byte
  }
}

// ---------------------------------------------------------------- incremental decoding

// Three records: BEGIN_REQUEST (16 bytes at 0), PARAMS "ab" padded to 8 (16 bytes at 16),
// STDIN terminator (8 bytes at 32), END_REQUEST (16 bytes at 40). Total 56.
Bytes sample_stream() {
  Bytes s = B({1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0});
  s += B({1, 4, 0, 1, 0, 2, 6, 0, 'a', 'b', 0, 0, 0, 0, 0, 0});
  s += B({1, 5, 0, 1, 0, 0, 0, 0});
  s += B({1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0});
  return s;
}

void expect_sample_records(const std::vector<Record>& out) {
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(out[0].is(RecordType::BeginRequest));
  EXPECT_EQ(out[0].offset, 0u);
  EXPECT_EQ(out[0].request_id, 1);
  EXPECT_EQ(out[0].content, B({0, 1, 1, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(out[1].is(RecordType::Params));
  EXPECT_EQ(out[1].offset, 16u);
  EXPECT_EQ(out[1].content, "ab");
  EXPECT_EQ(out[1].padding_length, 6);
  EXPECT_TRUE(out[2].is(RecordType::Stdin));
  EXPECT_EQ(out[2].offset, 32u);
  EXPECT_TRUE(out[2].content.empty());
  EXPECT_TRUE(out[3].is(RecordType::EndRequest));
  EXPECT_EQ(out[3].offset, 40u);
  EXPECT_EQ(decode_end_request(out[3]).value().app_status, 9u);
}

bool same_records(const std::vector<Record>& a, const std::vector<Record>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].version != b[i].version || a[i].type != b[i].type ||
        a[i].request_id != b[i].request_id || a[i].content != b[i].content ||
        a[i].padding_length != b[i].padding_length || a[i].reserved != b[i].reserved ||
        a[i].offset != b[i].offset)
      return false;
  }
  return true;
}

TEST(codec_decoder, AllAtOnce) {
  RecordDecoder d;
  std::vector<Record> out;
  EXPECT_FALSE(d.feed(sample_stream(), out));
  expect_sample_records(out);
  EXPECT_EQ(d.offset(), 56u);
  EXPECT_FALSE(d.mid_record());
}

TEST(codec_decoder, OneByteAtATime) {
  const Bytes s = sample_stream();
  RecordDecoder d;
  std::vector<Record> out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    ASSERT_FALSE(d.feed(s.substr(i, 1), out));
    EXPECT_EQ(d.offset(), i + 1);
  }
  expect_sample_records(out);
  EXPECT_FALSE(d.mid_record());
}

TEST(codec_decoder, RandomChunksMatchOneFeed) {
  // A longer stream with large and padded records.
  Bytes s = sample_stream();
  s += encode_all(make_stream(RecordType::Stdout, 3, Bytes(150000, 'o'), true, 65535, true));
  s += encode_record(make_stream_record(RecordType::Stderr, 3, "err", 255)).value();
  s += encode_record(make_get_values({"FCGI_MAX_REQS"})).value();

  RecordDecoder whole;
  std::vector<Record> expected;
  ASSERT_FALSE(whole.feed(s, expected));
  ASSERT_EQ(expected.size(), 4u + 4u + 2u);

  std::mt19937 rng(12345);
  for (int round = 0; round < 20; ++round) {
    std::uniform_int_distribution<std::size_t> len(0, round < 10 ? 17 : 70000);
    RecordDecoder d;
    std::vector<Record> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
      const std::size_t n = std::min(len(rng), s.size() - pos);
      ASSERT_FALSE(d.feed(std::string_view(s).substr(pos, n), out));
      pos += n;
    }
    EXPECT_TRUE(same_records(out, expected)) << "round " << round;
    EXPECT_EQ(d.offset(), s.size());
  }
}

TEST(codec_decoder, MidRecordAndBuffered) {
  RecordDecoder d;
  std::vector<Record> out;
  EXPECT_FALSE(d.mid_record());
  d.feed(B({1, 6, 0, 1, 0, 3}), out);
  EXPECT_TRUE(d.mid_record());
  EXPECT_EQ(d.buffered(), 6u);
  d.feed(B({0, 0, 'a', 'b'}), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.buffered(), 10u);
  d.feed(B({'c', 1}), out);  // completes the record and starts the next header
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].content, "abc");
  EXPECT_TRUE(d.mid_record());
  EXPECT_EQ(d.buffered(), 1u);
  EXPECT_EQ(d.offset(), 12u);
}

TEST(codec_decoder, BadVersionAfterGoodRecords) {
  Bytes s = sample_stream().substr(0, 32);  // BEGIN_REQUEST + PARAMS
  s += B({2, 6, 0, 1, 0, 0, 0, 0});         // version 2 at offset 32
  s += B({1, 6, 0, 1, 0, 0, 0, 0});

  RecordDecoder d;
  std::vector<Record> out;
  auto err = d.feed(s, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::UnsupportedVersion);
  EXPECT_EQ(err->offset, 32u);
  EXPECT_NE(err->message.find("32"), std::string::npos);
  ASSERT_EQ(out.size(), 2u);  // records completed before the error are output
  EXPECT_EQ(out[1].offset, 16u);
  ASSERT_TRUE(d.error());
  EXPECT_EQ(d.error()->offset, 32u);

  // Stays failed: further input yields the same error and no records.
  auto again = d.feed(B({1, 6, 0, 1, 0, 0, 0, 0}), out);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->code, ErrorCode::UnsupportedVersion);
  EXPECT_EQ(again->offset, 32u);
  EXPECT_EQ(out.size(), 2u);

  // Byte at a time: same records, same error.
  RecordDecoder d1;
  std::vector<Record> out1;
  std::optional<Error> first_error;
  for (char c : s) {
    auto e = d1.feed(std::string_view(&c, 1), out1);
    if (e && !first_error) first_error = e;
  }
  ASSERT_TRUE(first_error);
  EXPECT_EQ(first_error->offset, 32u);
  EXPECT_TRUE(same_records(out1, out));
}

TEST(codec_decoder, BadVersionFirstByte) {
  RecordDecoder d;
  std::vector<Record> out;
  auto err = d.feed(B({0}), out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::UnsupportedVersion);
  EXPECT_EQ(err->offset, 0u);
  EXPECT_TRUE(out.empty());
}

TEST(codec_decoder, EmptyFeed) {
  RecordDecoder d;
  std::vector<Record> out;
  EXPECT_FALSE(d.feed("", out));
  EXPECT_EQ(d.offset(), 0u);
}

// ---------------------------------------------------------------- streams

TEST(codec_stream, MakeStreamSplits70000) {
  const Bytes data(70000, 'd');
  auto records = make_stream(RecordType::Stdin, 5, data, true);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].content.size(), 65535u);
  EXPECT_EQ(records[1].content.size(), 4465u);
  EXPECT_TRUE(records[2].content.empty());
  for (const auto& r : records) {
    EXPECT_TRUE(r.is(RecordType::Stdin));
    EXPECT_EQ(r.request_id, 5);
    EXPECT_EQ(r.padding_length, 0);
  }
  const Bytes wire = encode_all(records);
  ASSERT_EQ(wire.size(), 8u + 65535u + 8u + 4465u + 8u);
  EXPECT_EQ(wire.substr(0, 8), B({1, 5, 0, 5, 0xFF, 0xFF, 0, 0}));
  EXPECT_EQ(wire.substr(8 + 65535, 8), B({1, 5, 0, 5, 0x11, 0x71, 0, 0}));  // 4465 = 0x1171
  EXPECT_EQ(wire.substr(wire.size() - 8), B({1, 5, 0, 5, 0, 0, 0, 0}));
}

TEST(codec_stream, MakeStreamSmallPiecesAlign8) {
  auto records = make_stream(RecordType::Stdout, 1, "0123456789", true, 8, true);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].content, "01234567");
  EXPECT_EQ(records[0].padding_length, 0);
  EXPECT_EQ(records[1].content, "89");
  EXPECT_EQ(records[1].padding_length, 6);
  EXPECT_EQ(records[2].padding_length, 0);
  EXPECT_EQ(encode_all(records), B({1, 6, 0, 1, 0, 8, 0, 0}) + "01234567" +
                                     B({1, 6, 0, 1, 0, 2, 6, 0, '8', '9', 0, 0, 0, 0, 0, 0}) +
                                     B({1, 6, 0, 1, 0, 0, 0, 0}));
}

TEST(codec_stream, MakeStreamEdgeCases) {
  auto only_terminator = make_stream(RecordType::Params, 1, "", true);
  ASSERT_EQ(only_terminator.size(), 1u);
  EXPECT_TRUE(only_terminator[0].content.empty());
  EXPECT_TRUE(make_stream(RecordType::Params, 1, "", false).empty());
  auto unterminated = make_stream(RecordType::Params, 1, "abc", false, 1);
  ASSERT_EQ(unterminated.size(), 3u);
  EXPECT_EQ(unterminated[2].content, "c");
}

TEST(codec_stream, AssemblerReassembles) {
  StreamAssembler a;
  for (const auto& r : make_stream(RecordType::Stdout, 1, "hello world", false, 3))
    EXPECT_FALSE(a.add(r));
  EXPECT_FALSE(a.add(make_stream_record(RecordType::Stdout, 2, "other")));
  EXPECT_FALSE(a.add(make_stream_record(RecordType::Stderr, 1, "warn")));
  EXPECT_FALSE(a.add(make_end_request(1, 0, ProtocolStatus::RequestComplete)));  // ignored

  const auto* out = a.find(1, RecordType::Stdout);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->data, "hello world");
  EXPECT_EQ(out->records, 4u);
  EXPECT_FALSE(out->ended);
  EXPECT_EQ(a.find(1, RecordType::Stderr)->data, "warn");
  EXPECT_EQ(a.find(2, RecordType::Stdout)->data, "other");
  EXPECT_EQ(a.find(1, RecordType::Stdin), nullptr);
  EXPECT_EQ(a.find(3, RecordType::Stdout), nullptr);

  EXPECT_FALSE(a.add(make_stream_record(RecordType::Stdout, 1, "")));
  out = a.find(1, RecordType::Stdout);
  EXPECT_TRUE(out->ended);
  EXPECT_EQ(out->terminators, 1u);
}

TEST(codec_stream, AssemblerDataAfterTerminator) {
  StreamAssembler a;
  EXPECT_FALSE(a.add(make_stream_record(RecordType::Stdin, 1, "x")));
  EXPECT_FALSE(a.add(make_stream_record(RecordType::Stdin, 1, "")));
  Record late = make_stream_record(RecordType::Stdin, 1, "late");
  late.offset = 77;
  auto err = a.add(late);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::StreamAfterTerminator);
  EXPECT_EQ(err->offset, 77u);
  EXPECT_NE(err->message.find("77"), std::string::npos);
  EXPECT_EQ(a.find(1, RecordType::Stdin)->data, "x");

  Record second = make_stream_record(RecordType::Stdin, 1, "");
  second.offset = 90;
  err = a.add(second);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::StreamAfterTerminator);
  EXPECT_EQ(err->offset, 90u);
  EXPECT_EQ(a.find(1, RecordType::Stdin)->terminators, 2u);
}

TEST(codec_stream, AssemblerEraseAllowsReuse) {
  StreamAssembler a;
  a.add(make_stream_record(RecordType::Stdin, 1, "a"));
  a.add(make_stream_record(RecordType::Stdin, 1, ""));
  a.add(make_stream_record(RecordType::Params, 1, ""));
  a.add(make_stream_record(RecordType::Stdin, 2, "keep"));
  a.erase(1);
  EXPECT_EQ(a.find(1, RecordType::Stdin), nullptr);
  EXPECT_EQ(a.find(1, RecordType::Params), nullptr);
  ASSERT_NE(a.find(2, RecordType::Stdin), nullptr);
  EXPECT_FALSE(a.add(make_stream_record(RecordType::Stdin, 1, "new")));
  EXPECT_EQ(a.find(1, RecordType::Stdin)->data, "new");
}

TEST(codec_stream, EndToEndThroughDecoder) {
  Bytes wire =
      encode_all(make_stream(RecordType::Params, 9, encode_name_values({{"A", "1"}}), true, 2));
  RecordDecoder d;
  std::vector<Record> records;
  ASSERT_FALSE(d.feed(wire, records));
  StreamAssembler a;
  for (const auto& r : records) ASSERT_FALSE(a.add(r));
  const auto* params = a.find(9, RecordType::Params);
  ASSERT_NE(params, nullptr);
  EXPECT_TRUE(params->ended);
  auto nv = decode_name_values(params->data);
  ASSERT_TRUE(nv.ok());
  EXPECT_EQ(nv.value(), (NameValues{{"A", "1"}}));
}

// ---------------------------------------------------------------- robustness

TEST(codec_robustness, RandomInputIsRejectedOrDecodedWithoutOverrun) {
  // Run under ASan/UBSan to catch reads past the input; here we check consistency.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 2000; ++round) {
    Bytes data(static_cast<std::size_t>(byte(rng) % 64), '\0');
    for (char& c : data) c = static_cast<char>(byte(rng));
    auto nv = decode_name_values(data, 10);
    if (nv.ok()) {
      EXPECT_LE(encode_name_values(nv.value()).size(), data.size());
    } else {
      EXPECT_GE(nv.error().offset, 10u);
      EXPECT_LT(nv.error().offset, 10u + data.size());
    }
    if (!data.empty()) data[0] = 1;  // mostly valid first header, then garbage
    RecordDecoder d;
    std::vector<Record> out;
    auto err = d.feed(data, out);
    std::uint64_t consumed = 0;
    for (const auto& r : out) {
      EXPECT_EQ(r.offset, consumed);
      consumed += r.wire_size();
    }
    if (err) {
      EXPECT_EQ(err->offset, consumed);
    }
    EXPECT_EQ(d.offset(), err ? consumed : data.size());
  }
}

}  // namespace
}  // namespace fh::fcgi

// Probe-app contract: query parsing, the body pattern and its digest, the default-mode
// listing and the CGI response head. Digests are reference values computed independently.
#include "probe/probe_contract.hpp"

#include <gtest/gtest.h>

#include "util/sha256.hpp"

namespace fh::probe {
namespace {

ProbeQuery parsed(std::string_view q) {
  auto r = parse_query(q);
  EXPECT_TRUE(std::holds_alternative<ProbeQuery>(r))
      << q << ": " << (std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "");
  return std::holds_alternative<ProbeQuery>(r) ? std::get<ProbeQuery>(r) : ProbeQuery{};
}

std::string error_of(std::string_view q) {
  auto r = parse_query(q);
  EXPECT_TRUE(std::holds_alternative<std::string>(r)) << q << " should be rejected";
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

TEST(probe_query, Defaults) {
  for (std::string_view q : {"", "&", "&&", "foo=bar", "x", "foo=bar&baz"}) {
    const ProbeQuery p = parsed(q);
    EXPECT_EQ(p.status, 200) << q;
    EXPECT_FALSE(p.size);
    EXPECT_EQ(p.chunk, 0u);
    EXPECT_EQ(p.delay_ms, 0u);
    EXPECT_EQ(p.first_byte_ms, 0u);
    EXPECT_FALSE(p.echo);
    EXPECT_EQ(p.stderr_bytes, 0u);
    EXPECT_TRUE(p.lists_params());
    EXPECT_TRUE(p.reads_body());
  }
}

TEST(probe_query, EachKey) {
  EXPECT_EQ(parsed("status=404").status, 404);
  EXPECT_EQ(parsed("status=100").status, 100);
  EXPECT_EQ(parsed("status=999").status, 999);
  EXPECT_EQ(parsed("size=0").size, std::optional<std::uint64_t>(0));
  EXPECT_EQ(parsed("size=16777216").size, std::optional<std::uint64_t>(16777216));
  EXPECT_EQ(parsed("size=18446744073709551615").size,
            std::optional<std::uint64_t>(18446744073709551615ull));
  EXPECT_EQ(parsed("chunk=1").chunk, 1u);
  EXPECT_EQ(parsed("chunk=4096").chunk, 4096u);
  EXPECT_EQ(parsed("delay_ms=250").delay_ms, 250u);
  EXPECT_EQ(parsed("first_byte_ms=3000").first_byte_ms, 3000u);
  EXPECT_TRUE(parsed("echo=1").echo);
  EXPECT_FALSE(parsed("echo=0").echo);
  EXPECT_EQ(parsed("stderr=100").stderr_bytes, 100u);
}

TEST(probe_query, Combined) {
  const ProbeQuery p = parsed("a=b&size=1024&chunk=64&status=201&unknown=zzz&delay_ms=5&stderr=7");
  EXPECT_EQ(p.size, std::optional<std::uint64_t>(1024));
  EXPECT_EQ(p.chunk, 64u);
  EXPECT_EQ(p.status, 201);
  EXPECT_EQ(p.delay_ms, 5u);
  EXPECT_EQ(p.stderr_bytes, 7u);
  EXPECT_FALSE(p.lists_params());
  EXPECT_FALSE(p.reads_body());

  const ProbeQuery e = parsed("echo=1");
  EXPECT_FALSE(e.lists_params());
  EXPECT_TRUE(e.reads_body());
}

TEST(probe_query, LastDuplicateWins) {
  EXPECT_EQ(parsed("status=300&status=500").status, 500);
}

TEST(probe_query, BadValuesNameKeyAndValue) {
  struct Case {
    std::string_view query, key, value;
  };
  for (const Case& c :
       {Case{"status=99", "status", "99"}, Case{"status=1000", "status", "1000"},
        Case{"status=abc", "status", "abc"}, Case{"status=", "status", ""},
        Case{"status=-200", "status", "-200"}, Case{"size=-1", "size", "-1"},
        Case{"size=12x", "size", "12x"}, Case{"size=+5", "size", "+5"},
        Case{"size=18446744073709551616", "size", "18446744073709551616"},
        Case{"chunk=0", "chunk", "0"}, Case{"chunk=a", "chunk", "a"},
        Case{"delay_ms=1.5", "delay_ms", "1.5"},
        Case{"first_byte_ms=soon", "first_byte_ms", "soon"}, Case{"echo=2", "echo", "2"},
        Case{"echo=yes", "echo", "yes"}, Case{"stderr=x", "stderr", "x"}}) {
    const std::string err = error_of(c.query);
    EXPECT_NE(err.find(c.key), std::string::npos) << c.query << " -> " << err;
    EXPECT_NE(err.find("'" + std::string(c.value) + "'"), std::string::npos)
        << c.query << " -> " << err;
  }
  EXPECT_NE(error_of("size=1&echo=maybe").find("echo"), std::string::npos);
  EXPECT_NE(error_of("status").find("status"), std::string::npos);  // key without '='
}

TEST(probe_query, PlusIsLiteral) {
  EXPECT_NE(error_of("size=1+1").find("1+1"), std::string::npos);
}

TEST(probe_query, ToQueryString) {
  EXPECT_EQ(to_query_string(ProbeQuery{}), "");
  ProbeQuery q;
  q.size = 1024;
  q.chunk = 64;
  EXPECT_EQ(to_query_string(q), "size=1024&chunk=64");
  q.status = 404;
  q.delay_ms = 3;
  q.first_byte_ms = 4;
  q.echo = true;
  q.stderr_bytes = 5;
  const std::string s = to_query_string(q);
  EXPECT_EQ(s, "status=404&size=1024&chunk=64&delay_ms=3&first_byte_ms=4&echo=1&stderr=5");
  const ProbeQuery back = parsed(s);
  EXPECT_EQ(back.status, 404);
  EXPECT_EQ(back.size, q.size);
  EXPECT_EQ(back.chunk, 64u);
  EXPECT_EQ(back.delay_ms, 3u);
  EXPECT_EQ(back.first_byte_ms, 4u);
  EXPECT_TRUE(back.echo);
  EXPECT_EQ(back.stderr_bytes, 5u);
  ProbeQuery zero;
  zero.size = 0;
  EXPECT_EQ(to_query_string(zero), "size=0");
}

TEST(probe_pattern, Slices) {
  EXPECT_EQ(pattern(0, 0), "");
  EXPECT_EQ(pattern(0, 16), "0123456789abcdef");
  EXPECT_EQ(pattern(14, 4), "ef01");
  EXPECT_EQ(pattern(16, 3), "012");
  EXPECT_EQ(pattern(5, 20), "56789abcdef012345678");
  EXPECT_EQ(pattern(0x10000000000ull + 15, 2), "f0");
  const std::string whole = pattern(0, 1000);
  for (std::size_t off : {0u, 1u, 15u, 16u, 17u, 333u})
    EXPECT_EQ(pattern(off, 100), whole.substr(off, 100)) << off;
}

TEST(probe_pattern, Sha256) {
  EXPECT_EQ(pattern_sha256(0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(pattern_sha256(16), "9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f");
  // 256 KiB + 5: several full 64 KiB pieces and a partial one.
  EXPECT_EQ(pattern_sha256(262149),
            "bee491ba82d11cb7a84977aaa8417790a2846497f24704e95c37493ed001aad3");
  EXPECT_EQ(pattern_sha256(16 * 1024 * 1024),
            "5673abd9d9044951f02f2abefd8bb6386dfe1c6bed483de10731717c329237ec");
  EXPECT_EQ(pattern_sha256(70001), util::sha256_hex(pattern(0, 70001)));
}

TEST(probe_response_head, Format) {
  EXPECT_EQ(response_head(200), "Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
  EXPECT_EQ(response_head(404),
            "Status: 404 Not Found\r\nContent-Type: application/octet-stream\r\n\r\n");
  EXPECT_EQ(response_head(599),
            "Status: 599 Unknown\r\nContent-Type: application/octet-stream\r\n\r\n");
}

TEST(probe_response_head, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(reason_phrase(502), "Bad Gateway");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(999), "Unknown");
}

TEST(probe_params_listing, SortedStableWithStdinLines) {
  const fcgi::NameValues params = {{"REQUEST_METHOD", "POST"},
                                   {"B", "2"},
                                   {"A", "first"},
                                   {"QUERY_STRING", "a=b&c"},
                                   {"A", "second"}};
  EXPECT_EQ(params_listing(params, 3, "abc123"),
            "A=first\n"
            "A=second\n"
            "B=2\n"
            "QUERY_STRING=a=b&c\n"
            "REQUEST_METHOD=POST\n"
            "STDIN-BYTES=3\n"
            "STDIN-SHA256=abc123\n");
}

TEST(probe_params_listing, Empty) {
  EXPECT_EQ(params_listing({}, 0, pattern_sha256(0)),
            "STDIN-BYTES=0\n"
            "STDIN-SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n");
}

}  // namespace
}  // namespace fh::probe

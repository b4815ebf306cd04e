// The client's reading of HTTP/1.1 responses from a gateway we do not control: the status-line
// repair (client/status_line.hpp) and Boost.Beast's response parser configured and driven as
// HttpClient::feed drives it (no body limit, 1 MiB head limit, HEAD skips the body, interim 1xx
// responses skipped, body bytes through a fixed buffer, put_eof at the end for close-delimited
// bodies). Input: byte 0 the read size (1..256), byte 1 bit 0 "the request was HEAD", then the
// bytes the gateway sent. Promise checked: body bytes delivered never exceed the bytes fed.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "client/status_line.hpp"
#include "fuzz_check.hpp"

namespace http = boost::beast::http;

namespace {

using Parser = http::response_parser<http::buffer_body>;

void reset(std::optional<Parser>& parser, bool head) {
  parser.emplace();
  parser->body_limit(boost::none);
  parser->header_limit(fh::client::kHeaderLimit);
  if (head) parser->skip(true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t read_size = static_cast<std::size_t>(data[0]) + 1;
  const bool head = data[1] & 1;
  const std::string wire(reinterpret_cast<const char*>(data + 2), size - 2);

  std::optional<Parser> parser;
  reset(parser, head);
  std::string inbuf;
  bool status_line_seen = false, failed = false;
  std::uint64_t body_bytes = 0;
  char body[4096];
  for (std::size_t at = 0; at < wire.size() && !failed && !parser->is_done(); at += read_size) {
    inbuf += wire.substr(at, read_size);
    for (;;) {
      if (parser->is_done() || inbuf.empty()) break;
      if (!parser->is_header_done() && !status_line_seen) {
        if (inbuf.find('\n') == std::string::npos && inbuf.size() < fh::client::kHeaderLimit) break;
        status_line_seen = true;
        (void)fh::client::repair_status_line(inbuf);
      }
      parser->get().body().data = body;
      parser->get().body().size = sizeof body;
      boost::beast::error_code ec;
      const std::size_t used = parser->put(boost::asio::buffer(inbuf), ec);
      const std::size_t got = sizeof body - parser->get().body().size;
      body_bytes += got;
      inbuf.erase(0, used);
      if (parser->is_header_done()) {
        const unsigned status = parser->get().result_int();
        if (status / 100 == 1 && status != 101) {
          reset(parser, head);
          status_line_seen = false;
          continue;
        }
      }
      if (ec == http::error::need_buffer) continue;
      if (ec == http::error::need_more && parser->is_header_done() &&
          inbuf.size() > fh::client::kUnparsedLimit) {
        failed = true;  // HttpClient::feed: a protocol error
        break;
      }
      if (ec == http::error::need_more) break;
      if (ec) {
        failed = true;
        break;
      }
      if (used == 0 && got == 0 && !parser->is_done()) break;
    }
  }
  if (!failed && parser->is_header_done() && !parser->is_done()) {
    boost::beast::error_code ec;
    parser->put_eof(ec);
  }
  FH_FUZZ_CHECK(body_bytes <= wire.size(), "no more body bytes than bytes fed");
  return 0;
}

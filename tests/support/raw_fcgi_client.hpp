// A raw FastCGI client for tests that drive a backend byte by byte: builders for the records
// of a RESPONDER request (§6.2) and a client that writes bytes and decodes whatever comes back,
// recording when each record arrived. Built on the codec only; every wait is bounded by the
// caller's io.run_for.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/fcgi.hpp"
#include "net/address.hpp"

namespace fh::test_support {

namespace asio = boost::asio;

inline constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

inline fcgi::Bytes encoded(const fcgi::Record& r) {
  return fcgi::encode_record(r).value();
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(kAwait);
}

inline fcgi::Bytes begin(std::uint16_t id, std::uint8_t flags = 0,
                         fcgi::Role role = fcgi::Role::Responder) {
  return encoded(fcgi::make_begin_request(id, role, flags));
}

inline fcgi::Bytes params(std::uint16_t id, const std::string& query,
                          const std::string& method = "GET") {
  const fcgi::NameValues p = {{"SCRIPT_NAME", "/probe"},
                              {"REQUEST_METHOD", method},
                              {"QUERY_STRING", query},
                              {"SERVER_PROTOCOL", "HTTP/1.1"}};
  return fcgi::encode_all(
      fcgi::make_stream(fcgi::RecordType::Params, id, fcgi::encode_name_values(p), true));
}

inline fcgi::Bytes stdin_stream(std::uint16_t id, std::string_view body) {
  return fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Stdin, id, body, true));
}

/// A whole RESPONDER request: BEGIN_REQUEST, PARAMS, STDIN (§6.2).
inline fcgi::Bytes request(std::uint16_t id, const std::string& query, std::string_view body = {},
                           std::uint8_t flags = 0) {
  return begin(id, flags) + params(id, query, body.empty() ? "GET" : "POST") +
         stdin_stream(id, body);
}

/// The CGI head and the body of a STDOUT stream.
inline std::pair<std::string, std::string> split_head(const std::string& out) {
  const auto at = out.find("\r\n\r\n");
  if (at == std::string::npos) return {out, {}};
  return {out.substr(0, at + 4), out.substr(at + 4)};
}

struct Received {
  std::chrono::steady_clock::time_point at;
  fcgi::Record record;
};

/// What the client does with a record its stream assembler rejects (a stray request id, a
/// second terminator...): a test of the correct backend fails on it; a fault test, whose
/// backend sends such records on purpose, keeps the record and reads on.
enum class StreamErrors { fail, ignore };

/// A raw FastCGI client: writes bytes, decodes whatever comes back.
class RawClient {
 public:
  explicit RawClient(asio::io_context& io, StreamErrors stream_errors = StreamErrors::fail)
      : socket_(io), stream_errors_(stream_errors) {}

  asio::awaitable<void> connect(const net::Address& address) {
    co_await socket_.async_connect(address.endpoint(), asio::use_awaitable);
  }
  asio::awaitable<void> send(const fcgi::Bytes& bytes) {
    co_await asio::async_write(socket_, asio::buffer(bytes), asio::use_awaitable);
  }

  /// One read; records what ended the connection, if it ended.
  asio::awaitable<void> read_some() {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer_), kAwait);
    if (ec == asio::error::eof) {
      eof = true;
      co_return;
    }
    if (ec) {
      error = ec;
      co_return;
    }
    std::vector<fcgi::Record> got;
    auto decode_error = decoder_.feed(std::string_view(buffer_.data(), n), got);
    EXPECT_FALSE(decode_error) << decode_error->message;
    for (auto& r : got) {
      if (stream_errors_ == StreamErrors::fail) {
        EXPECT_FALSE(streams.add(r));
      } else {
        (void)streams.add(r);
      }
      received.push_back({std::chrono::steady_clock::now(), std::move(r)});
    }
  }
  bool ended() const { return eof || error; }
  asio::awaitable<void> read_until(const std::function<bool()>& done) {
    while (!done() && !ended()) co_await read_some();
  }
  asio::awaitable<void> read_until_end_request(std::uint16_t id) {
    co_await read_until([&] { return end_request(id) != nullptr; });
  }
  asio::awaitable<void> read_until_closed() {
    co_await read_until([] { return false; });
  }

  const fcgi::Record* end_request(std::uint16_t id) const {
    for (const auto& r : received)
      if (r.record.is(fcgi::RecordType::EndRequest) && r.record.request_id == id) return &r.record;
    return nullptr;
  }
  std::optional<fcgi::EndRequestBody> end_body(std::uint16_t id) const {
    const auto* r = end_request(id);
    if (!r) return std::nullopt;
    auto b = fcgi::decode_end_request(*r);
    EXPECT_TRUE(b.ok());
    return b.value();
  }
  const fcgi::Record* first_of(fcgi::RecordType type) const {
    for (const auto& r : received)
      if (r.record.is(type)) return &r.record;
    return nullptr;
  }
  std::string stream(std::uint16_t id, fcgi::RecordType type) const {
    const auto* s = streams.find(id, type);
    return s ? s->data : std::string();
  }
  bool stream_ended(std::uint16_t id, fcgi::RecordType type) const {
    const auto* s = streams.find(id, type);
    return s && s->ended;
  }
  std::string body(std::uint16_t id) const {
    return split_head(stream(id, fcgi::RecordType::Stdout)).second;
  }
  std::string head(std::uint16_t id) const {
    return split_head(stream(id, fcgi::RecordType::Stdout)).first;
  }

  net::Socket& socket() { return socket_; }
  const fcgi::RecordDecoder& decoder() const { return decoder_; }

  std::vector<Received> received;
  fcgi::StreamAssembler streams;
  bool eof = false;
  boost::system::error_code error;

 private:
  net::Socket socket_;
  StreamErrors stream_errors_;
  std::vector<char> buffer_ = std::vector<char>(64 * 1024);
  fcgi::RecordDecoder decoder_;
};

}  // namespace fh::test_support

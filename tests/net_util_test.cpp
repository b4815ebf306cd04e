// Leaf rooms: address parsing/printing, listening on tcp and unix sockets, SHA-256.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "net/address.hpp"
#include "tests/support/temp_dir.hpp"
#include "util/sha256.hpp"

namespace fh {
namespace {

namespace fs = std::filesystem;

using test_support::TempDir;

TEST(net_util_address, RoundTrips) {
  for (std::string_view text :
       {"127.0.0.1:80", "[::1]:8080", "unix:/tmp/x.sock", "0.0.0.0:0", "127.0.0.1:65535"}) {
    auto a = net::Address::parse(text);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(a->to_string(), text);
  }
}

TEST(net_util_address, ParsedFields) {
  auto v4 = net::Address::parse("127.0.0.1:80");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_tcp());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 80);

  auto v6 = net::Address::parse("[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->is_tcp());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);

  auto ux = net::Address::parse("unix:/tmp/x.sock");
  ASSERT_TRUE(ux);
  EXPECT_FALSE(ux->is_tcp());
  EXPECT_EQ(ux->kind, net::Address::Kind::unix_socket);
  EXPECT_EQ(ux->path, "/tmp/x.sock");
}

TEST(net_util_address, Rejects) {
  for (std::string_view text : {"localhost:80", "1.2.3.4", "1.2.3.4:70000", "1.2.3.4:", "",
                                "unix:", "1.2.3.4:-1", "1.2.3.4:80x", "[::1]", "::1:80x"}) {
    EXPECT_FALSE(net::Address::parse(text)) << text;
  }
}

TEST(net_util_address, FactoriesPrint) {
  EXPECT_EQ(net::Address::tcp("10.0.0.1", 9000).to_string(), "10.0.0.1:9000");
  EXPECT_EQ(net::Address::tcp("::1", 9).to_string(), "[::1]:9");
  EXPECT_EQ(net::Address::unix_socket("/run/a.sock").to_string(), "unix:/run/a.sock");
}

TEST(net_util_listen, TcpPortZeroPicksAPort) {
  boost::asio::io_context io;
  const auto requested = net::Address::tcp("127.0.0.1", 0);
  auto acceptor = net::listen(io.get_executor(), requested);
  EXPECT_TRUE(acceptor.is_open());
  const auto actual = net::local_address(acceptor, requested);
  EXPECT_TRUE(actual.is_tcp());
  EXPECT_EQ(actual.host, "127.0.0.1");
  EXPECT_NE(actual.port, 0);
}

TEST(net_util_listen, UnixSocketAndStaleFile) {
  TempDir dir("fh_net_util");
  const std::string path = (dir.path() / "backend.sock").string();
  {
    std::ofstream stale(path);  // a leftover file where the socket goes
    stale << "stale";
  }
  ASSERT_TRUE(fs::exists(path));

  boost::asio::io_context io;
  const auto requested = net::Address::unix_socket(path);
  auto acceptor = net::listen(io.get_executor(), requested);
  EXPECT_TRUE(acceptor.is_open());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(net::local_address(acceptor, requested).to_string(), "unix:" + path);

  // Listening again on the same path (the old socket file is now stale) also works.
  acceptor.close();
  auto again = net::listen(io.get_executor(), requested);
  EXPECT_TRUE(again.is_open());
}

TEST(net_util_sha256, KnownVectors) {
  EXPECT_EQ(util::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(util::sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(net_util_sha256, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  util::Sha256 h;
  for (std::size_t pos = 0, step = 1; pos < data.size(); pos += step, step = step * 3 % 4099 + 1)
    h.update(std::string_view(data).substr(pos, step));
  EXPECT_EQ(h.hex_digest(), util::sha256_hex(data));

  util::Sha256 abc;
  abc.update("a");
  abc.update("");
  abc.update("bc");
  EXPECT_EQ(abc.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(net_util_sha256, Movable) {
  util::Sha256 a;
  a.update("ab");
  util::Sha256 b(std::move(a));
  b.update("c");
  EXPECT_EQ(b.hex_digest(), util::sha256_hex("abc"));
}

}  // namespace
}  // namespace fh

// The independent check of our FastCGI decoder: tshark's own dissector on a saved pcapng.
#pragma once

#include <gtest/gtest.h>
#include <stdio.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fh::test_support {

/// Runs `command` with sh; returns its stdout, `status` as pclose gives it.
inline std::string run_command(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    status = -1;
    return out;
  }
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  status = ::pclose(pipe);
  return out;
}

/// Every FastCGI record tshark finds in `pcapng` (decoding TCP port `backend_port` as fcgi),
/// as "type id content_length", per direction: 0 towards the backend, 1 from it. A missing
/// tshark or a tshark failure is a test failure (never a skip): the decoder must be checked.
inline std::map<int, std::vector<std::string>> tshark_fcgi_records(const std::string& pcapng,
                                                                   std::uint16_t backend_port) {
  std::map<int, std::vector<std::string>> records;
  int status = 0;
  run_command("command -v tshark >/dev/null 2>&1", status);
  EXPECT_EQ(status, 0) << "tshark is not installed: apt-get install tshark (ci/install-peers.sh "
                          "installs it); the decoder must be checked against it";
  if (status != 0) return records;
  const std::string port = std::to_string(backend_port);
  const std::string out = run_command("tshark -r '" + pcapng + "' -d tcp.port==" + port +
                                          ",fcgi -Y fcgi -T fields -e tcp.srcport -e fcgi.type"
                                          " -e fcgi.id -e fcgi.content.length 2>/dev/null",
                                      status);
  EXPECT_EQ(status, 0) << out;
  auto split = [](const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
    return parts;
  };
  // One line per segment; a segment holding several records lists each field comma-separated.
  for (const auto& line : split(out, '\n')) {
    auto fields = split(line, '\t');
    if (fields.size() < 4) continue;
    const int direction = fields[0] == port ? 1 : 0;
    auto types = split(fields[1], ','), ids = split(fields[2], ','),
         lengths = split(fields[3], ',');
    EXPECT_EQ(types.size(), ids.size()) << line;
    EXPECT_EQ(types.size(), lengths.size()) << line;
    for (std::size_t i = 0; i < types.size() && i < ids.size() && i < lengths.size(); ++i)
      records[direction].push_back(types[i] + " " + ids[i] + " " + lengths[i]);
  }
  return records;
}

}  // namespace fh::test_support

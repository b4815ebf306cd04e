// Codec throughput: how fast a 16 MiB STDOUT stream decodes, whole and in small reads.
// Run: cmake --preset release -DFH_BENCH=ON && cmake --build build --target codec_bench &&
//      build/bench/codec_bench
#include <benchmark/benchmark.h>

#include "codec/fcgi.hpp"

namespace {

const fh::fcgi::Bytes& stream_16mib() {
  static const auto bytes = [] {
    const std::string body(16 << 20, 'x');
    return fh::fcgi::encode_all(fh::fcgi::make_stream(fh::fcgi::RecordType::Stdout, 1, body, true));
  }();
  return bytes;
}

void BM_DecodeStdout16MiB(benchmark::State& state) {
  const auto& bytes = stream_16mib();
  const auto read_size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    fh::fcgi::RecordDecoder decoder;
    std::vector<fh::fcgi::Record> records;
    for (std::size_t at = 0; at < bytes.size(); at += read_size)
      decoder.feed(std::string_view(bytes).substr(at, read_size), records);
    benchmark::DoNotOptimize(records.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_DecodeStdout16MiB)->Arg(1 << 20)->Arg(64 << 10)->Arg(4 << 10);

void BM_EncodeStdout16MiB(benchmark::State& state) {
  const std::string body(16 << 20, 'x');
  for (auto _ : state) {
    auto bytes =
        fh::fcgi::encode_all(fh::fcgi::make_stream(fh::fcgi::RecordType::Stdout, 1, body, true));
    benchmark::DoNotOptimize(bytes.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_EncodeStdout16MiB);

}  // namespace

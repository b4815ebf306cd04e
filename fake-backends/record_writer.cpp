// A connection's output (see backend.hpp): whole records under one FIFO write lock, so
// records never interleave mid-record and a responder knows exactly how many body bytes are on
// the wire, which the body_bytes trigger needs. Shapes come from faults/record_shapes.cpp
// (record_size, padding, segments) and faults/odd_records.cpp (the STDERR interleave).
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "fake-backends/backend.hpp"
#include "fake-backends/backend_events.hpp"

namespace fh::fake {

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
const std::string kZeros(255, '\0');

std::string_view stderr_view(std::size_t length) {
  static const std::string block(fcgi::kMaxContentLength, 'E');
  return std::string_view(block).substr(0, length);
}

void wire_parts(OutRecord& rec, std::vector<asio::const_buffer>& out) {
  fcgi::Header h;
  h.type = rec.type;
  h.request_id = rec.id;
  h.content_length = static_cast<std::uint16_t>(rec.content.size());
  h.padding_length = rec.padding;
  fcgi::encode_header(h, rec.header.data());
  out.push_back(asio::buffer(rec.header));
  if (!rec.content.empty()) out.push_back(asio::buffer(rec.content.data(), rec.content.size()));
  if (rec.padding) out.push_back(asio::buffer(kZeros.data(), rec.padding));
}

}  // namespace

struct RecordWriter::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool granted = false;
};

struct Unlocker {
  RecordWriter* writer;
  ~Unlocker() { writer->unlock(); }
};

RecordWriter::RecordWriter(Connection& connection)
    : c_(connection), segment_timer_(connection.socket.get_executor()) {}

void RecordWriter::cancel() {
  segment_timer_.cancel();
  for (auto& w : waiters_) w->timer.cancel();
  waiters_.clear();
  pending_.clear();
}

asio::awaitable<bool> RecordWriter::lock() {
  if (c_.closed()) co_return false;
  if (!writing_) {
    writing_ = true;
    co_return true;
  }
  auto w = std::make_shared<Waiter>(c_.ex);
  w->timer.expires_at(Clock::time_point::max());
  waiters_.push_back(w);
  co_await w->timer.async_wait(kAwait);  // woken by unlock (granted) or close
  if (!w->granted) co_return false;
  if (c_.closed()) {
    unlock();
    co_return false;
  }
  co_return true;
}

void RecordWriter::unlock() {
  if (!waiters_.empty()) {
    auto w = waiters_.front();
    waiters_.pop_front();
    w->granted = true;  // ownership passes on; `writing_` stays set
    w->timer.cancel();
    return;
  }
  writing_ = false;
}

// One async_write; the caller holds the write lock and keeps the buffers alive.
asio::awaitable<bool> RecordWriter::raw_write(const std::vector<asio::const_buffer>& buffers) {
  if (!co_await c_.gate(true)) co_return false;
  if (c_.shut()) co_return false;
  auto [ec, n] = co_await asio::async_write(c_.socket, buffers, kAwait);
  if (ec) {
    if (!c_.closed()) {
      c_.log(0, backend_events::write_error, ec.message());
      c_.release_requests("write_error");
      c_.close_connection("write_error", false);
    }
    co_return false;
  }
  co_return !c_.closed() && !c_.shut();
}

// Writes what faults queued; the caller holds the write lock, between records.
asio::awaitable<bool> RecordWriter::flush_pending() {
  while (!pending_.empty() && !c_.closed()) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    std::vector<asio::const_buffer> buffers{asio::buffer(p.bytes)};
    if (!co_await raw_write(buffers)) co_return false;
    c_.log(p.id, *p.when_written, p.detail);
    if (p.when_written == &backend_events::end_request_sent) {
      // An early END_REQUEST is the request's end_request_sent: its faults act now.
      if (auto it = c_.requests.find(p.id); it != c_.requests.end())
        c_.offer(backend_events::end_request_sent, it->second->triggers, it->second->index, p.id);
    }
  }
  co_return !c_.closed();
}

asio::awaitable<void> RecordWriter::flush_later() {
  if (!co_await lock()) co_return;
  Unlocker unlocker{this};
  co_await flush_pending();
}

void RecordWriter::queue(fcgi::Bytes bytes, std::uint16_t id, const events::EventDecl& when_written,
                         std::string detail) {
  pending_.push_back(Pending{std::move(bytes), id, &when_written, std::move(detail)});
  spawn(c_.ex, flush_later());
}

// One locked write of `buffers` after whatever faults queued.
asio::awaitable<bool> RecordWriter::write(std::vector<asio::const_buffer> buffers) {
  if (!co_await lock()) co_return false;
  Unlocker unlocker{this};
  if (!co_await flush_pending()) co_return false;
  co_return co_await raw_write(buffers);
}

asio::awaitable<bool> RecordWriter::write_bytes(const fcgi::Bytes& bytes) {
  std::vector<asio::const_buffer> buffers;
  buffers.push_back(asio::buffer(bytes));
  co_return co_await write(std::move(buffers));
}

OutRecord RecordWriter::make_record(fcgi::RecordType type, std::uint16_t id,
                                    std::string_view content) const {
  OutRecord rec;
  rec.type = static_cast<std::uint8_t>(type);
  rec.id = id;
  rec.content = content;
  rec.padding = c_.padding_for(content.size());
  return rec;
}

// Records for bytes [from, to) of `source`: at most record_size content each (§3.3), split
// where a body_bytes trigger acts, and with the STDERR interleave after every K body bytes.
std::vector<OutRecord> RecordWriter::plan_stream(fcgi::RecordType type, std::uint16_t id,
                                                 const ByteSource& source, std::uint64_t from,
                                                 std::uint64_t to, const Request* body) const {
  std::vector<OutRecord> out;
  const std::uint64_t size = c_.cfg().shape.content_limit();
  const auto& interleave = c_.cfg().stderr_interleave;
  std::uint64_t at = from;
  while (at < to) {
    std::uint64_t end = std::min(to, at + size);
    if (body) {
      end = c_.body_split(*body, at, end);
      end = interleave.limit(at, end);
    }
    auto rec = make_record(type, id, source(at, static_cast<std::size_t>(end - at)));
    rec.body = body != nullptr;
    rec.body_from = at;
    out.push_back(rec);
    at = end;
    if (body && interleave.due_after(at)) {
      // FastCGI 1.0 §6.1: STDERR may be interleaved with STDOUT at record boundaries.
      out.push_back(make_record(fcgi::RecordType::Stderr, id,
                                stderr_view(static_cast<std::size_t>(std::min<std::uint64_t>(
                                    interleave.bytes, fcgi::kMaxContentLength)))));
    }
  }
  return out;
}

// Wire offsets inside `rec` where a write must end: segment boundaries and the points where
// mid-record body_bytes faults act.
std::vector<std::size_t> RecordWriter::split_points(const OutRecord& rec, const Request* r) const {
  const auto segments = c_.cfg().shape.segment_ends(rec.wire_size());
  std::set<std::size_t> points(segments.begin(), segments.end());
  if (rec.body && r)
    for (auto at : c_.mid_record_thresholds(*r, rec.body_from, rec.body_from + rec.content.size()))
      points.insert(fcgi::kHeaderLength + static_cast<std::size_t>(at - rec.body_from));
  return {points.begin(), points.end()};
}

// Writes `records` under the write lock: consecutive plain records in one write, records
// with split points as separate writes (segment_delay_ms between segments). Body triggers
// act when exactly their byte count is on the wire.
asio::awaitable<bool> RecordWriter::write_records(Request* r, std::vector<OutRecord> records) {
  if (!co_await lock()) co_return false;
  Unlocker unlocker{this};
  if (!co_await flush_pending()) co_return false;
  const auto& shape = c_.cfg().shape;
  std::vector<asio::const_buffer> batch;
  std::uint64_t batch_body_end = 0;
  bool batch_has_body = false;
  for (auto& rec : records) {
    const auto points = split_points(rec, r);
    if (points.empty()) {
      wire_parts(rec, batch);
      if (rec.body) {
        batch_has_body = true;
        batch_body_end = rec.body_from + rec.content.size();
      }
      // A body_bytes trigger acts exactly at its byte count: end the write there.
      if (!rec.body || !r || c_.body_split(*r, batch_body_end - 1, UINT64_MAX) != batch_body_end)
        continue;
    }
    if (!batch.empty()) {
      if (!co_await raw_write(batch)) co_return false;
      batch.clear();
      if (batch_has_body && r) {
        r->body_written = batch_body_end;
        c_.offer_body(*r);
        if (c_.closed()) co_return false;
      }
      batch_has_body = false;
      if (!co_await flush_pending()) co_return false;
    }
    if (points.empty()) continue;
    // This record in parts.
    std::vector<asio::const_buffer> whole;
    wire_parts(rec, whole);
    std::size_t done = 0;
    const auto segments = shape.segment_ends(SIZE_MAX);
    const std::set<std::size_t> segment_ends(segments.begin(), segments.end());
    for (std::size_t i = 0; i <= points.size(); ++i) {
      const std::size_t end = i < points.size() ? points[i] : rec.wire_size();
      std::vector<asio::const_buffer> part;
      std::size_t offset = 0;
      for (const auto& b : whole) {
        const std::size_t b_end = offset + b.size();
        const std::size_t lo = std::max(offset, done), hi = std::min(b_end, end);
        if (lo < hi)
          part.push_back(asio::buffer(static_cast<const char*>(b.data()) + (lo - offset), hi - lo));
        offset = b_end;
      }
      if (!co_await raw_write(part)) co_return false;
      done = end;
      if (rec.body && r && done > fcgi::kHeaderLength) {
        r->body_written =
            rec.body_from + std::min<std::uint64_t>(done - fcgi::kHeaderLength, rec.content.size());
        c_.offer_body(*r, /*mid_record=*/true);
        if (c_.closed() || c_.shut()) co_return false;
      }
      if (end < rec.wire_size() && segment_ends.count(end) && shape.segment_delay_ms) {
        segment_timer_.expires_after(std::chrono::milliseconds(shape.segment_delay_ms));
        co_await segment_timer_.async_wait(kAwait);
        if (c_.closed()) co_return false;
      }
    }
    if (!co_await flush_pending()) co_return false;
  }
  if (!batch.empty()) {
    if (!co_await raw_write(batch)) co_return false;
    if (batch_has_body && r) {
      r->body_written = batch_body_end;
      c_.offer_body(*r);
    }
  }
  co_return !c_.closed() && !c_.shut();
}

asio::awaitable<bool> RecordWriter::write_stream(fcgi::RecordType type, std::uint16_t id,
                                                 const ByteSource& source, std::uint64_t from,
                                                 std::uint64_t to, Request* body) {
  co_return co_await write_records(body, plan_stream(type, id, source, from, to, body));
}

}  // namespace fh::fake

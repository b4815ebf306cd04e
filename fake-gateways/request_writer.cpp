// The request to the backend (FastCGI 1.0 §5.1-5.3): BEGIN_REQUEST, PARAMS, the body as
// STDIN and the empty STDIN, in the writes of the gateway's personality, shaped by the body
// shaping family (pace, record size, segments), the terminator timing family (normal,
// doubled, missing, late) and cut short by the abort family.
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "fake-gateways/gateway.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

using boost::system::error_code;
namespace ev = gateway_events;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// A write after the peer's RST may succeed into the send buffer; the RST is then only in the
// socket's error state (Linux), so look there too.
error_code socket_error(net::Socket& socket) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
      error != 0)
    return error_code(error, boost::system::system_category());
  return {};
}

}  // namespace

bool RequestWriter::may_write() const {
  return !*abort_flag_ && !aborted_ && phase_ != Phase::failed;
}

asio::awaitable<void> RequestWriter::run() {
  try {
    co_await send_records();
  } catch (const boost::system::system_error& e) {
    // Cancelled because a sibling of the exchange ended with an exception: that one reports.
    if (e.code() != asio::error::operation_aborted)
      x_.state().internal_error("request writer", e.what());
  } catch (const std::exception& e) {
    x_.state().internal_error("request writer", e.what());
  }
  if (phase_ == Phase::writing) phase_ = Phase::gave_up;
  x_.poke();
}

asio::awaitable<void> RequestWriter::send_records() {
  const auto& config = x_.config();
  const auto& traits = x_.traits();
  const auto id = x_.request_id();
  const std::uint8_t flags = config.keep_conn ? fcgi::kKeepConn : std::uint8_t{0};
  fcgi::append_record(fcgi::make_begin_request(id, fcgi::Role::Responder, flags), out_);
  if (traits.begin_separate && !co_await flush(false)) co_return;
  auto params = cgi::build_params(x_.request_info());
  apply_personality_params(config.personality, traits, params);
  const auto& shape = config.records;
  params.insert(params.end(), shape.extra_params.begin(), shape.extra_params.end());
  auto param_records = fcgi::make_stream(
      fcgi::RecordType::Params, id, fcgi::encode_name_values(params), true,
      shape.params_record_size ? shape.params_record_size : fcgi::kMaxContentLength, traits.align8);
  shape.pad(param_records, records_padded_);
  for (const auto& record : param_records) {
    fcgi::append_record(record, out_);
    if (traits.record_per_write && !co_await flush(false)) co_return;
  }
  // nginx and lighttpd put the whole (buffered) request in one write when it is small.
  hold_ = x_.body_buffered() && !config.body.pace && !config.stdin_terminator.late() &&
          config.body.stdin_segments.empty() && !x_.abort_plan() &&
          out_.size() + x_.buffered_body().size() + 64 <= traits.whole_request_limit;
  const std::string params_detail = std::to_string(params.size()) + " params";
  if (!hold_) {
    if (!co_await flush(false)) co_return;
    x_.note(ev::params_sent, params_detail);
  }
  if (co_await abort_due()) co_return;

  auto& parser = x_.parser();
  if (x_.body_buffered()) {
    if (!co_await send_stdin(x_.buffered_body(), true)) co_return;
  } else {
    while (!parser.is_done() && !x_.abandoned() && !x_.client_gone() && !x_.stopped()) {
      auto got = co_await x_.read_body_some();
      if (!got) break;
      // A backend that already answered or failed gets no more; the body is still read off
      // the client connection so that it can carry the next request.
      if (phase_ != Phase::failed && !x_.relay().over() && !aborted_)
        co_await send_stdin(x_.body_piece(*got), parser.is_done());
    }
  }
  if (x_.client_gone() && !x_.relay().over()) {
    x_.client_left_mid_request();
    co_return;
  }
  if (hold_) {  // the whole request at once
    // No body: the empty STDIN still ends the request, in the same write (as nginx does).
    if (x_.buffered_body().empty() && traits.terminator_with_last_data &&
        config.stdin_terminator.count > 0)
      terminator_pending_ = true;
    const bool terminated = terminator_pending_;
    if (terminated) append_terminator();
    if (!co_await flush(true)) co_return;
    x_.note(ev::params_sent, params_detail);
    if (stdin_sent_) x_.note(ev::stdin_bytes_sent, std::to_string(stdin_sent_), stdin_sent_);
    if (terminated) note_terminator_sent();
    co_return;
  }
  if (terminator_pending_) {  // with the last data, as the personality writes it
    append_terminator();
    if (co_await flush(true)) note_terminator_sent();
    co_return;
  }
  if (request_out() || aborted_ || phase_ == Phase::failed || !parser.is_done()) co_return;
  co_await send_terminator();
}

// One piece of body: cut by body_pace and the abort point, encoded as STDIN records.
asio::awaitable<bool> RequestWriter::send_stdin(std::string_view data, bool last) {
  const auto& config = x_.config();
  const auto& traits = x_.traits();
  const auto& pace = config.body.pace;
  while (!data.empty()) {
    if (!may_write() || x_.stopped()) co_return false;
    std::size_t take = data.size();
    if (pace && pace->bytes) {
      if (paced_before_) {
        Exchange::ClientWait wait(x_);  // our own pacing is not backend silence
        co_await x_.pause(std::chrono::milliseconds(pace->every_ms));
      }
      paced_before_ = true;
      take = static_cast<std::size_t>(std::min<std::uint64_t>(take, pace->bytes));
    }
    if (const auto* abort = x_.abort_plan();
        abort && abort->at.is(language::Counter::stdin_bytes) && stdin_sent_ < abort->at.amount)
      take =
          static_cast<std::size_t>(std::min<std::uint64_t>(take, abort->at.amount - stdin_sent_));
    const auto piece = data.substr(0, take);
    data.remove_prefix(take);
    auto records = fcgi::make_stream(fcgi::RecordType::Stdin, x_.request_id(), piece, false,
                                     traits.stdin_record_size, traits.align8);
    config.records.pad(records, records_padded_);
    const bool final_piece = last && data.empty();
    if (traits.record_per_write) {
      for (const auto& record : records) {
        fcgi::append_record(record, out_);
        if (!co_await flush(true)) co_return false;
      }
    } else {
      for (const auto& record : records) fcgi::append_record(record, out_);
    }
    if (final_piece && traits.terminator_with_last_data && !config.stdin_terminator.late() &&
        !config.body.pace && config.stdin_terminator.count > 0) {
      terminator_pending_ = true;  // written with this data by the caller
      stdin_sent_ += take;
      co_return true;
    }
    if (hold_) {
      stdin_sent_ += take;
      continue;
    }
    if (!co_await flush(true)) co_return false;
    stdin_sent_ += take;
    x_.note(ev::stdin_bytes_sent, std::to_string(take) + " bytes", stdin_sent_);
    if (co_await abort_due()) co_return false;
  }
  co_return true;
}

// Writes `out_` (one write, or the stdin_segments split) and publishes a failure.
asio::awaitable<bool> RequestWriter::flush(bool has_stdin) {
  if (out_.empty()) co_return true;
  fcgi::Bytes bytes = std::move(out_);
  out_.clear();
  if (!may_write()) co_return false;
  std::vector<std::string_view> pieces;
  const std::string_view all(bytes);
  const auto& segments = x_.config().body.stdin_segments;
  if (has_stdin && !segments.empty()) {
    std::size_t at = 0;
    for (std::size_t i = 0; at < all.size(); ++i) {
      const std::size_t size = std::max<std::size_t>(1, segments[std::min(i, segments.size() - 1)]);
      pieces.push_back(all.substr(at, size));
      at += size;
    }
  } else {
    pieces.push_back(all);
  }
  write_in_progress_ = true;
  error_code failure;
  for (const auto piece : pieces) {
    auto result = co_await asio::async_write(x_.backend().socket, asio::buffer(piece), kUseTuple);
    failure = std::get<0>(result);
    if (!failure) failure = socket_error(x_.backend().socket);
    if (failure) break;
    x_.note(ev::backend_bytes_written, {}, piece.size());  // one write: personalities differ here
    x_.touch();
  }
  write_in_progress_ = false;
  x_.poke();
  if (!failure) co_return true;
  co_await on_write_error(failure, has_stdin);
  co_return false;
}

asio::awaitable<void> RequestWriter::on_write_error(error_code ec, bool has_stdin) {
  phase_ = Phase::failed;
  if (x_.relay().over() || x_.stopped() || aborted_) co_return;
  x_.note(ev::backend_write_error, errno_name(ec), static_cast<std::uint64_t>(ec.value()));
  if (!has_stdin || x_.relay().head() == ResponseRelay::Head::sent || x_.client_gone()) co_return;
  // The correct gateway keeps reading: the relay delivers a complete response or answers
  // 502. An emulated bug may answer instead (Apache's 503, nginx's empty 200: seed 001).
  for (const auto& bug : x_.config().bugs) {
    if (auto answer = bug->on_stdin_write_error(x_.facts(), errno_name(ec))) {
      co_await x_.answer_bug(*bug, *answer);
      co_return;
    }
  }
}

void RequestWriter::append_terminator() {
  std::vector<fcgi::Record> records(
      x_.config().stdin_terminator.count,
      fcgi::make_stream_record(fcgi::RecordType::Stdin, x_.request_id(), ""));
  x_.config().records.pad(records, records_padded_);
  for (const auto& record : records) fcgi::append_record(record, out_);
}

void RequestWriter::note_terminator_sent() {
  phase_ = Phase::sent;
  const auto count = x_.config().stdin_terminator.count;
  x_.note(ev::stdin_terminator_sent,
          std::to_string(stdin_sent_) + " body bytes" + (count > 1 ? ", doubled" : ""), count);
  x_.poke();
}

// The empty STDIN on its own: late (at its trigger), doubled, or missing.
asio::awaitable<void> RequestWriter::send_terminator() {
  const auto& plan = x_.config().stdin_terminator;
  if (plan.count == 0) {
    phase_ = Phase::withheld;
    x_.note(ev::stdin_terminator_withheld, std::to_string(stdin_sent_) + " body bytes");
    x_.poke();
    co_return;
  }
  if (plan.at.kind == language::Trigger::Kind::event) {
    Exchange::ClientWait wait(x_);
    if (!co_await x_.wait_event(plan.at, x_.config().backend_timeout_ms, false)) {
      if (!x_.stopped() && !x_.abandoned())
        x_.note(ev::stdin_terminator_withheld, plan.at.event.to_string() + " did not happen");
      phase_ = Phase::withheld;
      x_.poke();
      co_return;
    }
  }
  if (plan.at.delay_ms) {
    Exchange::ClientWait wait(x_);
    co_await x_.pause(std::chrono::milliseconds(plan.at.delay_ms));
  }
  if (x_.stopped() || x_.abandoned() || aborted_ || !x_.backend().socket.is_open()) co_return;
  append_terminator();
  if (co_await flush(true)) note_terminator_sent();
}

// ------------------------------------------------------------------ abort

// True when the abort point by body bytes is reached (then the abort was done).
asio::awaitable<bool> RequestWriter::abort_due() {
  const auto* abort = x_.abort_plan();
  if (!abort || !abort->at.is(language::Counter::stdin_bytes) || stdin_sent_ < abort->at.amount ||
      aborted_)
    co_return aborted_;
  if (abort->at.delay_ms) co_await x_.pause(std::chrono::milliseconds(abort->at.delay_ms));
  co_await do_abort("after " + std::to_string(stdin_sent_) + " body bytes");
  co_return true;
}

asio::awaitable<void> RequestWriter::abort_watch() {
  const auto* abort = x_.abort_plan();
  if (!abort || abort->at.kind != language::Trigger::Kind::event) co_return;
  auto* bus = x_.config().bus;
  if (!bus) co_return;
  // The flag is set inside the publisher's handler, so the writer stops before its next
  // write: "abort at X" means nothing of the request follows X.
  std::weak_ptr<bool> flag = abort_flag_;
  const bool immediate = abort->at.delay_ms == 0;
  auto seen = std::make_shared<language::TriggerState>();
  const auto trigger = abort->at;
  const int id =
      bus->subscribe(trigger.event, [flag, immediate, seen, trigger](const events::Event& e) {
        if (!seen->offer_event(trigger, e)) return;
        if (auto f = flag.lock(); f && immediate) *f = true;
      });
  const bool hit = co_await x_.wait_event(trigger, 0, true);
  bus->unsubscribe(id);
  if (!hit || x_.relay().over() || x_.stopped()) co_return;
  if (abort->at.delay_ms) co_await x_.pause(std::chrono::milliseconds(abort->at.delay_ms));
  *abort_flag_ = true;
  co_await do_abort("after " + trigger.event.to_string());
}

asio::awaitable<void> RequestWriter::do_abort(std::string why) {
  if (aborted_ || x_.relay().over() || x_.stopped()) co_return;
  aborted_ = true;
  *abort_flag_ = true;
  x_.poke();
  co_await x_.wait_until([this] { return !write_in_progress_; });
  if (x_.relay().over() || x_.stopped()) co_return;
  const auto how = x_.abort_plan()->how;
  if (how == AbortPlan::How::abort_request) {
    // FastCGI 1.0 §5.4: the application answers with END_REQUEST; keep relaying.
    fcgi::Bytes bytes;
    fcgi::append_record(fcgi::make_abort_request(x_.request_id()), bytes);
    auto [ec, n] = co_await asio::async_write(x_.backend().socket, asio::buffer(bytes), kUseTuple);
    if (ec) {
      x_.note(ev::backend_write_error, errno_name(ec), static_cast<std::uint64_t>(ec.value()));
    } else {
      x_.note(ev::abort_request_sent, why);
    }
    co_return;
  }
  error_code ignored;
  if (how == AbortPlan::How::reset)
    x_.backend().socket.set_option(asio::socket_base::linger(true, 0), ignored);  // RST
  x_.note(ev::backend_closed_by_gateway,
          (how == AbortPlan::How::reset ? "reset " : "close ") + why);
  x_.close_backend();
}

}  // namespace fh::fake

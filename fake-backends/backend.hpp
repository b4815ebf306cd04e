// The fake backend's insides, shared by its parts (listener.cpp, reader.cpp,
// record_writer.cpp, responder.cpp, triggers.cpp). Not included outside fake-backends/.
//
// Shape: one accept coroutine; per connection one reader coroutine and one responder
// coroutine per served request. Writes go through an awaitable FIFO lock held for whole
// records, so records never interleave mid-record and a responder knows exactly how many
// body bytes are written (which the body_bytes trigger needs). Every coroutine holds
// shared_ptrs to what it touches, and every wait is on a timer or socket that stop()/close
// cancels.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "codec/fcgi.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-backends/faults/seam.hpp"
#include "language/trigger.hpp"
#include "util/sha256.hpp"

namespace fh::fake {

namespace asio = boost::asio;

struct Connection;

/// The most of one request's PARAMS the fake keeps before their empty record. The spec sets no
/// limit (§3.4); real servers do (nginx's fastcgi buffers, php-fpm's request limits): a
/// megabyte is far above any real request's and keeps a hostile gateway's flood bounded.
inline constexpr std::size_t kMaxParamsBytes = 1 << 20;
/// Replies of the fake's own waiting to be written on one connection (Connection::reply).
inline constexpr std::size_t kMaxRepliesInFlight = 4096;

/// The backend: listener, connections, log, and the lifetime of the process it plays.
struct BackendState : std::enable_shared_from_this<BackendState>, ListenerSeam {
  BackendState(asio::io_context& io_context, BackendConfig cfg);

  asio::io_context& io;
  BackendConfig config;
  events::Bus private_bus;  // used when config.bus is null
  events::Bus& bus;
  std::optional<net::Acceptor> acceptor;
  net::Address bound;
  asio::steady_timer accept_backoff;
  asio::steady_timer accepting_resumed;  // wakes the accept loop when accepting resumes
  asio::steady_timer worker_free;        // wakes the accept loop when a connection closes
  std::list<asio::steady_timer> timers;  // ListenerSeam::after
  enum class Phase { created, serving, stopped } phase = Phase::created;
  bool accepting = true;
  bool in_readiness = false;  // FakeBackend::readiness_phase(): answer, but not in the scenario
  std::uint32_t connections_accepted = 0;
  std::uint32_t begun = 0;
  std::uint32_t completed = 0;
  std::map<std::uint32_t, std::weak_ptr<Connection>> connections;
  std::vector<BackendLogEntry> entries;
  LifetimeRun lifetime;
  std::vector<int> subscriptions;  // faults on other parties' events (triggers.cpp)

  /// Records `decl` (a member `part` of it, for a family) in the log and publishes it.
  void publish(const events::EventDecl& decl, std::uint32_t connection, std::uint16_t request_id,
               std::string detail = {}, std::string_view part = {});
  void apply_receive_buffer(auto& socket) {
    if (!config.stalls.receive_buffer) return;
    boost::system::error_code ignored;
    socket.set_option(
        asio::socket_base::receive_buffer_size(static_cast<int>(config.stalls.receive_buffer)),
        ignored);
  }
  void request_over(std::uint32_t index) { lifetime.on_request_over(index); }
  /// A coroutine of the backend failed with an exception that is not a cancellation: a
  /// harness defect, published as harness.internal_error so the run is graded ERROR.
  void internal_error(const std::string& where, const std::string& what);

  void start();
  void stop();
  void arm_bus_faults();  // triggers.cpp

  // ListenerSeam (the lifetime family acts through it).
  void stop_accepting(std::string why) override;
  void resume_accepting() override;
  void close_listener() override;
  std::string listen_again() override;
  void close_connections(std::string_view why) override;
  void post(std::function<void()> action) override;
  void after(std::chrono::milliseconds delay, std::function<void()> action) override;
  void publish(const events::EventDecl& event, std::string detail) override;
  bool stopped() const override { return phase == Phase::stopped; }
  std::string address() const override { return bound.to_string(); }
};

/// Where a request's END_REQUEST is (FastCGI 1.0 §5.5).
enum class EndRequest {
  not_sent,
  early,  // queued by a fault before the response ended; the responder still writes
  final,  // the responder's own, written or being written: the request id is free again
};

/// One FastCGI request on a connection.
struct Request {
  explicit Request(const asio::any_io_executor& ex) : wake(ex) {}
  std::uint16_t id = 0;
  std::uint32_t index = 0;  // 1-based arrival order across connections
  bool keep_conn = false;
  fcgi::Bytes params_data;
  bool params_done = false;  // the PARAMS stream ended (§3.3)
  fcgi::NameValues params;
  bool stdin_done = false;  // the STDIN stream ended
  std::uint64_t stdin_bytes = 0;
  util::Sha256 stdin_hash;
  std::string stdin_data;   // kept only while echo is possible
  bool keep_stdin = true;   // until the query is known
  bool responding = false;  // the responder coroutine was spawned
  EndRequest end = EndRequest::not_sent;
  bool end_sent() const { return end != EndRequest::not_sent; }
  bool aborted = false;    // ABORT_REQUEST received (§5.4)
  bool readiness = false;  // begun in the readiness phase: answered, not the scenario's
  bool over = false;       // reported to the lifetime (request_over)
  std::uint64_t body_written = 0;
  std::vector<language::TriggerState> triggers;  // one per configured fault
  asio::steady_timer wake;  // the responder's sleeps; cancelled to wake it early
};

/// A record as the writer sends it: header, content (a view the caller keeps alive), padding.
struct OutRecord {
  std::uint8_t type = 0;
  std::uint16_t id = 0;
  std::string_view content;
  std::uint8_t padding = 0;
  bool body = false;  // STDOUT content that counts as response body
  std::uint64_t body_from = 0;
  std::array<std::uint8_t, fcgi::kHeaderLength> header{};
  std::size_t wire_size() const { return fcgi::kHeaderLength + content.size() + padding; }
};

using ByteSource = std::function<std::string_view(std::uint64_t, std::size_t)>;

/// One connection's output: whole records under a FIFO write lock, queued fault records
/// between records, body triggers at exact byte counts (record_writer.cpp).
class RecordWriter {
 public:
  explicit RecordWriter(Connection& connection);
  /// Writes `records` (consecutive plain ones in one write; split where segments or a
  /// mid-record trigger say); `body`'s body triggers act when their byte count is out.
  asio::awaitable<bool> write_records(Request* body, std::vector<OutRecord> records);
  /// Bytes [from, to) of `source` as `type` records of request `id` (a body when `body`).
  asio::awaitable<bool> write_stream(fcgi::RecordType type, std::uint16_t id,
                                     const ByteSource& source, std::uint64_t from, std::uint64_t to,
                                     Request* body);
  asio::awaitable<bool> write_bytes(const fcgi::Bytes& bytes);
  /// Written before the next record; `when_written` is published once it is out.
  void queue(fcgi::Bytes bytes, std::uint16_t id, const events::EventDecl& when_written,
             std::string detail);
  OutRecord make_record(fcgi::RecordType type, std::uint16_t id, std::string_view content) const;
  /// The connection closed: waiters wake, queued records are dropped.
  void cancel();

 private:
  struct Waiter;
  struct Pending {
    fcgi::Bytes bytes;
    std::uint16_t id = 0;
    const events::EventDecl* when_written = nullptr;
    std::string detail;
  };
  asio::awaitable<bool> lock();
  void unlock();
  asio::awaitable<bool> raw_write(const std::vector<asio::const_buffer>& buffers);
  asio::awaitable<bool> flush_pending();
  asio::awaitable<void> flush_later();
  asio::awaitable<bool> write(std::vector<asio::const_buffer> buffers);
  std::vector<OutRecord> plan_stream(fcgi::RecordType type, std::uint16_t id,
                                     const ByteSource& source, std::uint64_t from, std::uint64_t to,
                                     const Request* body) const;
  std::vector<std::size_t> split_points(const OutRecord& rec, const Request* r) const;

  Connection& c_;
  bool writing_ = false;
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::deque<Pending> pending_;
  asio::steady_timer segment_timer_;
  friend struct Unlocker;
};

/// One accepted connection: reader (reader.cpp), writer, requests, stalls and triggers.
struct Connection : std::enable_shared_from_this<Connection>, FaultSeam {
  Connection(std::shared_ptr<BackendState> state, net::Socket sock, std::uint32_t n);

  std::shared_ptr<BackendState> st;
  net::Socket socket;
  asio::any_io_executor ex;
  std::uint32_t number;
  enum class Phase {
    open,       // reading and writing
    shut,       // the `shutdown` fault sent our FIN: reading goes on, nothing more is written
    lingering,  // the response is out and our FIN sent: unread input is drained, then closed
    closed,
  } phase = Phase::open;
  bool peer_eof = false;  // the gateway's FIN was read
  fcgi::RecordDecoder decoder;
  std::map<std::uint16_t, std::shared_ptr<Request>> requests;
  std::map<std::uint32_t, std::uint16_t> indices;            // request index -> id
  std::set<std::pair<std::uint16_t, std::uint8_t>> ignored;  // logged once each
  std::set<std::uint16_t> late_stdin;  // ignore_late_stdin_terminator: answered, input open
  RecordWriter writer{*this};
  // Stalls: reading / writing wait until these (time_point::max(): until stopped or ended).
  Clock::time_point read_stall_until{};
  Clock::time_point write_stall_until{};
  asio::steady_timer read_stall_timer;
  asio::steady_timer write_stall_timer;
  std::vector<int> subscriptions;                              // subscribe_while_open
  std::set<std::shared_ptr<asio::steady_timer>> fault_timers;  // delayed faults
  std::vector<language::TriggerState> connection_triggers;     // `accepted` and bus faults
  bool readiness = false;  // accepted in the readiness phase (its `accepted` is not offered)
  std::string linger_reason;
  std::shared_ptr<asio::steady_timer> linger_timer;

  const BackendConfig& cfg() const { return st->config; }
  bool closed() const { return phase == Phase::closed; }
  bool shut() const { return phase == Phase::shut; }
  void log(std::uint16_t id, const events::EventDecl& decl, std::string detail = {},
           std::string_view part = {}) {
    st->publish(decl, number, id, std::move(detail), part);
  }
  void close_connection(std::string_view why, bool reset);
  /// Sends a reply of the fake's own (GET_VALUES_RESULT, UNKNOWN_TYPE, an END_REQUEST that
  /// refuses a request) behind the writes in progress. A gateway that keeps asking without
  /// reading an answer (scenarios/hostile/) gets at most kMaxRepliesInFlight of them queued;
  /// then the connection is closed as a protocol error, so the fake stays bounded.
  void reply(fcgi::Bytes bytes, bool close_after);
  std::size_t replies_in_flight = 0;
  void request_over(Request& r);
  void finish(const std::shared_ptr<Request>& r);
  /// Closes once the request's input is consumed (the lingering close, or at once).
  void close_after_response(std::string_view why, bool input_complete);
  /// Waits out a stall; false once the connection is closed.
  asio::awaitable<bool> gate(bool for_writing);

  // reader.cpp
  void on_record(const fcgi::Record& rec);
  void on_management(const fcgi::Record& rec);
  void on_begin_request(const fcgi::Record& rec);
  void ignore(std::uint16_t id, std::uint8_t type, std::string_view why);
  // What the fake sees of the gateway's CGI parameters (RFC 3875 §4.1), as instrument events.
  void check_params(const Request& r);
  void check_content_length(const Request& r);
  /// The gateway gave up the requests still unanswered (how: abort_request, peer_closed, ...).
  void release_requests(std::string_view how);
  /// A request on this connection whose final END_REQUEST is not yet out (mpxs_conns: false).
  bool has_unfinished_request() const;

  // triggers.cpp: when faults act.
  /// The backend's own event `decl` of request `r` (nullptr: connection-level) happened.
  void offer(const events::EventDecl& decl, std::vector<language::TriggerState>& states,
             std::uint32_t scope_index, std::uint16_t id);
  void offer_body(Request& r, bool mid_record = false);
  void offer_stdin(Request& r);
  /// The next unfired record-boundary body_bytes threshold of `r` in (at, limit), or limit.
  std::uint64_t body_split(const Request& r, std::uint64_t at, std::uint64_t limit) const;
  /// Body offsets inside `rec` where mid-record body_bytes faults act.
  std::vector<std::uint64_t> mid_record_thresholds(const Request& r, std::uint64_t from,
                                                   std::uint64_t to) const;
  void trigger(std::size_t fault, std::uint16_t id);
  void act(std::size_t fault, std::uint16_t id);

  // FaultSeam
  void close(std::string_view why) override { close_connection(why, false); }
  void reset(std::string_view why) override { close_connection(why, true); }
  void shutdown_write() override;
  void stall(bool reading, bool writing, Clock::time_point until) override;
  bool end_stall(bool reading, bool writing) override;
  void subscribe_while_open(const events::Selector& selector,
                            std::function<void(const events::Event&)> on_event) override;
  void queue_record(fcgi::Record record, const events::EventDecl& when_written,
                    std::string detail) override;
  bool claim_end_request(std::uint16_t request_id) override;
  std::uint8_t padding_for(std::size_t content) const override {
    return cfg().shape.padding_for(content);
  }
  std::uint16_t inactive_request_id(std::uint16_t current) const override;
  void publish(const events::EventDecl& event, std::uint16_t request_id,
               std::string detail) override {
    log(request_id, event, std::move(detail));
  }
};

/// Spawns one of the backend's coroutines. Each catches its own exceptions (and reports
/// them with internal_error); what still escapes is rethrown by io_context::run.
void spawn(const asio::any_io_executor& ex, asio::awaitable<void> coroutine);

// Coroutines of the parts.
asio::awaitable<void> accept_loop(std::shared_ptr<BackendState> st);  // listener.cpp
asio::awaitable<void> read_loop(std::shared_ptr<Connection> c);       // reader.cpp
asio::awaitable<void> respond(std::shared_ptr<Connection> c, std::shared_ptr<Request> r);
asio::awaitable<void> send_reply(std::shared_ptr<Connection> c, fcgi::Bytes bytes,
                                 bool close_after);  // responder.cpp

}  // namespace fh::fake

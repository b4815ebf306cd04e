// The fake gateway's insides, shared by its parts (listener.cpp, exchange.cpp,
// request_writer.cpp, response_relay.cpp, faults/probes.cpp). Not included outside
// fake-gateways/.
//
// One HTTP request is one Exchange: the RequestWriter sends it to the backend while the
// ResponseRelay turns the backend's records into the client's response, the watchdog times
// the backend's silence and an abort may cut the request short, all concurrently on the
// connection's coroutine (`&&` of awaitables). What they share is the Exchange's: the client
// side's state, the backend connection, and the wake-up condition every wait re-checks.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/fcgi.hpp"
#include "fake-gateways/cgi.hpp"
#include "fake-gateways/fake_gateway.hpp"

namespace fh::fake {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;
using RequestParser = http::request_parser<http::buffer_body>;

constexpr std::size_t kIoSize = 64 * 1024;
constexpr std::size_t kIdleBackendLimit = 4;
constexpr std::size_t kMinimalBuffer = 64 * 1024;  // stream_response_body 2: unsent limit
/// END_REQUEST this long after the last STDOUT record is `gateway.end_request_late`.
constexpr std::chrono::milliseconds kEndRequestLate{500};

/// A backend connection; kept ones (FCGI_KEEP_CONN) go back to the pool between requests.
struct BackendConn {
  BackendConn(const asio::any_io_executor& executor, std::uint32_t n)
      : socket(executor), number(n) {}
  net::Socket socket;
  std::uint32_t number;
  std::uint16_t next_request_id = 1;
  std::uint32_t requests = 0;
};

/// One client connection; its backend connection changes per request (or comes from the pool).
struct ClientConnection {
  ClientConnection(const asio::any_io_executor& executor, net::Socket client_socket,
                   std::uint32_t number)
      : client(std::move(client_socket)),
        watchdog(executor),
        wake(executor, asio::steady_timer::time_point::max()),
        id(number) {}

  void close_all();

  net::Socket client;
  std::shared_ptr<BackendConn> backend;
  asio::steady_timer watchdog;  // backend_timeout_ms of backend silence
  asio::steady_timer wake;      // a condition: cancelled whenever awaited state changes
  std::uint32_t id;
  std::uint32_t requests = 0;  // exchanges begun on this connection
  bool stopped = false;
};

struct GatewayState {
  GatewayState(asio::io_context& context, GatewayConfig cfg)
      : io(context), config(std::move(cfg)) {}

  void note(const events::EventDecl& decl, std::uint32_t connection, std::string detail = {},
            std::uint16_t request_id = 0, std::uint64_t value = 0, std::string_view part = {});
  void wake_all();
  std::shared_ptr<BackendConn> new_backend();
  /// A coroutine of the gateway failed with an exception that is not a cancellation: a
  /// harness defect, published as harness.internal_error so the run is graded ERROR.
  void internal_error(const std::string& where, const std::string& what);

  asio::io_context& io;
  GatewayConfig config;
  std::optional<net::Acceptor> acceptor;
  net::Address address;
  bool stopped = false;
  std::vector<GatewayLogEntry> log;
  std::uint32_t accepted = 0;
  std::vector<std::weak_ptr<ClientConnection>> connections;
  std::uint32_t backend_connections = 0;
  std::vector<std::weak_ptr<BackendConn>> backends;  // to close at stop()
  std::vector<std::shared_ptr<BackendConn>> idle;    // kept connections between requests
  bool probes_done = true;
  std::optional<bool> mpxs_claimed;  // FCGI_MPXS_CONNS from a get_values probe's answer
  std::uint32_t exchanges = 0;       // client requests begun, across connections
};

/// Connects `socket` to the backend within the connect timeout; the failure text, or "".
asio::awaitable<std::string> connect_backend_socket(std::shared_ptr<GatewayState> state,
                                                    net::Socket& socket);
/// EPIPE, ECONNRESET, EOF or the message.
std::string errno_name(const boost::system::error_code& ec);
/// Host and port of a socket endpoint, as CGI wants them (RFC 3875 §4.1.8, §4.1.15); a unix
/// socket peer is {"unix:", ""}, as nginx reports it.
std::pair<std::string, std::string> host_port(const net::Protocol::endpoint& endpoint);
bool iequals(std::string_view a, std::string_view b);
/// "Bad Gateway" for 502; "Unknown" for a status without a reason phrase.
std::string reason_for(int status);
asio::awaitable<void> run_probes(std::shared_ptr<GatewayState> state);  // faults/probes.cpp

class Exchange;

/// BEGIN_REQUEST, PARAMS, STDIN (FastCGI 1.0 §5.1-5.3) in the personality's writes, with the
/// scripted body pacing, splits, terminator and abort.
class RequestWriter {
 public:
  /// Where the request is. Terminal phases say how it ended.
  enum class Phase {
    writing,   // BEGIN_REQUEST, PARAMS, STDIN going out
    sent,      // the empty STDIN is out: the whole request is
    withheld,  // no empty STDIN will come (missing, or its trigger did not come)
    failed,    // a backend write failed
    gave_up,   // stopped first: aborted, the client gone, the response over, the gateway stops
  };

  explicit RequestWriter(Exchange& x) : x_(x) {}
  asio::awaitable<void> run();
  /// The abort's own coroutine: waits for its event trigger and acts (the byte trigger
  /// acts inside the writer).
  asio::awaitable<void> abort_watch();

  Phase phase() const { return phase_; }
  bool writing() const { return phase_ == Phase::writing; }
  bool request_out() const { return phase_ == Phase::sent || phase_ == Phase::withheld; }
  /// The abort acted (ABORT_REQUEST sent, or the connection closed): whatever the phase,
  /// nothing more of the request is written after it.
  bool aborted() const { return aborted_; }
  bool failed() const { return phase_ == Phase::failed; }
  bool write_in_progress() const { return write_in_progress_; }
  std::uint64_t stdin_sent() const { return stdin_sent_; }

 private:
  asio::awaitable<void> send_records();
  asio::awaitable<bool> send_stdin(std::string_view data, bool last);
  asio::awaitable<bool> flush(bool has_stdin);
  asio::awaitable<void> on_write_error(boost::system::error_code ec, bool has_stdin);
  asio::awaitable<void> send_terminator();
  asio::awaitable<bool> abort_due();
  asio::awaitable<void> do_abort(std::string why);
  void append_terminator();
  void note_terminator_sent();
  /// May more of the request be written now?
  bool may_write() const;

  Exchange& x_;
  Phase phase_ = Phase::writing;
  bool aborted_ = false;
  fcgi::Bytes out_;                  // records not yet written
  bool hold_ = false;                // the whole request goes in one write
  bool terminator_pending_ = false;  // goes with the last data
  bool write_in_progress_ = false;   // a backend write is under way (ABORT_REQUEST waits)
  bool paced_before_ = false;
  std::uint64_t stdin_sent_ = 0;
  std::uint64_t records_padded_ = 0;  // request records so far (record_padding: cycle)
  /// Set inside the abort event's publisher, so no write follows the event.
  std::shared_ptr<bool> abort_flag_ = std::make_shared<bool>(false);
};

/// The backend's records to the client's HTTP response (RFC 3875 §6 to RFC 9112).
class ResponseRelay {
 public:
  /// The response head: not yet, framed but held (stream_response_body 0), or committed to
  /// the client (written, or queued for the client writer).
  enum class Head { none, held, sent };
  /// The relay: reading the backend, waiting for its close after END_REQUEST
  /// (wait_for_backend_close), or over.
  enum class Phase { reading, awaiting_close, over };

  explicit ResponseRelay(Exchange& x) : x_(x) {}
  asio::awaitable<void> run();
  /// The lighttpd stream modes' writer: the relay queues, this writes to the client.
  asio::awaitable<void> client_writer();

  Phase phase() const { return phase_; }
  bool over() const { return phase_ == Phase::over; }
  Head head() const { return head_; }
  bool end_request_seen() const { return end_request_seen_; }
  bool backend_failed() const { return backend_failed_; }
  /// Ends the relay (END_REQUEST handled, failure, client gone); closes the backend unless
  /// it is kept or still needed by a late empty STDIN.
  void end();
  /// The head was committed to the client by someone else (an emulated bug's answer).
  void head_committed() { head_ = Head::sent; }
  /// The backend failed: 502 before the head (or a bug's answer), a truncation after it.
  asio::awaitable<void> fail(std::string why);

 private:
  enum class BodyMode { none, content_length, chunked, until_close };
  asio::awaitable<bool> client_caught_up();
  asio::awaitable<bool> on_record(const fcgi::Record& record);
  asio::awaitable<bool> on_stdout(std::string_view data);
  void note_end_request_lag();
  std::string response_head(const cgi::ResponseHead& cgi_head);
  std::string frame_body(std::string_view data, std::string prefix);
  asio::awaitable<bool> relay_body(std::string_view data, std::string prefix);
  asio::awaitable<bool> on_end_request(fcgi::EndRequestBody end);
  asio::awaitable<bool> write_held();
  asio::awaitable<void> complete_response();
  asio::awaitable<void> truncate(std::string why);
  asio::awaitable<void> fail_timeout();
  std::size_t client_unsent() const { return client_out_.size() + in_flight_; }
  asio::awaitable<void> client_drained();

  Exchange& x_;
  Phase phase_ = Phase::reading;
  Head head_ = Head::none;
  bool end_request_seen_ = false;
  bool stdout_ended_ = false;  // the empty STDOUT record came (§3.3)
  /// When the last STDOUT record (data or the empty one) was read: END_REQUEST's lag.
  std::optional<Clock::time_point> last_stdout_at_;
  bool backend_failed_ = false;  // closed or broke before END_REQUEST
  cgi::ResponseHeadParser head_parser_;
  int head_status_ = 0;
  BodyMode mode_ = BodyMode::none;
  std::uint64_t remaining_ = 0;
  std::string held_;        // stream_response_body 0
  std::string client_out_;  // stream_response_body 1, 2: queued for client_writer
  std::size_t in_flight_ = 0;
  char read_buf_[kIoSize];
};

/// One HTTP request forwarded to the backend and its answer relayed. Lives in the frame of
/// the client connection's coroutine, which awaits every coroutine that uses it.
class Exchange {
 public:
  Exchange(std::shared_ptr<GatewayState> state, std::shared_ptr<ClientConnection> conn,
           RequestParser& parser, beast::flat_buffer& buffer);
  /// True when the client connection may carry another request.
  asio::awaitable<bool> run();

  // What the writer and the relay share.
  const GatewayConfig& config() const { return state_->config; }
  const Traits& traits() const { return traits_; }
  GatewayState& state() { return *state_; }
  ClientConnection& conn() { return *conn_; }
  BackendConn& backend() { return *be_; }
  std::uint16_t request_id() const { return request_id_; }
  /// The abort plan when it applies to this request (`request: N`), else null.
  const AbortPlan* abort_plan() const {
    const auto& abort = config().abort;
    return abort && abort->at.applies_to(index_) ? &*abort : nullptr;
  }
  RequestWriter& writer() { return writer_; }
  ResponseRelay& relay() { return relay_; }
  RequestParser& parser() { return parser_; }

  bool stopped() const { return conn_->stopped; }
  /// A read or write on the client connection failed: the client left.
  bool client_gone() const { return client_gone_; }
  /// This exchange ends the client connection (a failure, a truncation, a bug's answer).
  bool abandoned() const { return abandoned_; }
  bool timed_out() const { return timed_out_; }
  bool head_only() const { return head_only_; }
  bool http11() const { return http11_; }
  bool keep_alive() const { return keep_alive_; }
  void no_keep_alive() { keep_alive_ = false; }
  std::optional<std::uint64_t> content_length() const { return content_length_; }
  bool body_buffered() const { return body_buffered_; }
  const std::string& buffered_body() const { return body_; }

  void note(const events::EventDecl& decl, std::string detail = {}, std::uint64_t value = 0,
            std::string_view part = {});
  void poke() { conn_->wake.cancel(); }
  /// Waits until `pred` holds or the gateway stops; every change `pred` reads calls poke().
  asio::awaitable<void> wait_until(std::function<bool()> pred);
  asio::awaitable<void> pause(std::chrono::milliseconds time);
  /// A barrier on an event of any party: true once the trigger's event was published (its
  /// nth time) since this request's head arrived; false when the exchange ended, the gateway
  /// stopped, `bound_ms` passed or (end_with_relay) the response ended.
  asio::awaitable<bool> wait_event(const language::Trigger& trigger, std::uint32_t bound_ms,
                                   bool end_with_relay);

  /// Time spent waiting on the client (slow upload, slow reader) or on the gateway's own
  /// scripted pauses is not backend silence.
  struct ClientWait {
    explicit ClientWait(Exchange& x) : exchange(x) { ++exchange.client_waits_; }
    ~ClientWait() {
      if (--exchange.client_waits_ == 0) exchange.touch();
    }
    Exchange& exchange;
  };
  void touch();

  asio::awaitable<bool> write_client(std::string_view bytes);
  /// Some request body into body_buf(); the byte count, nullopt at an error.
  asio::awaitable<std::optional<std::size_t>> read_body_some();
  std::string_view body_piece(std::size_t n) const { return std::string_view(body_buf_, n); }
  asio::awaitable<void> answer_error(int status, std::string why);
  /// A bug's answer instead of the correct behaviour; then the exchange is abandoned.
  asio::awaitable<void> answer_bug(const GatewayBug& bug, const BugAnswer& answer);
  ExchangeFacts facts() const;

  void close_backend();
  /// Ends the exchange and the client connection: no final chunk, just FIN (then close).
  void abandon();
  /// The client left mid-request: the backend request is ended by closing its connection.
  void client_left_mid_request();
  cgi::RequestInfo request_info() const;

 private:
  asio::awaitable<bool> read_whole_body();
  asio::awaitable<bool> acquire_backend();
  void take_request_id();
  void release_backend();
  asio::awaitable<void> watch_backend();

  std::shared_ptr<GatewayState> state_;
  std::shared_ptr<ClientConnection> conn_;
  RequestParser& parser_;
  beast::flat_buffer& buffer_;
  Traits traits_;
  std::size_t mark_;  // bus log size when the request head arrived (barriers look after it)
  std::shared_ptr<BackendConn> be_;
  std::uint16_t request_id_ = 1;
  std::uint32_t index_ = 0;  // 1-based: which client request of the gateway's this is
  bool first_on_client_connection_ = false;  // the first request its client connection sent

  bool client_gone_ = false;
  bool abandoned_ = false;
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool http11_ = true;
  std::optional<std::uint64_t> content_length_;
  bool body_buffered_ = false;
  std::string body_;  // the buffered request body

  Clock::time_point deadline_;
  int client_waits_ = 0;
  bool timed_out_ = false;

  RequestWriter writer_{*this};
  ResponseRelay relay_{*this};
  char body_buf_[kIoSize];
};

}  // namespace fh::fake

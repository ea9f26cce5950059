// Fuzzes the response path up to the bytes sent to the client: a response head parsed by
// llhttp (as proxy/client_conn.cc does, fed in two pieces split at a fuzz-chosen offset)
// and rebuilt for the client by build_client_response() (proxy/http_head.h), with the
// framing decisions of ClientConn::on_response_head().
//
// Input: the response bytes, then optionally a NUL and settings, "key=value" words: s the
// split offset (modulo the length + 1), and what the request this answers was: head=1 a
// HEAD, http10=1 from an HTTP/1.0 client, close=1 asked to close, upgrade=1 asked for an
// upgrade that was forwarded.
//
// Invariants:
//  - llhttp (and proxy/head_scanner.h, when present) give the same verdict however the
//    bytes are split;
//  - the head sent to the client is clean (CRLF lines, token names, no CR/LF/NUL/controls
//    in values: no header injection; a status line llhttp accepts), and llhttp parses it
//    back to the same status and reason and exactly the framing the proxy decided;
//  - nothing hop-by-hop is forwarded (Connection, Keep-Alive, TE, Trailer,
//    Transfer-Encoding, Proxy-Authenticate, fields the origin's Connection names), except
//    Upgrade and "Connection: upgrade" on a 101 the client asked for;
//  - a close-delimited body is announced with "Connection: close".
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/http_head.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_http.h"

#if __has_include("proxy/head_scanner.h")
#include "proxy/head_scanner.h"
#define GATEHOUSE_FUZZ_HEAD_SCANNER 1
#endif

namespace {

namespace fz = gatehouse::fuzz;
using gatehouse::BodyFraming;
using gatehouse::iequals;

constexpr std::string_view kVia = "gatehouse";

bool stripped_always(std::string_view name) {
  for (std::string_view s : {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                             "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate",
                             "proxy-authentication-info", "content-length"}) {
    if (iequals(name, s)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fz::Parts in(data, size);
  std::string_view bytes = in.part(0);
  fz::Control ctl(in.part(1));
  size_t split = ctl.get("s") % (bytes.size() + 1);
  bool is_head = ctl.get("head") != 0;
  bool client_11 = ctl.get("http10") == 0;
  bool req_keep_alive = ctl.get("close") == 0;
  bool wants_upgrade = ctl.get("upgrade") != 0;

  fz::HeadParser parser(HTTP_RESPONSE);
  fz::parse_both_ways(HTTP_RESPONSE, bytes, split, parser);
  const fz::ParsedHead& h = parser.head();

#ifdef GATEHOUSE_FUZZ_HEAD_SCANNER
  gatehouse::HeadScanner whole, parts;
  size_t n_whole = whole.feed(bytes.data(), bytes.size());
  size_t n_parts = parts.feed(bytes.data(), split);
  n_parts += parts.feed(bytes.data() + split, bytes.size() - split);
  FUZZ_CHECK(whole.done() == parts.done() && whole.obs_fold() == parts.obs_fold(), bytes);
  FUZZ_CHECK(whole.status_digits() == parts.status_digits() && n_whole == n_parts, bytes);
  // The scanner must see the head end where llhttp does (not checked, unless strict, when
  // a lone CR made llhttp end a line early: known finding 1).
  if (h.done && (fz::strict() || !fz::has_lone_cr(bytes))) {
    FUZZ_CHECK(whole.done() && n_whole == h.consumed, bytes);
  }
  // The proxy answers 502 to a status code that is not three digits.
  if (whole.status_digits() != 3) return 0;
#endif
  if (!h.done) return 0;

  // What ClientConn::parse_response_head refuses with 502 before forwarding anything: a
  // status outside 100..599, a field name that is not a token once the whitespace before
  // the colon is removed. A folded value is forwarded, its continuation joined on.
  gatehouse::ResponseHead resp = h.resp;
  if (resp.status < 100 || resp.status > 599) return 0;
  for (auto& f : resp.headers) {
    while (!f.name.empty() && (f.name.back() == ' ' || f.name.back() == '\t')) f.name.pop_back();
    if (!fz::is_token(f.name)) return 0;
    FUZZ_CHECK(f.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos, f.value);
  }
  FUZZ_CHECK(resp.reason.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos,
             resp.reason);

  // ClientConn's choices (r_on_headers_complete, on_response_head, on_switching_protocols).
  int status = resp.status;
  gatehouse::ClientResponseOptions o;
  o.via_name = kVia;
  if (status == 101) {
    if (!wants_upgrade) return 0;  // a 101 nobody asked for is a protocol error
    o.upgrade = true;
  } else if (status >= 100 && status < 200) {
    if (!client_11) return 0;  // interim responses go to HTTP/1.1 clients only
  } else {
    bool no_body = is_head || status == 204 || status == 304;
    if (no_body) {
      o.framing = BodyFraming::kNone;
      o.keep_content_length = status != 204;
    } else if (h.flags & F_CHUNKED) {
      o.framing = client_11 ? BodyFraming::kChunked : BodyFraming::kCloseDelimited;
    } else if (h.flags & F_CONTENT_LENGTH) {
      o.framing = BodyFraming::kContentLength;
      o.content_length = h.content_length;
    } else {
      o.framing = client_11 ? BodyFraming::kChunked : BodyFraming::kCloseDelimited;
    }
    o.close = !req_keep_alive || !client_11 || o.framing == BodyFraming::kCloseDelimited;
  }
  std::string out;
  gatehouse::build_client_response(resp, o, out);

  gatehouse::HeaderList sent = fz::check_wire_head(out);
  FUZZ_CHECK(out.rfind("HTTP/1.1 " + std::to_string(status) + " " + resp.reason + "\r\n", 0) == 0,
             out);

  fz::HeadParser back(HTTP_RESPONSE);
  back.feed(out);
  const fz::ParsedHead& b = back.head();
  FUZZ_CHECK(b.done && b.consumed == out.size(),
             std::string(llhttp_errno_name(b.error)) + " " + out);
  FUZZ_CHECK(b.resp.status == status && b.resp.reason == resp.reason, out);
  FUZZ_CHECK(b.resp.headers.size() == sent.size(), out);

  size_t cl = fz::count_named(sent, "content-length");
  size_t te = fz::count_named(sent, "transfer-encoding");
  switch (o.framing) {
    case BodyFraming::kNone:
      FUZZ_CHECK(te == 0, out);
      FUZZ_CHECK(
          cl == (o.keep_content_length ? fz::count_named(resp.headers, "content-length") : 0), out);
      break;
    case BodyFraming::kContentLength:
      FUZZ_CHECK(cl == 1 && te == 0 && (b.flags & F_CONTENT_LENGTH) &&
                     b.content_length == h.content_length,
                 out);
      break;
    case BodyFraming::kChunked:
      FUZZ_CHECK(cl == 0 && te == 1 && (b.flags & F_CHUNKED) &&
                     *gatehouse::find_field(sent, "transfer-encoding") == "chunked",
                 out);
      break;
    case BodyFraming::kCloseDelimited:
      FUZZ_CHECK(cl == 0 && te == 0, out);
      FUZZ_CHECK(gatehouse::has_token_in_fields(sent, "connection", "close"), out);
      break;
  }

  for (std::string_view name : {"keep-alive", "proxy-connection", "te", "trailer",
                                "proxy-authenticate", "proxy-authentication-info"}) {
    FUZZ_CHECK(fz::count_named(sent, name) == 0, out);
  }
  FUZZ_CHECK(fz::count_named(sent, "upgrade") ==
                 (o.upgrade ? fz::count_named(resp.headers, "upgrade") : 0),
             out);
  size_t connection = fz::count_named(sent, "connection");
  FUZZ_CHECK(connection == ((o.upgrade || o.close) ? 1u : 0u), out);
  std::vector<std::string> tokens = gatehouse::connection_tokens(resp.headers);
  for (const auto& t : tokens) {
    if (stripped_always(t) || iequals(t, "via")) continue;
    FUZZ_CHECK(fz::count_named(sent, t) == 0, t + " in " + out);
  }
  size_t e2e = 0;
  for (const auto& f : resp.headers) {
    if (!stripped_always(f.name) && !gatehouse::is_hop_by_hop(f.name, tokens)) ++e2e;
  }
  size_t ours = 1 /* Via */ + connection +
                (o.framing == BodyFraming::kContentLength || o.framing == BodyFraming::kChunked);
  size_t kept = (o.upgrade ? fz::count_named(resp.headers, "upgrade") : 0) +
                (o.framing == BodyFraming::kNone && o.keep_content_length
                     ? fz::count_named(resp.headers, "content-length")
                     : 0);
  FUZZ_CHECK(sent.size() == e2e + ours + kept, out);
  return 0;
}

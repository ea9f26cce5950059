// Fuzzes the request path up to the bytes sent upstream: a request head parsed by llhttp
// (as proxy/client_conn.cc does, fed in two pieces split at a fuzz-chosen offset), the
// request-target parsed by parse_absolute_uri(), and the head rebuilt for the next hop by
// build_upstream_request() (proxy/http_head.h).
//
// Input: the request bytes, then optionally a NUL and settings, "s=N": the split offset
// (modulo the length + 1).
//
// Invariants:
//  - llhttp (and proxy/head_scanner.h, when present) give the same verdict however the
//    bytes are split;
//  - the head sent upstream is clean (CRLF lines, token names, no CR/LF/NUL/controls in
//    values: no header injection), and llhttp parses it back to the same method,
//    origin-form target, exactly one Host (the URI's authority) and exactly the framing the
//    proxy decided: one Content-Length, or "Transfer-Encoding: chunked", or neither;
//  - nothing hop-by-hop is forwarded: no Proxy-Authorization (credentials never leave the
//    proxy), Proxy-Connection, Keep-Alive, TE, Trailer, nor a field the client's
//    Connection names; Connection and Upgrade only for a forwarded upgrade;
//  - every end-to-end field of the client is forwarded, and Via ends with ours.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/http_head.h"
#include "proxy/uri.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_http.h"

#if __has_include("proxy/head_scanner.h")
#include "proxy/head_scanner.h"
#define GATEHOUSE_FUZZ_HEAD_SCANNER 1
#endif

namespace {

namespace fz = gatehouse::fuzz;
using gatehouse::iequals;

constexpr std::string_view kVia = "gatehouse";

bool stripped_always(std::string_view name) {
  for (std::string_view s : {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                             "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate",
                             "proxy-authentication-info", "host", "content-length"}) {
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

  fz::HeadParser parser(HTTP_REQUEST);
  fz::parse_both_ways(HTTP_REQUEST, bytes, split, parser);
  const fz::ParsedHead& h = parser.head();

#ifdef GATEHOUSE_FUZZ_HEAD_SCANNER
  gatehouse::HeadScanner whole, parts;
  size_t n_whole = whole.feed(bytes.data(), bytes.size());
  size_t n_parts = parts.feed(bytes.data(), split);
  n_parts += parts.feed(bytes.data() + split, bytes.size() - split);
  FUZZ_CHECK(whole.done() == parts.done() && whole.obs_fold() == parts.obs_fold(), bytes);
  FUZZ_CHECK(n_whole == n_parts, bytes);
  // The scanner must see the head end where llhttp does. Not for an HTTP/0.9-style request
  // line ("GET /"), which ends llhttp's head at once and gets 505 without the scanner; and
  // not (known finding 1) when a lone CR made llhttp end a line early.
  if (h.done && h.req.http_major == 1 && (fz::strict() || !fz::has_lone_cr(bytes))) {
    FUZZ_CHECK(whole.done() && n_whole == h.consumed, bytes);
  }
  if (whole.obs_fold()) return 0;  // the proxy refuses folded fields (400)
#endif
  // llhttp 8 takes a request line without a version as HTTP/0.9 and then parses what
  // follows loosely (field names with spaces, bare CR); the proxy answers every version
  // but 1.x with 505 before it looks at a field, so only 1.x heads go further.
  if (!h.done || h.req.http_major != 1) return 0;

  // llhttp 8.1 lets field names with spaces, and (after a lone CR) odd values, through;
  // ClientConn::on_request_head refuses those with 400 before anything is forwarded.
  for (const auto& f : h.req.headers) {
    if (!fz::is_token(f.name)) return 0;
    if (f.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) return 0;
  }
  if (gatehouse::count_fields(h.req.headers, "host") > 1) return 0;  // 400 as well

  // The decisions client_conn.cc makes before forwarding, reduced to what shapes the head.
  const gatehouse::RequestHead& req = h.req;
  if (req.method == "CONNECT") return 0;
  gatehouse::UriParse u = gatehouse::parse_absolute_uri(req.target);
  if (u.error != gatehouse::UriError::kNone) return 0;
  if (req.http_minor >= 1 && !gatehouse::find_field(req.headers, "host")) return 0;
  bool chunked = (h.flags & F_CHUNKED) != 0;
  bool has_cl = (h.flags & F_CONTENT_LENGTH) != 0;
  bool has_body = chunked || (has_cl && h.content_length > 0);
  const std::string* up = gatehouse::find_field(req.headers, "upgrade");
  bool keep_upgrade = up && !up->empty() && !has_body &&
                      gatehouse::has_token_in_fields(req.headers, "connection", "upgrade");

  gatehouse::UpstreamRequestOptions o;
  o.via_name = kVia;
  o.origin_form = u.uri.path_and_query;
  std::string host = u.uri.authority.to_string(80);
  o.host = host;
  if (chunked) {
    o.framing = gatehouse::BodyFraming::kChunked;
  } else if (has_cl) {
    o.framing = gatehouse::BodyFraming::kContentLength;
    o.content_length = h.content_length;
  }
  o.keep_upgrade = keep_upgrade;
  std::string out;
  gatehouse::build_upstream_request(req, o, out);

  // The wire format.
  gatehouse::HeaderList sent = fz::check_wire_head(out);
  std::string request_line = req.method + " " + std::string(o.origin_form) + " HTTP/1.1\r\n";
  FUZZ_CHECK(out.rfind(request_line, 0) == 0, out);

  // What the next hop's parser makes of it.
  fz::HeadParser back(HTTP_REQUEST);
  back.feed(out);
  const fz::ParsedHead& b = back.head();
  FUZZ_CHECK(b.done && b.consumed == out.size(),
             std::string(llhttp_errno_name(b.error)) + " " + out);
  FUZZ_CHECK(b.req.method == req.method && b.req.target == o.origin_form, out);
  FUZZ_CHECK(b.req.http_major == 1 && b.req.http_minor == 1, out);
  FUZZ_CHECK(b.req.headers.size() == sent.size(), out);
  FUZZ_CHECK(fz::count_named(sent, "host") == 1 && *gatehouse::find_field(sent, "host") == host,
             out);
  size_t cl = fz::count_named(sent, "content-length");
  size_t te = fz::count_named(sent, "transfer-encoding");
  switch (o.framing) {
    case gatehouse::BodyFraming::kNone:
      FUZZ_CHECK(cl == 0 && te == 0 && !(b.flags & (F_CHUNKED | F_CONTENT_LENGTH)), out);
      break;
    case gatehouse::BodyFraming::kContentLength:
      FUZZ_CHECK(cl == 1 && te == 0 && (b.flags & F_CONTENT_LENGTH) &&
                     b.content_length == h.content_length,
                 out);
      break;
    case gatehouse::BodyFraming::kChunked:
      FUZZ_CHECK(cl == 0 && te == 1 && (b.flags & F_CHUNKED) &&
                     *gatehouse::find_field(sent, "transfer-encoding") == "chunked",
                 out);
      break;
    case gatehouse::BodyFraming::kCloseDelimited:
      FUZZ_CHECK(false, "close-delimited request");
  }

  // Hop-by-hop fields stay here.
  for (std::string_view name : {"proxy-authorization", "proxy-connection", "keep-alive", "te",
                                "trailer", "proxy-authenticate", "proxy-authentication-info"}) {
    FUZZ_CHECK(fz::count_named(sent, name) == 0, out);
  }
  FUZZ_CHECK(fz::count_named(sent, "upgrade") ==
                 (keep_upgrade ? fz::count_named(req.headers, "upgrade") : 0),
             out);
  FUZZ_CHECK(fz::count_named(sent, "connection") == (keep_upgrade ? 1u : 0u), out);
  std::vector<std::string> tokens = gatehouse::connection_tokens(req.headers);
  for (const auto& t : tokens) {
    if (stripped_always(t) || iequals(t, "via")) continue;
    FUZZ_CHECK(fz::count_named(sent, t) == 0, t + " in " + out);
  }

  // End-to-end fields all arrive, in order; our Via comes last among the Via fields.
  std::vector<const gatehouse::HeaderField*> e2e;
  for (const auto& f : req.headers) {
    if (stripped_always(f.name) || gatehouse::is_hop_by_hop(f.name, tokens)) continue;
    e2e.push_back(&f);
  }
  size_t k = 0;
  for (const auto& f : sent) {
    if (k < e2e.size() && f.name == e2e[k]->name) {
      std::string want = e2e[k]->value;
      while (!want.empty() && (want.back() == ' ' || want.back() == '\t')) want.pop_back();
      while (!want.empty() && (want.front() == ' ' || want.front() == '\t')) want.erase(0, 1);
      if (f.value == want) ++k;
    }
  }
  FUZZ_CHECK(k == e2e.size(), out);
  std::string our_via = std::to_string(req.http_major) + "." + std::to_string(req.http_minor) +
                        " " + std::string(kVia);
  const gatehouse::HeaderField* last_via = nullptr;
  for (const auto& f : sent) {
    if (iequals(f.name, "via")) last_via = &f;
  }
  FUZZ_CHECK(last_via && last_via->value == our_via, out);
  return 0;
}

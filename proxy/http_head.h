// Message heads as the proxy sees them, and the rewriting between the two hops:
// hop-by-hop fields removed (RFC 9110 section 7.6.1), Via appended (section 7.6.3),
// Host taken from the target URI, framing re-derived (RFC 9112 section 6).
// Pure functions; serialisation appends to a caller-owned string (reused per exchange).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse {

struct HeaderField {
  std::string name;
  std::string value;
};
using HeaderList = std::vector<HeaderField>;

bool iequals(std::string_view a, std::string_view b);
// Value of the first field called `name`, or nullptr.
const std::string* find_field(const HeaderList& headers, std::string_view name);
size_t count_fields(const HeaderList& headers, std::string_view name);
// Every token of every Connection field, lower-cased ("close", "keep-alive", field names).
std::vector<std::string> connection_tokens(const HeaderList& headers);
// Every member of every Transfer-Encoding field, in order, trimmed of OWS; an empty
// member ("chunked,") is kept as "" so callers can decide how strict to be.
std::vector<std::string> transfer_codings(const HeaderList& headers);
// True for fields that must not be forwarded to the next hop.
bool is_hop_by_hop(std::string_view name, const std::vector<std::string>& conn_tokens);
// True when `list` (a comma-separated field value) contains `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token);
// True when any field called `name` lists `token`.
bool has_token_in_fields(const HeaderList& headers, std::string_view name, std::string_view token);

enum class BodyFraming {
  kNone,            // no body at all
  kContentLength,   // Content-Length: content_length
  kChunked,         // Transfer-Encoding: chunked
  kCloseDelimited,  // body ends when the connection closes (responses only)
};

struct RequestHead {
  std::string method;
  std::string target;
  int http_major = 1;
  int http_minor = 1;
  HeaderList headers;
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  int http_major = 1;
  int http_minor = 1;
  HeaderList headers;
};

struct UpstreamRequestOptions {
  std::string_view via_name;     // our pseudonym
  std::string_view origin_form;  // "/path?query"
  std::string_view host;         // authority for Host, port omitted when default
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool keep_upgrade = false;  // forward Upgrade and "Connection: upgrade"
};

// Appends the request head to send upstream.
void build_upstream_request(const RequestHead& head, const UpstreamRequestOptions& options,
                            std::string& out);

struct ClientResponseOptions {
  std::string_view via_name;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;       // for kContentLength, and kept on HEAD/304 answers
  bool keep_content_length = false;  // a bodiless answer whose Content-Length is metadata
  bool close = false;                // add "Connection: close"
  bool upgrade = false;              // a 101: keep Upgrade, "Connection: upgrade"
  // Transfer codings the body still carries ("gzip"), sent before "chunked" with kChunked.
  std::string_view transfer_codings;
  bool add_date = false;  // add a Date field when the head has none
};

// Appends the response head to send to the client (always HTTP/1.1 on the wire).
void build_client_response(const ResponseHead& head, const ClientResponseOptions& options,
                           std::string& out);

// The current time as an IMF-fixdate (RFC 9110 5.6.7), for Date fields.
std::string_view http_date_now();

// "METHOD" is a valid RFC 9110 token.
bool is_token(std::string_view s);

}  // namespace gatehouse

// llhttp helpers for the message-head harnesses (fuzz_request_head, fuzz_response_head).
//
// HeadParser collects a head the way proxy/client_conn.cc's llhttp hooks do (method, URL,
// reason and field names/values appended span by span, a field name possibly split across
// calls) and stops at the end of the head. It stands in for the loop-free request and
// response parsers that client_conn.cc is being split into; when those exist, the
// harnesses should drive them instead (see docs/fuzzing.md).
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http_head.h"
#include "tests/fuzz/fuzz_common.h"

namespace gatehouse::fuzz {

struct ParsedHead {
  RequestHead req;    // HTTP_REQUEST
  ResponseHead resp;  // HTTP_RESPONSE
  bool done = false;  // the head was complete
  uint16_t flags = 0;
  uint64_t content_length = 0;
  bool keep_alive = false;
  llhttp_errno_t error = HPE_OK;  // the first error other than the pause at the head's end
  size_t consumed = 0;            // bytes of the input that belong to the head

  HeaderList& headers() { return is_request ? req.headers : resp.headers; }
  const HeaderList& headers() const { return is_request ? req.headers : resp.headers; }
  bool is_request = true;
  bool field_open = false;
};

class HeadParser {
 public:
  explicit HeadParser(llhttp_type_t type) {
    llhttp_settings_init(&settings_);
    settings_.on_method = [](llhttp_t* p, const char* at, size_t n) {
      self(p)->req.method.append(at, n);
      return 0;
    };
    settings_.on_url = [](llhttp_t* p, const char* at, size_t n) {
      self(p)->req.target.append(at, n);
      return 0;
    };
    settings_.on_status = [](llhttp_t* p, const char* at, size_t n) {
      self(p)->resp.reason.append(at, n);
      return 0;
    };
    settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      ParsedHead* h = self(p);
      if (!h->field_open) {
        h->headers().emplace_back();
        h->field_open = true;
      }
      h->headers().back().name.append(at, n);
      return 0;
    };
    settings_.on_header_field_complete = [](llhttp_t* p) {
      self(p)->field_open = false;
      return 0;
    };
    settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      self(p)->headers().back().value.append(at, n);
      return 0;
    };
    settings_.on_headers_complete = [](llhttp_t* p) {
      ParsedHead* h = self(p);
      h->done = true;
      h->req.http_major = h->resp.http_major = llhttp_get_http_major(p);
      h->req.http_minor = h->resp.http_minor = llhttp_get_http_minor(p);
      h->resp.status = llhttp_get_status_code(p);
      h->flags = p->flags;
      h->content_length = p->content_length;
      h->keep_alive = llhttp_should_keep_alive(p) != 0;
      return static_cast<int>(HPE_PAUSED);
    };
    llhttp_init(&parser_, type, &settings_);
    parser_.data = &head_;
    head_.is_request = type == HTTP_REQUEST;
  }
  HeadParser(const HeadParser&) = delete;
  HeadParser& operator=(const HeadParser&) = delete;

  // Feeds the next piece; false once the head is complete or the parser failed.
  bool feed(std::string_view piece) {
    if (head_.done || head_.error != HPE_OK) return false;
    llhttp_errno_t err = llhttp_execute(&parser_, piece.data(), piece.size());
    if (err == HPE_OK) {
      head_.consumed += piece.size();
      return true;
    }
    const char* pos = llhttp_get_error_pos(&parser_);
    size_t used = pos && pos >= piece.data() && pos <= piece.data() + piece.size()
                      ? static_cast<size_t>(pos - piece.data())
                      : piece.size();
    head_.consumed += used;
    if (err != HPE_PAUSED || !head_.done) head_.error = err;
    return false;
  }

  const ParsedHead& head() const { return head_; }

 private:
  static ParsedHead* self(llhttp_t* p) { return static_cast<ParsedHead*>(p->data); }

  llhttp_settings_t settings_;
  llhttp_t parser_;
  ParsedHead head_;
};

// Parses `bytes` in one llhttp_execute call and again split at `split`; both must agree
// (the proxy reads whatever TCP delivers). Returns the split parse.
inline void parse_both_ways(llhttp_type_t type, std::string_view bytes, size_t split,
                            HeadParser& out) {
  HeadParser whole(type);
  whole.feed(bytes);
  if (out.feed(bytes.substr(0, split))) out.feed(bytes.substr(split));
  const ParsedHead& a = whole.head();
  const ParsedHead& b = out.head();
  FUZZ_CHECK(a.done == b.done, bytes);
  FUZZ_CHECK((a.error == HPE_OK) == (b.error == HPE_OK), bytes);
  if (!a.done) return;
  FUZZ_CHECK(a.consumed == b.consumed, bytes);
  FUZZ_CHECK(a.req.method == b.req.method && a.req.target == b.req.target, bytes);
  FUZZ_CHECK(a.resp.status == b.resp.status && a.resp.reason == b.resp.reason, bytes);
  FUZZ_CHECK(a.flags == b.flags && a.content_length == b.content_length, bytes);
  FUZZ_CHECK(a.headers().size() == b.headers().size(), bytes);
  for (size_t i = 0; i < a.headers().size(); ++i) {
    FUZZ_CHECK(a.headers()[i].name == b.headers()[i].name, bytes);
    FUZZ_CHECK(a.headers()[i].value == b.headers()[i].value, bytes);
  }
}

// Checks that `head` (ending in CRLF CRLF) is a clean HTTP/1.1 head: every line ends in
// CRLF, no CR or LF anywhere else, field names are tokens, field values hold no control
// characters but HTAB. Returns its field lines as (name, value) pairs.
inline HeaderList check_wire_head(std::string_view head) {
  FUZZ_CHECK(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n", head);
  HeaderList fields;
  size_t pos = 0;
  bool first = true;
  while (pos < head.size() - 2) {
    size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    FUZZ_CHECK(line.find_first_of("\r\n") == std::string_view::npos, line);
    FUZZ_CHECK(!line.empty(), head);
    if (first) {
      first = false;
      FUZZ_CHECK(line.find('\0') == std::string_view::npos, line);
      continue;
    }
    size_t colon = line.find(':');
    FUZZ_CHECK(colon != std::string_view::npos, line);
    std::string_view name = line.substr(0, colon);
    FUZZ_CHECK(is_token(name), line);
    std::string_view value = line.substr(colon + 1);
    for (char c : value) {
      auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(c == '\t' || (u >= 0x20 && u != 0x7f), line);
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    fields.push_back({std::string(name), std::string(value)});
  }
  return fields;
}

inline size_t count_named(const HeaderList& fields, std::string_view name) {
  return count_fields(fields, name);
}

}  // namespace gatehouse::fuzz

#include "proxy/chunked_decoder.h"

namespace gatehouse {
namespace {

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_ws(unsigned char c) {
  return c == ' ' || c == '\t';
}

// qdtext and the octets a quoted-pair may escape (RFC 9110 section 5.6.4).
bool is_qdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
         (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}
bool is_quotable(unsigned char c) {
  return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

// A field-value octet: VCHAR, obs-text, SP or HTAB.
bool is_field_octet(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// 16 hex digits would let a size overflow 64 bits; nobody sends a chunk that large.
constexpr size_t kMaxSizeDigits = 15;

}  // namespace

ChunkedDecoder::Status ChunkedDecoder::fail(const char* why) {
  state_ = State::kError;
  error_ = why;
  return Status::kError;
}

ChunkedDecoder::Status ChunkedDecoder::feed(const char* p, size_t n, size_t* used,
                                            const char** data, size_t* data_len) {
  *used = 0;
  *data = nullptr;
  *data_len = 0;
  if (state_ == State::kError) return Status::kError;
  if (state_ == State::kDone) return Status::kDone;
  size_t i = 0;
  while (i < n) {
    if (state_ == State::kData) {
      size_t take = remaining_ < n - i ? static_cast<size_t>(remaining_) : n - i;
      *data = p + i;
      *data_len = take;
      remaining_ -= take;
      body_bytes_ += take;
      if (remaining_ == 0) state_ = State::kDataCr;
      *used = i + take;
      return Status::kData;
    }
    unsigned char c = static_cast<unsigned char>(p[i++]);
    bool in_ext = state_ >= State::kSizeBws && state_ <= State::kExtQuotedPair;
    if (in_ext && ++ext_bytes_ > limits_.max_extension_bytes) {
      *used = i;
      return fail("a chunk extension is longer than the proxy accepts");
    }
    switch (state_) {
      case State::kSize: {
        int v = hex_value(c);
        if (v >= 0) {
          if (++size_digits_ > kMaxSizeDigits) {
            *used = i;
            return fail("a chunk size is too large");
          }
          size_ = size_ * 16 + static_cast<uint64_t>(v);
          break;
        }
        if (size_digits_ == 0) {
          *used = i;
          return fail("a chunk size is missing or not hexadecimal");
        }
        if (is_ws(c)) {
          state_ = State::kSizeBws;
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          *used = i;
          return fail("a chunk size line has an unexpected character");
        }
        break;
      }
      case State::kSizeBws:
      case State::kExtSemicolon:
        // BWS is only allowed before an extension; "5 \r\n" is not valid.
        if (is_ws(c)) break;
        if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '\r' && state_ == State::kExtSemicolon) {
          state_ = State::kSizeLf;
        } else {
          *used = i;
          return fail("a chunk size line has an unexpected character");
        }
        break;
      case State::kExtNameStart:
        if (is_ws(c)) break;
        if (!is_tchar(c)) {
          *used = i;
          return fail("a chunk extension has no valid name");
        }
        state_ = State::kExtName;
        break;
      case State::kExtName:
        if (is_tchar(c)) break;
        if (is_ws(c)) {
          state_ = State::kExtNameBws;
        } else if (c == '=') {
          state_ = State::kExtValueStart;
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          *used = i;
          return fail("a chunk extension name has an invalid character");
        }
        break;
      case State::kExtNameBws:
        if (is_ws(c)) break;
        if (c == '=') {
          state_ = State::kExtValueStart;
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          *used = i;
          return fail("a chunk extension has an unexpected character after its name");
        }
        break;
      case State::kExtValueStart:
        if (is_ws(c)) break;
        if (c == '"') {
          state_ = State::kExtQuoted;
        } else if (is_tchar(c)) {
          state_ = State::kExtToken;
        } else {
          *used = i;
          return fail("a chunk extension value is missing or invalid");
        }
        break;
      case State::kExtToken:
        if (is_tchar(c)) break;
        if (is_ws(c)) {
          state_ = State::kExtSemicolon;
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          *used = i;
          return fail("a chunk extension value has an invalid character");
        }
        break;
      case State::kExtQuoted:
        if (c == '"') {
          state_ = State::kExtSemicolon;
        } else if (c == '\\') {
          state_ = State::kExtQuotedPair;
        } else if (!is_qdtext(c)) {
          *used = i;
          return fail("a quoted chunk extension value has an invalid character");
        }
        break;
      case State::kExtQuotedPair:
        if (!is_quotable(c)) {
          *used = i;
          return fail("a quoted chunk extension value has an invalid escape");
        }
        state_ = State::kExtQuoted;
        break;
      case State::kSizeLf:
        if (c != '\n') {
          *used = i;
          return fail("a chunk size line does not end in CRLF");
        }
        ext_bytes_ = 0;
        size_digits_ = 0;
        if (size_ == 0) {
          state_ = State::kTrailerLineStart;
        } else {
          remaining_ = size_;
          size_ = 0;
          state_ = State::kData;
        }
        break;
      case State::kDataCr:
        if (c != '\r') {
          *used = i;
          return fail("chunk data is longer than its size says");
        }
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') {
          *used = i;
          return fail("chunk data is not followed by CRLF");
        }
        state_ = State::kSize;
        break;
      case State::kTrailerLineStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
          break;
        }
        if (!is_tchar(c)) {
          *used = i;
          return fail("a trailer field line is malformed");
        }
        trailer_line_has_colon_ = false;
        state_ = State::kTrailerLine;
        [[fallthrough]];
      case State::kTrailerLine:
        if (++trailer_bytes_ > limits_.max_trailer_bytes) {
          *used = i;
          return fail("the trailer section is larger than the proxy accepts");
        }
        if (c == '\r') {
          if (!trailer_line_has_colon_) {
            *used = i;
            return fail("a trailer field line has no colon");
          }
          state_ = State::kTrailerLf;
        } else if (!trailer_line_has_colon_) {
          if (c == ':') {
            trailer_line_has_colon_ = true;
          } else if (!is_tchar(c)) {
            *used = i;
            return fail("a trailer field name is not a token");
          }
        } else if (!is_field_octet(c)) {
          *used = i;
          return fail("a trailer field value has an invalid character");
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') {
          *used = i;
          return fail("a trailer field line does not end in CRLF");
        }
        state_ = State::kTrailerLineStart;
        break;
      case State::kFinalLf:
        if (c != '\n') {
          *used = i;
          return fail("the chunked body does not end in CRLF");
        }
        state_ = State::kDone;
        *used = i;
        return Status::kDone;
      case State::kData:
      case State::kDone:
      case State::kError:
        break;  // handled above
    }
  }
  *used = n;
  return Status::kNeedMore;
}

}  // namespace gatehouse

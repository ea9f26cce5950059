// ChunkedDecoder: the chunked transfer coding (RFC 9112 section 7.1) decoded from a byte
// stream that may arrive split at any offset, for request and response bodies alike.
//
// One decoder, one verdict: the proxy never lets llhttp and its own code both judge a
// chunked body. The full grammar is accepted, including what llhttp 8.1 refuses:
// whitespace (BWS) around ";" and "=" in chunk extensions, quoted-string values with
// quoted-pairs. Extensions are checked and dropped (never forwarded; the re-chunked
// output carries none), and so is the trailer section (RFC 9110 section 6.5.1 lets a
// recipient that removes the chunked coding discard trailer fields); both are bounded.
// Line ends must be CRLF: a bare LF or CR inside chunk framing is an error, because
// peers disagree on it and the disagreement is what request smuggling is made of.
//
// Pure and loop-free: feed() reports data spans in the caller's buffer, so callers can
// forward them zero-copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gatehouse {

class ChunkedDecoder {
 public:
  enum class Status {
    kNeedMore,  // every byte was consumed and the body is not finished
    kData,      // *data_len bytes of chunk data start at *data
    kDone,      // the body (last chunk and trailer section) ended; *used counts its end
    kError,     // malformed; error() says why
  };

  struct Limits {
    size_t max_extension_bytes = 4096;  // per chunk, with the whitespace around them
    size_t max_trailer_bytes = 65536;   // the whole trailer section
  };

  ChunkedDecoder() = default;
  explicit ChunkedDecoder(Limits limits) : limits_(limits) {}

  // Consumes bytes from [p, p + n) up to the next event. *used is the number of bytes
  // consumed (including the data span on kData). Call again with the rest.
  Status feed(const char* p, size_t n, size_t* used, const char** data, size_t* data_len);

  void reset() { *this = ChunkedDecoder(limits_); }
  bool done() const { return state_ == State::kDone; }
  const std::string& error() const { return error_; }
  // Data bytes decoded so far.
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class State {
    kSize,           // hex digits of the chunk size
    kSizeBws,        // whitespace after the size, before ';' or CR
    kExtSemicolon,   // expecting ';' (after BWS) or CR
    kExtNameStart,   // after ';' (BWS allowed)
    kExtName,        // token characters
    kExtNameBws,     // whitespace after the name: '=' , ';' or CR may follow
    kExtValueStart,  // after '=' (BWS allowed)
    kExtToken,       // unquoted value
    kExtQuoted,      // inside "..."
    kExtQuotedPair,  // after a backslash inside "..."
    kSizeLf,         // CR seen at the end of the size line
    kData,           // chunk data
    kDataCr,         // expecting CR after the data
    kDataLf,         // expecting LF after the data
    kTrailerLineStart,
    kTrailerLine,  // inside a trailer field line
    kTrailerLf,    // CR seen at the end of a trailer line
    kFinalLf,      // CR seen on the empty line that ends the body
    kDone,
    kError,
  };

  Status fail(const char* why);

  Limits limits_{};
  State state_ = State::kSize;
  uint64_t size_ = 0;       // of the current chunk
  uint64_t remaining_ = 0;  // data bytes left in the current chunk
  size_t size_digits_ = 0;
  size_t ext_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  bool trailer_line_has_colon_ = false;
  uint64_t body_bytes_ = 0;
  std::string error_;
};

}  // namespace gatehouse

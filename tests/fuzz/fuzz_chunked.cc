// Fuzzes the chunked transfer coding decoder (proxy/chunked_decoder.h), the one verdict on
// where a chunked request or response body ends.
//
// Input: the body bytes, then optionally a NUL and settings, "key=value" words: a, b, c
// three split offsets (each modulo the length + 1); e, t the extension and trailer limits.
//
// Invariants:
//  - the verdict (data, done or error, bytes used) is the same however the bytes are split,
//    and feed() never reports a span outside the buffer or bytes it did not consume;
//  - body_bytes() is the number of data bytes reported;
//  - for bodies without extensions and trailers, the decoder agrees exactly with a plain
//    reference decoder written from the RFC 9112 section 7.1 grammar (CRLF line ends only):
//    same data, same end, same refusals. This is what request smuggling is made of;
//  - a body it accepts, re-chunked the way the proxy forwards it, decodes to the same data.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "proxy/chunked_decoder.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

namespace fz = gatehouse::fuzz;
using gatehouse::ChunkedDecoder;

struct Verdict {
  ChunkedDecoder::Status end = ChunkedDecoder::Status::kNeedMore;  // kNeedMore, kDone, kError
  std::string data;
  size_t used = 0;  // bytes consumed up to kDone / kError
};

// Feeds `pieces` in order, each until it is used up or the body ends.
Verdict decode(const std::vector<std::string_view>& pieces, ChunkedDecoder::Limits limits) {
  ChunkedDecoder d(limits);
  Verdict v;
  for (std::string_view piece : pieces) {
    size_t off = 0;
    while (off < piece.size() || piece.empty()) {
      size_t used = 0;
      const char* data = nullptr;
      size_t len = 0;
      ChunkedDecoder::Status s = d.feed(piece.data() + off, piece.size() - off, &used, &data, &len);
      FUZZ_CHECK(used <= piece.size() - off, piece);
      if (s == ChunkedDecoder::Status::kData) {
        FUZZ_CHECK(len > 0 && data >= piece.data() + off && data + len <= piece.data() + off + used,
                   piece);
        FUZZ_CHECK(data + len == piece.data() + off + used, piece);  // data ends the span used
        v.data.append(data, len);
      }
      off += used;
      v.used += used;
      if (s == ChunkedDecoder::Status::kDone || s == ChunkedDecoder::Status::kError) {
        v.end = s;
        FUZZ_CHECK(d.body_bytes() == v.data.size(), piece);
        FUZZ_CHECK(s != ChunkedDecoder::Status::kError || !d.error().empty(), piece);
        return v;
      }
      if (s == ChunkedDecoder::Status::kNeedMore) {
        FUZZ_CHECK(off == piece.size(), piece);
        break;
      }
    }
  }
  FUZZ_CHECK(d.body_bytes() == v.data.size(), "body_bytes");
  return v;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The reference, for bodies without chunk extensions and trailer fields:
//   chunked-body = *chunk last-chunk CRLF;  chunk = 1*HEXDIG CRLF data CRLF;
//   last-chunk = 1*"0" CRLF.
// nullopt = the input uses something outside that subset (an extension, a trailer, a size
// of more than 15 digits), so only the other invariants apply.
std::optional<Verdict> reference(std::string_view s) {
  Verdict v;
  size_t i = 0;
  auto need_more = [&] {
    v.end = ChunkedDecoder::Status::kNeedMore;
    v.used = s.size();
    return v;
  };
  auto error = [&] {
    v.end = ChunkedDecoder::Status::kError;
    return v;
  };
  for (;;) {
    uint64_t size = 0;
    size_t digits = 0;
    while (i < s.size() && hex(s[i]) >= 0) {
      if (++digits > 15) return std::nullopt;
      size = size * 16 + static_cast<uint64_t>(hex(s[i]));
      ++i;
    }
    if (i == s.size()) return need_more();
    if (digits == 0) return error();
    if (s[i] == ';' || s[i] == ' ' || s[i] == '\t') return std::nullopt;  // extensions
    if (s[i] != '\r') return error();
    if (++i == s.size()) return need_more();
    if (s[i] != '\n') return error();
    ++i;
    if (size == 0) break;
    if (s.size() - i < size) return need_more();
    v.data.append(s.substr(i, size));
    i += size;
    if (i == s.size()) return need_more();
    if (s[i] != '\r') return error();
    if (++i == s.size()) return need_more();
    if (s[i] != '\n') return error();
    ++i;
  }
  // Trailer section: only the empty one here.
  if (i == s.size()) return need_more();
  if (s[i] != '\r') return std::nullopt;  // a trailer field (or garbage the decoder judges)
  if (++i == s.size()) return need_more();
  if (s[i] != '\n') return error();
  v.end = ChunkedDecoder::Status::kDone;
  v.used = i + 1;
  return v;
}

const char* name(ChunkedDecoder::Status s) {
  switch (s) {
    case ChunkedDecoder::Status::kNeedMore:
      return "need more";
    case ChunkedDecoder::Status::kData:
      return "data";
    case ChunkedDecoder::Status::kDone:
      return "done";
    case ChunkedDecoder::Status::kError:
      return "error";
  }
  return "?";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fz::Parts in(data, size);
  std::string_view body = in.part(0);
  fz::Control ctl(in.part(1));
  ChunkedDecoder::Limits limits;
  limits.max_extension_bytes = static_cast<size_t>(ctl.get("e", 4096) % 8192);
  limits.max_trailer_bytes = static_cast<size_t>(ctl.get("t", 65536) % 131072);

  Verdict whole = decode({body}, limits);

  size_t cuts[3] = {static_cast<size_t>(ctl.get("a") % (body.size() + 1)),
                    static_cast<size_t>(ctl.get("b") % (body.size() + 1)),
                    static_cast<size_t>(ctl.get("c") % (body.size() + 1))};
  std::sort(cuts, cuts + 3);
  std::vector<std::string_view> pieces = {
      body.substr(0, cuts[0]), body.substr(cuts[0], cuts[1] - cuts[0]),
      body.substr(cuts[1], cuts[2] - cuts[1]), body.substr(cuts[2])};
  Verdict split = decode(pieces, limits);
  FUZZ_CHECK(whole.end == split.end, std::string(name(whole.end)) + " vs " + name(split.end));
  FUZZ_CHECK(whole.data == split.data, body);
  if (whole.end == ChunkedDecoder::Status::kDone) FUZZ_CHECK(whole.used == split.used, body);

  // Byte at a time: the worst case of TCP splitting.
  if (body.size() <= 512) {
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < body.size(); ++i) bytes.push_back(body.substr(i, 1));
    Verdict one = decode(bytes, limits);
    FUZZ_CHECK(one.end == whole.end && one.data == whole.data, body);
    if (whole.end == ChunkedDecoder::Status::kDone) FUZZ_CHECK(one.used == whole.used, body);
  }

  if (limits.max_extension_bytes >= 64 && limits.max_trailer_bytes >= 64) {
    if (auto ref = reference(body)) {
      FUZZ_CHECK(ref->end == whole.end,
                 std::string("reference: ") + name(ref->end) + ", decoder: " + name(whole.end));
      if (ref->end == ChunkedDecoder::Status::kDone) {
        FUZZ_CHECK(ref->data == whole.data && ref->used == whole.used, body);
      }
    }
  }

  if (whole.end == ChunkedDecoder::Status::kDone) {
    char hexlen[32];
    std::snprintf(hexlen, sizeof hexlen, "%zx", whole.data.size());
    std::string again = whole.data.empty()
                            ? std::string("0\r\n\r\n")
                            : std::string(hexlen) + "\r\n" + whole.data + "\r\n0\r\n\r\n";
    Verdict re = decode({again}, ChunkedDecoder::Limits{});
    FUZZ_CHECK(
        re.end == ChunkedDecoder::Status::kDone && re.data == whole.data && re.used == again.size(),
        again);
  }
  return 0;
}

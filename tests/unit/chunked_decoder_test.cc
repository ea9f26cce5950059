// ChunkedDecoder and HeadScanner: fed every input whole and split at every offset, so no
// verdict depends on where TCP cut the bytes.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proxy/chunked_decoder.h"
#include "proxy/head_scanner.h"

namespace gatehouse {
namespace {

struct Decoded {
  bool done = false;
  bool error = false;
  std::string data;
  size_t consumed = 0;  // bytes used up to and including the end of the body
  std::string why;
};

// Feeds `pieces` in order, as separate reads.
Decoded decode(const std::vector<std::string>& pieces) {
  ChunkedDecoder d;
  Decoded out;
  for (const auto& piece : pieces) {
    size_t off = 0;
    while (off < piece.size() && !out.done && !out.error) {
      size_t used = 0;
      const char* data = nullptr;
      size_t len = 0;
      auto st = d.feed(piece.data() + off, piece.size() - off, &used, &data, &len);
      off += used;
      out.consumed += used;
      if (st == ChunkedDecoder::Status::kData) out.data.append(data, len);
      if (st == ChunkedDecoder::Status::kDone) out.done = true;
      if (st == ChunkedDecoder::Status::kError) {
        out.error = true;
        out.why = d.error();
      }
    }
  }
  return out;
}

// Every split of `wire` into two reads gives the same verdict as the whole.
void check_all_splits(const std::string& wire, const Decoded& whole) {
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    Decoded d = decode({wire.substr(0, cut), wire.substr(cut)});
    INFO("cut at " << cut);
    CHECK(d.done == whole.done);
    CHECK(d.error == whole.error);
    CHECK(d.data == whole.data);
    if (whole.done) CHECK(d.consumed == whole.consumed);
  }
}

}  // namespace

TEST_CASE("chunked bodies with every valid chunk-extension form decode", "[unit][chunked]") {
  // RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
  const char* sizes[] = {"5",           "5;a=b",          "5 ; a=b", "5\t;a=b",   "5;a = b",
                         "5;a=\"d e\"", "5;a=\"d\\\"e\"", "5;a",     "5;a;b=c;d", "5;a=\"\\\\\"",
                         "05",          "5;a=\"x;y\""};
  for (const char* size : sizes) {
    std::string wire = std::string(size) + "\r\nhello\r\n0\r\n\r\nNEXT";
    INFO(wire);
    Decoded d = decode({wire});
    CHECK(d.done);
    CHECK_FALSE(d.error);
    CHECK(d.data == "hello");
    CHECK(d.consumed == wire.size() - 4);  // stops before the next message
    check_all_splits(wire, d);
  }
}

TEST_CASE("chunk sizes are hexadecimal in either case and bounded", "[unit][chunked]") {
  Decoded d = decode({"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"});
  CHECK(d.done);
  CHECK(d.data == "0123456789abcdefghij");
  Decoded big = decode({"1000000000000000\r\n"});  // 16 hex digits: over 2^60 bytes
  CHECK(big.error);
  Decoded many_zeros = decode({"0000000000000000000001\r\nx\r\n0\r\n\r\n"});
  CHECK(many_zeros.error);  // digits are bounded, zeros included
}

TEST_CASE("malformed chunked framing is refused wherever it is split", "[unit][chunked]") {
  const char* bad[] = {
      "\r\nhello\r\n0\r\n\r\n",               // missing size
      "x\r\nhello\r\n0\r\n\r\n",              // not hex
      "-5\r\nhello\r\n0\r\n\r\n",             // sign
      "0x5\r\nhello\r\n0\r\n\r\n",            // 0x prefix
      "5 \r\nhello\r\n0\r\n\r\n",             // whitespace with no extension
      "5\nhello\r\n0\r\n\r\n",                // bare LF after the size
      "5\rhello\r\n0\r\n\r\n",                // bare CR after the size
      "5\r\nhelloX\r\n0\r\n\r\n",             // data longer than its size
      "5\r\nhello\n0\r\n\r\n",                // bare LF after the data
      "5;\r\nhello\r\n0\r\n\r\n",             // ';' without a name
      "5;a=\r\nhello\r\n0\r\n\r\n",           // '=' without a value
      "5;a=\"b\r\nhello\r\n0\r\n\r\n",        // unterminated quoted value
      "5;a=b c\r\nhello\r\n0\r\n\r\n",        // two tokens
      "5;a@b\r\nhello\r\n0\r\n\r\n",          // not a token
      "5\r\nhello\r\n0\r\nX-T\r\n\r\n",       // trailer line without a colon
      "5\r\nhello\r\n0\r\n x: y\r\n\r\n",     // folded trailer
      "5\r\nhello\r\n0\r\nX : y\r\n\r\n",     // whitespace before a trailer colon
      "5\r\nhello\r\n0\r\nX: a\x01\r\n\r\n",  // control character in a trailer
      "5\r\nhello\r\n0\r\n\n",                // bare LF at the end
  };
  for (const char* wire : bad) {
    INFO(wire);
    Decoded d = decode({wire});
    CHECK(d.error);
    CHECK_FALSE(d.done);
    CHECK_FALSE(d.why.empty());
    check_all_splits(wire, d);
  }
}

TEST_CASE("trailer fields are accepted, bounded and dropped", "[unit][chunked]") {
  std::string wire = "3\r\nabc\r\n0\r\nX-Sum: 12\r\nX-Other:\r\n\r\n";
  Decoded d = decode({wire});
  CHECK(d.done);
  CHECK(d.data == "abc");
  CHECK(d.consumed == wire.size());
  check_all_splits(wire, d);

  ChunkedDecoder small({16, 32});
  std::string huge = "0\r\nX: " + std::string(64, 'a') + "\r\n\r\n";
  size_t used = 0;
  const char* data = nullptr;
  size_t len = 0;
  CHECK(small.feed(huge.data(), huge.size(), &used, &data, &len) == ChunkedDecoder::Status::kError);
  ChunkedDecoder small_ext({16, 32});
  std::string ext = "1;" + std::string(64, 'a') + "\r\nx\r\n0\r\n\r\n";
  CHECK(small_ext.feed(ext.data(), ext.size(), &used, &data, &len) ==
        ChunkedDecoder::Status::kError);
  std::string spaces = "1" + std::string(64, ' ') + ";a\r\nx\r\n0\r\n\r\n";
  ChunkedDecoder small_ws({16, 32});
  CHECK(small_ws.feed(spaces.data(), spaces.size(), &used, &data, &len) ==
        ChunkedDecoder::Status::kError);
}

TEST_CASE("the head scanner finds obs-fold, and only obs-fold, at every split", "[unit][chunked]") {
  struct Case {
    const char* head;
    bool fold;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nB: c\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nX-Empty:\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", true},
      {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\nY: c\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n  b\r\n\r\n", true},
  };
  for (const auto& c : cases) {
    std::string head = c.head;
    std::string wire = head + " not part of the head";
    for (size_t cut = 0; cut <= wire.size(); ++cut) {
      HeadScanner s;
      size_t used = s.feed(wire.data(), cut);
      if (!s.done()) used += s.feed(wire.data() + cut, wire.size() - cut);
      INFO(c.head << " cut at " << cut);
      CHECK(s.done());
      CHECK(used == head.size());
      CHECK(s.obs_fold() == c.fold);
    }
  }
}

TEST_CASE("the head scanner counts the status code digits", "[unit][chunked]") {
  struct Case {
    const char* line;
    int digits;
  };
  const Case cases[] = {{"HTTP/1.1 200 OK\r\n\r\n", 3},  {"HTTP/1.1 20 OK\r\n\r\n", 2},
                        {"HTTP/1.1 0200 OK\r\n\r\n", 4}, {"HTTP/1.1 000\r\n\r\n", 3},
                        {"HTTP/1.1 200\r\n\r\n", 3},     {"HTTP/1.1 2000000 X\r\n\r\n", 7}};
  for (const auto& c : cases) {
    std::string wire = c.line;
    for (size_t cut = 0; cut <= wire.size(); ++cut) {
      HeadScanner s;
      s.feed(wire.data(), cut);
      s.feed(wire.data() + cut, wire.size() - cut);
      INFO(c.line << " cut at " << cut);
      CHECK(s.status_digits() == c.digits);
      CHECK(s.done());
    }
  }
}

}  // namespace gatehouse

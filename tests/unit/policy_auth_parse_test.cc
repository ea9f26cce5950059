// Proxy-Authorization parsing without a loop: strict base64, the Basic scheme, the
// user:password split, control characters, and the in-file SHA-256/HMAC used to key
// the credential cache.
#include <catch2/catch.hpp>
#include <string>

#include "proxy/authenticator.h"

namespace gatehouse {
namespace {

std::string hex(const std::array<uint8_t, 32>& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::optional<BasicCredentials> parse(std::string_view value, std::string* why = nullptr) {
  return parse_basic_credentials(value, why);
}

std::string why_not(std::string_view value) {
  std::string why;
  INFO("value: " << value);
  CHECK_FALSE(parse(value, &why).has_value());
  return why;
}

}  // namespace

TEST_CASE("base64 decodes canonical input", "[unit][policy][base64]") {
  CHECK(decode_base64("") == std::string());
  CHECK(decode_base64("Zg==") == std::string("f"));
  CHECK(decode_base64("Zm8=") == std::string("fo"));
  CHECK(decode_base64("Zm9v") == std::string("foo"));
  CHECK(decode_base64("Zm9vYg==") == std::string("foob"));
  CHECK(decode_base64("Zm9vYmE=") == std::string("fooba"));
  CHECK(decode_base64("Zm9vYmFy") == std::string("foobar"));
  CHECK(decode_base64("QWxhZGRpbjpvcGVuIHNlc2FtZQ==") == std::string("Aladdin:open sesame"));
  CHECK(decode_base64("+/+/") == std::string("\xfb\xff\xbf"));
  CHECK(decode_base64("AAAA") == std::string(3, '\0'));
}

TEST_CASE("base64 rejects non-canonical and foreign input", "[unit][policy][base64]") {
  for (const char* bad : {
           "Zg",        // padding missing
           "Zg=",       // padding short
           "Zm9",       // length not a multiple of 4
           "Z===",      // three pad characters
           "====",      // only padding
           "Zg==Zg==",  // padding in the middle
           "Zm=v",      // data after '='
           "Zh==",      // unused bits set (canonical is Zg==)
           "Zm9=",      // unused bits set (canonical is Zm8=)
           "Zm9v\n",    // line break
           "Zm 9v",     // space inside
           "Zm9v-_==",  // URL-safe alphabet
           "Zm9v!A==",  // foreign character
       }) {
    INFO("input: " << bad);
    CHECK_FALSE(decode_base64(bad).has_value());
  }
}

TEST_CASE("Basic credentials parse with a case-insensitive scheme", "[unit][policy][base64]") {
  auto c = parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  REQUIRE(c.has_value());
  CHECK(c->user == "Aladdin");
  CHECK(c->password == "open sesame");
  CHECK(parse("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").has_value());
  CHECK(parse("BASIC QWxhZGRpbjpvcGVuIHNlc2FtZQ==").has_value());
  CHECK(parse("bAsIc QWxhZGRpbjpvcGVuIHNlc2FtZQ==").has_value());
  // Extra spaces between scheme and token, and around the value.
  CHECK(parse("Basic    QWxhZGRpbjpvcGVuIHNlc2FtZQ==").has_value());
  CHECK(parse("  Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\t ").has_value());
}

TEST_CASE("Basic credentials split at the first colon", "[unit][policy][base64]") {
  // "user:pa:ss:word"
  auto c = parse("Basic dXNlcjpwYTpzczp3b3Jk");
  REQUIRE(c.has_value());
  CHECK(c->user == "user");
  CHECK(c->password == "pa:ss:word");
  // ":password" (empty user) and "user:" (empty password) are well-formed.
  auto empty_user = parse("Basic OnBhc3N3b3Jk");
  REQUIRE(empty_user.has_value());
  CHECK(empty_user->user.empty());
  CHECK(empty_user->password == "password");
  auto empty_pw = parse("Basic dXNlcjo=");
  REQUIRE(empty_pw.has_value());
  CHECK(empty_pw->user == "user");
  CHECK(empty_pw->password.empty());
}

TEST_CASE("Basic credentials allow UTF-8", "[unit][policy][base64]") {
  // "jürgen:pässwörd€" in UTF-8
  auto c = parse("Basic asO8cmdlbjpww6Rzc3fDtnJk4oKs");
  REQUIRE(c.has_value());
  CHECK(c->user == "j\xC3\xBCrgen");
  CHECK(c->password == "p\xC3\xA4ssw\xC3\xB6rd\xE2\x82\xAC");
}

TEST_CASE("malformed Proxy-Authorization values say why", "[unit][policy][base64]") {
  CHECK(why_not("") == "empty value");
  CHECK(why_not("   ") == "empty value");
  CHECK(why_not("Basic") == "no credentials after 'Basic'");
  CHECK(why_not("Basic   ") == "no credentials after 'Basic'");
  CHECK(why_not("Bearer abc.def") == "unsupported scheme 'Bearer' (only Basic)");
  CHECK(why_not("Digest username=\"x\"") == "unsupported scheme 'Digest' (only Basic)");
  CHECK(why_not("Basically dXNlcjpwYXNz") == "unsupported scheme 'Basically' (only Basic)");
  CHECK(why_not("dXNlcjpwYXNz") == "unsupported scheme 'dXNlcjpwYXNz' (only Basic)");
  CHECK(why_not("Basic dXNlcjpwYXNz extra") == "unexpected text after the credentials");
  CHECK(why_not("Basic dXNlcjpwYXNz=") == "invalid base64");
  CHECK(why_not("Basic dXNlcjpwYXN") == "invalid base64");
  CHECK(why_not("Basic dXNlcnBhc3M=") == "no ':' between user and password");  // "userpass"
  CHECK(why_not("Basic dXNlcjpwYQBzcw==") ==
        "control character in user name or password");  // "user:pa\0ss"
  CHECK(why_not("Basic dQp4OnB3") == "control character in user name or password");  // "u\nx:pw"
  CHECK(why_not("Basic dXNlcjpwdwk=") == "control character in user name or password");  // tab
  CHECK(why_not("Basic " + std::string(5000, 'A')) == "credentials longer than 4096 characters");
  // A scheme with bytes unfit for a log line is shown sanitised.
  CHECK(why_not("B\x01sic abc") == "unsupported scheme 'B?sic' (only Basic)");
}

TEST_CASE("SHA-256 and HMAC-SHA-256 match the published vectors", "[unit][policy][base64]") {
  using auth_detail::hmac_sha256;
  using auth_detail::sha256;
  CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex(sha256(std::string(1000000, 'a'))) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Block-boundary lengths (55, 56, 64 bytes) exercise the padding paths.
  CHECK(hex(sha256(std::string(55, 'a'))) ==
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(hex(sha256(std::string(56, 'a'))) ==
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(hex(sha256(std::string(64, 'a'))) ==
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  // RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
  CHECK(hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hex(hmac_sha256(std::string(131, '\xaa'),
                        "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("constant-time comparison compares whole strings", "[unit][policy][base64]") {
  using auth_detail::equal_constant_time;
  CHECK(equal_constant_time("", ""));
  CHECK(equal_constant_time("abc", "abc"));
  CHECK_FALSE(equal_constant_time("abc", "abd"));
  CHECK_FALSE(equal_constant_time("abc", "xbc"));
  CHECK_FALSE(equal_constant_time("abc", "ab"));
  CHECK_FALSE(equal_constant_time(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace gatehouse

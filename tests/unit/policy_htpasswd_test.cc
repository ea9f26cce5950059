// htpasswd parsing: every accepted hash kind (generated at test time with libxcrypt, plus
// a published bcrypt test vector), every refused kind with its message and line number,
// comments, blank lines, CRLF, duplicates, the file loader, and the dummy-hash choice.
#include <crypt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "proxy/htpasswd.h"

namespace gatehouse {
namespace {

// crypt(3) of `password` with a fresh salt for `prefix` ("$2y$", "$6$", ...).
std::string make_hash(const char* prefix, const char* password, unsigned long cost = 0) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn(prefix, cost, nullptr, 0, setting, sizeof setting) != nullptr);
  crypt_data data{};
  const char* out = crypt_r(password, setting, &data);
  REQUIRE(out != nullptr);
  REQUIRE(out[0] != '*');
  return out;
}

bool verifies(const std::string& hash, const char* password) {
  crypt_data data{};
  const char* out = crypt_r(password, hash.c_str(), &data);
  return out != nullptr && hash == out;
}

// A published crypt_blowfish test vector: password "U*U".
constexpr const char* kKnownBcrypt = "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

HtpasswdResult parse(const std::string& text) {
  return parse_htpasswd(text, "users.htpasswd");
}

// The single error of a one-error parse.
std::string only_error(const std::string& text) {
  auto r = parse(text);
  INFO("text: " << text);
  REQUIRE(r.errors.size() == 1);
  return r.errors[0];
}

}  // namespace

TEST_CASE("htpasswd accepts every supported hash kind", "[unit][policy][htpasswd]") {
  struct Kind {
    const char* prefix;
    unsigned long cost;
    HashKind kind;
  };
  for (const Kind& k :
       {Kind{"$2y$", 4, HashKind::kBcrypt}, Kind{"$2b$", 4, HashKind::kBcrypt},
        Kind{"$2a$", 4, HashKind::kBcrypt}, Kind{"$6$", 0, HashKind::kSha512Crypt},
        Kind{"$5$", 0, HashKind::kSha256Crypt}, Kind{"$y$", 0, HashKind::kYescrypt}}) {
    INFO("prefix " << k.prefix);
    std::string hash = make_hash(k.prefix, "s3cret", k.cost);
    auto r = parse("alice:" + hash + "\n");
    CHECK(r.errors.empty());
    CHECK(r.ok());
    REQUIRE(r.users.count("alice") == 1);
    CHECK(r.users["alice"] == hash);
    CHECK(verifies(r.users["alice"], "s3cret"));
    CHECK_FALSE(verifies(r.users["alice"], "s3cret "));
    HashKind kind;
    std::string message;
    CHECK(classify_hash(hash, &kind, &message));
    CHECK(kind == k.kind);
  }
}

TEST_CASE("htpasswd accepts a fixed known-good bcrypt line", "[unit][policy][htpasswd]") {
  auto r = parse(std::string("test:") + kKnownBcrypt);
  REQUIRE(r.errors.empty());
  REQUIRE(r.users.count("test") == 1);
  CHECK(verifies(r.users["test"], "U*U"));
  CHECK_FALSE(verifies(r.users["test"], "U*V"));
  // The same vector in $2a$ form.
  std::string a = kKnownBcrypt;
  a[2] = 'a';
  CHECK(parse("test:" + a).ok());
}

TEST_CASE("htpasswd accepts sha-crypt with explicit rounds", "[unit][policy][htpasswd]") {
  crypt_data data{};
  std::string h6 = crypt_r("pw", "$6$rounds=5000$abc", &data);
  std::string h5 = crypt_r("pw", "$5$rounds=1000$abc", &data);
  auto r = parse("a:" + h6 + "\nb:" + h5 + "\n");
  CHECK(r.errors.empty());
  CHECK(r.users.size() == 2);
}

TEST_CASE("htpasswd skips comments and blank lines, tolerates CRLF and outer spaces",
          "[unit][policy][htpasswd]") {
  std::string h = make_hash("$2y$", "pw", 4);
  std::string text = "# users of the proxy\r\n\r\n   \n\t# indented comment\nalice:" + h +
                     "\r\n  bob:" + h + "  \n\n# end";
  auto r = parse(text);
  CHECK(r.errors.empty());
  CHECK(r.warnings.empty());
  CHECK(r.users.size() == 2);
  CHECK(r.users["alice"] == h);
  CHECK(r.users["bob"] == h);
}

TEST_CASE("htpasswd allows UTF-8 and spaces inside user names", "[unit][policy][htpasswd]") {
  std::string h = make_hash("$2y$", "pw", 4);
  auto r = parse("j\xC3\xBCrgen:" + h + "\nann marie:" + h + "\n");
  CHECK(r.errors.empty());
  CHECK(r.users.count("j\xC3\xBCrgen") == 1);
  CHECK(r.users.count("ann marie") == 1);
}

TEST_CASE("htpasswd refuses weak and unknown hashes with advice", "[unit][policy][htpasswd]") {
  // Apache's own MD5 variant, as `htpasswd -m` writes it.
  auto apr1 = only_error("alice:$apr1$Vb2Kx/2B$ZHS8jJhRbGVjh3tuf1nGu1\n");
  CHECK(apr1 ==
        "users.htpasswd:1: user 'alice': Apache MD5 ($apr1$) hashes are not supported: MD5 is far "
        "too fast to protect passwords; regenerate the line with 'htpasswd -B FILE USER' "
        "(bcrypt)");
  CHECK_THAT(only_error("u:$1$abcdefgh$0123456789012345678901"),
             Catch::Contains("MD5-crypt ($1$)") && Catch::Contains("htpasswd -B"));
  CHECK_THAT(only_error("u:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M="),
             Catch::Contains("SHA-1 ({SHA})") && Catch::Contains("htpasswd -B"));
  CHECK_THAT(only_error("u:abJnggxhB/yWI"),
             Catch::Contains("traditional DES crypt") && Catch::Contains("htpasswd -B"));
  CHECK_THAT(only_error("u:$7$CU..../....abc$def"),
             Catch::Contains("unsupported hash scheme '$7$'"));
  CHECK_THAT(only_error("u:$gy$j9T$abc$def"), Catch::Contains("unsupported hash scheme '$gy$'"));
  // A plaintext password is refused and never echoed into the message.
  std::string plain = only_error("u:hunter2-is-my-password");
  CHECK_THAT(plain, Catch::Contains("not a password hash"));
  CHECK_THAT(plain, !Catch::Contains("hunter2"));
}

TEST_CASE("htpasswd refuses malformed hashes of supported kinds", "[unit][policy][htpasswd]") {
  std::string good = kKnownBcrypt;
  CHECK_THAT(only_error("u:" + good.substr(0, 59)), Catch::Contains("malformed bcrypt hash"));
  CHECK_THAT(only_error("u:" + good + "x"), Catch::Contains("malformed bcrypt hash"));
  std::string cost3 = good;
  cost3[5] = '3';  // $2y$03$
  CHECK_THAT(only_error("u:" + cost3), Catch::Contains("malformed bcrypt hash"));
  std::string bad_char = good;
  bad_char[40] = '!';
  CHECK_THAT(only_error("u:" + bad_char), Catch::Contains("malformed bcrypt hash"));

  std::string h6 = make_hash("$6$", "pw");
  CHECK_THAT(only_error("u:" + h6.substr(0, h6.size() - 1)),
             Catch::Contains("malformed sha512-crypt"));
  CHECK_THAT(only_error("u:$6$rounds=abc$salt$" + std::string(86, 'a')),
             Catch::Contains("malformed sha512-crypt"));
  CHECK_THAT(only_error("u:$6$saltsaltsaltsalt1$" + std::string(86, 'a')),  // 17-char salt
             Catch::Contains("malformed sha512-crypt"));
  std::string h5 = make_hash("$5$", "pw");
  CHECK_THAT(only_error("u:" + h5 + "A"), Catch::Contains("malformed sha256-crypt"));
  std::string hy = make_hash("$y$", "pw");
  CHECK_THAT(only_error("u:" + hy.substr(0, hy.size() - 2)), Catch::Contains("malformed yescrypt"));
  CHECK_THAT(only_error("u:$y$$salt$" + std::string(43, 'a')),
             Catch::Contains("malformed yescrypt"));
}

TEST_CASE("htpasswd reports malformed lines with their line numbers", "[unit][policy][htpasswd]") {
  std::string h = make_hash("$2y$", "pw", 4);
  std::string text =
      "# header\n"  // 1
      "alice:" +
      h + "\n" +         // 2 ok
      "no colon here\n"  // 3
      ":" +
      h + "\n" +  // 4 empty user
      "carol:\n"  // 5 empty hash
      "dave :" +
      h + "\n" +                  // 6 space before ':'
      "erin:" + h + ":extra\n" +  // 7 extra field
      "fr\x01"
      "ed:" +
      h + "\n" +             // 8 control character
      "alice:" + h + "\n" +  // 9 duplicate
      "\n"                   // 10
      "gina:$apr1$x$y\n" +   // 11
      "hank:" +
      h;  // 12 ok, no final newline
  auto r = parse(text);
  REQUIRE(r.errors.size() == 8);
  CHECK(r.errors[0] == "users.htpasswd:3: expected 'user:hash', found no ':'");
  CHECK(r.errors[1] == "users.htpasswd:4: empty user name before ':'");
  CHECK_THAT(r.errors[2], Catch::StartsWith("users.htpasswd:5: user 'carol' has an empty hash"));
  CHECK(r.errors[3] ==
        "users.htpasswd:6: user name 'dave ' ends with a space: remove spaces around ':'");
  CHECK(r.errors[4] ==
        "users.htpasswd:7: unexpected ':' after the hash of user 'erin' (one 'user:hash' per "
        "line)");
  CHECK(r.errors[5] == "users.htpasswd:8: user name contains a control character");
  CHECK(r.errors[6] == "users.htpasswd:9: user 'alice' is listed twice (first on line 2)");
  CHECK_THAT(r.errors[7], Catch::StartsWith("users.htpasswd:11: user 'gina': Apache MD5"));
  CHECK_FALSE(r.ok());
  // The good lines are still parsed (for diagnostics); the first alice wins.
  CHECK(r.users.size() == 2);
  CHECK(r.users["alice"] == h);
  CHECK(r.users.count("hank") == 1);
}

TEST_CASE("htpasswd warns about a file without users", "[unit][policy][htpasswd]") {
  auto r = parse("# nobody yet\n\n");
  CHECK(r.ok());
  CHECK(r.users.empty());
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::StartsWith("users.htpasswd: no users"));
  CHECK(parse("").warnings.size() == 1);
}

TEST_CASE("load_htpasswd reads files and reports unreadable ones", "[unit][policy][htpasswd]") {
  char dir_template[] = "/tmp/gh-htpasswd-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  std::string dir = dir_template;
  std::string path = dir + "/users";
  std::string h = make_hash("$2y$", "pw", 4);
  {
    std::ofstream f(path);
    f << "alice:" << h << "\nbob:{SHA}x\n";
  }
  REQUIRE(chmod(path.c_str(), 0640) == 0);
  auto r = load_htpasswd(path);
  CHECK(r.users.size() == 1);
  REQUIRE(r.errors.size() == 1);
  CHECK_THAT(r.errors[0], Catch::StartsWith(path + ":2: user 'bob': SHA-1"));
  CHECK(r.warnings.empty());

  REQUIRE(chmod(path.c_str(), 0644) == 0);
  auto world = load_htpasswd(path);
  REQUIRE(world.warnings.size() == 1);
  CHECK_THAT(world.warnings[0], Catch::Contains("readable by every user"));

  auto missing = load_htpasswd(dir + "/nope");
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0] == dir + "/nope: cannot read: No such file or directory");

  auto directory = load_htpasswd(dir);
  REQUIRE(directory.errors.size() == 1);
  CHECK(directory.errors[0] == dir + ": cannot read: not a regular file");

  std::remove(path.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("Htpasswd finds users exactly and picks a representative dummy hash",
          "[unit][policy][htpasswd]") {
  std::string b10a = make_hash("$2y$", "a", 5);
  std::string b10b = make_hash("$2y$", "b", 5);
  std::string s6 = make_hash("$6$", "c");
  Htpasswd table({{"alice", b10a}, {"bob", b10b}, {"carol", s6}});
  CHECK(table.size() == 3);
  REQUIRE(table.find("alice") != nullptr);
  CHECK(*table.find("alice") == b10a);
  CHECK(table.find("Alice") == nullptr);
  CHECK(table.find("alic") == nullptr);
  CHECK(table.find("") == nullptr);
  // Two of three hashes are bcrypt cost 5: the dummy is one of those.
  CHECK(table.dummy_hash().substr(0, 7) == "$2y$05$");
  CHECK((table.dummy_hash() == b10a || table.dummy_hash() == b10b));

  Htpasswd sha({{"x", s6}});
  CHECK(sha.dummy_hash() == s6);

  // An empty table still has a usable dummy setting (bcrypt cost 10).
  Htpasswd empty;
  CHECK(empty.size() == 0);
  CHECK(empty.dummy_hash().substr(0, 7) == "$2y$10$");
  Htpasswd empty2(std::unordered_map<std::string, std::string>{});
  CHECK(empty2.dummy_hash() == empty.dummy_hash());
  crypt_data data{};
  const char* out = crypt_r("anything", empty.dummy_hash().c_str(), &data);
  REQUIRE(out != nullptr);
  CHECK(out[0] != '*');
}

}  // namespace gatehouse

// Fuzzes the htpasswd parser: parse_htpasswd(contents, "fuzz.htpasswd"), then builds the
// user table an Authenticator would get.
//
// Invariants (proxy/htpasswd.h):
//  - never crashes, leaks or hits UB;
//  - every error and warning is one line "fuzz.htpasswd:..." without control characters
//    (they go to the log and to --check-config output);
//  - every accepted user has a non-empty name without ':' or control characters, not
//    starting with '#' or blank, and a hash that classify_hash() accepts;
//  - writing the accepted users back out as "user:hash" lines and parsing that again
//    gives the same table with no errors;
//  - Htpasswd finds every user, and its dummy hash is a hash of the table (or the
//    built-in bcrypt setting when the table is empty).
//
// The hashes are never verified here (crypt_r with bcrypt is far too slow for fuzzing);
// only their syntax and crypt_checksalt() are exercised.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "proxy/htpasswd.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

constexpr std::string_view kPath = "fuzz.htpasswd";

void check_messages(const std::vector<std::string>& messages) {
  for (const auto& m : messages) {
    FUZZ_CHECK(m.rfind(std::string(kPath) + ":", 0) == 0, m);
    FUZZ_CHECK(!gatehouse::fuzz::has_control(m), m);
  }
}

bool hash_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/' || c == '$' || c == '=';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gatehouse::HtpasswdResult r = gatehouse::parse_htpasswd(text, kPath);

  FUZZ_CHECK(r.ok() == r.errors.empty(), "ok() disagrees with errors");
  check_messages(r.errors);
  check_messages(r.warnings);
  if (!r.users.empty() || !r.errors.empty()) {
    FUZZ_CHECK(r.warnings.empty(), r.warnings.front());
  }

  std::map<std::string, std::string> sorted(r.users.begin(), r.users.end());
  std::string rewritten;
  for (const auto& [user, hash] : sorted) {
    FUZZ_CHECK(!user.empty(), "empty user name");
    FUZZ_CHECK(user.find(':') == std::string::npos, user);
    FUZZ_CHECK(!gatehouse::fuzz::has_control(user), user);
    FUZZ_CHECK(user.front() != '#' && user.front() != ' ' && user.front() != '\t', user);
    FUZZ_CHECK(user.back() != ' ' && user.back() != '\t', user);
    FUZZ_CHECK(!hash.empty() && hash.find(':') == std::string::npos, hash);
    for (char c : hash) FUZZ_CHECK(hash_char(c), hash);
    gatehouse::HashKind kind;
    std::string why;
    FUZZ_CHECK(gatehouse::classify_hash(hash, &kind, &why), hash + " / " + why);
    rewritten += user + ":" + hash + "\n";
  }

  // Only a clean file round-trips: with errors, the good lines are kept for diagnostics
  // only, but they must still be good lines.
  gatehouse::HtpasswdResult again = gatehouse::parse_htpasswd(rewritten, kPath);
  FUZZ_CHECK(again.errors.empty(), again.errors.empty() ? "" : again.errors.front());
  FUZZ_CHECK(again.users == r.users, rewritten);

  gatehouse::Htpasswd table(r.users);
  FUZZ_CHECK(table.size() == r.users.size(), "Htpasswd lost users");
  bool dummy_found = false;
  for (const auto& [user, hash] : r.users) {
    const std::string* h = table.find(user);
    FUZZ_CHECK(h != nullptr && *h == hash, user);
    dummy_found = dummy_found || hash == table.dummy_hash();
  }
  if (r.users.empty()) {
    FUZZ_CHECK(table.dummy_hash() == gatehouse::Htpasswd().dummy_hash(), table.dummy_hash());
  } else {
    FUZZ_CHECK(dummy_found, table.dummy_hash());
  }
  FUZZ_CHECK(gatehouse::classify_hash(table.dummy_hash(), nullptr, nullptr) || r.users.empty(),
             table.dummy_hash());
  return 0;
}

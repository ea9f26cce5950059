// htpasswd files: "user:hash" lines for proxy authentication ([auth] htpasswd).
//
// Pure parsing plus one synchronous file loader. Loading happens at start and on reload
// only (never on a worker loop): read the file with load_htpasswd(), and if the result
// has no errors, wrap its users in an Htpasswd and hand a std::shared_ptr<const Htpasswd>
// to every worker's Authenticator (Authenticator::set_users on reload). An Htpasswd is
// immutable after construction, so one instance may be shared by all worker threads.
//
// Accepted hashes (all verified with libxcrypt's crypt_r):
//   bcrypt        $2y$NN$..., $2b$NN$..., $2a$NN$...  (htpasswd -B, cost 04..31)
//   sha512-crypt  $6$[rounds=N$]salt$...               (mkpasswd -m sha-512)
//   sha256-crypt  $5$[rounds=N$]salt$...               (mkpasswd -m sha-256)
//   yescrypt      $y$params$salt$...                   (mkpasswd -m yescrypt)
// Refused, each with a message saying how to regenerate the line: Apache MD5 ($apr1$),
// MD5-crypt ($1$), SHA-1 ({SHA}), traditional DES crypt (13 characters), other schemes,
// and anything else (a plaintext password looks like "anything else").
//
// File syntax: one "user:hash" per line; blank lines and lines whose first non-blank
// character is '#' are ignored; spaces and tabs around a line and a CR before the LF are
// ignored. The user name is everything before the first ':' (UTF-8 allowed, no control
// characters); the hash is everything after it (no further ':'). A user listed twice is
// an error. Errors are "path:line: message"; every bad line is reported (not just the
// first), in file order.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gatehouse {

enum class HashKind { kBcrypt, kSha512Crypt, kSha256Crypt, kYescrypt };

struct HtpasswdResult {
  std::unordered_map<std::string, std::string> users;  // user -> crypt(3) hash
  // "path:line: message" (or "path: message" for the whole file). Non-empty = the file
  // must not be used: keep running with the previous table (reload) or refuse to start.
  // `users` still holds the good lines, for diagnostics only.
  std::vector<std::string> errors;
  // Worth logging but not fatal: "path: no users", "path: readable by other users ...".
  std::vector<std::string> warnings;

  bool ok() const { return errors.empty(); }
};

// Parses the text of an htpasswd file. `path` only names the file in messages.
HtpasswdResult parse_htpasswd(std::string_view text, std::string_view path);

// Reads and parses a file. Blocking file I/O: call at start or reload, not on a worker
// loop. An unreadable or oversized (> 16 MiB) file is one error "path: cannot read: ...".
HtpasswdResult load_htpasswd(const std::string& path);

// Classifies a hash string; false (and `message` says why and what to do) when the hash
// is not one of the accepted kinds. Exposed for tests and for --check-config style tools.
bool classify_hash(std::string_view hash, HashKind* kind, std::string* message);

// The immutable user table an Authenticator verifies against.
class Htpasswd {
 public:
  Htpasswd();  // empty table
  explicit Htpasswd(std::unordered_map<std::string, std::string> users);

  // The stored hash of `user`, or nullptr. Exact, case-sensitive match.
  const std::string* find(std::string_view user) const;
  size_t size() const { return users_.size(); }

  // A hash to verify against when the user does not exist, so that an unknown user
  // costs the same crypt_r time as a known one: the hash of a real user whose kind and
  // cost parameters ("$2y$10$", "$6$rounds=5000$", "$y$j9T$") are the most common in the
  // table. Only its setting (salt and cost) matters; the outcome is always discarded.
  // For an empty table a built-in bcrypt cost-10 setting.
  const std::string& dummy_hash() const { return dummy_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> users_;
  std::string dummy_;
};

}  // namespace gatehouse

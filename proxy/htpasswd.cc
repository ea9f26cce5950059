#include "proxy/htpasswd.h"

#include <crypt.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

namespace gatehouse {
namespace {

constexpr size_t kMaxFileBytes = 16 * 1024 * 1024;

// Built-in setting for the unknown-user verification when the table is empty: bcrypt
// cost 10 with a fixed salt. Only its cost matters; nothing ever matches against it.
constexpr std::string_view kDefaultDummy = "$2y$10$Gatehouse.dummy.salt.u";

constexpr std::string_view kRegenerate =
    "regenerate the line with 'htpasswd -B FILE USER' (bcrypt)";

bool is_crypt_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/';
}

bool all_crypt_chars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_crypt_char);
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string quote(std::string_view s) {
  return "'" + std::string(s) + "'";
}

// "$2y$10$" + 53 characters.
bool valid_bcrypt(std::string_view h) {
  if (h.size() != 60 || h[3] != '$' || h[6] != '$') return false;
  std::string_view cost = h.substr(4, 2);
  if (!is_digits(cost)) return false;
  int c = (cost[0] - '0') * 10 + (cost[1] - '0');
  return c >= 4 && c <= 31 && all_crypt_chars(h.substr(7));
}

// "$6$" ["rounds=N$"] salt(0..16) "$" hash(digest_len).
bool valid_sha_crypt(std::string_view h, size_t digest_len) {
  std::string_view rest = h.substr(3);
  if (rest.starts_with("rounds=")) {
    size_t dollar = rest.find('$');
    if (dollar == std::string_view::npos || !is_digits(rest.substr(7, dollar - 7))) return false;
    rest.remove_prefix(dollar + 1);
  }
  size_t dollar = rest.find('$');
  if (dollar == std::string_view::npos || dollar > 16) return false;
  std::string_view salt = rest.substr(0, dollar);
  std::string_view digest = rest.substr(dollar + 1);
  return all_crypt_chars(salt) && digest.size() == digest_len && all_crypt_chars(digest);
}

// "$y$" params "$" salt "$" hash(43).
bool valid_yescrypt(std::string_view h) {
  std::string_view rest = h.substr(3);
  size_t d1 = rest.find('$');
  if (d1 == std::string_view::npos || d1 == 0) return false;
  size_t d2 = rest.find('$', d1 + 1);
  if (d2 == std::string_view::npos || d2 == d1 + 1) return false;
  std::string_view params = rest.substr(0, d1);
  std::string_view salt = rest.substr(d1 + 1, d2 - d1 - 1);
  std::string_view digest = rest.substr(d2 + 1);
  return all_crypt_chars(params) && all_crypt_chars(salt) && digest.size() == 43 &&
         all_crypt_chars(digest);
}

// The part of a hash that selects the algorithm and its cost, e.g. "$2y$10$",
// "$6$rounds=5000$", "$6$", "$y$j9T$". Used to pick a representative dummy hash.
std::string cost_prefix(std::string_view hash, HashKind kind) {
  switch (kind) {
    case HashKind::kBcrypt:
      return std::string(hash.substr(0, 7));
    case HashKind::kSha512Crypt:
    case HashKind::kSha256Crypt:
      if (hash.substr(3).starts_with("rounds=")) {
        return std::string(hash.substr(0, hash.find('$', 3) + 1));
      }
      return std::string(hash.substr(0, 3));
    case HashKind::kYescrypt:
      return std::string(hash.substr(0, hash.find('$', 3) + 1));
  }
  return {};
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace

bool classify_hash(std::string_view hash, HashKind* kind, std::string* message) {
  auto fail = [&](std::string text) {
    if (message != nullptr) *message = std::move(text);
    return false;
  };
  HashKind k;
  if (hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$")) {
    if (!valid_bcrypt(hash)) {
      return fail("malformed bcrypt hash (expected '" + std::string(hash.substr(0, 4)) +
                  "NN$' with a cost of 04..31, then 53 characters); " + std::string(kRegenerate));
    }
    k = HashKind::kBcrypt;
  } else if (hash.starts_with("$6$")) {
    if (!valid_sha_crypt(hash, 86)) {
      return fail("malformed sha512-crypt hash (expected '$6$salt$' and 86 characters); " +
                  std::string(kRegenerate));
    }
    k = HashKind::kSha512Crypt;
  } else if (hash.starts_with("$5$")) {
    if (!valid_sha_crypt(hash, 43)) {
      return fail("malformed sha256-crypt hash (expected '$5$salt$' and 43 characters); " +
                  std::string(kRegenerate));
    }
    k = HashKind::kSha256Crypt;
  } else if (hash.starts_with("$y$")) {
    if (!valid_yescrypt(hash)) {
      return fail("malformed yescrypt hash (expected '$y$params$salt$' and 43 characters); " +
                  std::string(kRegenerate));
    }
    k = HashKind::kYescrypt;
  } else if (hash.starts_with("$apr1$")) {
    return fail(
        "Apache MD5 ($apr1$) hashes are not supported: MD5 is far too fast to protect "
        "passwords; " +
        std::string(kRegenerate));
  } else if (hash.starts_with("$1$")) {
    return fail(
        "MD5-crypt ($1$) hashes are not supported: MD5 is far too fast to protect "
        "passwords; " +
        std::string(kRegenerate));
  } else if (hash.starts_with("{SHA}")) {
    return fail("SHA-1 ({SHA}) hashes are not supported: they are unsalted and fast to crack; " +
                std::string(kRegenerate));
  } else if (hash.starts_with("$")) {
    size_t end = hash.find('$', 1);
    std::string scheme = end == std::string_view::npos || end > 12
                             ? std::string("$")
                             : std::string(hash.substr(0, end + 1));
    if (has_control(scheme)) scheme = "$";
    return fail("unsupported hash scheme '" + scheme +
                "' (accepted: bcrypt $2y$/$2b$/$2a$, sha512-crypt $6$, sha256-crypt $5$, "
                "yescrypt $y$); " +
                std::string(kRegenerate));
  } else if (hash.size() == 13 && all_crypt_chars(hash)) {
    return fail(
        "traditional DES crypt hashes are not supported: only 8 password characters count "
        "and they are fast to crack; " +
        std::string(kRegenerate));
  } else {
    // Never echo the field: it may well be a plaintext password.
    return fail("not a password hash (plaintext passwords are not accepted); " +
                std::string(kRegenerate));
  }
  // The syntax is right; make sure this libcrypt can actually verify it.
  std::string setting(hash);
  int check = crypt_checksalt(setting.c_str());
  if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY &&
      check != CRYPT_SALT_TOO_CHEAP) {
    return fail("this system's libcrypt cannot verify this hash (crypt_checksalt: " +
                std::to_string(check) + "); " + std::string(kRegenerate));
  }
  if (kind != nullptr) *kind = k;
  return true;
}

HtpasswdResult parse_htpasswd(std::string_view text, std::string_view path) {
  HtpasswdResult result;
  std::unordered_map<std::string, int> first_line;
  auto error = [&](int line, const std::string& message) {
    result.errors.push_back(std::string(path) + ":" + std::to_string(line) + ": " + message);
  };

  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;

    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;

    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      error(line_no, "expected 'user:hash', found no ':'");
      continue;
    }
    std::string_view user = line.substr(0, colon);
    std::string_view hash = line.substr(colon + 1);
    if (user.empty()) {
      error(line_no, "empty user name before ':'");
      continue;
    }
    if (has_control(user)) {
      error(line_no, "user name contains a control character");
      continue;
    }
    if (user.back() == ' ' || user.back() == '\t') {
      error(line_no, "user name " + quote(user) + " ends with a space: remove spaces around ':'");
      continue;
    }
    if (hash.empty()) {
      error(line_no, "user " + quote(user) + " has an empty hash; " + std::string(kRegenerate));
      continue;
    }
    if (hash.find(':') != std::string_view::npos) {
      error(line_no,
            "unexpected ':' after the hash of user " + quote(user) + " (one 'user:hash' per line)");
      continue;
    }
    std::string message;
    if (!classify_hash(hash, nullptr, &message)) {
      error(line_no, "user " + quote(user) + ": " + message);
      continue;
    }
    auto [it, inserted] = first_line.emplace(std::string(user), line_no);
    if (!inserted) {
      error(line_no, "user " + quote(user) + " is listed twice (first on line " +
                         std::to_string(it->second) + ")");
      continue;
    }
    result.users.emplace(std::string(user), std::string(hash));
  }
  if (result.users.empty() && result.errors.empty()) {
    result.warnings.push_back(std::string(path) +
                              ": no users: every proxied request will be refused with 407");
  }
  return result;
}

HtpasswdResult load_htpasswd(const std::string& path) {
  auto fail = [&](const std::string& why) {
    HtpasswdResult r;
    r.errors.push_back(path + ": cannot read: " + why);
    return r;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    ::close(fd);
    return fail("larger than 16 MiB");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fail(std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      ::close(fd);
      return fail("larger than 16 MiB");
    }
  }
  ::close(fd);
  HtpasswdResult r = parse_htpasswd(text, path);
  if ((st.st_mode & S_IROTH) != 0) {
    r.warnings.push_back(path + ": readable by every user of this system; restrict it (chmod 640)");
  }
  return r;
}

Htpasswd::Htpasswd() : dummy_(kDefaultDummy) {}

Htpasswd::Htpasswd(std::unordered_map<std::string, std::string> users) {
  // Most common cost prefix wins; ties go to the smallest prefix, so the choice is stable.
  std::map<std::string, std::pair<size_t, const std::string*>> prefixes;
  for (auto& [user, hash] : users) {
    HashKind kind;
    if (!classify_hash(hash, &kind, nullptr)) continue;
    auto& slot = prefixes[cost_prefix(hash, kind)];
    ++slot.first;
    if (slot.second == nullptr || hash < *slot.second) slot.second = &hash;
  }
  const std::string* best = nullptr;
  size_t best_count = 0;
  for (auto& [prefix, slot] : prefixes) {
    if (slot.first > best_count) {
      best_count = slot.first;
      best = slot.second;
    }
  }
  dummy_ = best != nullptr ? *best : std::string(kDefaultDummy);
  for (auto& [user, hash] : users) users_.emplace(user, std::move(hash));
}

const std::string* Htpasswd::find(std::string_view user) const {
  auto it = users_.find(user);
  return it == users_.end() ? nullptr : &it->second;
}

}  // namespace gatehouse

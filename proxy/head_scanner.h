// HeadScanner: the raw bytes of one message head, looked at once more beside llhttp for
// the facts llhttp 8.1 does not report or accepts where this proxy must not:
// obs-fold (a field line starting with whitespace, RFC 9112 section 5.2) and the exact
// digits of a response status code (llhttp takes "0200" as 200 and "20" as 20).
//
// The scanner keeps its state between calls, so its verdict never depends on where TCP
// split the head. It stops at the empty line that ends the head; bytes after it are not
// its business. Pure and loop-free.
#pragma once

#include <cstddef>

namespace gatehouse {

class HeadScanner {
 public:
  void reset() { *this = HeadScanner(); }
  // Looks at bytes of the head from where the last call stopped; returns how many belong
  // to the head (all of them until the head's end is seen).
  size_t feed(const char* p, size_t n);
  bool done() const { return done_; }
  // A line after the start line began with SP or HTAB.
  bool obs_fold() const { return obs_fold_; }
  // Digits of the status code on a status line ("HTTP/1.1 200 OK" -> 3).
  int status_digits() const { return status_digits_; }

 private:
  size_t line_ = 0;  // lines finished so far (empty lines before the start line excluded)
  size_t col_ = 0;   // non-CR bytes on the current line
  bool done_ = false;
  bool obs_fold_ = false;
  bool seen_space_ = false;  // on the start line
  bool digits_over_ = false;
  int status_digits_ = 0;
};

}  // namespace gatehouse

#include "proxy/head_scanner.h"

namespace gatehouse {

size_t HeadScanner::feed(const char* p, size_t n) {
  if (done_) return 0;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (c == '\n') {
      if (col_ == 0 && line_ > 0) {
        done_ = true;
        return i + 1;
      }
      if (col_ > 0) ++line_;  // an empty line before the start line is skipped
      col_ = 0;
      continue;
    }
    if (c == '\r') continue;
    if (col_ == 0 && line_ > 0 && (c == ' ' || c == '\t')) obs_fold_ = true;
    if (line_ == 0) {
      if (!seen_space_) {
        seen_space_ = c == ' ';
      } else if (!digits_over_) {
        if (c >= '0' && c <= '9') {
          ++status_digits_;
        } else {
          digits_over_ = true;
        }
      }
    }
    ++col_;
  }
  return n;
}

}  // namespace gatehouse

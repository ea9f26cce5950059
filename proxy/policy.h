// Policy: everything derived from one Config that the request path needs, built once on
// the controlling thread (file reads included: htpasswd, error templates) and then shared
// read-only by every worker. A reload builds a new Policy and swaps it whole; open
// connections keep the one they started with.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/destination_rules.h"
#include "proxy/error_page.h"
#include "proxy/htpasswd.h"
#include "proxy/media_type.h"

namespace gatehouse {

struct Policy {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const ErrorPages> pages;
  std::shared_ptr<const Htpasswd> users;  // null: proxy authentication is off
  DestinationRules destinations;
  MimeFilter mime;

  // Returns null with *error set ("path:line: message") when the htpasswd file is unusable;
  // template problems are only warnings (the built-in pages stand in).
  static std::shared_ptr<const Policy> build(std::shared_ptr<const Config> config,
                                             std::vector<std::string>* warnings,
                                             std::string* error);
};

}  // namespace gatehouse

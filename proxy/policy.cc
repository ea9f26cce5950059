#include "proxy/policy.h"

namespace gatehouse {

std::shared_ptr<const Policy> Policy::build(std::shared_ptr<const Config> config,
                                            std::vector<std::string>* warnings,
                                            std::string* error) {
  auto p = std::make_shared<Policy>();
  p->pages = ErrorPages::load(config->errors.templates_dir, warnings);
  if (!config->auth.htpasswd.empty()) {
    HtpasswdResult r = load_htpasswd(config->auth.htpasswd);
    for (auto& w : r.warnings) warnings->push_back(std::move(w));
    if (!r.ok()) {
      *error = r.errors.front();
      return nullptr;
    }
    p->users = std::make_shared<const Htpasswd>(std::move(r.users));
  }
  p->destinations = DestinationRules::build(config->access);
  p->mime = MimeFilter::build(config->mime);
  p->config = std::move(config);
  return p;
}

}  // namespace gatehouse

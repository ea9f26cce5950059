#include <catch2/catch.hpp>

#include "proxy/access_log.h"

using namespace gatehouse;

TEST_CASE("access log lines: JSON escaping, combined format, no credentials",
          "[unit][access_log]") {
  CHECK(strip_userinfo("http://u:p@h.example:8080/x?y") == "http://h.example:8080/x?y");
  CHECK(strip_userinfo("http://h.example/a@b") == "http://h.example/a@b");
  CHECK(strip_userinfo("h.example:443") == "h.example:443");

  AccessRecord r;
  r.time = "2026-11-25T11:36:33.255Z";
  r.clf_time = "25/Nov/2026:11:36:33 +0000";
  r.client = "127.0.0.1";
  r.method = "GET";
  r.url = "http://h/\"quoted\"\n";
  r.status = 200;
  r.bytes_out = 5;
  r.user_agent = "curl/8";
  std::string json = format_access_json(r);
  CHECK_THAT(json, Catch::Contains("\"url\":\"http://h/\\\"quoted\\\"\\n\""));
  CHECK(json.back() == '\n');
  CHECK(json.find('\n') == json.size() - 1);  // one line
  std::string clf = format_access_combined(r);
  CHECK(clf ==
        "127.0.0.1 - - [25/Nov/2026:11:36:33 +0000] \"GET http://h/\\\"quoted\\\"\\x0a "
        "HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n");
}

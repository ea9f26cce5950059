// Media types: Content-Type parsing (parameters, case, whitespace, garbage, missing),
// wildcard matching, and the response/request filter decisions with their reasons.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/media_type.h"

namespace gatehouse {
namespace {

MimeFilter filter(std::vector<std::string> deny_responses, std::vector<std::string> allow_responses,
                  std::vector<std::string> deny_requests = {}) {
  Config::Mime m;
  m.deny_responses = std::move(deny_responses);
  m.allow_responses = std::move(allow_responses);
  m.deny_requests = std::move(deny_requests);
  return MimeFilter::build(m);
}

}  // namespace

TEST_CASE("Content-Type parses to lower-case type/subtype", "[unit][policy][mime]") {
  CHECK(parse_media_type("text/html") == "text/html");
  CHECK(parse_media_type("Text/HTML") == "text/html");
  CHECK(parse_media_type("text/html; charset=utf-8") == "text/html");
  CHECK(parse_media_type("text/html;charset=UTF-8") == "text/html");
  CHECK(parse_media_type("text/html ; charset=utf-8") == "text/html");
  CHECK(parse_media_type("  application/json  ") == "application/json");
  CHECK(parse_media_type("\tapplication/json\t") == "application/json");
  CHECK(parse_media_type("application/vnd.api+json") == "application/vnd.api+json");
  CHECK(parse_media_type("image/svg+xml;;;") == "image/svg+xml");
  CHECK(parse_media_type("multipart/form-data; boundary=\"a;b\"") == "multipart/form-data");
  // Broken parameters are ignored, as browsers do.
  CHECK(parse_media_type("text/plain; =broken; x") == "text/plain");
  CHECK(parse_media_type("text/plain;") == "text/plain");
}

TEST_CASE("malformed Content-Type values are unparsable", "[unit][policy][mime]") {
  for (const char* bad : {
           "",                     // empty
           "   ",                  // blank
           "text",                 // no subtype
           "text/",                // empty subtype
           "/html",                // empty type
           "text /html",           // space before '/'
           "text/ html",           // space after '/'
           "te xt/html",           // space in type
           "text/ht ml",           // space in subtype
           "text/html, text/css",  // a list (two fields joined)
           "text/html/x",          // '/' is not a token character
           "\"text\"/html",        // quotes
           "text/html\x01",        // control character
           "t\xc3\xa9xt/html",     // non-ASCII
           "*/*",                  // a range, not a type
           "text/*",               // likewise
           "*/html",               //
           ";charset=utf-8",       // parameters only
       }) {
    INFO("value: " << bad);
    CHECK_FALSE(parse_media_type(bad).has_value());
  }
}

TEST_CASE("a missing Content-Type means application/octet-stream", "[unit][policy][mime]") {
  CHECK(effective_media_type("") == "application/octet-stream");
  CHECK(effective_media_type("  \t") == "application/octet-stream");
  CHECK(effective_media_type("Image/PNG") == "image/png");
  CHECK_FALSE(effective_media_type("garbage").has_value());
}

TEST_CASE("media type patterns with wildcards", "[unit][policy][mime]") {
  CHECK(media_type_matches("text/html", "text/html"));
  CHECK_FALSE(media_type_matches("text/html", "text/htm"));
  CHECK_FALSE(media_type_matches("text/html", "text/html5"));
  CHECK(media_type_matches("video/*", "video/mp4"));
  CHECK(media_type_matches("video/*", "video/x-matroska"));
  CHECK_FALSE(media_type_matches("video/*", "videos/mp4"));
  CHECK_FALSE(media_type_matches("video/*", "audio/mp4"));
  CHECK_FALSE(media_type_matches("video/*", "video"));
  CHECK(media_type_matches("*/*", "anything/at-all"));
  CHECK(media_type_matches("application/*", "application/octet-stream"));
}

TEST_CASE("no [mime] rules block nothing", "[unit][policy][mime]") {
  auto f = MimeFilter::build(Config::Mime{});
  CHECK_FALSE(f.filters_responses());
  CHECK_FALSE(f.filters_requests());
  for (const char* ct : {"", "text/html", "garbage", "*/*", "a/b, c/d"}) {
    CHECK_FALSE(f.blocked_response(ct).has_value());
    CHECK_FALSE(f.blocked_request(ct).has_value());
  }
}

TEST_CASE("deny_responses blocks matching types with the entry named", "[unit][policy][mime]") {
  auto f = filter({"application/x-msdownload", "video/*"}, {});
  CHECK(f.filters_responses());
  CHECK_FALSE(f.filters_requests());
  CHECK(f.blocked_response("video/mp4; codecs=avc1") ==
        "deny_responses entry \"video/*\" matches \"video/mp4\"");
  CHECK(f.blocked_response("Application/X-MSDownload") ==
        "deny_responses entry \"application/x-msdownload\" matches \"application/x-msdownload\"");
  CHECK_FALSE(f.blocked_response("text/html").has_value());
  CHECK_FALSE(f.blocked_response("").has_value());  // octet-stream is not denied here
  CHECK_FALSE(f.blocked_request("video/mp4").has_value());
  // Unparsable with a list in force: blocked, the value shown safely.
  CHECK(f.blocked_response("video /mp4") == "unparsable Content-Type \"video /mp4\"");
  CHECK(f.blocked_response("vid\x01"
                           "eo") == "unparsable Content-Type \"vid?eo\"");
}

TEST_CASE("allow_responses lets only listed types through", "[unit][policy][mime]") {
  auto f = filter({}, {"text/*", "application/json"});
  CHECK_FALSE(f.blocked_response("text/html").has_value());
  CHECK_FALSE(f.blocked_response("TEXT/CSS; charset=utf-8").has_value());
  CHECK_FALSE(f.blocked_response("application/json").has_value());
  CHECK(f.blocked_response("application/pdf") == "\"application/pdf\" is not in allow_responses");
  CHECK(f.blocked_response("") == "\"application/octet-stream\" is not in allow_responses");
  CHECK(f.blocked_response("html") == "unparsable Content-Type \"html\"");
}

TEST_CASE("deny_responses is applied before allow_responses", "[unit][policy][mime]") {
  auto f = filter({"text/javascript"}, {"text/*"});
  CHECK(f.blocked_response("text/javascript") ==
        "deny_responses entry \"text/javascript\" matches \"text/javascript\"");
  CHECK_FALSE(f.blocked_response("text/plain").has_value());
}

TEST_CASE("deny_requests blocks request bodies", "[unit][policy][mime]") {
  auto f = filter({}, {}, {"multipart/form-data", "application/*"});
  CHECK(f.filters_requests());
  CHECK_FALSE(f.filters_responses());
  CHECK(f.blocked_request("multipart/form-data; boundary=xyz") ==
        "deny_requests entry \"multipart/form-data\" matches \"multipart/form-data\"");
  CHECK(f.blocked_request("") ==
        "deny_requests entry \"application/*\" matches \"application/octet-stream\"");
  CHECK_FALSE(f.blocked_request("text/plain").has_value());
  CHECK(f.blocked_request("text") == "unparsable Content-Type \"text\"");
  CHECK_FALSE(f.blocked_response("application/zip").has_value());
}

TEST_CASE("a long unparsable value is shortened in the reason", "[unit][policy][mime]") {
  auto f = filter({"video/*"}, {});
  auto reason = f.blocked_response(std::string(300, 'x'));
  REQUIRE(reason.has_value());
  CHECK(*reason == "unparsable Content-Type \"" + std::string(100, 'x') + "...\"");
}

TEST_CASE("MimeFilter builds from a loaded Config", "[unit][policy][mime]") {
  auto parsed = parse_config(R"([mime]
deny_responses = ["Video/*"]
deny_requests = ["application/zip"]
)",
                             "t.toml");
  REQUIRE(std::holds_alternative<Config>(parsed));
  auto f = MimeFilter::build(std::get<Config>(parsed).mime);
  CHECK(f.blocked_response("video/webm").has_value());
  CHECK(f.blocked_request("application/zip").has_value());
  CHECK_FALSE(f.blocked_request("application/json").has_value());
}

}  // namespace gatehouse

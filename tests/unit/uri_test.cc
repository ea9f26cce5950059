#include <catch2/catch.hpp>

#include "proxy/uri.h"

using namespace gatehouse;

TEST_CASE("absolute-form http URIs are split into authority and origin-form", "[unit][uri]") {
  auto r = parse_absolute_uri("http://Example.COM/a/b?x=1#frag");
  REQUIRE(r.error == UriError::kNone);
  CHECK(r.uri.scheme == "http");
  CHECK(r.uri.authority.host == "example.com");
  CHECK(r.uri.authority.port == 80);
  CHECK(r.uri.path_and_query == "/a/b?x=1");
  CHECK(r.uri.authority.to_string(80) == "example.com");
  CHECK(r.uri.authority.to_string() == "example.com:80");
}

TEST_CASE("empty path becomes / and a bare query keeps its ?", "[unit][uri]") {
  CHECK(parse_absolute_uri("http://h").uri.path_and_query == "/");
  CHECK(parse_absolute_uri("http://h?q=1").uri.path_and_query == "/?q=1");
  CHECK(parse_absolute_uri("HTTP://h:8080/").uri.authority.port == 8080);
  CHECK(parse_absolute_uri("http://h:/x").uri.authority.port == 80);
}

TEST_CASE("IPv6 literals need brackets and keep them in the authority", "[unit][uri]") {
  auto r = parse_absolute_uri("http://[::1]:8080/p");
  REQUIRE(r.error == UriError::kNone);
  CHECK(r.uri.authority.host == "::1");
  CHECK(r.uri.authority.ipv6_literal);
  CHECK(r.uri.authority.port == 8080);
  CHECK(r.uri.authority.to_string(80) == "[::1]:8080");
  auto d = parse_absolute_uri("http://[2001:db8::1]/");
  REQUIRE(d.error == UriError::kNone);
  CHECK(d.uri.authority.to_string(80) == "[2001:db8::1]");
  CHECK(parse_absolute_uri("http://[::1/").error == UriError::kBadAuthority);
  CHECK(parse_absolute_uri("http://[nothex]/").error == UriError::kBadAuthority);
  CHECK(parse_absolute_uri("http://::1/").error != UriError::kNone);
}

TEST_CASE("userinfo is recognised and kept out of the authority", "[unit][uri]") {
  auto r = parse_absolute_uri("http://user:pw@host.example:81/x");
  REQUIRE(r.error == UriError::kNone);
  CHECK(r.uri.userinfo == "user:pw");
  CHECK(r.uri.authority.host == "host.example");
  CHECK(r.uri.authority.port == 81);
}

TEST_CASE("bad targets are classified", "[unit][uri]") {
  CHECK(parse_absolute_uri("/just/a/path").error == UriError::kNotAbsolute);
  CHECK(parse_absolute_uri("https://secure.example/").error == UriError::kUnsupportedScheme);
  CHECK(parse_absolute_uri("ftp://files.example/").error == UriError::kUnsupportedScheme);
  CHECK(parse_absolute_uri("http:///nohost").error == UriError::kBadAuthority);
  CHECK(parse_absolute_uri("http://h:99999/").error == UriError::kBadPort);
  CHECK(parse_absolute_uri("http://h:12ab/").error == UriError::kBadPort);
  CHECK(parse_absolute_uri("http://h:0/").error == UriError::kBadPort);
  CHECK(parse_absolute_uri("http://bad host/").error == UriError::kBadAuthority);
  CHECK(parse_absolute_uri("http://a..b/").error == UriError::kBadAuthority);
}

TEST_CASE("authority-form for CONNECT requires a port", "[unit][uri]") {
  auto a = parse_authority_form("example.com:443");
  REQUIRE(a);
  CHECK(a->host == "example.com");
  CHECK(a->port == 443);
  auto v6 = parse_authority_form("[::1]:8443");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 8443);
  CHECK_FALSE(parse_authority_form("example.com"));
  CHECK_FALSE(parse_authority_form("example.com:"));
  CHECK_FALSE(parse_authority_form(":443"));
  CHECK_FALSE(parse_authority_form("example.com:70000"));
  CHECK_FALSE(parse_authority_form("http://example.com:443"));
}

TEST_CASE("a trailing dot in a host name is ignored", "[unit][uri]") {
  auto a = parse_authority("Example.com.:8080", 80);
  REQUIRE(a);
  CHECK(a->host == "example.com");
}

TEST_CASE("only one trailing dot is ignored; an empty last label is refused", "[unit][uri]") {
  CHECK_FALSE(parse_authority("example.com..", 80));
  CHECK_FALSE(parse_authority("example.com..:8080", 80));
  CHECK(parse_absolute_uri("http://example.com../").error == UriError::kBadAuthority);
  CHECK_FALSE(is_valid_host("example.com."));
  CHECK(is_valid_host("example.com"));
}

// Error pages: the bodies of the responses the proxy makes up itself, in three formats
// (text/html, text/plain, application/problem+json per RFC 9457), chosen by the request's
// Accept field, plus optional operator templates that replace the built-in bodies per
// status code and format.
//
// Ownership and threads: ErrorPages is built once by load() (at start-up or reload, on the
// thread that loads the configuration, never on the request path) and is immutable after
// that; workers share it read-only through std::shared_ptr<const ErrorPages>. Templates are
// parsed into segments at load time, so rendering only concatenates escaped strings.
// Everything else here is a pure function.
//
// Escaping: every value inserted into a body (by the built-in pages or by a template) is
// escaped for the body's format: HTML-escaped in HTML, JSON-string-escaped in JSON, and in
// plain text control characters are replaced so a value can never start a new line. Values
// are also forced to valid UTF-8 (invalid bytes become U+FFFD).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/error_catalog.h"

namespace gatehouse {

enum class BodyFormat { kText, kHtml, kJson };

// Picks the body format for an Accept field value (RFC 9110 section 12.5.1): the highest
// q-value wins (q=0 means "not acceptable"); on a tie the more specific media range wins,
// then the range listed first, then text/plain before text/html before JSON. An absent,
// empty or unparsable Accept, or one that accepts none of the three, gives text/plain.
BodyFormat negotiate_format(std::string_view accept);
// "text/plain; charset=utf-8", "text/html; charset=utf-8", "application/problem+json".
std::string_view content_type(BodyFormat format);
// The template file extension of a format: "txt", "html", "json".
std::string_view format_extension(BodyFormat format);

// The request-target as shown in a body: "user:pass@" removed from the authority, cut at
// 2048 bytes (on a UTF-8 boundary, marked with "..."). Not escaped: that happens per format.
std::string display_url(std::string_view target);

// Where the proxy serves the description of each problem type: kErrorTypePath + name.
inline constexpr std::string_view kErrorTypePath = "/gatehouse/errors/";

// The problem type URI of a cause (RFC 9457 section 3.1.1): type_base + kErrorTypePath +
// cause_info().name, e.g. "http://127.0.0.1:3128/gatehouse/errors/dns_error", a page the
// proxy itself serves (render_error_type_page). type_base is "http://" or "https://" and an
// authority (host, IPv4, [IPv6], optional port; one trailing "/" is dropped). When it is
// empty or anything else, the type is "about:blank" (RFC 9457 section 4.2.1), and the JSON
// body's title becomes the status's reason phrase.
std::string problem_type(Cause cause, std::string_view type_base);

// The page that documents one problem type, as GET kErrorTypePath + name is answered: what
// the error means, its status and that status's meaning, its Proxy-Status error type, the
// configuration key of its limit, and the user and administrator hints; in HTML, plain
// text, or JSON (an object describing the type, not problem details). Every inserted value
// is escaped for the format. nullopt when no cause has this name.
std::optional<std::string> render_error_type_page(std::string_view name, BodyFormat format,
                                                  std::string_view proxy_name);
// The Content-Type of a type page: as content_type(), but "application/json" for JSON.
std::string_view type_page_content_type(BodyFormat format);

// The names a template may use as {{name}}, in documentation order.
const std::vector<std::string_view>& template_variables();

class ErrorTemplate;  // a parsed template: literal text and variables (error_page.cc)

// Appends `s` escaped as JSON string content (no quotes): quotes, backslashes and
// control characters escaped, valid UTF-8 kept as is. Shared with the access log.
void append_json_escaped(std::string& out, std::string_view s);

class ErrorPages {
 public:
  // Reads the operator's overrides "<status>.html", "<status>.txt" and "<status>.json" from
  // templates_dir. An empty templates_dir means no overrides. Problems never fail the load:
  // a missing or unreadable directory, an unreadable file, a template with an unknown
  // variable or an unclosed "{{", a .json template that does not render to valid JSON, or a
  // file for a status the proxy never generates, each add one warning "path: message" (when
  // warnings is not null) and leave the built-in page in place. Never returns null.
  static std::shared_ptr<const ErrorPages> load(const std::string& templates_dir,
                                                std::vector<std::string>* warnings);
  // The error message a template text would be rejected with at load, "" when it is valid.
  static std::string check_template(std::string_view text, BodyFormat format);

  ErrorPages(const ErrorPages&) = delete;
  ErrorPages& operator=(const ErrorPages&) = delete;
  ~ErrorPages();

  // The operator's template for this status and format, or nullptr (use the built-in page).
  const ErrorTemplate* find(int status, BodyFormat format) const;
  // Number of templates loaded.
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int status;
    BodyFormat format;
    std::unique_ptr<ErrorTemplate> tpl;
  };
  ErrorPages() = default;
  std::vector<Entry> entries_;
};

// The body for this error in this format, as build_error_response() would send it at time
// `now` (seconds since the epoch): the operator's template when e.pages has one, else the
// built-in page.
std::string render_error_body(const ErrorDetails& e, std::string_view proxy_name, BodyFormat format,
                              long now);

// build_error_response() with an explicit clock, for tests and the documentation examples.
void build_error_response(const ErrorDetails& e, std::string_view proxy_name, long now,
                          std::string& out);

}  // namespace gatehouse

#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<harness>/ (run from anywhere).

The seeds are small, meaningful inputs: real configurations (the shipped gatehouse.toml
included), htpasswd lines of every accepted hash kind and of every refused one, templates
using every variable, request and response heads. Several harnesses cut their input at NUL
bytes into parts (see the comment at the top of each harness); those seeds are built here
so they stay readable. Existing seed files are overwritten; files this script does not
know are left alone. Re-run it after changing a harness's input layout or the shipped
configuration, and commit the result.
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def write(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def nul(*parts):
    return b"\0".join(p.encode() if isinstance(p, str) else p for p in parts)


# --- fuzz_config -----------------------------------------------------------------------
def config_seeds():
    shutil.copyfile(os.path.join(ROOT, "gatehouse.toml"),
                    os.path.join(CORPUS, "fuzz_config", "gatehouse.toml"))
    write("fuzz_config", "empty.toml", "")
    write("fuzz_config", "full.toml", """[server]
listen = ["0.0.0.0:3128", "[::]:3128", "127.0.0.1:0"]
workers = 4
name = "edge-1"
drain_timeout = "0s"
maintenance = true

[timeouts]
client_header = "250ms"
client_idle = "2m"
dns = "5s"
connect = "10s"
response_header = "1h"
idle = "576h"

[limits]
max_connections = 1
max_uri_bytes = 1024
max_header_bytes = 1048576
max_request_body_bytes = 0

[resolver]
servers = ["127.0.0.1:5353", "[::1]", "192.0.2.53"]
max_ttl = "5m"
negative_ttl = "0ms"

[access]
allow_clients = ["0.0.0.0/0", "::/0"]
allow_destinations = ["example.com", "*.example.com", "192.0.2.0/24", "WWW.Example.COM."]
deny_destinations = ["admin.example.com", "10.0.0.0/8", "fc00::/7"]
deny_destination_ips = ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8"]
connect_ports = [443, 80, 8443]
disabled_methods = ["TRACE", "connect", "PROPFIND"]

[auth]
htpasswd = "/etc/gatehouse/htpasswd"
realm = "Example Corp proxy"

[mime]
deny_responses = ["application/x-msdownload", "video/*"]
allow_responses = ["text/*", "image/*", "application/json"]
deny_requests = ["multipart/form-data", "application/octet-stream"]

[redirects]
max_chain = 3
remember = "30s"

[errors]
templates_dir = "/etc/gatehouse/errors"
contact = "ops@example.com"

[log]
access = "/var/log/gatehouse/access.log"
format = "combined"
level = "debug"
""")
    write("fuzz_config", "ranges.toml", '[access]\nconnect_ports = [443, "8000-9000"]\n')
    write("fuzz_config", "inline-tables.toml",
          'server = { name = "x", workers = 2 }\ntimeouts.dns = "1s"\n'
          '[log]\nlevel = "warn"\nformat = "json"\naccess = "off"\n')
    write("fuzz_config", "unknown-key.toml", '[server]\nlisen = ["127.0.0.1:3128"]\n')
    write("fuzz_config", "unknown-section.toml", '[serve]\nlisten = []\n')
    write("fuzz_config", "top-level-key.toml", 'listen = "127.0.0.1:3128"\n')
    write("fuzz_config", "wrong-type.toml", '[server]\nworkers = "4"\nmaintenance = 1\n')
    write("fuzz_config", "bad-values.toml",
          '[timeouts]\ndns = "1500us"\nconnect = "0s"\nidle = "99999999999999999h"\n'
          '[server]\nlisten = ["[::1]", "::1:3128", "localhost:3128", "1.2.3.4:65536"]\n'
          'name = "has space"\n[access]\nallow_clients = []\nconnect_ports = [0, 70000]\n'
          '[mime]\ndeny_responses = ["*/html", "text", "text/ html"]\n')
    write("fuzz_config", "duplicates.toml",
          '[server]\nlisten = ["127.0.0.1:3128", "127.0.0.1:3128"]\n[server]\nworkers = 1\n')
    write("fuzz_config", "syntax-errors.toml",
          '[server\nname = "unterminated\nworkers = 0x10\n')
    write("fuzz_config", "toml-features.toml",
          '# comment\n[errors]\ncontact = """multi\nline"""\ntemplates_dir = \'C:\\\\raw\'\n'
          '[[log]]\nlevel = "info"\n[limits]\nmax_connections = 1_000\n'
          'max_uri_bytes = +8192\nmax_header_bytes = 65_536\n'
          '[redirects]\nremember = "\\u0032m"\nmax_chain = 1979-05-27T07:32:00Z\n')
    write("fuzz_config", "control-chars.toml",
          '[errors]\ncontact = "ops\\u0007@example.com"\n[auth]\nrealm = "a\\"b"\n')
    write("fuzz_config", "env-override.toml",
          nul('[server]\nname = "file"\n',
              "GATEHOUSE_SERVER_LISTEN=0.0.0.0:3128, [::1]:8080\n"
              "GATEHOUSE_SERVER_WORKERS=2\nGATEHOUSE_SERVER_MAINTENANCE=true\n"
              "GATEHOUSE_ACCESS_CONNECT_PORTS=443,80\nGATEHOUSE_TIMEOUTS_DNS=2s\n"
              "GATEHOUSE_PORT=tcp://10.0.0.1:3128\nPATH=/usr/bin\n"))
    write("fuzz_config", "env-bad.toml",
          nul("", "GATEHOUSE_SERVER_LISEN=x\nGATEHOUSE_server_name=y\n"
                  "GATEHOUSE_SERVER_WORKERS=many\nGATEHOUSE_SERVER_MAINTENANCE=yes\n"
                  "GATEHOUSE_ACCESS_CONNECT_PORTS=443,,80\n"))


# --- fuzz_htpasswd ---------------------------------------------------------------------
BCRYPT = "$2y$05$2cpmjzwhiHOPr2Exx2bdvuXMomhpyScesvRSXnix556oyPnjAp/jC"
BCRYPT_B = "$2b$04$aaaaaaaaaaaaaaaaaaaaaOGY9KrC7e/pHj3EXQPxs8hKEBbvQhsvG"
SHA512 = ("$6$jnn9VsHKSCyQELIx$x7JzmYe1GlsyJQJqWevmNUmp/V.Danf1XbTKAA97W1PF9n7Yx3."
          "ZLUs/G6AVlfcqMTElMz.7EF/3j7XPX4.tc/")
SHA512_ROUNDS = ("$6$rounds=5000$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDe"
                 "hy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1")
SHA256 = "$5$CVudeEncLfpF.m4W$KLhrofztpYaAdf.qWUv608f6B8gltybr7M0kfR37WU8"
YESCRYPT = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0"


def htpasswd_seeds():
    write("fuzz_htpasswd", "good-all-kinds",
          f"# Gatehouse users\nalice:{BCRYPT}\nbob:{BCRYPT_B}\ncarol:{SHA512}\n"
          f"dave:{SHA512_ROUNDS}\nerin:{SHA256}\nfrank:{YESCRYPT}\n\n")
    write("fuzz_htpasswd", "good-crlf-blanks",
          f"  \t\r\n# comment\r\n  j\u00fcrgen:{YESCRYPT}  \r\n\t# indented comment\r\n")
    write("fuzz_htpasswd", "empty", "")
    write("fuzz_htpasswd", "comments-only", "# nobody\n\n   \n")
    write("fuzz_htpasswd", "refused-kinds",
          "apr:$apr1$Vb2Kx/2B$ZHS8jJhRbGVjh3tuf1nGu1\nmd5:$1$WyTvO3NG$YyNslu0PzTMlbOOioW/ub0\n"
          "sha:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\ndes:S8wdLmU01DWc.\nplain:hunter2\n"
          "other:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n")
    write("fuzz_htpasswd", "malformed",
          "nocolon\n:nohash-user\nempty:\nspace :" + BCRYPT + "\n"
          "two:" + BCRYPT + ":extra\n"
          "lowcost:$2y$03$" + "C" * 53 + "\n"
          "highcost:$2y$32$" + "C" * 53 + "\n"
          "short:$2y$10$abc\nsha-short:$6$salt$abc\nsha-longsalt:$6$" + "s" * 17 + "$" + "x" * 86 +
          "\nrounds:$6$rounds=$salt$" + "x" * 86 + "\nyes:$y$$salt$" + "x" * 43 + "\n"
          "ctl\x01user:" + BCRYPT + "\n")
    write("fuzz_htpasswd", "duplicate-user",
          f"alice:{BCRYPT}\nbob:{SHA256}\nalice:{SHA512}\n")


# --- fuzz_error_page -------------------------------------------------------------------
VARIABLES = ["status", "reason", "title", "summary", "meaning", "details", "user_hint",
             "admin_hint", "cause", "type", "proxy_status", "method", "url", "host",
             "next_hop", "rcode", "received_status", "limit", "limit_setting", "chain",
             "request_id", "client_address", "proxy_name", "time", "contact"]


def control(cause, fmt, head=False, close=False, builtin=False, received=0, limit=0,
            now=1700000000):
    return (f"c={cause} f={fmt} h={int(head)} k={int(close)} b={int(builtin)} "
            f"r={received} l={limit} t={now}")


def details_parts(**kw):
    order = ["details", "rcode", "next_hop", "method", "url", "request_id",
             "client_address", "contact", "accept", "proxy_name", "chain", "extra",
             "type_base", "type_name"]
    return [kw.get(k, "") for k in order]


HOSTILE = details_parts(
    details='a "quoted" \\ value\r\nwith <script>alert(1)</script> & \xc3\xbc\x01\x1b[31m',
    rcode="NXDOMAIN", next_hop="example.com:80", method="GET",
    url="http://user:pw@example.com/\"'<>\\?q=<script>", request_id="0123abcd\r\nX-Evil: 1",
    client_address="192.0.2.1", contact="javascript:alert(1)",
    accept="text/html;q=0.9, application/problem+json", proxy_name="gatehouse",
    chain="http://a.example/\"\nhttp://b.example/<script>\njavascript:alert(1)",
    extra="Retry-After: 60\r\nAllow: GET, HEAD\nProxy-Authenticate: Basic realm=\"x\"\n"
          "Content-Length: 0\nBad Name: x",
    type_base="http://127.0.0.1:3128", type_name="dns_error")


def error_page_seeds():
    every = " ".join("{{%s}}" % v for v in VARIABLES)
    html = ("<!doctype html>\n<html><head><title>{{status}} {{reason}}</title></head>\n"
            "<body><h1>{{title}}</h1><p>{{details}}</p><p>{{user_hint}}</p>\n"
            "<ol>{{chain}}</ol><a href=\"mailto:{{contact}}\">{{contact}}</a>\n"
            "<p><small>request {{ request_id }} at {{time}}</small></p></body></html>\n")
    text = "{{status}} {{reason}}\n\n{{details}}\n\t" + every + "\n"
    json_ok = ('{"type": "{{type}}", "title": "{{title}}", "status": {{status}}, '
               '"detail": "{{details}}",\n "request_id": "{{request_id}}", "chain": "{{chain}}", '
               '"all": "' + every + '", "help": "https://intranet.example/proxy-help"}\n')
    json_bad = '{"status": {{status}}, "limit": {{limit}}, "x": {{received_status}}}\n'
    # Causes by index in Cause order: 0 bad request, 5 client denied, 7 proxy auth,
    # 17 dns error, 29 redirect loop, 32 internal.
    n = 0
    for cause in (0, 5, 7, 17, 29, 32):
        for fmt, tpl in ((0, text), (1, html), (2, json_ok)):
            n += 1
            write("fuzz_error_page", f"template-{n:02d}",
                  nul(tpl, control(cause, fmt, received=302, limit=20), *HOSTILE))
    write("fuzz_error_page", "json-unquoted-limit", nul(json_bad, control(29, 2, limit=20), *HOSTILE))
    write("fuzz_error_page", "json-escape-trick",
          nul('{"a": "\\u0{{status}}", "b": 1{{received_status}}}',
              control(17, 2, received=502), *HOSTILE))
    write("fuzz_error_page", "unclosed", nul("{{status}} {{oops", control(3, 0), *HOSTILE))
    write("fuzz_error_page", "unknown-var", nul("{{hostname}}\n{{}}", control(3, 1), *HOSTILE))
    write("fuzz_error_page", "bad-utf8", nul(b"caf\xe9 {{status}}", control(3, 0), *HOSTILE))
    for cause in range(0, 33, 3):
        for fmt in (0, 1, 2):
            write("fuzz_error_page", f"builtin-{cause:02d}-{fmt}",
                  nul("", control(cause, fmt, builtin=True, received=404 if cause % 2 else 0,
                                  limit=8192 if cause % 3 else 0, head=cause % 5 == 0,
                                  close=cause % 2 == 0), *HOSTILE))
    plain = details_parts(details="The origin did not answer.", method="GET",
                          url="http://example.com/", accept="", type_name="connection_refused")
    write("fuzz_error_page", "builtin-plain", nul("", control(19, 0, builtin=True), *plain))


# --- fuzz_request_head / fuzz_response_head --------------------------------------------
def req(text, split):
    return nul(text, f"s={split}")


def request_seeds():
    seeds = {
        "get": "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88\r\n"
               "Accept: */*\r\n\r\n",
        "get-auth": "GET http://user:pw@Example.COM:8080/a/b?c=d#frag HTTP/1.1\r\nHost: example.com\r\n"
                    "Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\nProxy-Connection: keep-alive\r\n"
                    "Connection: keep-alive, X-Secret, te\r\nX-Secret: 1\r\nTE: trailers\r\n"
                    "Keep-Alive: timeout=5\r\nVia: 1.1 other\r\n\r\n",
        "post-cl": "POST http://example.com/form HTTP/1.1\r\nHost: example.com\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
        "post-chunked": "POST http://example.com/up HTTP/1.1\r\nHost: example.com\r\n"
                        "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "cl-and-te": "POST http://example.com/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n",
        "websocket": "GET http://example.com/chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
        "http10": "GET http://[2001:db8::1]:81/ HTTP/1.0\r\nUser-Agent: old\r\n\r\n",
        "connect": "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "origin-form": "GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n",
        "obs-fold": "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX-Long: a\r\n b\r\n\r\n",
        "bare-lf": "GET http://example.com/ HTTP/1.1\nHost: example.com\nX: y\n\n",
        "expect": "PUT http://example.com/f HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\n"
                  "Content-Length: 100000\r\n\r\n",
        "query-only": "OPTIONS http://example.com?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                      "Max-Forwards: 0\r\n\r\n",
    }
    for i, (name, text) in enumerate(seeds.items()):
        write("fuzz_request_head", name, req(text, (i * 37) % (len(text) + 1)))


def response_seeds():
    seeds = {
        "200-cl": ("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello", ""),
        "200-chunked": ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                        "5\r\nhello\r\n0\r\n\r\n", ""),
        "200-close": ("HTTP/1.0 200 OK\r\nServer: old\r\n\r\nbody until close", "http10=1"),
        "204": ("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", ""),
        "304": ("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n", ""),
        "head": ("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "head=1"),
        "101": ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", "upgrade=1"),
        "100": ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ""),
        "hop-by-hop": ("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                       "Connection: close, X-Internal\r\nX-Internal: 1\r\nKeep-Alive: timeout=5\r\n"
                       "Via: 1.1 parent\r\nContent-Length: 0\r\n\r\n", "close=1"),
        "reason": ("HTTP/1.1 404 Not \x80\xff Found\t here\r\nContent-Length: 0\r\n\r\n", ""),
        "no-reason": ("HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n", ""),
        "digits": ("HTTP/1.1 0200 OK\r\nContent-Length: 0\r\n\r\n", ""),
        "obs-fold": ("HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\nContent-Length: 0\r\n\r\n", ""),
        "dup-cl": ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", ""),
    }
    for i, (name, (text, flags)) in enumerate(seeds.items()):
        ctl = f"s={(i * 41) % (len(text) + 1)} {flags}".strip()
        write("fuzz_response_head", name, nul(text, ctl))


# --- fuzz_uri --------------------------------------------------------------------------
def uri_seeds():
    seeds = {
        "absolute": "http://example.com/path?query=1",
        "userinfo": "http://user:p%40ss@Example.COM:8080/a@b?c#frag",
        "ipv6": "http://[2001:DB8::1]:80/",
        "ipv6-bad": "http://[::1/",
        "port-empty": "http://example.com:/",
        "port-bad": "http://example.com:99999/",
        "query-no-path": "HTTP://example.com?x",
        "https": "https://example.com/",
        "authority-form": "example.com:443",
        "authority-v6": "[::ffff:192.0.2.1]:8443",
        "fqdn": "www.example.com.:80",
        "underscore": "_dmarc.example.com",
        "media": nul("Text/HTML; charset=utf-8", "text/*\nvideo/*\napplication/json\n*/*"),
        "media-bad": nul("video /mp4", "video/*"),
        "media-list": nul("text/html, application/json", "application/octet-stream"),
        "media-empty": nul("  \t", "application/octet-stream"),
    }
    for name, text in seeds.items():
        write("fuzz_uri", name, text)


# --- fuzz_chunked ----------------------------------------------------------------------
def chunked_seeds():
    seeds = {
        "simple": "5\r\nhello\r\n0\r\n\r\n",
        "two-chunks": "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n",
        "empty": "0\r\n\r\n",
        "leading-zeros": "0005\r\nhello\r\n000\r\n\r\n",
        "extensions": "5;name=value\r\nhello\r\n4 ; a = \"q\\\"x\" ;b\r\nabcd\r\n0;last\r\n\r\n",
        "trailers": "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nExpires: never\r\n\r\n",
        "bare-lf": "5\nhello\n0\n\n",
        "bare-cr": "5\rhello\r0\r\r",
        "size-space": "5 \r\nhello\r\n0\r\n\r\n",
        "huge-size": "ffffffffffffffff\r\nx",
        "negative": "-5\r\nhello\r\n0\r\n\r\n",
        "0x": "0x5\r\nhello\r\n0\r\n\r\n",
        "short-data": "5\r\nhel\r\n0\r\n\r\n",
        "long-data": "3\r\nhello\r\n0\r\n\r\n",
        "smuggle": "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: internal\r\n\r\n",
        "trailer-no-colon": "0\r\nnot a field\r\n\r\n",
    }
    for i, (name, text) in enumerate(seeds.items()):
        n = len(text) + 1
        write("fuzz_chunked", name, nul(text, f"a={(i * 7) % n} b={(i * 13) % n} c={(i * 29) % n}"))


if __name__ == "__main__":
    for h in ("fuzz_config", "fuzz_htpasswd", "fuzz_error_page", "fuzz_request_head",
              "fuzz_response_head", "fuzz_uri", "fuzz_chunked"):
        os.makedirs(os.path.join(CORPUS, h), exist_ok=True)
    config_seeds()
    htpasswd_seeds()
    error_page_seeds()
    request_seeds()
    response_seeds()
    uri_seeds()
    chunked_seeds()
    total = sum(len(files) for _, _, files in os.walk(CORPUS))
    print(f"gen_seeds: {total} seed files under {os.path.relpath(CORPUS, ROOT)}")

#!/usr/bin/env bash
# Loopback throughput: wrk against an nginx origin directly, then through Gatehouse, in
# the same run, and through a second Gatehouse that requires proxy authentication;
# prints requests/s for each and the ratios. Everything stays on 127.0.0.1.
#
#   bench/run.sh [duration=10s] [connections=50] [threads=2]
#
# Needs wrk and nginx-light (`make bench` installs them) and a built ./build/gatehouse.
# BENCH_WORKERS sets the proxy's worker threads (default 1), BENCH_BINARY the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10s}
connections=${2:-50}
threads=${3:-2}
binary=${BENCH_BINARY:-./build/gatehouse}
workers=${BENCH_WORKERS:-1}

command -v wrk >/dev/null || { echo "bench: wrk is missing (make bench installs it)" >&2; exit 1; }
[ -x /usr/sbin/nginx ] || { echo "bench: nginx is missing (make bench installs nginx-light)" >&2; exit 1; }
[ -x "$binary" ] || { echo "bench: $binary not built (make build)" >&2; exit 1; }

work=$(mktemp -d)
chmod 755 "$work"  # nginx workers run as an unprivileged user
cleanup() {
  [ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null || true
  [ -n "${auth_pid:-}" ] && kill "$auth_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

origin_port=$(free_port)
proxy_port=$(free_port)
mkdir -p "$work/www" "$work/tmp"
head -c 1024 /dev/zero | tr '\0' 'x' > "$work/www/1k.txt"

cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp;
  proxy_temp_path $work/tmp;
  fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp;
  scgi_temp_path $work/tmp;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$origin_port;
    root $work/www;
  }
}
CONF
/usr/sbin/nginx -c "$work/nginx.conf"

# A second proxy with proxy authentication (a sha512-crypt hash from openssl, 5000
# rounds): measures authenticated requests, whose verification is cached after the first.
auth_port=$(free_port)
printf 'bench:%s\n' "$(openssl passwd -6 benchpass)" > "$work/htpasswd"
cat > "$work/gatehouse-auth.toml" <<CONF
[server]
listen = ["127.0.0.1:$auth_port"]
workers = $workers
[access]
deny_destination_ips = []
[auth]
htpasswd = "$work/htpasswd"
[log]
level = "warn"
access = "off"
CONF

cat > "$work/gatehouse.toml" <<CONF
[server]
listen = ["127.0.0.1:$proxy_port"]
workers = $workers
[access]
deny_destination_ips = []
[log]
level = "warn"
access = "off"
CONF
"$binary" --config "$work/gatehouse.toml" 2>"$work/gatehouse.log" &
proxy_pid=$!
"$binary" --config "$work/gatehouse-auth.toml" 2>"$work/gatehouse-auth.log" &
auth_pid=$!

# Wait until both answer (bounded).
ready=0
for _ in $(seq 100); do
  if curl -sf -o /dev/null "http://127.0.0.1:$origin_port/1k.txt" &&
     curl -sf -o /dev/null -x "http://127.0.0.1:$proxy_port" "http://127.0.0.1:$origin_port/1k.txt" &&
     curl -sf -o /dev/null -U bench:benchpass -x "http://127.0.0.1:$auth_port" "http://127.0.0.1:$origin_port/1k.txt"; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "bench: origin or proxy did not come up" >&2
  cat "$work/gatehouse.log" "$work/gatehouse-auth.log" "$work/nginx-error.log" >&2 || true
  exit 1
fi

cat > "$work/proxied.lua" <<LUA
wrk.path = "http://127.0.0.1:$origin_port/1k.txt"
wrk.headers["Host"] = "127.0.0.1:$origin_port"
LUA

cat > "$work/auth.lua" <<LUA
wrk.path = "http://127.0.0.1:$origin_port/1k.txt"
wrk.headers["Host"] = "127.0.0.1:$origin_port"
wrk.headers["Proxy-Authorization"] = "Basic $(printf 'bench:benchpass' | base64)"
LUA

rps() { awk '/Requests\/sec/ {print $2}'; }

echo "origin: nginx on 127.0.0.1:$origin_port; proxy: gatehouse ($workers worker) on 127.0.0.1:$proxy_port"
echo "wrk: $threads threads, $connections connections, $duration, GET 1 KiB"
direct=$(wrk -t"$threads" -c"$connections" -d"$duration" "http://127.0.0.1:$origin_port/1k.txt" | tee "$work/direct.txt" | rps)
proxied=$(wrk -t"$threads" -c"$connections" -d"$duration" -s "$work/proxied.lua" "http://127.0.0.1:$proxy_port" | tee "$work/proxied.txt" | rps)
authed=$(wrk -t"$threads" -c"$connections" -d"$duration" -s "$work/auth.lua" "http://127.0.0.1:$auth_port" | tee "$work/authed.txt" | rps)
grep -E "Non-2xx|Socket errors" "$work/direct.txt" "$work/proxied.txt" "$work/authed.txt" || true
printf 'direct   %12s req/s\n' "$direct"
printf 'proxied  %12s req/s\n' "$proxied"
printf 'auth     %12s req/s (Basic credentials on every request, verification cached)\n' "$authed"
awk -v d="$direct" -v p="$proxied" 'BEGIN { printf "ratio    %12.2f (proxied / direct)\n", p / d }'
awk -v p="$proxied" -v a="$authed" 'BEGIN { printf "ratio    %12.2f (authenticated / unauthenticated proxied)\n", a / p }'

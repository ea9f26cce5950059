#!/usr/bin/env bash
# Installs the Debian packages Gatehouse needs to build, test and benchmark,
# but only those that are missing: one dpkg check each, then one apt-get call.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libuv1-dev node-llhttp libc-ares-dev catch2 libtomlplusplus-dev
  libcrypt-dev libsystemd-dev
  curl python3
  # Fuzzing (make fuzz, make fuzz-smoke in make test): clang, libFuzzer and the sanitizer
  # runtimes (libclang-rt-dev, only a Recommends of clang), llvm-symbolizer for stacks (llvm).
  clang libclang-rt-dev llvm
)
case "${1:-}" in
  --bench) packages+=(wrk nginx-light) ;;
  # make image, make deb and the packaging tests: containers with podman and runc,
  # Debian root file systems with mmdebstrap, .deb checks with dpkg-dev and lintian.
  --packaging) packages+=(podman runc mmdebstrap uidmap dpkg-dev lintian) ;;
esac

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "bootstrap: installing missing packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Shared helpers for the packaging tests (tests/packaging/*_test.sh) and scripts/image.sh,
# scripts/deb.sh: podman with the runtime and limits that work on Debian 12 hosts with
# hybrid cgroups, and cached Debian 12 root file systems made locally with mmdebstrap from
# the machine's own apt sources (there is no registry to pull a base image from).
#
# Source it; it defines functions only.

GH_REPO_ROOT=${GH_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
GH_PKG_CACHE=${GH_PKG_CACHE:-$GH_REPO_ROOT/build/packaging}

# crun fails on hybrid cgroups here, and without explicit limits neither runtime can raise
# RLIMIT_NOFILE past the hard limit; runc with explicit ulimits works.
gh_podman() {
  podman --runtime runc "$@"
}
gh_podman_run() {
  gh_podman run --ulimit nofile=10000:10000 --ulimit nproc=4096:4096 "$@"
}

# Prints why podman cannot run containers here and returns 1, or returns 0 silently.
gh_podman_usable() {
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
    echo "podman or runc is not installed"
    return 1
  fi
  local out
  if ! out=$(gh_podman info --format '{{.Host.OCIRuntime.Name}}' 2>&1); then
    echo "podman info failed: ${out##*$'\n'}"
    return 1
  fi
  return 0
}

# gh_rootfs_image NAME "pkg1,pkg2,..." -> prints the podman image name
# localhost/gatehouse-rootfs-NAME:<hash>, building it once with mmdebstrap (variant apt:
# Essential + apt, plus the listed packages) and importing it; later calls reuse it.
gh_rootfs_image() {
  local name=$1 include=$2
  local tag
  tag=$(printf '%s|%s' "$name" "$include" | sha256sum | cut -c1-12)
  local image="localhost/gatehouse-rootfs-$name:$tag"
  if gh_podman image exists "$image"; then
    echo "$image"
    return 0
  fi
  mkdir -p "$GH_PKG_CACHE"
  local tar="$GH_PKG_CACHE/rootfs-$name-$tag.tar"
  if [ ! -s "$tar" ]; then
    echo "packaging: building a Debian 12 rootfs '$name' with mmdebstrap ($include)" >&2
    mmdebstrap --quiet --variant=apt ${include:+--include="$include"} bookworm "$tar.tmp" >&2 \
      || { rm -f "$tar.tmp"; return 1; }
    mv "$tar.tmp" "$tar"
  fi
  gh_podman import --quiet "$tar" "$image" >/dev/null || return 1
  echo "$image"
}

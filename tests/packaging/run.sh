#!/usr/bin/env bash
# Runs every tests/packaging/*_test.sh against the build tree $1; fails if any fails.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
failed=()
for t in "$here"/*_test.sh; do
  [ -e "$t" ] || continue
  echo "=== packaging: $(basename "$t")"
  if ! bash "$t" "$build"; then failed+=("$(basename "$t")"); fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "packaging tests failed: ${failed[*]}" >&2
  exit 1
fi
echo "packaging tests passed"

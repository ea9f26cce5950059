#!/usr/bin/env bash
# Runs every libFuzzer harness of a fuzz build tree for SECONDS each and says, per
# harness, how many inputs it executed and whether it found anything.
#
#   tests/fuzz/run.sh [BUILD_DIR [SECONDS [HARNESS...]]]     (defaults: build-fuzz 60 all)
#
# Used by `make fuzz` (FUZZ_SECONDS, default 60) and `make fuzz-smoke` (5 s, part of
# `make test`). Nothing is written into the seed corpora in git: each harness reads
# tests/fuzz/corpus/<harness>/ and keeps what it learns in BUILD_DIR/fuzz-work/corpus/<harness>/
# (reused by the next run); crash, leak, timeout and out-of-memory inputs land in
# BUILD_DIR/fuzz-work/artifacts/<harness>/ and the full log in BUILD_DIR/fuzz-work/<harness>.log.
# Exit status: 0 when no harness found anything, 1 otherwise (2 for a usage error).
# How to reproduce a finding: docs/fuzzing.md.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build-fuzz}
seconds=${2:-60}
shift $(( $# < 2 ? $# : 2 ))
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "run.sh: SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
fi

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in "$src"/fuzz_*.cc; do
    harnesses+=("$(basename "$f" .cc)")
  done
fi

work="$build/fuzz-work"
mkdir -p "$work"
# Symbolised stacks in reports; UBSan stacks too. Leak checking stays on (libFuzzer's default).
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in llvm-symbolizer /usr/lib/llvm-14/bin/llvm-symbolizer; do
    if command -v "$s" >/dev/null 2>&1; then
      export ASAN_SYMBOLIZER_PATH=$(command -v "$s")
      break
    fi
  done
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Harnesses that need scratch files (fuzz_error_page) make them below TMPDIR.
tmp="$work/tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
export TMPDIR=$(cd "$tmp" && pwd)

failed=0
printf '%-20s %12s %10s  %s\n' harness executions "exec/s" result
for h in "${harnesses[@]}"; do
  bin="$build/fuzz/$h"
  log="$work/$h.log"
  if [ ! -x "$bin" ]; then
    printf '%-20s %12s %10s  %s\n' "$h" - - "MISSING: $bin not built"
    failed=1
    continue
  fi
  corpus="$work/corpus/$h"
  artifacts="$work/artifacts/$h"
  mkdir -p "$corpus" "$artifacts"
  # The shipped configuration is always a seed, as it is now.
  [ "$h" = fuzz_config ] && cp "$src/../../gatehouse.toml" "$corpus/shipped-gatehouse.toml"
  before=$(find "$artifacts" -type f | wc -l)
  args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
        -max_len=16384 -artifact_prefix="$artifacts/")
  [ -f "$src/dict/$h.dict" ] && args+=(-dict="$src/dict/$h.dict")
  "$bin" "${args[@]}" "$corpus" "$src/corpus/$h" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  after=$(find "$artifacts" -type f | wc -l)
  if [ $rc -eq 0 ] && [ "$after" -eq "$before" ]; then
    result="ok, nothing found"
  else
    failed=1
    artifact=$(ls -t "$artifacts" 2>/dev/null | head -1)
    result="FOUND SOMETHING (exit $rc): ${artifact:+$artifacts/$artifact}"
  fi
  printf '%-20s %12s %10s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "$result"
  if [ "$result" != "ok, nothing found" ]; then
    # The report: the broken invariant or sanitizer error, and the top of the stack.
    grep -E -m1 -A60 '==fuzz==|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log" |
      grep -v -E 'in fuzzer::|__sanitizer_print_stack_trace|libc\.so|pthread_kill|raise\.c|abort\.c|libc_start|in _start|in main |rudimentary signal|Combine libFuzzer|^ *$' |
      sed 's/^/    /' | head -30
    echo "    full log: $log"
    echo "    reproduce: $bin ${artifact:+$artifacts/$artifact}"
  fi
done
rm -rf "$tmp"
exit $failed

#!/usr/bin/env bash
# Builds the fuzzing harnesses in BUILD_DIR (configuring it with -DAIGW_FUZZ=ON when needed)
# and runs each for SECONDS_PER_TARGET (default 30) from its seed corpus (tests/fixtures) and
# its regression corpus (tests/fixtures/fuzz-regressions/<target>/). Fails when a harness
# crashes; the crashing input is saved under tests/fixtures/fuzz-regressions/<target>/ so the
# next run replays it. Optional third argument: a regex of target names to run.
#
#   tests/fuzz/run.sh build-fuzz 30
#   tests/fuzz/run.sh build-fuzz 60 'fuzz_provider_.*'
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS_PER_TARGET=30] [TARGET_REGEX]" >&2
  exit 2
fi
build=$1
seconds=${2:-30}
only=${3:-.*}
root=$(cd "$(dirname "$0")/../.." && pwd)
regressions=$root/tests/fixtures/fuzz-regressions

# libFuzzer with Debian's clang 16 when it is installed (install-deps.sh --test does), else
# the g++ driver (see CMakeLists.txt). A build dir keeps the compiler it was configured with.
if ! grep -q '^AIGW_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  compiler=()
  if command -v clang++-16 >/dev/null 2>&1; then
    compiler=(-DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_C_COMPILER=clang-16)
  fi
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAIGW_FUZZ=ON -DAIGW_WERROR=ON \
    "${compiler[@]}" >/dev/null || exit 1
fi
cmake --build "$build" -j"${AIGW_FUZZ_JOBS:-2}" --target aigw_fuzz || exit 1

failed=()
while read -r name binary seeds; do
  [ -n "$name" ] || continue
  [[ "$name" =~ ^($only)$ ]] || continue
  work=$build/fuzz-work/$name
  mkdir -p "$work/corpus" "$work/artifacts" "$regressions/$name"
  rm -f "$work/artifacts"/crash-* "$work/artifacts"/leak-* "$work/artifacts"/timeout-* "$work/artifacts"/oom-*
  dirs=("$work/corpus" "$regressions/$name")
  for s in $seeds; do
    [ -d "$s" ] && dirs+=("$s")
  done
  echo "== $name (${seconds}s)" >&2
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$work/artifacts/" "${dirs[@]}" >"$work/log.txt" 2>&1
  rc=$?
  tail -n 2 "$work/log.txt" >&2
  shopt -s nullglob
  found=("$work/artifacts"/crash-* "$work/artifacts"/leak-* "$work/artifacts"/timeout-* "$work/artifacts"/oom-*)
  shopt -u nullglob
  if [ $rc -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
    for f in "${found[@]}"; do
      cp "$f" "$regressions/$name/"
      echo "   kept $regressions/$name/$(basename "$f")" >&2
    done
    echo "   FAILED (exit $rc); log: $work/log.txt" >&2
    failed+=("$name")
  fi
done <"$build/tests/fuzz/targets.txt"

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash" >&2

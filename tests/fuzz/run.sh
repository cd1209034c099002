#!/usr/bin/env bash
# Builds the fuzzing harnesses in BUILD_DIR (configuring it with -DAIGW_FUZZ=ON when needed)
# and runs each for SECONDS_PER_TARGET (default 30) from its seed corpus (tests/fixtures) and
# its regression corpus (tests/fixtures/fuzz-regressions/<target>/). Fails when a harness
# crashes; the crashing input is saved under tests/fixtures/fuzz-regressions/<target>/ so the
# next run replays it. Optional third argument: a regex of target names to run.
# With --build-only in place of SECONDS it builds the harnesses and runs none.
#
#   tests/fuzz/run.sh build-fuzz 30
#   tests/fuzz/run.sh build-fuzz 60 'fuzz_provider_.*'
#   tests/fuzz/run.sh build-fuzz --build-only
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
if [ "$seconds" = --build-only ]; then
  exit 0
fi

# One harness. Its log, its report and a "failed" marker go to its own work dir, so that
# harnesses running side by side do not interleave their output.
fuzz_one() {  # fuzz_one NAME BINARY SEEDS...
  local name=$1 binary=$2
  shift 2
  local work=$build/fuzz-work/$name
  mkdir -p "$work/corpus" "$work/artifacts" "$regressions/$name"
  rm -f "$work/failed" "$work/artifacts"/crash-* "$work/artifacts"/leak-* "$work/artifacts"/timeout-* "$work/artifacts"/oom-*
  local dirs=("$work/corpus" "$regressions/$name") s
  for s in "$@"; do
    [ -d "$s" ] && dirs+=("$s")
  done
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$work/artifacts/" "${dirs[@]}" >"$work/log.txt" 2>&1
  local rc=$? f found
  {
    echo "== $name (${seconds}s)"
    tail -n 2 "$work/log.txt"
    shopt -s nullglob
    found=("$work/artifacts"/crash-* "$work/artifacts"/leak-* "$work/artifacts"/timeout-* "$work/artifacts"/oom-*)
    shopt -u nullglob
    if [ $rc -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
      for f in "${found[@]}"; do
        cp "$f" "$regressions/$name/"
        echo "   kept $regressions/$name/$(basename "$f")"
      done
      echo "   FAILED (exit $rc); log: $work/log.txt"
      echo "$name" >"$work/failed"
    fi
  } >"$work/report.txt"
}

# The harnesses run side by side, one per core (AIGW_FUZZ_PARALLEL), each for the full time:
# a harness is single-threaded, so this halves the wall time on two cores and costs none of
# their runs.
parallel=${AIGW_FUZZ_PARALLEL:-$(nproc)}
names=()
while read -r name binary seeds; do
  [ -n "$name" ] || continue
  [[ "$name" =~ ^($only)$ ]] || continue
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n
  done
  # shellcheck disable=SC2086  # the seed dirs are a space-separated list
  fuzz_one "$name" "$binary" $seeds </dev/null &
  names+=("$name")
done <"$build/tests/fuzz/targets.txt"
wait

failed=()
for name in "${names[@]}"; do
  cat "$build/fuzz-work/$name/report.txt" >&2
  [ -f "$build/fuzz-work/$name/failed" ] && failed+=("$name")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash" >&2

#!/usr/bin/env bash
# The README's second command (and what .ci/run runs): install dependencies, build with
# AddressSanitizer and UBSan, run every test: unit tests, integration tests over real
# HTTP against the fake upstream, and end-to-end tests with the official npm SDKs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash packaging/install-deps.sh --test

build="${AIGW_TEST_BUILD_DIR:-build-test}"
sanitize="${AIGW_SANITIZE:-ON}"
# The harnesses build in a dir of their own: libFuzzer needs clang (16, see tests/fuzz).
fuzz_build="${AIGW_FUZZ_BUILD_DIR:-$build-fuzz}"
mkdir -p "$build"

# Work that waits more than it computes runs beside the build at the lowest priority, so it
# takes only the cores' idle time: the npm packages download during the C++ build, and the
# fuzzing harnesses compile while the tests run. Each phase waits for its own job first.
(nice -n 19 bash tests/npm_install.sh tests/sdk && nice -n 19 bash tests/npm_install.sh tests/clients --omit=optional) \
  >"$build/npm.log" 2>&1 &
npm_job=$!
echo "==> building in $build (sanitizers: $sanitize)" >&2
# -g1: line tables for the sanitizers' stack traces without the full debug info, which made
# this tree 7 GB (every test binary links the daemon) and filled a CI disk once.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DAIGW_SANITIZE="$sanitize" \
    -DAIGW_WERROR=ON -DAIGW_FUZZ=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"
nice -n 19 bash tests/fuzz/run.sh "$fuzz_build" --build-only >"$build/fuzz-build.log" 2>&1 &
fuzz_build_job=$!

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

status=0
echo "==> format (.clang-format)" >&2
format_fail=0
bash tests/check_format.sh || { status=1; format_fail=1; }

echo "==> unit and integration tests (ctest)" >&2
# Verbose into a log (each doctest binary prints its own case counts); the per-binary
# lines on the terminal, and the whole log when something failed.
if ! ctest --test-dir "$build" -V -j2 > "$build/ctest.log" 2>&1; then
  status=1
  cat "$build/ctest.log"
fi
grep -E "Test +#[0-9]+:|test cases:|tests passed" "$build/ctest.log" | sed 's/^[0-9]*: //'

# A failed install is retried, and reported, by the SDK and client scripts themselves.
wait "$npm_job" || cat "$build/npm.log" >&2
echo "==> official SDK tests (npm openai, @anthropic-ai/sdk) and real clients (Codex CLI, Vercel AI SDK)" >&2
bash tests/sdk/run.sh "$build" | tee "$build/sdk.log" || status=1

echo "==> promptfoo (npm, openai:responses providers)" >&2
bash tests/clients/run.sh "$build" | tee "$build/clients.log" || status=1

echo "==> package (.deb from CPack: dpkg -i, the system unit's command as its user, purge)" >&2
bash tests/packaging/test_deb.sh "$build" | tee "$build/package.log" || status=1

# Fuzzing: every pure parser and translator, each for a bounded time from the fixtures'
# seed corpus; an input that crashes is kept under tests/fixtures/fuzz-regressions/.
fuzz_seconds="${AIGW_FUZZ_SECONDS:-25}"
echo "==> fuzzing (${fuzz_seconds} s per harness)" >&2
fuzz_pass=0
fuzz_fail=0
# A failed build is retried, and reported, by run.sh below.
wait "$fuzz_build_job" || true
if bash tests/fuzz/run.sh "$fuzz_build" "$fuzz_seconds" > "$build/fuzz.log" 2>&1; then
  fuzz_pass=$(grep -c '^== ' "$build/fuzz.log" || true)
else
  status=1
  fuzz_fail=1
  cat "$build/fuzz.log"
fi
tail -1 "$build/fuzz.log"

# One closing line over every test case that ran (doctest cases + SDK tests).
ct_pass=$(sed -n 's/.*test cases: *[0-9]* *| *\([0-9]*\) passed.*/\1/p' "$build/ctest.log" | awk '{s+=$1} END {print s+0}')
ct_fail=$(sed -n 's/.*test cases: *[0-9]* *| *[0-9]* passed *| *\([0-9]*\) failed.*/\1/p' "$build/ctest.log" | awk '{s+=$1} END {print s+0}')
sdk_pass=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$build/sdk.log" | tail -1)
sdk_fail=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$build/sdk.log" | tail -1)
clients_pass=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$build/clients.log" | tail -1)
clients_fail=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$build/clients.log" | tail -1)
package_pass=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$build/package.log" | tail -1)
package_fail=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$build/package.log" | tail -1)
passed=$(( ${ct_pass:-0} + ${sdk_pass:-0} + ${clients_pass:-0} + ${package_pass:-0} + fuzz_pass ))
failed=$(( ${ct_fail:-0} + ${sdk_fail:-0} + ${clients_fail:-0} + ${package_fail:-0} + fuzz_fail + format_fail ))
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "summary: $passed passed, $failed failed"
exit "$status"

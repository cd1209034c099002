#!/usr/bin/env bash
# The README's second command (and what .ci/run runs): install dependencies, build with
# AddressSanitizer and UBSan, run every test: unit tests, integration tests over real
# HTTP against the fake upstream, and end-to-end tests with the official npm SDKs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash packaging/install-deps.sh --test

build="${AIGW_TEST_BUILD_DIR:-build-test}"
sanitize="${AIGW_SANITIZE:-ON}"
echo "==> building in $build (sanitizers: $sanitize)" >&2
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAIGW_SANITIZE="$sanitize" -DAIGW_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

status=0
echo "==> unit and integration tests (ctest)" >&2
ctest --test-dir "$build" --output-on-failure -j2 | tee "$build/ctest.log" || status=1

echo "==> official SDK tests (npm openai, @anthropic-ai/sdk)" >&2
bash tests/sdk/run.sh "$build" | tee "$build/sdk.log" || status=1

# One closing line over everything that ran.
ct_pass=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$build/ctest.log" | awk '{print $1-$2}')
ct_fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p' "$build/ctest.log")
sdk_pass=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$build/sdk.log" | tail -1)
sdk_fail=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$build/sdk.log" | tail -1)
passed=$(( ${ct_pass:-0} + ${sdk_pass:-0} ))
failed=$(( ${ct_fail:-0} + ${sdk_fail:-0} ))
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "summary: $passed passed, $failed failed"
exit "$status"

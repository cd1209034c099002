#!/usr/bin/env bash
# End-to-end tests of aigwd with the official openai / @anthropic-ai/sdk npm packages as clients.
#
#   tests/sdk/run.sh BUILD_DIR [TEST_FILE...]
#
# Uses BUILD_DIR/daemon/aigwd, BUILD_DIR/cli/aigw and BUILD_DIR/tests/fake-upstream (build
# them first: ninja -C BUILD_DIR aigwd aigw fake-upstream). Installs the pinned packages with `npm ci` when
# node_modules is missing or stale (tests/npm_install.sh). Each test file starts
# its own fake upstream and daemon (see helpers.mjs); a failing file keeps its temp dir and
# prints "# kept <dir>". Output is TAP, ending with "# pass N" / "# fail N" lines.
# Env: AIGW_SDK_CONCURRENCY (test files run at once, default 1), AIGW_SDK_TEST_TIMEOUT_MS (per
# test, default 60000), AIGW_KEEP_TMP=1 keeps every temp dir.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR [TEST_FILE...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
shift

for bin in "$build/daemon/aigwd" "$build/cli/aigw" "$build/tests/fake-upstream"; do
  if [[ ! -x $bin ]]; then
    echo "$0: $bin is missing; build it with: ninja -C $build aigwd aigw fake-upstream" >&2
    exit 2
  fi
done

command -v node >/dev/null || { echo "$0: node is not installed" >&2; exit 2; }

bash "$here/../npm_install.sh" "$here"
cd "$here"

export AIGW_BUILD_DIR=$build
if [[ $# -eq 0 ]]; then
  set -- ./*.test.mjs
fi
exec node --test --test-reporter=tap --test-concurrency="${AIGW_SDK_CONCURRENCY:-1}" \
  --test-timeout="${AIGW_SDK_TEST_TIMEOUT_MS:-60000}" "$@"

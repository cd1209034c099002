#!/usr/bin/env bash
# End-to-end tests of aigwd with heavier real clients from npm (promptfoo), pinned in
# package-lock.json and installed without optional dependencies.
#
#   tests/clients/run.sh BUILD_DIR [TEST_FILE...]
#
# Uses the harness of tests/sdk (helpers.mjs and its node_modules: run tests/sdk/run.sh
# first, or let this script install it). Output is TAP, ending with "# pass N" / "# fail N".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR [TEST_FILE...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
shift

bash "$here/../npm_install.sh" "$here/../sdk"
bash "$here/../npm_install.sh" "$here" --omit=optional

cd "$here"
export AIGW_BUILD_DIR=$build
if [[ $# -eq 0 ]]; then
  set -- ./*.test.mjs
fi
exec node --test --test-reporter=tap --test-concurrency=1 --test-timeout="${AIGW_SDK_TEST_TIMEOUT_MS:-120000}" "$@"

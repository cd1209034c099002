#!/usr/bin/env bash
# Installs a test dir's pinned npm packages with `npm ci` when its node_modules is missing or
# was installed from another package-lock.json (a stamp in node_modules records which).
#
#   tests/npm_install.sh DIR [npm ci flags...]
#
# Used by tests/sdk/run.sh and tests/clients/run.sh, and by tests/run_all.sh, which runs it
# in the background while the C++ build takes the cores. Two installs must not run in one
# DIR at once: run_all.sh waits for its background install before it starts the tests.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 DIR [npm ci flags...]" >&2
  exit 2
fi
dir=$(cd "$1" && pwd)
shift
stamp=$dir/node_modules/.aigw-package-lock.sha256
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
command -v npm >/dev/null || { echo "$0: npm is not installed" >&2; exit 2; }
echo "# npm ci in $dir" >&2
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error "$@" >&2)
echo "$want" >"$stamp"

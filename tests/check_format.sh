#!/usr/bin/env bash
# Checks that every C++ file is formatted with the tree's .clang-format (clang-format 14,
# Debian's clang-format package). Fix with:
#   clang-format -i $(git ls-files '*.cpp' '*.hpp' '*.ipp')
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.ipp')
else
  mapfile -t files < <(find cli daemon shared tests bench -name '*.cpp' -o -name '*.hpp' -o -name '*.ipp')
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "format: ${#bad[@]} file(s) differ from .clang-format: ${bad[*]}" >&2
  echo "format: run clang-format -i on them" >&2
  exit 1
fi
echo "format: ${#files[@]} files match .clang-format" >&2

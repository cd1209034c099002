#!/usr/bin/env bash
# Builds a synthetic ledger of N rows over 90 days through the Ledger's own schema and writer
# (bench/ledger_bench.cpp, compiled here with -O2 against daemon/ledger), then times each
# report, logs query, budget seeding, start-up and the writer's rows/s at that size.
#
#   bench/ledger_scale.sh [--rows N] [--days D] [--keep DIR] [--random-ids]
#   bench/ledger_scale.sh --bodies N
#
# --random-ids: request ids of 12 random hex digits, as aigwd made them before 65d25fc (now
# they begin with their time). --bodies N: body logging on, N conversations of 20 turns: the
# writer's rows/s and rows per CPU-second with bodies, and the file's bytes per row.
#
# A benchmark, not a test: it prints numbers. 5M rows take several minutes and ~1.2 GB.
# On a shared machine compare rows per CPU-second; the load is printed before and after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rows=5000000
days=90
keep=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows=$2; shift 2 ;;
        --days) days=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        --random-ids) extra+=(--random-ids); shift ;;
        --bodies) extra+=(--bodies "$2"); shift 2 ;;
        *) echo "usage: $0 [--rows N] [--days D] [--keep DIR] [--random-ids] [--bodies N]" >&2; exit 2 ;;
    esac
done
work=$(mktemp -d "${TMPDIR:-/tmp}/aigw-ledger-bench-XXXXXX")
[ -n "$keep" ] || trap 'rm -rf "$work"' EXIT
bin="$work/bench-ledger"
echo "compiling bench-ledger (-O2)..." >&2
${CXX:-g++} -std=c++23 -O2 -I"$top" "$top"/daemon/ledger/*.cpp "$top"/shared/wire/*.cpp "$here/ledger_bench.cpp" -o "$bin" \
    -lSQLiteCpp -lsqlite3 -lcrypto -pthread
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
"$bin" --db "$work/ledger.db" --rows "$rows" --days "$days" "${extra[@]}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
ls -la "$work" | grep ledger.db >&2
if [ -n "$keep" ]; then
    mkdir -p "$keep" && mv "$work"/ledger.db* "$keep"/ && echo "kept in $keep" >&2
fi

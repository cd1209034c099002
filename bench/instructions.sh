#!/usr/bin/env bash
# Instruction counts: how many instructions aigwd executes (in user space, under valgrind's
# callgrind) for one request, or for one relayed chunk of a long stream. Unlike the
# wall-clock benchmarks these counts do not move with the host's load or speed: the same
# binary and workload give the same count within about 3% (timing still decides how reads
# and ledger batches fall), so two builds can be compared one after the other on a noisy
# shared machine. They say nothing of the kernel's part (syscalls, loopback TCP), which the
# wall-clock benchmarks include. A benchmark, not a test: nothing asserts.
#
# The requests are made with curl, CLIENTS at a time, each PER requests one after the
# other; counting starts after two warm-up requests and stops when the last one is answered.
# The ledger's writer thread is reported apart: it writes one transaction per batch of rows,
# and here batches are small (a row or two), where under load they hold many rows, so its
# share here is far above what it is under a real load.
#
# usage: bench/instructions.sh [--mode stream|json|sse] [--clients N] [--per N] [--keep-alive] [BUILD_DIR]
#   stream (default): bench/slow-upstream, 20 chunks 100 ms apart; per relayed chunk
#                     (20 content chunks, the finish chunk and the usage chunk: 22 a stream)
#   json, sse:        fake-upstream, a plain or a streamed answer; per request
#   --keep-alive:     each client sends its requests over one connection, as wrk does in
#                     gateway_overhead.sh (else each request opens a connection of its own)
#   env AIGWD, SLOW_UPSTREAM, FAKE_UPSTREAM name the binaries directly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
mode=stream clients="" per="" build_dir="" keep_alive=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mode) mode="$2"; shift 2 ;;
        --clients) clients="$2"; shift 2 ;;
        --per) per="$2"; shift 2 ;;
        --keep-alive) keep_alive=1; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "instructions: unknown option $1" >&2; exit 2 ;;
        *) build_dir="$1"; shift ;;
    esac
done
build_dir="${build_dir:-$repo/build}"
die() { echo "instructions: $*" >&2; exit 1; }
case "$mode" in
    stream) clients="${clients:-20}" per="${per:-5}" ;;
    json|sse) clients="${clients:-4}" per="${per:-50}" ;;
    *) die "--mode is stream, json or sse" ;;
esac
command -v valgrind >/dev/null || die "valgrind is not installed (Debian: apt-get install valgrind)"
command -v callgrind_control >/dev/null || die "callgrind_control is missing (it comes with valgrind)"
command -v curl >/dev/null || die "curl is not installed"
AIGWD_BIN="${AIGWD:-$build_dir/daemon/aigwd}"
[[ -x "$AIGWD_BIN" ]] || die "no aigwd at $AIGWD_BIN (cmake --build $build_dir --target aigwd)"

work="$(mktemp -d)"
# aigwd runs under callgrind: lib.sh starts "$AIGWD", this wrapper execs valgrind on it.
cat >"$work/aigwd-under-callgrind" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" "$AIGWD_BIN" "\$@"
WRAP
chmod +x "$work/aigwd-under-callgrind"
AIGWD="$work/aigwd-under-callgrind"
if [[ "$mode" == stream ]]; then
    FAKE_UPSTREAM="${SLOW_UPSTREAM:-$build_dir/bench/slow-upstream}"
    [[ -x "$FAKE_UPSTREAM" ]] || die "no slow-upstream at $FAKE_UPSTREAM"
else
    FAKE_UPSTREAM="${FAKE_UPSTREAM:-$build_dir/tests/fake-upstream}"
    [[ -x "$FAKE_UPSTREAM" ]] || die "no fake-upstream at $FAKE_UPSTREAM"
fi
source "$here/lib.sh"
if [[ "$mode" == stream ]]; then
    start_fake_upstream --chunks 20 --interval-ms 100
else
    start_fake_upstream
fi
start_aigwd $'[ledger]\nretention_days = 0\n[upstream]\nidle_timeout_ms = 60000\n'

stream_field=false
[[ "$mode" == json ]] || stream_field=true
body='{"model":"openai/gpt-4o-mini","stream":'"$stream_field"',"messages":[{"role":"user","content":"xx"}]}'
one() {
    curl -fsS -o /dev/null -H "Authorization: Bearer $gateway_key" -H "Content-Type: application/json" \
        -d "$body" "http://127.0.0.1:$daemon_port/v1/chat/completions" || echo "instructions: a request failed" >&2
}
one
one
callgrind_control --zero "$daemon_pid" >/dev/null 2>&1
echo "instructions: $mode, $clients clients x $per requests..." >&2
pids=()
for _ in $(seq "$clients"); do
    if ((keep_alive)); then
        # One curl, the same POST to the same URL $per times: it reuses its connection.
        urls=()
        for _ in $(seq "$per"); do urls+=("http://127.0.0.1:$daemon_port/v1/chat/completions"); done
        (curl -fsS -H "Authorization: Bearer $gateway_key" -H "Content-Type: application/json" -d "$body" \
            "${urls[@]}" >/dev/null || echo "instructions: a request failed" >&2) &
    else
        (for _ in $(seq "$per"); do one; done) &
    fi
    pids+=($!)
done
wait "${pids[@]}"
callgrind_control --dump "$daemon_pid" >/dev/null 2>&1
dump=""
for _ in $(seq 100); do
    dump="$(ls "$work"/callgrind.out.*.1 2>/dev/null | head -1 || true)"
    [[ -n "$dump" ]] && break
    sleep 0.1
done
[[ -n "$dump" ]] || die "callgrind wrote no dump"
sleep 0.5  # the dump is written by the profiled process; let it finish

callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$dump" >"$work/annotated" 2>/dev/null ||
    die "callgrind_annotate could not read $dump"
total="$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$work/annotated")"
ledger="$(awk '/ledger::Ledger::writer_loop\(\)/ { gsub(",", "", $1); print $1; exit }' "$work/annotated")"
ledger="${ledger:-0}"
[[ -n "$total" ]] || die "could not read $dump"
requests=$((clients * per))
if [[ "$mode" == stream ]]; then
    unit="relayed chunk" units=$((requests * 22))
else
    unit="request" units=$requests
fi
printf '%s: %d requests, %d instructions in all, %d of them on the ledger thread\n' \
    "$mode" "$requests" "$total" "$ledger"
printf '%s: %d instructions a %s outside the ledger thread; ledger thread %d a %s\n' \
    "$mode" $(((total - ledger) / units)) "$unit" $((ledger / units)) "$unit"

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
# usage: bench/instructions.sh [--mode stream|json|sse] [--clients N] [--per N] [--keep-alive]
#                              [--surface openai|anthropic] [--prompt-kb N] [BUILD_DIR]
#   stream (default): bench/slow-upstream, 20 chunks 100 ms apart; per relayed chunk
#                     (20 content chunks, the finish chunk and the usage chunk: 22 a stream;
#                     with --surface anthropic, per event: the 20 text deltas and 5 others)
#   json, sse:        fake-upstream, a plain or a streamed answer; per request
#   --keep-alive:     each client sends its requests over one connection, as wrk does in
#                     gateway_overhead.sh (else each request opens a connection of its own)
#   --surface:        OpenAI's chat (default) or Anthropic's Messages, passed through to
#                     the upstream as the anthropic provider
#   --prompt-kb N:    an agent's request of about N KB instead of the small one: a long
#                     system prompt, tool definitions, earlier turns of tool calls and their
#                     results, with quotes, backslashes and non-ASCII text (as chat.lua's)
#   env AIGWD, SLOW_UPSTREAM, FAKE_UPSTREAM name the binaries directly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
mode=stream clients="" per="" build_dir="" keep_alive=0 surface=openai prompt_kb=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mode) mode="$2"; shift 2 ;;
        --clients) clients="$2"; shift 2 ;;
        --per) per="$2"; shift 2 ;;
        --keep-alive) keep_alive=1; shift ;;
        --surface) surface="$2"; shift 2 ;;
        --prompt-kb) prompt_kb="$2"; shift 2 ;;
        -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
case "$surface" in
    openai) path=/v1/chat/completions ;;
    anthropic) path=/v1/messages ;;
    *) die "--surface is openai or anthropic" ;;
esac
[[ "$prompt_kb" =~ ^[0-9]+$ ]] || die "--prompt-kb takes a number of KB"
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
export ANTHROPIC_API_KEY=sk-ant-bench AIGW_ANTHROPIC_BASE_URL="http://127.0.0.1:$fake_port/v1"
start_aigwd $'[ledger]\nretention_days = 0\n[upstream]\nidle_timeout_ms = 60000\n'

stream_field=false
[[ "$mode" == json ]] || stream_field=true
# The request, in the surface's shape: the small one, or an agent's of about --prompt-kb KB.
python3 - "$surface" "$prompt_kb" "$stream_field" >"$work/body.json" <<'PY'
import json, sys
surface, kb, stream = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "true"
para = ('fn parse_config(path: &str) -> Result<Config, Error> { read("config.toml")?; }\n'
        '\tquotes " and backslashes \\ in a path C:\\src, and text: \u00e9 \u00fc \u4e2d\u6587 \U0001F600.\n')
params = {"type": "object", "properties": {"path": {"type": "string"}, "line": {"type": "integer"},
          "flags": {"type": "array", "items": {"type": "string"}}}, "required": ["path"]}
system, turns, size, i = para * 20 if kb else "You are a terse assistant.", [], 0, 0
while size < kb * 1024:
    i += 1
    if surface == "openai":
        turn = [{"role": "user", "content": para * 3},
                {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{i}", "type": "function",
                 "function": {"name": "tool_1", "arguments": json.dumps({"path": "src/main.rs", "line": i})}}]},
                {"role": "tool", "tool_call_id": f"call_{i}", "content": para * 8}]
    else:
        turn = [{"role": "user", "content": para * 3},
                {"role": "assistant", "content": [{"type": "tool_use", "id": f"toolu_{i}", "name": "tool_1",
                 "input": {"path": "src/main.rs", "line": i}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": para * 8}]}]
    turns += turn
    size += len(json.dumps(turn, ensure_ascii=False).encode())
last = [{"role": "user", "content": "xx"}]
if surface == "openai":
    body = {"model": "openai/gpt-4o-mini", "stream": stream, "messages": [{"role": "system", "content": system}] + turns + last}
    if kb:
        body["tools"] = [{"type": "function", "function": {"name": f"tool_{t}", "description": para, "parameters": params}}
                         for t in range(1, 13)]
else:
    body = {"model": "anthropic/claude-sonnet-4-5", "max_tokens": 32, "stream": stream, "system": system,
            "messages": turns + last}
    if kb:
        body["tools"] = [{"name": f"tool_{t}", "description": para, "input_schema": params} for t in range(1, 13)]
sys.stdout.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
PY
url="http://127.0.0.1:$daemon_port$path"
one() {
    curl -fsS -o /dev/null -H "Authorization: Bearer $gateway_key" -H "Content-Type: application/json" \
        --data-binary @"$work/body.json" "$url" || echo "instructions: a request failed" >&2
}
one
one
callgrind_control --zero "$daemon_pid" >/dev/null 2>&1
echo "instructions: $mode, $surface, $(wc -c <"$work/body.json") bytes a request, $clients clients x $per requests..." >&2
pids=()
for _ in $(seq "$clients"); do
    if ((keep_alive)); then
        # One curl, the same POST to the same URL $per times: it reuses its connection.
        urls=()
        for _ in $(seq "$per"); do urls+=("$url"); done
        (curl -fsS -H "Authorization: Bearer $gateway_key" -H "Content-Type: application/json" \
            --data-binary @"$work/body.json" "${urls[@]}" >/dev/null || echo "instructions: a request failed" >&2) &
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
if [[ "$mode" == stream && "$surface" == anthropic ]]; then
    unit="relayed event" units=$((requests * 25))
elif [[ "$mode" == stream ]]; then
    unit="relayed chunk" units=$((requests * 22))
else
    unit="request" units=$requests
fi
printf '%s: %d requests, %d instructions in all, %d of them on the ledger thread\n' \
    "$mode" "$requests" "$total" "$ledger"
printf '%s: %d instructions a %s outside the ledger thread; ledger thread %d a %s\n' \
    "$mode" $(((total - ledger) / units)) "$unit" $((ledger / units)) "$unit"

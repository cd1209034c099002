#!/usr/bin/env bash
# Long-stream benchmark: an upstream that streams each answer as 20 chunks 100 ms apart (a
# 2 s answer; bench/slow_upstream.cpp), and wrk holding N concurrent streams open, straight
# to it and through aigwd. Prints completed streams, errors, p50/p99, and aigwd's CPU per
# stream and per relayed chunk and its peak RSS. When nginx is installed, the same streams go
# through it too as a reference relay (proxy_buffering off, as many workers as the machine
# has cores): what a C relay that does not read the chunks costs on this host.
# A benchmark, not a test: nothing asserts.
#
# usage: bench/long_streams.sh [BUILD_DIR] [CLIENTS...]     (default clients: 100 1000 5000)
#   env BENCH_DURATION (s per run, default 12), BENCH_CHUNKS (20), BENCH_INTERVAL_MS (100),
#       BENCH_NGINX (1; 0 skips the nginx reference), BENCH_PROMPT_BYTES (the prompt's size,
#       default 2; a coding agent sends 50-200 KB), BENCH_JITTER_MS (0; a client waits a
#       random 0..N ms after each stream before its next, so streams stop starting in waves),
#       BENCH_SURFACE (openai: chat completions, 20 chunks, the finish and the usage chunk;
#       anthropic: Messages passed through as Claude Code's are, 20 text deltas and 5 other
#       events; "a relayed chunk" is then an event)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build_dir="${1:-$repo/build}"
shift || true
clients=("$@")
[[ ${#clients[@]} -gt 0 ]] || clients=(100 1000 5000)
duration="${BENCH_DURATION:-12}"
chunks="${BENCH_CHUNKS:-20}"
interval="${BENCH_INTERVAL_MS:-100}"
AIGWD="${AIGWD:-$build_dir/daemon/aigwd}"
SLOW="${SLOW_UPSTREAM:-$build_dir/bench/slow-upstream}"
die() { echo "long_streams: $*" >&2; exit 1; }
[[ -x "$AIGWD" && -x "$SLOW" ]] || die "build aigwd and slow-upstream first (cmake --build $build_dir --target aigwd slow-upstream)"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
ulimit -n "$(ulimit -Hn)"

work="$(mktemp -d)"
FAKE_UPSTREAM="$SLOW"
source "$here/lib.sh"
start_fake_upstream --chunks "$chunks" --interval-ms "$interval"
surface="${BENCH_SURFACE:-openai}"
case "$surface" in
    openai) path=/v1/chat/completions extra_events=2 ;;  # the finish chunk and the usage chunk
    # message_start, content_block_start, content_block_stop, message_delta, message_stop
    anthropic) path=/v1/messages extra_events=5 ;;
    *) die "BENCH_SURFACE is openai or anthropic" ;;
esac
export BENCH_SURFACE="$surface" ANTHROPIC_API_KEY=sk-ant-bench AIGW_ANTHROPIC_BASE_URL="http://127.0.0.1:$fake_port/v1"
start_aigwd $'[ledger]\nretention_days = 0\n[upstream]\nidle_timeout_ms = 60000\n'

# nginx in front of the same upstream, as a reference relay: it passes each chunk on as it
# arrives (proxy_buffering off) over keep-alive upstream connections, and reads none of it.
nginx_pid="" nginx_port=""
if [[ "${BENCH_NGINX:-1}" != 0 ]] && command -v nginx >/dev/null; then
    nginx_port="$(free_port)"
    nginx_conf_head "$(nproc)" 30000
    cat >>"$work/nginx/nginx.conf" <<NGINX
    upstream slow { server 127.0.0.1:$fake_port; keepalive 1024; }
    server {
        listen 127.0.0.1:$nginx_port;
        location = /nginx_status { stub_status; }
        location / {
            proxy_pass http://slow;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 60s;
        }
    }
}
NGINX
    nginx -c "$work/nginx/nginx.conf" >"$work/nginx.out" 2>"$work/nginx.err" &
    nginx_pid=$!
    extra_pids="$nginx_pid"
    for _ in $(seq 50); do
        curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/nginx_status" 2>/dev/null && break
        kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited: $(cat "$work/nginx.err" "$work/nginx/error.log" 2>/dev/null)"
        sleep 0.1
    done
fi

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
local prompt = string.rep("x", tonumber(os.getenv("BENCH_PROMPT_BYTES") or "2"))
if os.getenv("BENCH_SURFACE") == "anthropic" then
    wrk.body = '{"model":"anthropic/claude-sonnet-4-5","max_tokens":64,"stream":true,' ..
        '"messages":[{"role":"user","content":"' .. prompt .. '"}]}'
else
    wrk.body = '{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"' .. prompt .. '"}]}'
end
-- Every client starts at once and every stream lasts as long, so without a pause the streams
-- start and end in waves of one per client: each wave is a burst of N requests at once.
local jitter = tonumber(os.getenv("BENCH_JITTER_MS") or "0")
if jitter > 0 then
    function delay() return math.random(0, jitter) end
end
LUA

# The processes of the relay named $1: aigwd, or nginx's workers.
relay_pids() {
    if [[ "$1" == nginx ]]; then
        pgrep -P "$nginx_pid"
    else
        echo "$daemon_pid"
    fi
}
# CPU ticks of process $1 so far (0 once it is gone); with $2 = user, only those spent in
# user space (the rest is the kernel's: syscalls and loopback TCP).
pid_ticks() {
    local fields='$14 + $15'
    [[ "${2:-}" != user ]] || fields='$14'
    awk "{print $fields}" "/proc/$1/stat" 2>/dev/null || echo 0
}
# CPU ticks of the relay named $1 so far, over its processes ($2 as for pid_ticks).
cpu_ticks() {
    local pid s=0
    for pid in $(relay_pids "$1"); do
        s=$(( s + $(pid_ticks "$pid" "${2:-}") ))
    done
    echo "$s"
}
hz=$(getconf CLK_TCK)
# The host's busy and total ticks so far, over all CPUs (/proc/stat's first line: busy is
# everything but idle and iowait, so the kernel's softirq work for loopback TCP counts).
host_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# Streams the relay named $1 has finished so far: aigwd's from its /metrics; nginx's from
# stub_status, as the requests it took minus the ones it is still answering.
served() {
    if [[ "$1" == nginx ]]; then
        curl -fsS -m 5 "http://127.0.0.1:$nginx_port/nginx_status" |
            awk 'NR == 3 { r = $3 } /^Reading/ { w = $4 } END { print r - w }'
    else
        curl -fsS -m 5 -H "Authorization: Bearer $gateway_key" "http://127.0.0.1:$daemon_port/metrics" |
            awk '/^aigw_requests_total/ { s += $NF } END { print s + 0 }'
    fi
}

# aigwd's heap in use now (its aigw_heap_allocated_bytes), in MB; "-" when it has none.
heap_mb() {
    curl -fsS -m 5 -H "Authorization: Bearer $gateway_key" "http://127.0.0.1:$daemon_port/metrics" |
        awk '/^aigw_heap_allocated_bytes / { v = $2 } END { if (v == "") print "-"; else printf "%d\n", v / 1048576 }'
}

run() {  # $1 label, $2 url, $3 clients; through aigwd, also samples its CPU in the steady state
    local log="$work/wrk.$1.$3.log"
    wrk -t2 -c"$3" -d"${duration}s" --timeout 30s --latency -s "$work/post.lua" "$2" >"$log" 2>&1 &
    local wrk_pid=$!
    window_cpu=0 window_user=0 window_streams=0 window_heap=- window_rss=- host_line=""
    if [[ "$duration" -ge 7 ]]; then
        # CPU is measured between 3 s in and 2 s before the end, while as many streams are
        # open as the run holds: over the whole run it would charge the streams still open
        # when wrk stops (up to one per client) to the ones that finished.
        sleep 3
        local c0=0 s0=0 c1=0 s1=0 ru0=0 ru1=0 u0 u1 w0 w1 hb0 ht0 hb1 ht1
        [[ "$1" == direct ]] || { c0=$(cpu_ticks "$1"); ru0=$(cpu_ticks "$1" user); s0=$(served "$1"); }
        u0=$(pid_ticks "$fake_pid") w0=$(pid_ticks "$wrk_pid")
        read -r hb0 ht0 < <(host_ticks)
        sleep $((duration - 5))
        [[ "$1" == direct ]] || { c1=$(cpu_ticks "$1"); ru1=$(cpu_ticks "$1" user); s1=$(served "$1"); }
        u1=$(pid_ticks "$fake_pid") w1=$(pid_ticks "$wrk_pid")
        read -r hb1 ht1 < <(host_ticks)
        if [[ "$1" == aigwd ]]; then
            window_heap=$(heap_mb)
            window_rss=$(( $(awk '/VmRSS/{print $2}' "/proc/$daemon_pid/status") / 1024 ))
        fi
        window_cpu=$(( (c1 - c0) * 1000 / hz )) window_user=$(( (ru1 - ru0) * 1000 / hz ))
        window_streams=$(( s1 - s0 ))
        # Who kept the host's cores busy, in cores: the relay, the upstream, wrk, and the
        # whole host (the rest is the kernel's softirq work and other processes).
        host_line="$(awk -v hz="$hz" -v t=$((duration - 5)) -v n="$(nproc)" -v who="$1" \
            -v r=$((c1 - c0)) -v u=$((u1 - u0)) -v w=$((w1 - w0)) -v hb=$((hb1 - hb0)) -v ht=$((ht1 - ht0)) 'BEGIN {
                line = ""
                if (who != "direct") line = sprintf("%s %.2f + ", who, r / hz / t)
                printf "host CPU (cores): %supstream %.2f + wrk %.2f; whole host %.2f of %d busy", \
                    line, u / hz / t, w / hz / t, n * hb / ht, n }')"
    fi
    wait "$wrk_pid" || true
    local out reqs p50 p99 errs
    out="$(cat "$log")"
    reqs="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")"
    p50="$(awk '$1=="50%"{print $2}' <<<"$out")"
    p99="$(awk '$1=="99%"{print $2}' <<<"$out")"
    errs="$(sed -n 's/.*Socket errors: \(.*\)/\1/p; s/.*Non-2xx or 3xx responses: \([0-9]*\).*/non-2xx \1/p' <<<"$out" | tr '\n' ' ')"
    printf '%-8s %6s clients  %7s streams  p50 %8s  p99 %8s  errors: %s\n' "$1" "$3" "${reqs:-0}" "${p50:--}" "${p99:--}" "${errs:-none}"
    [[ -z "$host_line" ]] || printf '         %s\n' "$host_line"
    last_reqs="${reqs:-0}"
}

# Prints the CPU line of the relay run just done ($1: aigwd or nginx); $2 its CPU ticks over
# the whole run.
report_cpu() {
    local cpu_ms per_stream_us how per_chunk_us user="" rss_mb=0 kb pid
    cpu_ms=$(( $2 * 1000 / hz ))
    # A stream is (chunks) content chunks and $extra_events more (see BENCH_SURFACE).
    if [[ "$window_streams" -gt 0 ]]; then
        per_stream_us=$(( window_cpu * 1000 / window_streams ))
        user=", $(( window_user * 1000 / window_streams / (chunks + extra_events) )) of them in user space"
        how="steady state: $window_streams streams finished in $((duration - 5)) s"
    elif [[ "$last_reqs" -gt 0 ]]; then
        per_stream_us=$(( cpu_ms * 1000 / last_reqs ))
        how="whole run (BENCH_DURATION < 7): overstated by the streams open at the end"
    else
        per_stream_us=0 how="no stream finished"
    fi
    per_chunk_us=$(( per_stream_us / (chunks + extra_events) ))
    for pid in $(relay_pids "$1"); do
        kb=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
        rss_mb=$(( rss_mb + kb / 1024 ))
    done
    local heap=""
    [[ "$1" != aigwd ]] || heap="; 2 s before the end: RSS $window_rss MB, heap in use $window_heap MB"
    printf '         %s CPU %d ms: %d us a stream, %d us a relayed chunk%s (%s); peak RSS %d MB%s\n' \
        "$1" "$cpu_ms" "$per_stream_us" "$per_chunk_us" "$user" "$how" "$rss_mb" "$heap"
}

echo "upstream ($surface): $chunks chunks, $interval ms apart; $duration s per run${BENCH_JITTER_MS:+; a pause of 0-$BENCH_JITTER_MS ms between streams}"
[[ -n "$nginx_pid" ]] || echo "(nginx is not installed or BENCH_NGINX=0: no reference relay)"
for c in "${clients[@]}"; do
    run direct "http://127.0.0.1:$fake_port$path" "$c"
    before=$(cpu_ticks aigwd)
    run aigwd "http://127.0.0.1:$daemon_port$path" "$c"
    report_cpu aigwd $(( $(cpu_ticks aigwd) - before ))
    if [[ -n "$nginx_pid" ]]; then
        before=$(cpu_ticks nginx)
        run nginx "http://127.0.0.1:$nginx_port$path" "$c"
        report_cpu nginx $(( $(cpu_ticks nginx) - before ))
    fi
done

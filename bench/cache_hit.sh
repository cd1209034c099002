#!/usr/bin/env bash
# Cache-hit latency benchmark: the same chat request sent with wrk through aigwd with the
# response cache on (every request after the first is a hit, answered from memory) and, for
# comparison, with `x-aigw-cache: off` (every request goes to the fake upstream). Prints
# requests/s and p50/p90/p99/p99.9 latency per path and PASS/FAIL against the target; writes
# the numbers as JSON to bench/results/cache-hit-<timestamp>.json. A benchmark, not a test.
#
# usage: bench/cache_hit.sh [options] [BUILD_DIR]
#   BUILD_DIR          build tree holding daemon/aigwd and tests/fake-upstream
#                      (default: build-bench/, else build/ in the repository)
#   -d, --duration S   seconds per wrk run (default 10; env BENCH_DURATION)
#   -c, --conns LIST   comma-separated connection counts (default 32; env BENCH_CONNS)
#   -t, --threads N    wrk threads (default 2; env BENCH_THREADS)
#   -w, --warmup S     seconds of warm-up before each measured run (default 2)
#       --stream       request stream: true (a hit is replayed as SSE)
#       --rate R       paced instead of saturating: offer about R requests/s in total (each
#                      connection waits a random 0..2*CONNS/R s before each request), so the
#                      latency columns show service time rather than queueing in wrk's closed loop
#       --no-miss      skip the comparison run with the cache off
#       --out FILE     JSON results file
#   -h, --help
# Binaries can also be given directly with env AIGWD=/path/aigwd FAKE_UPSTREAM=/path/fake-upstream.
#
# Target (from the issue), judged on the hit path: p99 under 1 ms at 32 connections, with
# every response a cache hit (x-aigw-cache: HIT) and no errors.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

duration="${BENCH_DURATION:-10}"
conns_list="${BENCH_CONNS:-32}"
wrk_threads="${BENCH_THREADS:-2}"
warmup=2
stream=0
rate=0
with_miss=1
out=""
build_dir=""

usage() { sed -n '/^# usage:/,/^#   -h/p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case "$1" in
        -d|--duration) duration="$2"; shift 2 ;;
        -c|--conns) conns_list="$2"; shift 2 ;;
        -t|--threads) wrk_threads="$2"; shift 2 ;;
        -w|--warmup) warmup="$2"; shift 2 ;;
        --stream) stream=1; shift ;;
        --rate) rate="$2"; shift 2 ;;
        --no-miss) with_miss=0; shift ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "cache_hit: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) build_dir="$1"; shift ;;
    esac
done

die() { echo "cache_hit: $*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (Debian: apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"

if [[ -z "${AIGWD:-}" || -z "${FAKE_UPSTREAM:-}" ]]; then
    if [[ -z "$build_dir" ]]; then
        for d in "$repo/build-bench" "$repo/build"; do
            if [[ -x "$d/daemon/aigwd" && -x "$d/tests/fake-upstream" ]]; then build_dir="$d"; break; fi
        done
        [[ -n "$build_dir" ]] || die "no build with daemon/aigwd and tests/fake-upstream; pass BUILD_DIR
  (cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-bench aigwd fake-upstream)"
    fi
fi
AIGWD="${AIGWD:-$build_dir/daemon/aigwd}"
FAKE_UPSTREAM="${FAKE_UPSTREAM:-$build_dir/tests/fake-upstream}"
[[ -x "$AIGWD" ]] || die "no aigwd at $AIGWD"
[[ -x "$FAKE_UPSTREAM" ]] || die "no fake-upstream at $FAKE_UPSTREAM"
build_type=""
if [[ -n "$build_dir" && -f "$build_dir/CMakeCache.txt" ]]; then
    build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt")"
    case "$build_type" in
        Release|RelWithDebInfo) ;;
        *) echo "cache_hit: warning: $build_dir is a '${build_type:-no type}' build; numbers mean little" >&2 ;;
    esac
fi

IFS=',' read -r -a conns_arr <<<"$conns_list"
for c in "${conns_arr[@]}"; do [[ "$c" =~ ^[0-9]+$ && "$c" -ge "$wrk_threads" ]] || die "bad connection count '$c' (needs >= threads)"; done
[[ "$duration" =~ ^[0-9]+$ && "$duration" -ge 1 ]] || die "bad duration '$duration'"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "bad warmup '$warmup'"
[[ "$rate" =~ ^[0-9]+$ ]] || die "bad rate '$rate'"

work="$(mktemp -d "${TMPDIR:-/tmp}/aigw-cache-bench.XXXXXX")"
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
start_fake_upstream

start_aigwd $'[cache]\nenabled = true\n'  # the cache on
url="http://127.0.0.1:$daemon_port/v1/chat/completions"

# Prime the entry by hand, and check the second request is a hit (a broken setup stops here).
stream_field=""
[[ $stream == 1 ]] && stream_field=',"stream":true,"stream_options":{"include_usage":true}'
body='{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are a terse assistant."},{"role":"user","content":"Say hello in five words."}],"max_tokens":32,"temperature":0'"$stream_field"'}'
for want in MISS HIT; do
    got="$(curl -sS -o "$work/probe" -D - -H "Authorization: Bearer $gateway_key" -H 'Content-Type: application/json' \
        -H 'x-aigw-cache: on' -d "$body" "$url" | tr -d '\r' | sed -n 's/^x-aigw-cache: //Ip' | head -1)"
    [[ "$got" == "$want" ]] || die "priming request: expected x-aigw-cache $want, got '${got}': $(head -c 500 "$work/probe")"
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
clk_tck="$(getconf CLK_TCK)"

# run_wrk MODE(on|off) CONNS SECONDS -> BENCH_RESULT line
run_wrk() {
    local mode="$1" c="$2" secs="$3" log="$work/wrk.$1.$2.$3.log"
    local delay_ms=0
    ((rate > 0)) && delay_ms=$(( (c * 1000 + rate / 2) / rate ))
    BENCH_KEY="$gateway_key" BENCH_CACHE="$mode" BENCH_STREAM="$stream" BENCH_DELAY_MS="$delay_ms" \
        wrk --latency -t "$wrk_threads" -c "$c" -d "${secs}s" --timeout 10s \
        -s "$here/cache_hit.lua" "$url" >"$log" 2>&1 || true
    local line
    line="$(grep '^BENCH_RESULT ' "$log" | tail -1)"
    [[ -n "$line" ]] || die "wrk ($mode, $c connections) printed no result:
$(cat "$log")"
    local first_error
    first_error="$(grep "^BENCH_FIRST_ERROR " "$log" | head -1 | cut -c19- || true)"
    [[ -z "$first_error" ]] || echo "cache_hit: cache $mode @ $c connections, first bad response: $first_error" >&2
    echo "$line"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "cache_hit: $([[ $stream == 1 ]] && echo stream || echo plain)$( ((rate > 0)) && echo " paced ${rate}/s" || echo " saturating") duration=${duration}s warmup=${warmup}s wrk threads=$wrk_threads conns=$conns_list" >&2
echo "cache_hit: aigwd=$AIGWD (port $daemon_port), $(nproc) cores, load average before: $load_before" >&2

modes=(on)
((with_miss)) && modes+=(off)
declare -A res cpu
for c in "${conns_arr[@]}"; do
    for m in "${modes[@]}"; do
        echo "cache_hit: cache $m @ $c connections..." >&2
        ((warmup > 0)) && run_wrk "$m" "$c" "$warmup" >/dev/null
        d0="$(cpu_ticks "$daemon_pid")"
        res[$m,$c]="$(run_wrk "$m" "$c" "$duration")"
        n_ok="$(awk -v r="$(field ok_rps "${res[$m,$c]}")" -v d="$(field duration_us "${res[$m,$c]}")" 'BEGIN { printf "%d", r * d / 1e6 }')"
        cpu[$m,$c]="$(awk -v dd=$(($(cpu_ticks "$daemon_pid") - d0)) -v n="$n_ok" -v t="$clk_tck" \
            'BEGIN { n = n > 0 ? n : 1; printf "%.0f", dd * 1e6 / t / n }')"
    done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
stats="$(curl -fsS -H "Authorization: Bearer $gateway_key" "http://127.0.0.1:$daemon_port/aigw/v1/cache" || echo '{}')"

overall=PASS
printf '\n%-6s %-10s %10s %8s %8s %8s %9s %7s %12s  %s\n' CONNS PATH 'REQ/S' 'P50 ms' 'P90 ms' 'P99 ms' 'P99.9 ms' ERRORS 'aigwd us/req' VERDICT
json_rows=()
for c in "${conns_arr[@]}"; do
    for m in "${modes[@]}"; do
        r="${res[$m,$c]}"
        p="cache-hit"
        [[ $m == off ]] && p="upstream"
        verdict="-"
        if [[ $m == on && $c == 32 ]]; then
            verdict=PASS
            (( $(field p99_us "$r") < 1000 && $(field errors "$r") == 0 )) || verdict=FAIL
            [[ $verdict == FAIL ]] && overall=FAIL
        fi
        printf '%-6s %-10s %10.0f %8s %8s %8s %9s %7s %12s  %s\n' "$c" "$p" "$(field ok_rps "$r")" \
            "$(ms "$(field p50_us "$r")")" "$(ms "$(field p90_us "$r")")" "$(ms "$(field p99_us "$r")")" \
            "$(ms "$(field p999_us "$r")")" "$(field errors "$r")" "${cpu[$m,$c]}" "$verdict"
        json_rows+=("$(printf '{"conns":%d,"path":"%s","requests":%d,"ok_rps":%s,"p50_ms":%s,"p90_ms":%s,"p99_ms":%s,"p999_ms":%s,"max_ms":%s,"errors":%d,"misses":%d,"aigwd_cpu_us_per_request":%s}' \
            "$c" "$p" "$(field requests "$r")" "$(field ok_rps "$r")" "$(ms "$(field p50_us "$r")")" \
            "$(ms "$(field p90_us "$r")")" "$(ms "$(field p99_us "$r")")" "$(ms "$(field p999_us "$r")")" \
            "$(ms "$(field max_us "$r")")" "$(field errors "$r")" "$(field misses "$r")" "${cpu[$m,$c]}")")
    done
done
echo
if [[ " ${conns_arr[*]} " == *" 32 "* ]]; then
    echo "target: cache-hit p99 < 1 ms @32 connections, every response a hit: $overall"
else
    echo "target: not judged (it needs 32 in --conns)"
    overall="n/a"
fi
echo "load average before: $load_before   after: $load_after   ($(nproc) cores shared by wrk, aigwd and fake-upstream)"
echo "cache after the runs: $stats"

ts="$(date -u +%Y%m%dT%H%M%SZ)"
if [[ -z "$out" ]]; then
    mkdir -p "$here/results"
    out="$here/results/cache-hit-$ts${stream_field:+-stream}$( ((rate > 0)) && echo "-rate$rate" || true).json"
fi
rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
    printf '{"benchmark":"cache_hit","timestamp":"%s","git":"%s","stream":%s,"rate":%d,"duration_s":%d,"warmup_s":%d,' \
        "$ts" "$rev" "$([[ $stream == 1 ]] && echo true || echo false)" "$rate" "$duration" "$warmup"
    printf '"wrk_threads":%d,"build_type":"%s","cores":%d,"load_before":"%s","load_after":"%s",' \
        "$wrk_threads" "$build_type" "$(nproc)" "$load_before" "$load_after"
    printf '"results":[%s],"cache":%s,"overall":"%s"}\n' "$(IFS=,; echo "${json_rows[*]}")" "$stats" "$overall"
} >"$out"
echo "results: $out"

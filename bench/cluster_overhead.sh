#!/usr/bin/env bash
# Cluster overhead benchmark: what the cluster engines ([cluster] redis_url and
# postgres_url) cost per request. Two aigwd against the same fast upstream, with the same
# config: a per-model rpm limit and an overall daily budget far above the load (every
# request passes both, none is refused) and the response cache on, every prompt unique (so
# every request is a cache MISS that is looked up and stored). One instance keeps all of
# it in memory and SQLite; the other is a cluster member: its request path takes the rate
# limit and reserves the budget in a local redis-server (Lua scripts), asks Redis for the
# cached answer, then settles the budget and stores the answer there; its ledger rows are
# copied to a local PostgreSQL (when installed; --no-postgres leaves it out) by the
# replicator thread. wrk sends the same load to each, alternating, and the table shows
# requests/s, p50/p99 and the latency the cluster adds. Not a test: nothing here asserts;
# the numbers go to bench/results/cluster-<timestamp>.json.
#
# usage: bench/cluster_overhead.sh [options] [BUILD_DIR]
#   BUILD_DIR          build tree holding daemon/aigwd and tests/fake-upstream (default: build/)
#   -d, --duration S   seconds per wrk run (default 10; env BENCH_DURATION)
#   -c, --conns LIST   comma-separated connection counts (default 1,32; env BENCH_CONNS)
#   -t, --threads N    wrk threads (default 2)
#   -w, --warmup S     warm-up seconds before each run (default 2)
#       --upstream U   nginx (default when installed) or fake (fake-upstream)
#       --out FILE     JSON results file
#       --no-postgres  leave PostgreSQL out (Redis only)
#   -h, --help
# Needs wrk, curl and redis-server (Debian: apt-get install wrk curl redis-server);
# PostgreSQL when installed (Debian: postgresql), run as the postgres user when root.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

duration="${BENCH_DURATION:-10}"
conns_list="${BENCH_CONNS:-1,32}"
wrk_threads=2
warmup=2
out=""
build_dir=""
upstream_kind=""
use_postgres=1

usage() { sed -n '/^# usage:/,/^#   -h/p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case "$1" in
        -d|--duration) duration="$2"; shift 2 ;;
        -c|--conns) conns_list="$2"; shift 2 ;;
        -t|--threads) wrk_threads="$2"; shift 2 ;;
        -w|--warmup) warmup="$2"; shift 2 ;;
        --upstream) upstream_kind="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-postgres) use_postgres=0; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "cluster_overhead: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) build_dir="$1"; shift ;;
    esac
done

die() { echo "cluster_overhead: $*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (Debian: apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
command -v redis-server >/dev/null || die "redis-server is not installed (Debian: apt-get install redis-server)"

build_dir="${build_dir:-$repo/build}"
AIGWD="${AIGWD:-$build_dir/daemon/aigwd}"
FAKE_UPSTREAM="${FAKE_UPSTREAM:-$build_dir/tests/fake-upstream}"
[[ -x "$AIGWD" ]] || die "no aigwd at $AIGWD (pass BUILD_DIR)"
[[ -x "$FAKE_UPSTREAM" ]] || die "no fake-upstream at $FAKE_UPSTREAM (pass BUILD_DIR)"
IFS=',' read -r -a conns_arr <<<"$conns_list"
for c in "${conns_arr[@]}"; do [[ "$c" =~ ^[0-9]+$ && "$c" -ge 1 ]] || die "bad connection count '$c'"; done

work="$(mktemp -d "${TMPDIR:-/tmp}/aigw-cluster-bench.XXXXXX")"
root="$work"
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
[[ -n "$upstream_kind" ]] || { command -v nginx >/dev/null && upstream_kind=nginx || upstream_kind=fake; }
upstream_prefix=""
if [[ "$upstream_kind" == nginx ]]; then start_nginx_upstream; else start_fake_upstream; fi

# redis-server on a free loopback port, no persistence; stopped with the rest (by PID).
redis_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$root/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$root/redis" >"$root/redis/out" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited: $(cat "$root/redis/out")"
    sleep 0.1
done

# PostgreSQL on a free loopback port in the bench's dir (initdb as the postgres user when
# root: it refuses to run as root); stopped with the rest.
pg_url=""
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if ((use_postgres)) && [[ -x "$pg_bin/initdb" ]]; then
    pg_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    as_pg=()
    if [[ "$(id -u)" == 0 ]]; then
        id postgres >/dev/null 2>&1 || die "no postgres system user (Debian's postgresql package makes it)"
        as_pg=(runuser -u postgres --)
        chown postgres "$root"
    fi
    mkdir -p "$root/pg"
    [[ "$(id -u)" == 0 ]] && chown postgres "$root/pg"
    "${as_pg[@]}" "$pg_bin/initdb" -D "$root/pg/data" -A trust -U aigw --no-sync -E UTF8 --locale C >"$root/pg/initdb.log" 2>&1 ||
        die "initdb failed: $(cat "$root/pg/initdb.log")"
    "${as_pg[@]}" "$pg_bin/postgres" -D "$root/pg/data" -p "$pg_port" -k "$root/pg" -c listen_addresses=127.0.0.1 \
        >"$root/pg/postgres.log" 2>&1 &
    pg_pid=$!
    for _ in $(seq 100); do
        "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
        kill -0 "$pg_pid" 2>/dev/null || die "postgres exited: $(cat "$root/pg/postgres.log")"
        sleep 0.1
    done
    "${as_pg[@]}" "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U aigw -d postgres -c 'CREATE DATABASE aigw' ||
        die "CREATE DATABASE failed"
    pg_url="postgresql://aigw@127.0.0.1:$pg_port/aigw"
    # runuser waits for its child: the postmaster itself is stopped first, by its pid file.
    pg_postmaster="$(head -1 "$root/pg/data/postmaster.pid" 2>/dev/null || true)"
fi

# Both instances have the same limits, budget and cache; only [cluster] differs.
common=$'[models."openai/gpt-4o-mini"]\nrpm = 1000000000\n[budget]\ndaily_usd = 1000000\n[cache]\nenabled = true\n'
pids="$redis_pid ${pg_postmaster:-} ${pg_pid:-}"
declare -A port
for setup in local cluster; do
    work="$root/$setup"
    mkdir -p "$work"
    config="$common"
    if [[ "$setup" == cluster ]]; then
        config+=$'[cluster]\nredis_url = "redis://127.0.0.1:'"$redis_port"$'"\n'
        [[ -n "$pg_url" ]] && config+="postgres_url = \"$pg_url\""$'\n'
    fi
    start_aigwd "$config"
    port[$setup]="$daemon_port"
    pids+=" $daemon_pid"
    daemon_pid="$pids"  # bench_cleanup stops them all
done
work="$root"

url() { echo "http://127.0.0.1:${port[$1]}/v1/chat/completions"; }
for setup in local cluster; do
    code="$(curl -sS -o "$root/probe" -w '%{http_code}' -H "Authorization: Bearer $gateway_key" \
        -H 'Content-Type: application/json' \
        -d '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' "$(url "$setup")" || true)"
    [[ "$code" == 200 ]] || die "probe request to the $setup instance answered HTTP $code: $(head -c 500 "$root/probe")"
done
grep -q "rate limits are shared through Redis" "$root/cluster/aigwd.err" ||
    die "the cluster instance did not say it shares its limits through Redis: $(cat "$root/cluster/aigwd.err")"
if [[ -n "$pg_url" ]]; then
    grep -q "shared ledger: copying" "$root/cluster/aigwd.err" ||
        die "the cluster instance did not say it copies its ledger to PostgreSQL: $(cat "$root/cluster/aigwd.err")"
fi

run_wrk() { # run_wrk SETUP CONNS SECONDS -> BENCH_RESULT line
    local log="$root/wrk.$1.$2.log"
    BENCH_MODEL="openai/gpt-4o-mini" BENCH_KEY="$gateway_key" BENCH_STREAM=0 BENCH_DELAY_MS=0 BENCH_UNIQUE=1 \
        wrk --latency -t "$(($2 < wrk_threads ? $2 : wrk_threads))" -c "$2" -d "${3}s" --timeout 10s \
        -s "$here/chat.lua" "$(url "$1")" >"$log" 2>&1 || true
    grep '^BENCH_RESULT ' "$log" | tail -1 || die "wrk printed no result: $(cat "$log")"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }

echo "cluster_overhead: aigwd=$AIGWD, upstream=$upstream_kind, redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on port $redis_port, PostgreSQL: ${pg_url:-not used}" >&2
echo "cluster_overhead: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), ${duration}s per run" >&2
declare -A res
for c in "${conns_arr[@]}"; do
    for setup in local cluster; do
        echo "cluster_overhead: $setup @ $c connections..." >&2
        ((warmup > 0)) && run_wrk "$setup" "$c" "$warmup" >/dev/null
        res[$setup,$c]="$(run_wrk "$setup" "$c" "$duration")"
    done
done

printf '\n%-6s %-7s %10s %9s %9s %7s %10s\n' CONNS SETUP 'REQ/S' 'P50 ms' 'P99 ms' ERRORS '+P50 ms'
json_rows=()
for c in "${conns_arr[@]}"; do
    l_p50="$(field p50_us "${res[local,$c]}")"
    for setup in local cluster; do
        r="${res[$setup,$c]}"
        added=""
        [[ "$setup" == cluster ]] && added="$(ms $(( $(field p50_us "$r") - l_p50 )))"
        printf '%-6s %-7s %10.0f %9s %9s %7s %10s\n' "$c" "$setup" "$(field ok_rps "$r")" "$(ms "$(field p50_us "$r")")" \
            "$(ms "$(field p99_us "$r")")" "$(field errors "$r")" "$added"
        json_rows+=("$(printf '{"conns":%d,"setup":"%s","ok_rps":%s,"p50_ms":%s,"p99_ms":%s,"errors":%d}' "$c" "$setup" \
            "$(field ok_rps "$r")" "$(ms "$(field p50_us "$r")")" "$(ms "$(field p99_us "$r")")" "$(field errors "$r")")")
    done
done
keys="$(redis-cli -p "$redis_port" --raw DBSIZE 2>/dev/null || true)"
echo "Redis keys after the run: ${keys:-(redis-cli not installed)}"
redis_stats="$(redis-cli -p "$redis_port" INFO stats 2>/dev/null | tr -d '\r' |
    grep -E '^(total_connections_received|total_commands_processed):' | tr '\n' ' ' || true)"
echo "Redis: ${redis_stats:-(redis-cli not installed)}; CPU $(ps -o time= -p "$redis_pid" 2>/dev/null | tr -d ' ')"
if [[ -n "${BENCH_REDIS_COMMANDS:-}" ]]; then
    redis-cli -p "$redis_port" INFO commandstats 2>/dev/null | tr -d '\r' | grep '^cmdstat' || true
fi
if [[ -n "$pg_url" ]]; then
    echo "ledger rows in PostgreSQL after the run: $("$pg_bin/psql" -qtA -h 127.0.0.1 -p "$pg_port" -U aigw -d aigw \
        -c 'SELECT count(*) FROM aigw_ledger_requests' 2>/dev/null || echo '?')"
fi

ts="$(date -u +%Y%m%dT%H%M%SZ)"
if [[ -z "$out" ]]; then
    mkdir -p "$here/results"
    out="$here/results/cluster-$ts.json"
fi
rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
printf '{"benchmark":"cluster_overhead","timestamp":"%s","git":"%s","upstream":"%s","postgres":%s,"duration_s":%d,"cores":%d,"results":[%s]}\n' \
    "$ts" "$rev" "$upstream_kind" "$([[ -n "$pg_url" ]] && echo true || echo false)" "$duration" "$(nproc)" "$(IFS=,; echo "${json_rows[*]}")" >"$out"
echo "results: $out"

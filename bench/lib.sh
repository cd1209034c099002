# Shared by the bench scripts (sourced, not run): stopping what they started, and starting
# fake-upstream. Expects $work (a temp dir the script owns), $FAKE_UPSTREAM and die().

fake_pid=""
daemon_pid=""
extra_pids=""  # anything else a script started and wants stopped

# On exit: TERM aigwd, fake-upstream and extra_pids, KILL what is still there after 5 s,
# remove $work.
bench_cleanup() {
    local rc=$?
    for pid in $daemon_pid $fake_pid $extra_pids; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $daemon_pid $fake_pid $extra_pids; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts $FAKE_UPSTREAM (fake-upstream, or bench/slow-upstream with its options as
# arguments) on a free port; sets fake_pid and fake_port (it prints "listening <port>" once
# bound).
start_fake_upstream() {
    "$FAKE_UPSTREAM" --port 0 "$@" >"$work/fake.out" 2>"$work/fake.err" &
    fake_pid=$!
    fake_port=""
    for _ in $(seq 100); do
        fake_port="$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$work/fake.out" | head -1)"
        [[ -n "$fake_port" ]] && break
        kill -0 "$fake_pid" 2>/dev/null || die "fake-upstream exited: $(cat "$work/fake.err")"
        sleep 0.1
    done
    [[ -n "$fake_port" ]] || die "fake-upstream did not print its port"
}

# Starts aigwd against the fake upstream with its own data and config dirs (a user's config
# must not leak into the numbers), `$1` as its config.toml when given; sets gateway_key,
# data_dir, daemon_pid and daemon_port, and waits until /health answers.
start_aigwd() {
    data_dir="$work/data"
    mkdir -p "$work/xdg-config/aigw" "$data_dir"
    if [[ -n "${1:-}" ]]; then
        printf '%s' "$1" >"$work/xdg-config/aigw/config.toml"
    fi
    gateway_key="bench-key"
    env -u AIGW_CONFIG -u AIGW_DATA_DIR -u AIGW_HOST AIGW_API_KEY="$gateway_key" OPENAI_API_KEY=sk-bench \
        AIGW_OPENAI_BASE_URL="http://127.0.0.1:$fake_port${upstream_prefix:-}/v1" \
        XDG_CONFIG_HOME="$work/xdg-config" XDG_DATA_HOME="$work/xdg-data" \
        "$AIGWD" --port 0 --data-dir "$data_dir" >"$work/aigwd.out" 2>"$work/aigwd.err" &
    daemon_pid=$!
    daemon_port=""
    for _ in $(seq 100); do
        if [[ -f "$data_dir/aigwd.json" ]]; then
            daemon_port="$(sed -n 's/.*"port":[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$data_dir/aigwd.json" | head -1)"
            [[ -n "$daemon_port" ]] && break
        fi
        kill -0 "$daemon_pid" 2>/dev/null || die "aigwd exited: $(cat "$work/aigwd.err")"
        sleep 0.1
    done
    [[ -n "$daemon_port" ]] || die "aigwd did not write $data_dir/aigwd.json"
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$daemon_port/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$daemon_port/health" >/dev/null || die "aigwd /health does not answer"
}

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Writes the start of $work/nginx/nginx.conf, up to inside `http {`: $1 workers, $2
# connections each. The caller appends the rest (upstreams, servers) and the closing brace.
nginx_conf_head() {
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes $1;
worker_rlimit_nofile $(ulimit -n);
daemon off;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections $2; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    keepalive_requests 1000000;
NGINX
}

# Starts nginx (Debian's nginx-light) as a fast fixed upstream on a free port: canned
# OpenAI JSON at /v1/chat/completions and a canned SSE stream at /sse/v1/chat/completions.
# Sets fake_pid and fake_port; the path prefix for a stream is "/sse".
start_nginx_upstream() {
    command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx-light)"
    fake_port="$(free_port)"
    local json='{"id":"chatcmpl-nginx","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from a fast upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}'
    local chunk='{"id":"chatcmpl-nginx","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello "},"finish_reason":null}]}'
    local last='{"id":"chatcmpl-nginx","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    local usage='{"id":"chatcmpl-nginx","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}'
    local sse="data: $chunk\n\ndata: $chunk\n\ndata: $last\n\ndata: $usage\n\ndata: [DONE]\n\n"
    nginx_conf_head 1 20000
    cat >>"$work/nginx/nginx.conf" <<NGINX
    server {
        listen 127.0.0.1:$fake_port;
        location = /v1/chat/completions { default_type application/json; return 200 '$json'; }
        location = /sse/v1/chat/completions { default_type text/event-stream; return 200 '$sse'; }
    }
}
NGINX
    nginx -c "$work/nginx/nginx.conf" >"$work/fake.out" 2>"$work/fake.err" &
    fake_pid=$!
    for _ in $(seq 50); do
        curl -fsS -o /dev/null -X POST "http://127.0.0.1:$fake_port/v1/chat/completions" 2>/dev/null && return 0
        kill -0 "$fake_pid" 2>/dev/null || die "nginx exited: $(cat "$work/fake.err" "$work/nginx/error.log" 2>/dev/null)"
        sleep 0.1
    done
    die "nginx did not answer on port $fake_port"
}

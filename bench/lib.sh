# Shared by the bench scripts (sourced, not run): stopping what they started, and starting
# fake-upstream. Expects $work (a temp dir the script owns), $FAKE_UPSTREAM and die().

fake_pid=""
daemon_pid=""

# On exit: TERM aigwd and fake-upstream, KILL what is still there after 5 s, remove $work.
bench_cleanup() {
    local rc=$?
    for pid in $daemon_pid $fake_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $daemon_pid $fake_pid; do
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

# Starts fake-upstream on a free port; sets fake_pid and fake_port (it prints "listening
# <port>" once bound).
start_fake_upstream() {
    "$FAKE_UPSTREAM" --port 0 >"$work/fake.out" 2>"$work/fake.err" &
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
        AIGW_OPENAI_BASE_URL="http://127.0.0.1:$fake_port/v1" \
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

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

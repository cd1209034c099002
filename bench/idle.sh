#!/usr/bin/env bash
# Idle-connection benchmark: N connections (default 5000) each make one request to aigwd
# (GET /v1/models) and then sit idle, keep-alive, for 10 s. Prints aigwd's CPU use while
# they idle (as a share of one core) and its RSS after start and with them open.
# A benchmark, not a test: nothing asserts.
#
# usage: bench/idle.sh [BUILD_DIR] [CONNECTIONS] [IDLE_SECONDS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build_dir="${1:-$repo/build}"
conns="${2:-5000}"
idle_s="${3:-10}"
AIGWD="${AIGWD:-$build_dir/daemon/aigwd}"
die() { echo "idle: $*" >&2; exit 1; }
[[ -x "$AIGWD" ]] || die "build aigwd first"
command -v python3 >/dev/null || die "python3 is needed for the idle client"
ulimit -n "$(ulimit -Hn)"
work="$(mktemp -d)"
FAKE_UPSTREAM=/bin/false
fake_port=1
source "$here/lib.sh"
start_aigwd ""
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$daemon_pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$daemon_pid/stat"; }
hz=$(getconf CLK_TCK)
echo "aigwd RSS after start: $(( $(rss_kb) / 1024 )) MB"
python3 - "$daemon_port" "$conns" "$idle_s" "$daemon_pid" "$hz" <<'PY'
import asyncio, sys, time
port, n, idle, pid, hz = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
req = (b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer bench-key\r\n\r\n")
def ticks():
    f = open(f"/proc/{pid}/stat").read().split(")")[-1].split()
    return int(f[11]) + int(f[12])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
async def one(sem):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(req)
        await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await r.readexactly(length)
        return head.startswith(b"HTTP/1.1 200"), r, w
async def main():
    sem = asyncio.Semaphore(500)
    results = await asyncio.gather(*[one(sem) for _ in range(n)], return_exceptions=True)
    ok = sum(1 for x in results if not isinstance(x, Exception) and x[0])
    print(f"{ok} of {n} connections answered 200 and are now idle")
    t0, c0 = time.time(), ticks()
    await asyncio.sleep(idle)
    t1, c1 = time.time(), ticks()
    share = (c1 - c0) / hz / (t1 - t0) * 100
    print(f"aigwd CPU while {ok} connections idled {idle:.0f} s: {share:.2f}% of one core; RSS {rss()} MB")
    for x in results:
        if not isinstance(x, Exception):
            x[2].close()
asyncio.run(main())
PY

#!/usr/bin/env bash
# The .deb from CPack, installed for real (dpkg -i, as root): the binaries, both systemd
# units (systemd-analyze verify), the aigw system user and its 0700 data dir, then the system
# unit's own ExecStart run as that user serving a request, and a purge. Prints "ok N - ..."
# per check and "# pass N" / "# fail N" at the end, like node --test.
# usage: tests/packaging/test_deb.sh BUILD_DIR
set -uo pipefail
build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
work="$(mktemp -d /tmp/aigw-deb-XXXXXX)"
chmod 755 "$work"
pass=0
fail=0
n=0
check() {  # check "name" command...
  local name="$1"
  shift
  n=$((n + 1))
  if "$@" >"$work/check.out" 2>&1; then
    pass=$((pass + 1))
    echo "ok $n - $name"
  else
    fail=$((fail + 1))
    echo "not ok $n - $name"
    sed 's/^/#   /' "$work/check.out" | head -20
  fi
}
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
  dpkg --purge aigw >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
  echo "not ok 1 - the package test installs a .deb and needs root (run the test command as root)"
  echo "# pass 0"
  echo "# fail 1"
  exit 1
fi
dpkg --purge aigw >/dev/null 2>&1  # what an interrupted earlier run may have left

check "cpack builds the .deb" cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out"
deb="$(ls "$work"/out/aigw_*.deb 2>/dev/null | head -1)"
contents() { dpkg-deb -c "$deb" | awk '{print $6}'; }
has_file() { contents | grep -qx "\./$1"; }
for f in usr/bin/aigw usr/bin/aigwd usr/lib/systemd/system/aigwd.service usr/lib/systemd/user/aigwd.service \
  usr/share/bash-completion/completions/aigw usr/share/zsh/vendor-completions/_aigw \
  usr/share/fish/vendor_completions.d/aigw.fish; do
  check "the .deb holds /$f" has_file "$f"
done
check "the .deb depends on the shared libraries it links (shlibdeps)" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q 'libsqlite3-0' && dpkg-deb -f '$deb' Depends | grep -q adduser"

check "dpkg -i installs it" dpkg -i "$deb"
check "aigw and aigwd run from /usr/bin" bash -c '/usr/bin/aigw --version && /usr/bin/aigwd --version'
check "the system unit passes systemd-analyze verify" \
  bash -c 'out=$(systemd-analyze verify /usr/lib/systemd/system/aigwd.service 2>&1); echo "$out"; [ -z "$out" ]'
check "the user unit passes systemd-analyze verify" \
  bash -c 'out=$(systemd-analyze verify /usr/lib/systemd/user/aigwd.service 2>&1); echo "$out"; [ -z "$out" ]'
check "postinst created the aigw system user" bash -c 'getent passwd aigw | grep -q "/var/lib/aigw:/usr/sbin/nologin"'
check "/var/lib/aigw is 0700 aigw:aigw, /etc/aigw 0750 root:aigw" \
  bash -c '[ "$(stat -c %a:%U:%G /var/lib/aigw)" = 700:aigw:aigw ] && [ "$(stat -c %a:%U:%G /etc/aigw)" = 750:root:aigw ]'

# The system unit's ExecStart, as systemd would run it: as aigw, umask 0077, no environment
# but the unit's; --port 0 (a free port, written to the state file) instead of 4141.
exec_start="$(sed -n 's/^ExecStart=//p' /usr/lib/systemd/system/aigwd.service)"
port=""
start_daemon() {
  rm -f /var/lib/aigw/aigwd.json
  (umask 0077 && exec setpriv --reuid aigw --regid aigw --init-groups env -i HOME=/var/lib/aigw PATH=/usr/bin:/bin \
    $exec_start --port 0 >>"$work/aigwd.log" 2>&1) &
  daemon_pid=$!
}
up() {
  for _ in $(seq 1 100); do
    port="$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' /var/lib/aigw/aigwd.json 2>/dev/null)"
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/v1/models" \
      -H "Authorization: Bearer $(cat /var/lib/aigw/gateway.key 2>/dev/null)" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$work/aigwd.log"
  return 1
}
start_daemon
check "the system unit's ExecStart serves as the aigw user" up
chat() {
  curl -sf "http://127.0.0.1:$port/v1/chat/completions" -H "Authorization: Bearer $(cat /var/lib/aigw/gateway.key)" \
    -H 'content-type: application/json' -d '{"model":"mock/echo","messages":[{"role":"user","content":"hi from the deb"}]}' |
    grep -q 'hi from the deb'
}
check "a chat request through it is answered (mock)" chat
check "its files are the aigw user's and private (gateway.key, ledger.db 0600)" \
  bash -c '[ "$(stat -c %a:%U /var/lib/aigw/gateway.key)" = 600:aigw ] && [ "$(stat -c %a:%U /var/lib/aigw/ledger.db)" = 600:aigw ]'
stop() {
  kill -TERM "$daemon_pid" && wait "$daemon_pid"
  local rc=$?
  daemon_pid=""
  [ "$rc" = 0 ] || { cat "$work/aigwd.log"; return 1; }
}
check "SIGTERM (systemctl stop) exits 0 after draining" stop
start_daemon
logged() {
  up && AIGW_HOST="http://127.0.0.1:$port" AIGW_API_KEY="$(cat /var/lib/aigw/gateway.key)" \
    /usr/bin/aigw --no-spawn logs --json -n 5 | grep -q '"mock/echo"'
}
check "after a restart the request is in the ledger" logged
check "the second SIGTERM exits 0 too" stop

check "dpkg --purge removes the binaries and /etc/aigw, keeps the data" \
  bash -c 'dpkg --purge aigw && [ ! -e /usr/bin/aigwd ] && [ ! -e /etc/aigw ] && [ -d /var/lib/aigw ]'
rm -rf /var/lib/aigw
echo "# pass $pass"
echo "# fail $fail"
[ "$fail" = 0 ]

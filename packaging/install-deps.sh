#!/usr/bin/env bash
# Installs everything aigw needs to build (and, with --test, to run its tests and
# benchmarks) from Debian's packages. Run as root on Debian 12 or later. Idempotent:
# packages already present are not fetched again.
set -euo pipefail

want_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) want_tests=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

pkgs=(build-essential cmake ninja-build pkg-config ccache ca-certificates
      libcli11-dev libcpp-httplib-dev nlohmann-json3-dev libsqlitecpp-dev doctest-dev
      libtomlplusplus-dev libyaml-cpp-dev libedit-dev libssl-dev libsqlite3-dev libboost1.81-dev libpq-dev
      libjemalloc-dev)
if [ "$want_tests" = 1 ]; then
  # wrk and nginx (a fast fixed upstream) for bench/; curl for the scripts.
  pkgs+=(wrk curl nginx-light)
  # bench/instructions.sh counts instructions under valgrind's callgrind.
  pkgs+=(valgrind)
  # The TLS tests make their certificates with the openssl CLI (and call aigwd with curl).
  pkgs+=(openssl)
  # The fuzzing harnesses (tests/fuzz) link libFuzzer with clang 16: Debian 12's default
  # clang 14 cannot compile <expected>.
  pkgs+=(clang-16 libfuzzer-16-dev libclang-rt-16-dev)
  # tests/check_format.sh: the tree's .clang-format is written for clang-format 14.
  pkgs+=(clang-format)
  # The shell completions are tested in the shells they are written for.
  pkgs+=(zsh fish)
  # tests/packaging: cpack's dependency list (dpkg-shlibdeps), the package's postinst
  # (adduser) and the units' check (systemd-analyze).
  pkgs+=(dpkg-dev adduser systemd)
  # The cluster tests start a real Redis on loopback.
  pkgs+=(redis-server)
  # ... and a real PostgreSQL (started under its own system user, in a temp dir).
  pkgs+=(postgresql)
  # The SDK tests run on Node.js; use the machine's node if it has one (it may come
  # from elsewhere than Debian), else Debian's.
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages already installed" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to install: ${missing[*]} (re-run with sudo)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2

#!/usr/bin/env bash
# The whole test suite: installs the real services the tests talk to
# and the tools they call (Mosquitto, VictoriaMetrics, InfluxDB 1.x, socat
# for RTU pseudo-terminals, openssl for test certificates, python3 for the
# dashboard generator, prlimit, headless Chromium for the status page) from
# Debian packages when they are missing,
# then runs every test. A test whose tool is missing fails naming the
# package (tests/it/common/tools.rs): keep this list and those names in step.
# Tests start their own services on free loopback ports in temporary
# directories; nothing needs to be running beforehand.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

missing=()
have mosquitto || missing+=(mosquitto)
have mosquitto_pub || missing+=(mosquitto-clients)
have victoria-metrics || missing+=(victoria-metrics)
have influxd || missing+=(influxdb)
have mosquitto_passwd || missing+=(mosquitto)
have socat || missing+=(socat)
have openssl || missing+=(openssl)
have python3 || missing+=(python3)
have prlimit || missing+=(util-linux)
have chromium || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "scripts/test.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting: the tests start their own.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export RUST_BACKTRACE=1
# Proptest cases are bounded so the fuzz-style tests finish in CI time.
export PROPTEST_CASES="${PROPTEST_CASES:-256}"
# The dependency audit first: a known-bad crate in Cargo.lock fails fast.
bash scripts/audit-deps.sh
cargo test --all-targets --locked "$@"
cargo test --doc --locked

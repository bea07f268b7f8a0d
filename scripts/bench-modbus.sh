#!/bin/sh
# The Modbus fleet benchmark (issue 3): ENDPOINTS x UNITS simulated devices
# with 30 registers each, polled every second over loopback TCP, for SECS
# seconds. The simulator runs in a child process so the CPU and memory
# figures are the poller's alone. Prints requests per cycle (against one
# request per field), CPU, RSS and the worst lateness of a poll.
#
#   scripts/bench-modbus.sh                    # 50 gateways x 10 units = 500 devices
#   ENDPOINTS=500 UNITS=1 scripts/bench-modbus.sh   # 500 direct TCP devices
#
# PROFILE=release builds with the release profile (slow to build); the
# default builds greengate at opt-level 2 on the dev profile's dependencies.
set -eu
cd "$(dirname "$0")/.."
export GG_BENCH_ENDPOINTS="${ENDPOINTS:-50}" GG_BENCH_UNITS="${UNITS:-10}" GG_BENCH_SECS="${SECS:-30}"
if [ "${PROFILE:-}" = release ]; then
    set -- --release
else
    export CARGO_PROFILE_DEV_OPT_LEVEL=2
    set --
fi
exec cargo test "$@" --test it -- --ignored --exact modbus_bench::fleet_of_devices_polled_every_second --nocapture

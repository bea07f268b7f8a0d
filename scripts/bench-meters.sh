#!/bin/sh
# The meter-bus benchmark (issue 13): 32 DL/T 645 meters x 4 identifiers on
# one 2400-baud bus (socat pty, paced by the simulator at 2400 baud, 11 bits
# a byte), polled back to back for two full cycles. Prints the achieved
# cycle time against the wire-time limit (bytes x 11 / 2400 + gaps).
#
#   scripts/bench-meters.sh
set -eu
cd "$(dirname "$0")/.."
exec cargo-serial test --test it -- --ignored --exact meters_bench::cycle_of_32_meters_on_a_2400_baud_bus --nocapture

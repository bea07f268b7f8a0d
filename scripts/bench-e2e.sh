#!/usr/bin/env bash
# End-to-end QoS 1 throughput: real publishers (mosquitto_pub -l, one message
# per line) -> Mosquitto -> greengate (release build) -> VictoriaMetrics,
# everything on this machine, on loopback.
#
# For each configuration it measures
#   steady:  N messages published by P parallel publishers with the store up;
#            msg/s = N / (time from the first publish until greengate's sink has
#            written all N lines to VictoriaMetrics);
#   backlog: the store is stopped (SIGSTOP), N messages are published and
#            stored in the outbox (build rate = N / time until all are in the
#            outbox), then the store resumes (drain rate = N / time until the
#            sink has written them all);
# plus greengate's peak RSS (VmHWM) and CPU time, and a count of the distinct
# points in VictoriaMetrics (nothing lost).
#
# Usage: scripts/bench-e2e.sh [N] [P]         (defaults 200000 messages, 4 publishers)
#   CONFIGS="always:1:1000 interval:2:1000"   fsync:sessions:broker max_inflight_messages
#   BASELINE=0                               skip the run with mosquitto_sub in greengate's place
#   PUBLISHER=mosquitto_pub                  use mosquitto_pub -l instead of examples/publish.rs
#                                            (it costs ~30 µs CPU per message, more than greengate)
set -euo pipefail

N=${1:-200000}
P=${2:-4}
CONFIGS=${CONFIGS:-"always:1:1000 interval:1:1000 always:2:1000 always:4:1000 always:1:20 always:2:100"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/greengate}   # BIN=target/profiling/greengate for perf
WORK=$(mktemp -d /tmp/bench-e2e.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

[ "$BIN" != "$ROOT/target/release/greengate" ] || (cd "$ROOT" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build --release --bin greengate -q)

PUBLISHER=${PUBLISHER:-rumqttc}
PUB=${PUB:-$(dirname "$BIN")/examples/publish}
if [ "$PUBLISHER" != mosquitto_pub ] && [ ! -x "$PUB" ] || [ "$PUB" -ot "$ROOT/examples/publish.rs" ]; then
    (cd "$ROOT" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build --release --example publish -q)
    PUB=$ROOT/target/release/examples/publish
fi

# shellcheck source=bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
metric() { # metric NAME -> sum over label sets
    curl -s "http://127.0.0.1:$HTTP/metrics" | awk -v n="greengate_$1" '$1==n || index($1, n"{")==1 {s+=$2} END {printf "%d\n", s}'
}
wait_metric() { # wait_metric NAME TARGET
    while [ "$(metric "$1")" -lt "$2" ]; do sleep 0.05; done
}
distinct_points() {
    curl -s "http://127.0.0.1:$VMPORT/internal/force_flush" >/dev/null
    curl -s "http://127.0.0.1:$VMPORT/api/v1/export" --data-urlencode 'match[]={__name__="bench_seq"}' |
        python3 -c 'import sys,json
ts=set(); vs=set()
for l in sys.stdin:
    o=json.loads(l); ts.update(o["timestamps"]); vs.update(o["values"])
print(f"{len(vs)} distinct values, {len(ts)} distinct timestamps")'
}

# Messages: publisher p sends lines seq = p, p+P, p+2P, ... with distinct ms timestamps.
echo "generating $N messages for $P publishers..."
for ((p = 0; p < P; p++)); do
    awk -v p="$p" -v P="$P" -v n="$N" 'BEGIN { for (i = p; i < n; i += P) printf "bench seq=%di %.0f000000\n", i, 1764388800000 + i }' >"$WORK/msgs-$p"
done
# A second, later set for the backlog phase.
for ((p = 0; p < P; p++)); do
    awk -v p="$p" -v P="$P" -v n="$N" 'BEGIN { for (i = p; i < n; i += P) printf "bench seq=%di %.0f000000\n", n + i, 1764388800000 + n + i }' >"$WORK/backlog-$p"
done

publish_all() { # publish_all PREFIX; adds the publishers' CPU seconds to $WORK/pubcpu
    local pp=() t0 t1
    read -r t0 < <(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
    for ((p = 0; p < P; p++)); do
        if [ "$PUBLISHER" = mosquitto_pub ]; then
            mosquitto_pub -h 127.0.0.1 -p "$MQ" -q 1 -M 1000 -l -t "community/bench/lp/dev-$p" <"$WORK/$1-$p" &
        else
            "$PUB" "$MQ" "community/bench/lp/dev-$p" "$WORK/$1-$p" 1000 &
        fi
        pp+=($!)
    done
    for p in "${pp[@]}"; do wait "$p"; done
    # Children's CPU (cutime + cstime) of this shell: the publishers just waited for.
    read -r t1 < <(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
    echo $((t1 - t0)) >>"$WORK/pubcpu"
}

# The ceiling any QoS 1 consumer can reach here: the same publishers and
# Mosquitto, with greengate replaced by mosquitto_sub -q 1, which acknowledges
# on receipt and stores nothing (what a Node-RED flow does).
baseline() {
    local D=$WORK/baseline
    mkdir -p "$D"
    MQ=$(free_port)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 1000\n' "$MQ" >"$D/mosquitto.conf"
    mosquitto -c "$D/mosquitto.conf" >"$D/mq.log" 2>&1 &
    local mq=$!
    PIDS+=($mq)
    sleep 0.3
    mosquitto_sub -h 127.0.0.1 -p "$MQ" -q 1 -t 'community/+/lp/+' >"$D/out" &
    local sub=$!
    PIDS+=($sub)
    sleep 0.3
    local mq0 sub0 t0 t1
    mq0=$(cpu_ticks $mq) sub0=$(cpu_ticks $sub)
    : >"$WORK/pubcpu"
    t0=$(now)
    publish_all msgs
    while [ "$(wc -l <"$D/out")" -lt "$N" ]; do sleep 0.05; done
    t1=$(now)
    local hz
    hz=$(getconf CLK_TCK)
    bus() { echo "scale=1; $1 * 1000000 / $hz / $N" | bc; }
    local mq_us sub_us pub_us
    mq_us=$(bus $(($(cpu_ticks $mq) - mq0)))
    sub_us=$(bus $(($(cpu_ticks $sub) - sub0)))
    pub_us=$(bus "$(awk '{s += $1} END {print s + 0}' "$WORK/pubcpu")")
    echo "Baseline, no greengate (mosquitto_sub -q 1 acknowledges on receipt, stores nothing): $(echo "$N / ($t1 - $t0)" | bc) msg/s"
    BASEROW="| baseline: mosquitto_sub -q 1 instead of greengate | $sub_us (mosquitto_sub) | $mq_us | $pub_us | - | $(echo "$sub_us + $mq_us + $pub_us" | bc) |"
    kill $sub $mq
    wait $sub $mq 2>/dev/null || true
    PIDS=()
}
BASEROW=""
[ "${BASELINE:-1}" = 0 ] || baseline

echo
echo "| fsync | sessions | broker max_inflight | steady msg/s | backlog build msg/s | drain msg/s | drain/build | peak RSS MB | CPU s per 100k msg | stored/sent |"
echo "|---|---|---|---|---|---|---|---|---|---|"
CPUROWS=()
for c in $CONFIGS; do
    IFS=: read -r FSYNC SESSIONS INFLIGHT <<<"$c"
    D=$WORK/run-$FSYNC-$SESSIONS-$INFLIGHT
    mkdir -p "$D/mq" "$D/vm"
    chmod 777 "$D/mq"
    MQ=$(free_port) VMPORT=$(free_port) HTTP=$(free_port)
    cat >"$D/mq/mosquitto.conf" <<EOF
listener $MQ 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages $INFLIGHT
EOF
    mosquitto -c "$D/mq/mosquitto.conf" >"$D/mq/log" 2>&1 &
    MQPID=$!
    PIDS+=($MQPID)
    victoria-metrics -storageDataPath="$D/vm" -httpListenAddr="127.0.0.1:$VMPORT" \
        -retentionPeriod=100y -search.latencyOffset=0s -influxTrimTimestamp=1ns >"$D/vm.log" 2>&1 &
    VMPID=$!
    PIDS+=($VMPID)
    until curl -sf "http://127.0.0.1:$VMPORT/health" >/dev/null; do sleep 0.1; done
    cat >"$D/greengate.toml" <<EOF
[site]
community_id = "bench"
[http]
listen = "127.0.0.1:$HTTP"
[outbox]
dir = "$D/outbox"
fsync = "$FSYNC"
[dead_letter]
path = "$D/dead-letter.jsonl"
[profiles]
dirs = ["$ROOT/config/devices"]
[sources.mqtt]
host = "127.0.0.1"
port = $MQ
client_id = "greengate-bench"
sessions = $SESSIONS
[[sources.mqtt.subscriptions]]
filter = "community/+site/lp/+device"
profile = "line-protocol"
[sinks.influxdb]
url = "http://127.0.0.1:$VMPORT"
org = "o"
bucket = "b"
token = "t"
linger = "20ms"
EOF
    RUST_LOG=warn "$BIN" run -c "$D/greengate.toml" >"$D/greengate.log" 2>&1 &
    GG=$!
    PIDS+=($GG)
    until curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null; do sleep 0.1; done
    sleep 1

    # Steady state.
    cpu0=$(cpu_ticks $GG) mq0=$(cpu_ticks $MQPID) vm0=$(cpu_ticks $VMPID)
    : >"$WORK/pubcpu"
    t0=$(now)
    publish_all msgs
    wait_metric influx_lines_written_total "$N"
    t1=$(now)
    steady=$(echo "$N / ($t1 - $t0)" | bc)
    # CPU per message of every process in the steady phase, in microseconds.
    hz=$(getconf CLK_TCK)
    us() { echo "scale=1; $1 * 1000000 / $hz / $N" | bc; }
    gg_us=$(us $(($(cpu_ticks $GG) - cpu0)))
    mq_us=$(us $(($(cpu_ticks $MQPID) - mq0)))
    vm_us=$(us $(($(cpu_ticks $VMPID) - vm0)))
    pub_us=$(us "$(awk '{s += $1} END {print s + 0}' "$WORK/pubcpu")")
    CPUROWS+=("| $FSYNC:$SESSIONS:$INFLIGHT | $gg_us | $mq_us | $pub_us | $vm_us | $(echo "$gg_us + $mq_us + $pub_us + $vm_us" | bc) |")

    # Backlog: store stopped while N more arrive, then resumed.
    kill -STOP $VMPID
    t2=$(now)
    publish_all backlog
    wait_metric pipeline_readings_total $((2 * N))
    t3=$(now)
    kill -CONT $VMPID
    wait_metric influx_lines_written_total $((2 * N))
    t4=$(now)
    cpu1=$(cpu_ticks $GG)
    build=$(echo "$N / ($t3 - $t2)" | bc)
    drain=$(echo "$N / ($t4 - $t3)" | bc)
    ratio=$(echo "scale=1; ($t3 - $t2) / ($t4 - $t3)" | bc)
    hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$GG/status")
    cpu=$(echo "scale=2; ($cpu1 - $cpu0) / $hz / (2 * $N / 100000)" | bc)
    sleep 2
    stored=$(distinct_points)
    echo "| $FSYNC | $SESSIONS | $INFLIGHT | $steady | $build | $drain | ${ratio}x | $hwm | $cpu | $stored of $((2 * N)) |"

    kill -TERM $GG
    wait $GG || echo "greengate exited with $?" >&2
    kill $MQPID $VMPID
    wait $MQPID $VMPID 2>/dev/null || true
    PIDS=()
done

echo
echo "Steady phase, CPU time per message (µs) of each process (2 cores = 2,000,000 µs per second):"
echo "| config | greengate | mosquitto | publishers | victoria-metrics | total |"
echo "|---|---|---|---|---|---|"
for r in "${CPUROWS[@]}"; do echo "$r"; done
[ -z "$BASEROW" ] || echo "$BASEROW"

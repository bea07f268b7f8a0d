#!/bin/sh
# Scale benchmark (issue 6, docs/scaling.md): N greengate instances, each with
# its own community id, config, outbox and simulated MQTT traffic, all writing
# to ONE VictoriaMetrics on this machine, for SECS seconds. Not part of the
# test suite. Reports total points/s ingested by VictoriaMetrics, series
# count (total and per community), and each instance's RSS and CPU time.
#
#   scripts/bench-scale.sh                          # 20 instances, 60 s
#   N=20 SECS=60 RATE=50 DEVICES=60 scripts/bench-scale.sh
#
# RATE is messages per second per instance (one reading per message, line
# protocol: noise with 2 fields, water_meter with 2, lighting with 2), DEVICES
# the devices per community. BIN=path/to/greengate to use a given binary;
# otherwise the debug binary is built (PROFILE=release for the release one).
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -eu
cd "$(dirname "$0")/.."
N="${N:-20}" SECS="${SECS:-60}" RATE="${RATE:-50}" DEVICES="${DEVICES:-60}"
if [ -z "${BIN:-}" ]; then
    if [ "${PROFILE:-}" = release ]; then
        cargo build --release --bin greengate >&2; BIN=target/release/greengate
    else
        cargo build --bin greengate >&2; BIN=target/debug/greengate
    fi
fi
BIN="$(pwd)/$BIN"
DEVDIR="$(pwd)/config/devices"
WORK="$(mktemp -d)"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

MQTT_PORT=$(port); VM_PORT=$(port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n' "$MQTT_PORT" > "$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" > "$WORK/mosquitto.log" 2>&1 & PIDS="$PIDS $!"
victoria-metrics -storageDataPath "$WORK/vm" -httpListenAddr "127.0.0.1:$VM_PORT" \
    -retentionPeriod 100y -search.latencyOffset 0s > "$WORK/vm.log" 2>&1 & PIDS="$PIDS $!"
until curl -sf "http://127.0.0.1:$VM_PORT/health" >/dev/null; do sleep 0.2; done

GG_PIDS=""
i=1
while [ "$i" -le "$N" ]; do
    d="$WORK/gg$i"; mkdir -p "$d"; hp=$(port)
    cat > "$d/greengate.toml" <<CFG
[site]
community_id = "cn-bench-$(printf %03d "$i")"
[log]
level = "warn"
[http]
listen = "127.0.0.1:$hp"
[outbox]
dir = "$d/outbox"
[dead_letter]
path = "$d/dead-letter.jsonl"
[profiles]
dirs = ["$DEVDIR"]
[sources.mqtt]
host = "127.0.0.1"
port = $MQTT_PORT
client_id = "gg-bench-$i"
[[sources.mqtt.subscriptions]]
filter = "bench/c$i/lp/+device"
profile = "line-protocol"
[sinks.influxdb]
url = "http://127.0.0.1:$VM_PORT"
org = "o"
bucket = "b"
token = "t"
CFG
    "$BIN" run -c "$d/greengate.toml" > "$d/log" 2>&1 & p=$!
    PIDS="$PIDS $p"; GG_PIDS="$GG_PIDS $p"
    i=$((i + 1))
done
sleep 3

rows() { curl -s "http://127.0.0.1:$VM_PORT/metrics" | awk '/^vm_rows_inserted_total\{type="influx"\}/ {print $2}'; }
START_ROWS=$(rows); START_ROWS=${START_ROWS:-0}

# One publisher per instance: RATE lines per second (one message each), over
# DEVICES devices of three classes, no timestamp (receive time).
i=1
while [ "$i" -le "$N" ]; do
    awk -v rate="$RATE" -v secs="$SECS" -v devs="$DEVICES" 'BEGIN {
        srand(); k = 0
        for (s = 0; s < secs; s++) {
            for (j = 0; j < rate; j++) {
                d = k % devs; k++
                c = d % 3
                if (c == 0) printf "noise,device=nl-%d laeq=%.1f,lamax=%.1f\n", d, 45 + rand() * 20, 60 + rand() * 20
                else if (c == 1) printf "water_meter,device=wm-%d total_m3=%.3f,flow_m3h=%.3f\n", d, k / 1000, rand()
                else printf "lighting,device=sl-%d power_w=%.1f,on=true\n", d, 60 + rand() * 10
            }
            fflush(); system("sleep 1")
        }
    }' | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -l -t "bench/c$i/lp/gw" -i "pub-$i" & PIDS="$PIDS $!"
    i=$((i + 1))
done

sleep "$SECS"
sleep 5   # let the last lingering batches land
curl -s "http://127.0.0.1:$VM_PORT/internal/force_flush" >/dev/null || true
END_ROWS=$(rows); END_ROWS=${END_ROWS:-0}
SERIES=$(curl -s "http://127.0.0.1:$VM_PORT/api/v1/series/count" | sed 's/.*"data":\[\([0-9]*\)\].*/\1/')
ONE=$(curl -s -G "http://127.0.0.1:$VM_PORT/api/v1/series" --data-urlencode 'match[]={community="cn-bench-001"}' \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
SENT=$((N * RATE * SECS))

echo "instances:              $N"
echo "messages published:     $SENT ($((N * RATE)) msg/s, 2 fields each)"
echo "points ingested by VM:  $((END_ROWS - START_ROWS)) in ${SECS}s+5s"
echo "points/s (VM rows):     $(( (END_ROWS - START_ROWS) / SECS ))"
echo "series total:           $SERIES"
echo "series per community:   ${ONE:-?} (cn-bench-001)"
echo "per-instance RSS (KiB) and CPU time:"
for p in $GG_PIDS; do
    printf '  pid %-7s rss %-7s cpu %s\n' "$p" "$(ps -o rss= -p "$p" | tr -d ' ')" "$(ps -o time= -p "$p" | tr -d ' ')"
done

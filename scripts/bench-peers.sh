#!/usr/bin/env bash
# Peer comparison (issue 15): the same QoS 1 workload through Node-RED 4
# (mqtt in -> function -> join 1000 -> influxdb batch, persistent session)
# and through greengate (JSON profile, fsync on every commit), one Mosquitto
# and one InfluxDB 1.x, on this machine, loopback only.
#
# Workload: N JSON noise messages of ~100 bytes, payload timestamps unique
# per device (a store merges points with the same series and time, which
# would hide losses), over D devices, from P publishers (examples/publish.rs:
# QoS 1, 1000 in flight). Pass 1: steady. Pass 2: each consumer is killed
# with kill -9 two seconds into the run and restarted; what it never stores
# is lost.
#
# Reports per consumer: stored of sent, stored per second, CPU µs per
# message (user + system, from the first message to the last point stored;
# in pass 2 the restarted process's start-up included), peak RSS, and
# losses after kill -9. Stored per second runs from
# the publishers' start to the store's last progress, seen by one poller
# (started before the publishers) polling InfluxDB's write counter every
# 50 ms (scripts/wait-stored.py).
#
# Usage: scripts/bench-peers.sh [N] [P] [D]     (defaults 300000 messages, 2 publishers, 1000 devices)
#   CONSUMERS="node-red greengate"   which consumers to run
#   REPEAT=3                         rounds (each runs every consumer's two passes, back to
#                                    back); prints the CPU ratio per round and of the medians
#   FSYNC=always                     greengate's [outbox] fsync policy (never: what fsync costs)
#   NODE_RED_VERSION=4               npm version spec for node-red
#   INDICATORS=on                    greengate computes indicators (event-time
#                                    watermark, so the payloads' past timestamps
#                                    open noise windows): the burst-memory run,
#                                    e.g. INDICATORS=on CONSUMERS=greengate scripts/bench-peers.sh 600000 2 1000
#   CARGO=cargo-serial CARGO_TARGET_DIR=/work/target-shared   how and where to build
#   OUTBOX_TOML='commit_spacing = "5ms"'   more keys for greengate's [outbox]
#   BIN=path/to/greengate            use this binary (e.g. the profiling build) instead of building
#   METRICS_OUT=prefix               save greengate's /metrics and memory maps at the end of each pass to prefix.PASS[.mem]
#   PERF="record -g -o gg.data"      run perf with these arguments on greengate's steady pass
#   PERF="stat -e context-switches,raw_syscalls:sys_enter"
# Needs: node + npm (Node-RED and node-red-contrib-influxdb are installed
# from npm into a temporary directory), mosquitto, influxd, curl, python3.
set -euo pipefail

N=${1:-300000}
P=${2:-2}
D=${3:-1000}
CONSUMERS=${CONSUMERS:-"node-red greengate"}
if [ "${INDICATORS:-off}" = on ]; then
    INDICATORS_TOML=$'[indicators]\nenabled = true\nwatermark = "event_time"'
else
    INDICATORS_TOML=$'[indicators]\nenabled = false'
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/bench-peers.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "bench-peers: kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

for t in node npm mosquitto influxd curl python3; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "bench-peers: $t is missing (scripts/test.sh installs the services)" >&2; exit 1; }
done

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PUB=$TARGET/release/examples/publish
if [ -n "${BIN:-}" ]; then
    [ -x "$BIN" ] && [ -x "$PUB" ] || { echo "bench-peers: BIN=$BIN or $PUB is not built" >&2; exit 1; }
else
    # The edge build (deploy/Dockerfile): no demo broker or simulator in the binary.
    (cd "$ROOT" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} ${CARGO:-cargo} build --release --no-default-features --bin greengate --example publish -q)
    BIN=$TARGET/release/greengate
fi

# shellcheck source=bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
HZ=$(getconf CLK_TCK)

echo "bench-peers: installing Node-RED ${NODE_RED_VERSION:-4} and node-red-contrib-influxdb from npm into $WORK/nr"
mkdir -p "$WORK/nr"
(cd "$WORK/nr" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error \
    "node-red@${NODE_RED_VERSION:-4}" node-red-contrib-influxdb >/dev/null)
NR_VERSION=$(node -p "require('$WORK/nr/node_modules/node-red/package.json').version")

# One broker and one InfluxDB 1.x for every run.
MQ=$(free_port) IFX=$(free_port) RPC=$(free_port)
mkdir -p "$WORK/mq" "$WORK/ifx"
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 1000\n' "$MQ" >"$WORK/mq/mosquitto.conf"
mosquitto -c "$WORK/mq/mosquitto.conf" >"$WORK/mq/log" 2>&1 &
PIDS+=($!)
influxd config 2>/dev/null | python3 -c '
import sys
d, port, rpc = sys.argv[1:4]
sec = ""
for line in sys.stdin:
    t = line.strip()
    if t.startswith("["): sec = t
    k = t.split("=")[0].strip()
    rep = {("", "bind-address"): f"bind-address = \"127.0.0.1:{rpc}\"",
           ("", "reporting-disabled"): "reporting-disabled = true",
           ("[meta]", "dir"): f"dir = \"{d}/meta\"",
           ("[data]", "dir"): f"dir = \"{d}/data\"",
           ("[data]", "wal-dir"): f"wal-dir = \"{d}/wal\"",
           ("[data]", "query-log-enabled"): "query-log-enabled = false",
           ("[http]", "bind-address"): f"bind-address = \"127.0.0.1:{port}\"",
           ("[http]", "log-enabled"): "log-enabled = false"}
    print(rep.get((sec, k), line.rstrip("\n")))
' "$WORK/ifx" "$IFX" "$RPC" | sed '/\[\[udp\]\]/,/enabled/ s/enabled = true/enabled = false/' >"$WORK/ifx/influxdb.conf"
influxd -config "$WORK/ifx/influxdb.conf" >"$WORK/ifx/log" 2>&1 &
PIDS+=($!)
until curl -sf "http://127.0.0.1:$IFX/ping" >/dev/null; do sleep 0.2; done
query() { curl -sf "http://127.0.0.1:$IFX/query" --data-urlencode "db=$1" --data-urlencode "q=$2"; }
stored() { # stored DB -> points of measurement noise
    query "$1" 'SELECT count(seq) FROM noise' | python3 -c 'import sys,json
r=json.load(sys.stdin)["results"][0]
print(r["series"][0]["values"][0][1] if "series" in r else 0)'
}

# Messages: publisher p sends seq = p, p+P, ...; device = seq mod D; the
# timestamp is 1 ms apart per message, so unique per device.
for ((p = 0; p < P; p++)); do
    awk -v p="$p" -v P="$P" -v n="$N" -v d="$D" 'BEGIN { for (i = p; i < n; i += P)
        printf "{\"device\":\"n-%04d\",\"ts\":%.0f,\"laeq\":%.1f,\"lamax\":%.1f,\"unit\":\"dB(A)\",\"class\":1,\"seq\":%d}\n", i % d, 1764388800000 + i, 40 + (i % 300) / 10, 70 + (i % 100) / 10, i }' >"$WORK/msgs-$p"
done
LINES_100K=$(head -c 100000 "$WORK/msgs-0" | wc -l)

cat >"$WORK/bench-noise.toml" <<'EOF'
name = "bench-noise"
class = "noise"
description = "bench-peers.sh: JSON noise sample with the device and an epoch-ms time in the payload."
[mqtt]
format = "json"
time = { path = "ts", format = "ms" }
tags = { device = "$.device" }
[mqtt.fields.laeq]
path = "laeq"
[mqtt.fields.lamax]
path = "lamax"
[mqtt.fields.seq]
path = "seq"
type = "int"
EOF

start_consumer() { # start_consumer NAME DB -> sets CPID
    case $1 in
    node-red)
        local seen
        seen=$(grep -c "Started flows" "$WORK/nr.log" 2>/dev/null || true)
        node "$WORK/nr/node_modules/node-red/red.js" -u "$WORK/nr" -p "$NRPORT" "$WORK/nr/flows.json" >>"$WORK/nr.log" 2>&1 &
        CPID=$!
        until [ "$(grep -c "Started flows" "$WORK/nr.log" 2>/dev/null || true)" -gt "${seen:-0}" ]; do sleep 0.2; done
        ;;
    greengate)
        RUST_LOG=warn "$BIN" run -c "$WORK/gg/greengate.toml" >>"$WORK/gg.log" 2>&1 &
        CPID=$!
        until curl -sf "http://127.0.0.1:$GGHTTP/readyz" >/dev/null; do sleep 0.1; done
        ;;
    esac
    PIDS+=($CPID)
}

setup_consumer() { # setup_consumer NAME DB
    query "$2" "DROP DATABASE $2" >/dev/null || true
    query "$2" "CREATE DATABASE $2" >/dev/null
    case $1 in
    node-red)
        NRPORT=$(free_port)
        rm -f "$WORK/nr.log"
        cat >"$WORK/nr/flows.json" <<EOF
[
 {"id":"f1","type":"tab","label":"bench"},
 {"id":"b1","type":"mqtt-broker","name":"mosquitto","broker":"127.0.0.1","port":"$MQ","clientid":"nodered-bench-$2","autoConnect":true,"usetls":false,"protocolVersion":"4","keepalive":"60","cleansession":false},
 {"id":"i1","type":"influxdb","hostname":"127.0.0.1","port":"$IFX","protocol":"http","database":"$2","name":"influx","usetls":false,"influxdbVersion":"1.x"},
 {"id":"n1","type":"mqtt in","z":"f1","name":"","topic":"community/bench/noise/+","qos":"1","datatype":"json","broker":"b1","nl":false,"rap":false,"inputs":0,"wires":[["n2"]]},
 {"id":"n2","type":"function","z":"f1","name":"to point","func":"const p = msg.payload;\nmsg.payload = {measurement: 'noise', fields: {laeq: p.laeq, lamax: p.lamax, seq: p.seq}, tags: {device: p.device}, timestamp: new Date(p.ts)};\nreturn msg;","outputs":1,"wires":[["n3"]]},
 {"id":"n3","type":"join","z":"f1","name":"","mode":"custom","build":"array","property":"payload","propertyType":"msg","key":"topic","joiner":"\\\\n","joinerType":"str","accumulate":false,"timeout":"1","count":"1000","reduce":"","wires":[["n4"]]},
 {"id":"n4","type":"influxdb batch","z":"f1","influxdb":"i1","precision":"ms","retentionPolicy":"","name":"","wires":[]}
]
EOF
        ;;
    greengate)
        GGHTTP=$(free_port)
        rm -rf "$WORK/gg" "$WORK/gg.log"
        mkdir -p "$WORK/gg/profiles"
        cp "$WORK/bench-noise.toml" "$WORK/gg/profiles/"
        cat >"$WORK/gg/greengate.toml" <<EOF
[site]
community_id = "bench"
[http]
listen = "127.0.0.1:$GGHTTP"
[outbox]
dir = "$WORK/gg/outbox"
fsync = "${FSYNC:-always}"
${OUTBOX_TOML:-}
[dead_letter]
path = "$WORK/gg/dead-letter.jsonl"
[profiles]
dirs = ["$WORK/gg/profiles"]
$INDICATORS_TOML
[sources.mqtt]
host = "127.0.0.1"
port = $MQ
client_id = "greengate-bench-$2"
[[sources.mqtt.subscriptions]]
filter = "community/+site/noise/+"
profile = "bench-noise"
[sinks.influxdb]
url = "http://127.0.0.1:$IFX"
api = "v1"
database = "$2"
linger = "20ms"
EOF
        ;;
    esac
}

publish() { # publish -> publishers' wall seconds
    local t0 pp=()
    t0=$(now)
    for ((p = 0; p < P; p++)); do
        "$PUB" "$MQ" "community/bench/noise/p$p" "$WORK/msgs-$p" 1000 &
        pp+=($!)
    done
    for p in "${pp[@]}"; do wait "$p"; done
    echo "$(now) - $t0" | bc
}

wait_stored() { # wait_stored DB BASE -> time of the last progress; stops at N or 30 s without progress
    python3 "$ROOT/scripts/wait-stored.py" "$IFX" "$1" noise seq "$N" "$2" 30
}
points_ok() { python3 "$ROOT/scripts/wait-stored.py" "$IFX" --points-ok; }

echo
echo "Workload: $N QoS 1 JSON messages (~$((100000 / LINES_100K)) bytes) over $D devices from $P publishers; Node-RED $NR_VERSION, $(mosquitto -h 2>/dev/null | head -1 | awk '{print $2, $3}'), $(influxd version 2>/dev/null | head -1); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| consumer | pass | stored of sent | stored/s | publishers' msg/s | of publishers' rate | CPU µs/msg | peak RSS MB | lost |"
echo "|---|---|---|---|---|---|---|---|---|"
run=0
ROUNDS=${REPEAT:-1}
for ((round = 1; round <= ROUNDS; round++)); do
for c in $CONSUMERS; do
    for pass in steady kill9; do
        run=$((run + 1))
        db="b${run}"
        setup_consumer "$c" "$db"
        start_consumer "$c" "$db"
        sleep 1
        base=$(points_ok)
        # The poller watches from before the first message: started after
        # the publishers, its own start-up (~0.2 s of python3 here) would
        # count as the store's delay.
        wait_stored "$db" "$base" >"$WORK/stored-at" &
        waitpid=$!
        sleep 0.5
        cpu0=$(cpu_ticks "$CPID")
        t0=$(now)
        if [ "$pass" = kill9 ]; then
            publish >"$WORK/pubtime" &
            pubpid=$!
            sleep 2
            cpu_killed=$(( $(cpu_ticks "$CPID") - cpu0 ))
            hwm1=$(hwm_mb "$CPID")
            kill -9 "$CPID"
            wait "$CPID" 2>/dev/null || true
            start_consumer "$c" "$db"
            # The restart is part of the pass: the new process's CPU counts
            # from its start (what it used until ready is noted below).
            echo "$c $(cpu_ticks "$CPID")" >>"$WORK/restart-ticks"
            cpu0=$(( 0 - cpu_killed ))
            wait "$pubpid"
            pubs=$(cat "$WORK/pubtime")
        else
            if [ -n "${PERF:-}" ] && [ "$c" = greengate ]; then
                # shellcheck disable=SC2086
                perf $PERF -p "$CPID" 2>"$WORK/perf.err" &
                perfpid=$!
            fi
            pubs=$(publish)
            hwm1=0
        fi
        wait "$waitpid"
        t1=$(cat "$WORK/stored-at")
        if [ -n "${perfpid:-}" ]; then kill -INT "$perfpid"; wait "$perfpid" || true; perfpid=; cat "$WORK/perf.err" >&2; fi
        cpu=$(( $(cpu_ticks "$CPID") - cpu0 ))
        hwm=$(hwm_mb "$CPID")
        hwm=$(echo "if ($hwm > $hwm1) $hwm else $hwm1" | bc)
        got=$(stored "$db")
        rate=$(echo "$got / ($t1 - $t0)" | bc)
        prate=$(echo "$N / $pubs" | bc)
        share=$(echo "scale=1; 100 * $rate / $prate" | bc)
        us=$(echo "scale=1; $cpu * 1000000 / $HZ / $N" | bc)
        if [ -n "${METRICS_OUT:-}" ] && [ "$c" = greengate ]; then
            curl -sf "http://127.0.0.1:$GGHTTP/metrics" >"$METRICS_OUT.$pass" || true
            cat "/proc/$CPID/status" "/proc/$CPID/smaps_rollup" "/proc/$CPID/smaps" >"$METRICS_OUT.$pass.mem" 2>/dev/null || true
        fi
        label=$pass
        [ "$ROUNDS" -gt 1 ] && label="$pass #$round"
        echo "| $c | $label | $got of $N | $rate | $prate | $share % | $us | $hwm | $((N - got)) |"
        echo "$round $c $pass $us" >>"$WORK/cpu"
        kill -TERM "$CPID" 2>/dev/null || true
        wait "$CPID" 2>/dev/null || true
    done
done
done

if [ -s "$WORK/restart-ticks" ]; then
    echo
    echo "kill -9 pass: CPU from the restarted consumer's start until it was ready (counted in its CPU µs/msg), per round:"
    awk -v hz="$HZ" '{ s[$1] = s[$1] sprintf(" %.2f s", $2 / hz) } END { for (c in s) print "  " c ":" s[c] }' "$WORK/restart-ticks"
fi

# Node-RED's CPU per message over greengate's, per round and pass (both
# consumers ran back to back in each round), and the medians over rounds.
if [[ " $CONSUMERS " == *" node-red "* && " $CONSUMERS " == *" greengate "* ]]; then
    echo
    echo "| pass | Node-RED / greengate CPU per message, per round | median µs/msg Node-RED, greengate | ratio of medians |"
    echo "|---|---|---|---|"
    python3 - "$WORK/cpu" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for p in ("steady", "kill9"):
    us = {c: {int(r): float(u) for r, cc, pp, u in rows if cc == c and pp == p} for c in ("node-red", "greengate")}
    rounds = sorted(set(us["node-red"]) & set(us["greengate"]))
    ratios = ", ".join(f"{us['node-red'][r] / us['greengate'][r]:.1f}" for r in rounds if us["greengate"][r] > 0)
    m = {c: statistics.median(us[c].values()) for c in us}
    print(f"| {p} | {ratios} | {m['node-red']:.1f}, {m['greengate']:.1f} | {m['node-red'] / m['greengate']:.1f} |")
PY
fi

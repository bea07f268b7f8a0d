#!/usr/bin/env bash
# The demo against real services: a whole simulated community through the
# real pipeline into Mosquitto and VictoriaMetrics, on one machine. (With
# nothing installed, `cargo run --release -- demo` runs the same community
# with an embedded broker instead.) Installs Mosquitto and VictoriaMetrics from
# Debian packages when missing (sudo when not root), starts them on free
# loopback ports in a temporary directory, builds greengate, runs greengate
# on scripts/demo/greengate.demo.toml.in and `greengate simulate` (MQTT devices
# of five classes, Modbus TCP device servers) against them, and prints a live
# summary every 5 s from greengate's /metrics and VictoriaMetrics' PromQL
# API. Stops greengate with SIGTERM (it must exit 0) and everything else.
#
#   scripts/demo.sh                     # 60 s
#   DEMO_SECONDS=0 scripts/demo.sh      # until Ctrl-C
#
# Environment: DEMO_SECONDS (60; 0 = until Ctrl-C), DEMO_ACCEL (60: an hour
# of simulated time per minute), DEMO_SCALE (3 devices per class),
# DEMO_RATE (0.2 messages per device per second), DEMO_START (simulated
# start: RFC 3339, "now", or by default the next 17:30 in Shanghai, an hour
# with dusk in it), DEMO_LEAK (1 = inject a water leak),
# DEMO_KEEP (1 = keep the temporary directory with the data and logs),
# DEMO_RELEASE (1 = release build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DEMO_SECONDS=${DEMO_SECONDS:-60}
DEMO_ACCEL=${DEMO_ACCEL:-60}
DEMO_SCALE=${DEMO_SCALE:-3}
DEMO_RATE=${DEMO_RATE:-0.2}
DEMO_START=${DEMO_START:-}
DEMO_LEAK=${DEMO_LEAK:-0}
DEMO_KEEP=${DEMO_KEEP:-0}
DEMO_RELEASE=${DEMO_RELEASE:-0}
COMMUNITY=cn-sh-demo-0001

say() { printf 'demo: %s\n' "$*"; }

for v in DEMO_SECONDS DEMO_SCALE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "demo: error: $v must be a whole number, got '${!v}'" >&2; exit 64; }
done
for v in DEMO_ACCEL DEMO_RATE; do
  [[ ${!v} =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "demo: error: $v must be a positive number, got '${!v}'" >&2; exit 64; }
done

# ---------------------------------------------------------------- install

find_bin() {
  local b
  for b in "$(command -v "$1" 2>/dev/null || true)" "/usr/sbin/$1" "/usr/bin/$1" "/usr/local/bin/$1"; do
    if [ -n "$b" ] && [ -x "$b" ]; then
      echo "$b"
      return 0
    fi
  done
  return 1
}

missing=()
find_bin mosquitto >/dev/null || missing+=(mosquitto)
find_bin victoria-metrics >/dev/null || missing+=(victoria-metrics)
find_bin python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  say "installing ${missing[*]} (apt-get)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
MOSQUITTO=$(find_bin mosquitto) || { echo "demo: error: mosquitto is not installed" >&2; exit 1; }
VICTORIA=$(find_bin victoria-metrics) || { echo "demo: error: victoria-metrics is not installed" >&2; exit 1; }
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: error: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi
# The config template (placeholders @...@ filled in below).
TEMPLATE=scripts/demo/greengate.demo.toml.in
if [ ! -f "$TEMPLATE" ]; then
  echo "demo: error: $TEMPLATE is missing" >&2
  exit 1
fi

# ---------------------------------------------------------------- build

profile=debug
build_flags=()
if [ "$DEMO_RELEASE" = 1 ]; then
  profile=release
  build_flags=(--release)
fi
say "building greengate (cargo build ${build_flags[*]} --bin greengate)"
cargo build "${build_flags[@]}" --bin greengate
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
GREENGATE=$TARGET/$profile/greengate

# ---------------------------------------------------------------- services

WORK=$(mktemp -d -t greengate-demo.XXXXXX)
PIDS=()       # every process this script started, stopped in reverse order
GG_PID=""
SIM_PID=""
STOPPING=0

show_logs() { # the pipeline's own logs first and longest, the services' after
  local f n
  for f in check greengate simulate mosquitto victoria-metrics; do
    [ -s "$WORK/$f.log" ] || continue
    n=20
    case $f in mosquitto | victoria-metrics) n=6 ;; esac
    printf '\n--- last lines of %s ---\n' "$WORK/$f.log" >&2
    tail -n "$n" "$WORK/$f.log" | sed 's/\x1b\[[0-9;]*m//g' >&2
  done
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    wait "${PIDS[i]}" 2>/dev/null || true
  done
  if [ "$DEMO_KEEP" = 1 ]; then
    say "kept $WORK (data, config and logs)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
# Ctrl-C (or SIGTERM) ends the live loop; the shutdown below still runs.
trap 'STOPPING=1' INT TERM

fail() {
  printf 'demo: error: %s\n' "$*" >&2
  show_logs
  exit 1
}

# A free loopback port (or the first of N consecutive free ports).
free_ports() {
  python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(500):
    if n == 1:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    else:
        p = random.randint(20000, 60000 - n)
    if all(free(p + i) for i in range(n)):
        print(p); sys.exit(0)
sys.exit("no free ports")
EOF
}

wait_for() { # name pid url-or-port seconds
  local name=$1 pid=$2 what=$3 secs=$4 i
  for ((i = 0; i < secs * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || fail "$name exited during startup"
    if python3 - "$what" <<'EOF' 2>/dev/null; then return 0; fi
import socket, sys, urllib.request
w = sys.argv[1]
if w.startswith("http"):
    urllib.request.urlopen(w, timeout=1).read()
else:
    socket.create_connection(("127.0.0.1", int(w)), timeout=1).close()
EOF
    sleep 0.2
  done
  fail "$name did not come up within ${secs}s ($what)"
}

start() { # name logfile command...; sets LAST_PID. setsid: Ctrl-C reaches only this script.
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

MQTT_PORT=$(free_ports 1)
VM_PORT=$(free_ports 1)
HTTP_PORT=$(free_ports 1)
MODBUS_PORT_BASE=$(free_ports 8)
VM_URL=http://127.0.0.1:$VM_PORT
mkdir -p "$WORK/vm-data" "$WORK/state" "$WORK/mosquitto"

cat >"$WORK/mosquitto.conf" <<EOF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
EOF
start mosquitto "$WORK/mosquitto.log" "$MOSQUITTO" -c "$WORK/mosquitto.conf"
wait_for mosquitto "$LAST_PID" "$MQTT_PORT" 10
say "Mosquitto on 127.0.0.1:$MQTT_PORT"

start victoria-metrics "$WORK/victoria-metrics.log" "$VICTORIA" -storageDataPath "$WORK/vm-data" \
  -httpListenAddr "127.0.0.1:$VM_PORT" -retentionPeriod 100y -search.latencyOffset 0s
wait_for victoria-metrics "$LAST_PID" "$VM_URL/health" 20
say "VictoriaMetrics on $VM_URL (data in $WORK/vm-data)"

# The simulator's Modbus servers listen on base+0 (noise), base+1 (water
# meter), base+2 (lighting cabinet), then any other Modbus profiles.
sed -e "s|@MQTT_PORT@|$MQTT_PORT|g" -e "s|@VM_URL@|$VM_URL|g" \
  -e "s|@MODBUS_PORT_BASE@|$MODBUS_PORT_BASE|g" -e "s|@MODBUS_NOISE_PORT@|$MODBUS_PORT_BASE|g" \
  -e "s|@MODBUS_WATER_PORT@|$((MODBUS_PORT_BASE + 1))|g" -e "s|@MODBUS_LIGHTING_PORT@|$((MODBUS_PORT_BASE + 2))|g" \
  -e "s|@STATE_DIR@|$WORK/state|g" \
  -e "s|@HTTP_PORT@|$HTTP_PORT|g" -e "s|@DEVICES_DIR@|$ROOT/config/devices|g" \
  -e "s|@COMMUNITY@|$COMMUNITY|g" \
  "$TEMPLATE" >"$WORK/greengate.toml"
if ! "$GREENGATE" check -c "$WORK/greengate.toml" >"$WORK/check.log" 2>&1; then
  fail "greengate check rejected the demo config ($WORK/greengate.toml)"
fi

sim_args=(--broker "127.0.0.1:$MQTT_PORT" --modbus-bind "127.0.0.1:$MODBUS_PORT_BASE" --devices-dir "$ROOT/config/devices"
  --scale "$DEMO_SCALE" --rate "$DEMO_RATE" --accel "$DEMO_ACCEL" --community "$COMMUNITY")
[ "$DEMO_LEAK" = 1 ] && sim_args+=(--leak)
# By default the simulated clock starts at the next 17:30 in Shanghai: in the
# first simulated hour the lights come on (dusk, 18:00 at the latest), the
# parking fills and the first lit-rate (亮灯率) window closes. Never in the past: greengate's demo config closes its
# indicator windows on event time, so older readings would count as late.
case $DEMO_START in
  now) SIM_START=$(date -u +%Y-%m-%dT%H:%M:%SZ) ;;
  "") SIM_START=$(python3 -c '
from datetime import datetime, timedelta, timezone
now = datetime.now(timezone(timedelta(hours=8)))
t = now.replace(hour=17, minute=30, second=0, microsecond=0)
print((t if t >= now else t + timedelta(days=1)).isoformat())') ;;
  *) SIM_START=$DEMO_START ;;
esac
sim_args+=(--start "$SIM_START")

start greengate "$WORK/greengate.log" env NO_COLOR=1 "$GREENGATE" run -c "$WORK/greengate.toml"
GG_PID=$LAST_PID
wait_for greengate "$GG_PID" "http://127.0.0.1:$HTTP_PORT/healthz" 30
say "greengate on http://127.0.0.1:$HTTP_PORT (/metrics, /healthz, /readyz; outbox in $WORK/state)"
# Devices start once greengate is subscribed (MQTT messages published
# before that would have no subscriber); its first Modbus polls may fail
# until the simulator's servers are up, which it retries.
python3 - "http://127.0.0.1:$HTTP_PORT/readyz" <<'EOF' || true
import sys, time, urllib.request
for _ in range(75):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1).read()
        sys.exit(0)
    except Exception as e:
        last = getattr(e, "read", lambda: str(e).encode())().decode().strip()
        time.sleep(0.2)
print(f"demo: warning: greengate is not ready after 15 s ({last}); starting the devices anyway")
EOF

WALL_START=$(date +%s)
start simulator "$WORK/simulate.log" "$GREENGATE" simulate "${sim_args[@]}"
SIM_PID=$LAST_PID
say "simulator: $DEMO_SCALE devices per class, $DEMO_RATE msg/s each, time x$DEMO_ACCEL from $SIM_START, Modbus on 127.0.0.1:$MODBUS_PORT_BASE+"

# ---------------------------------------------------------------- summary

cat >"$WORK/summary.py" <<'EOF'
"""One live summary: greengate's /metrics and VictoriaMetrics' PromQL API."""
import json, re, sys, time, urllib.parse, urllib.request
from datetime import datetime, timezone, timedelta

metrics_src, vm, sim_start, wall_start, accel, final = sys.argv[1:7]
accel = float(accel)
sim_t0 = datetime.fromisoformat(sim_start.replace("Z", "+00:00")).timestamp()
sim_now = sim_t0 + (time.time() - float(wall_start)) * accel
# MQTT readings carry simulated time, Modbus readings greengate's wall time:
# query at the later of the two, over a window covering the whole run.
at = max(sim_now, time.time()) + 5
window = int(at - min(sim_t0, float(wall_start))) + 3600

def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()

def q(expr):
    url = vm + "/api/v1/query?" + urllib.parse.urlencode({"query": expr.replace("$W", f"{window}s"), "time": f"{at:.3f}"})
    try:
        return json.loads(get(url))["data"]["result"]
    except Exception as e:
        return []

def num(expr):
    r = q(expr)
    return float(r[0]["value"][1]) if r else None

out = []
local = datetime.fromtimestamp(sim_now, timezone(timedelta(hours=8)))
if final == "1":
    out.append("--- final ---")
else:
    out.append(f"--- {time.strftime('%H:%M:%S')}, simulated {local:%Y-%m-%d %H:%M} Asia/Shanghai ---")

try:
    sums = {}
    text = open(metrics_src).read() if metrics_src.startswith("/") else get(metrics_src)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)", line)
        if m:
            sums[m.group(1)] = sums.get(m.group(1), 0.0) + float(m.group(3))
    def g(k):
        return sums.get(k, sums.get("greengate_" + k, 0.0))
    if g("mqtt_messages_received_total") or g("pipeline_readings_total") or g("modbus_polls_total"):
        backlog = g("outbox_records_appended_total") - g("outbox_records_acked_total")
        out.append(
            ("greengate at SIGTERM: " if final == "1" else "greengate: ") +
            f"MQTT messages received {g('mqtt_messages_received_total'):.0f}, rejected {g('mqtt_messages_rejected_total'):.0f}"
            f" | Modbus polls {g('modbus_polls_total'):.0f}, request errors {g('modbus_request_errors_total'):.0f}"
            f" | readings {g('pipeline_readings_total'):.0f}")
        out.append(
            f"           written to the store {g('influx_lines_written_total'):.0f} lines, batches retried {g('influx_batches_retried_total'):.0f}"
            f" | outbox backlog {backlog:.0f} records ({g('outbox_bytes'):.0f} bytes on disk)"
            f" | dead letters {g('dead_letters_total'):.0f}"
            + (f" | indicator readings ahead of the clock {g('indicator_future_readings_total'):.0f}" if g("indicator_future_readings_total") else "")
            + (f" | late for the indicators {g('indicator_late_readings_total'):.0f}" if g("indicator_late_readings_total") else ""))
    else:
        shown = [(k, v) for k, v in sorted(sums.items()) if re.search(r"(mqtt|modbus|outbox|influx|pipeline)_", k)]
        out.append("greengate: " + (", ".join(f"{k}={v:g}" for k, v in shown) or "(no counters yet)"))
except Exception as e:
    out.append(f"greengate: /metrics unavailable ({e})")

classes = ["noise", "water_meter", "lighting", "parking", "security", "charger", "device_status"]
try:
    names = json.loads(get(vm + "/api/v1/label/__name__/values"))["data"]
except Exception:
    names = []
per = {}
for n in names:
    m = next((c for c in classes if n.startswith(c + "_")), "gg_* (indicators)" if n.startswith("gg_") else None)
    if m:
        r = q(f"count(last_over_time({n}[$W]))")
        per[m] = per.get(m, 0) + (int(float(r[0]["value"][1])) if r else 0)
out.append("series per measurement: " + (", ".join(f"{k}={v}" for k, v in per.items()) or "none yet"))

key = {"noise": "noise_laeq", "water_meter": "water_meter_total_m3", "lighting": "lighting_power_w",
       "parking": "parking_occupied", "security": "security_online"}
seen = []
for c, metric in key.items():
    n = num(f"count(count by (device) (last_over_time({metric}[$W])))")
    seen.append(f"{c}={int(n) if n else 0}")
out.append("devices seen: " + ", ".join(seen))

laeq = sorted((r["metric"].get("device", "?"), float(r["value"][1])) for r in q("last_over_time(noise_laeq[$W])"))
if laeq:
    out.append("noise LAeq dB(A): " + ", ".join(f"{d} {v:.1f}" for d, v in laeq))
total = num("sum(last_over_time(water_meter_total_m3[$W]))")
meters = num("count(last_over_time(water_meter_total_m3[$W]))")
leaks = num("sum(last_over_time(water_meter_leak[$W]))")
if total is not None:
    out.append(f"water: {total:,.3f} m³ on {int(meters or 0)} meters, leak flags {int(leaks or 0)}")
on = num("sum(last_over_time(lighting_on[$W]))")
lamps = num("count(last_over_time(lighting_on[$W]))")
if lamps:
    out.append(f"lights on: {int(on or 0)}/{int(lamps)}")
occ = num("sum(last_over_time(parking_occupied[$W]))")
bays = num("count(last_over_time(parking_occupied[$W]))")
if bays:
    out.append(f"parking occupied: {int(occ or 0)}/{int(bays)}")
# The edge indicators (docs/metrics.md), once their first windows have closed.
def show(expr, unit="", digits=1, key=("device", "class", "lot", "alarm_type")):
    rs = q(expr)
    parts = []
    for r in sorted(rs, key=lambda r: sorted(r["metric"].items())):
        v = float(r["value"][1])
        label = next((r["metric"][k] for k in key if k in r["metric"]), "")
        parts.append((f"{label} " if label and len(rs) > 1 else "") + f"{v:.{digits}f}{unit}")
    return ", ".join(parts)
if any(n.startswith("gg_") for n in names):
    ind = [
        ("noise Leq last hour", show("last_over_time(gg_noise_hour_leq[$W])", " dB(A)")),
        ("亮灯率", show("last_over_time(gg_lighting_lit_rate_pct[$W])", "%")),
        ("faulty lamps", show("last_over_time(gg_lighting_lamps_faulty[$W])", "", 0)),
        ("water used", show("sum(sum_over_time(gg_water_interval_consumption_m3[$W]))", " m³", 3)),
        ("parking occupancy", show("last_over_time(gg_parking_occupancy_pct[$W])", "%", 0)),
        ("fire-lane events", show("sum(sum_over_time(gg_parking_fire_lane_events[$W]))", "", 0)),
        ("alarms", show("sum(sum_over_time(gg_security_alarms[$W]))", "", 0)),
        ("unacknowledged", show("last_over_time(gg_security_unacknowledged[$W])", "", 0)),
        ("devices online", show("last_over_time(gg_device_health_online_rate_pct[$W])", "%", 0)),
    ]
    out.append("indicators: " + (" | ".join(f"{k} {v}" for k, v in ind if v) or "(no window closed yet)"))
if final == "1":
    samples = num('sum(count_over_time({__name__=~"(noise|water_meter|lighting|parking|security|charger|device_status|gg)_.+"}[$W]))')
    out.append(f"final count: {int(samples or 0)} samples in VictoriaMetrics across {sum(per.values())} series")
print("\n".join(out), flush=True)
if final == "1" and not samples:
    sys.exit(3)
EOF

summary() { # [final] [metrics source]; the final one fails when nothing reached the store
  local rc=0
  python3 "$WORK/summary.py" "${2:-http://127.0.0.1:$HTTP_PORT/metrics}" "$VM_URL" "$SIM_START" "$WALL_START" "$DEMO_ACCEL" "${1:-0}" || rc=$?
  [ "${1:-0}" = 1 ] && [ "$rc" = 3 ] && return 3
  return 0
}

if [ "$DEMO_SECONDS" = 0 ]; then
  say "running until Ctrl-C"
else
  say "running for ${DEMO_SECONDS}s (DEMO_SECONDS=0 runs until Ctrl-C)"
fi
while [ "$STOPPING" = 0 ]; do
  sleep 5 &
  wait $! || true
  [ "$STOPPING" = 0 ] || break
  kill -0 "$GG_PID" 2>/dev/null || fail "greengate exited unexpectedly"
  kill -0 "$SIM_PID" 2>/dev/null || fail "the simulator exited unexpectedly"
  summary
  if [ "$DEMO_SECONDS" != 0 ] && [ $(($(date +%s) - WALL_START)) -ge "$DEMO_SECONDS" ]; then
    break
  fi
done

# ---------------------------------------------------------------- shutdown

say "stopping the simulator"
kill -TERM "$SIM_PID" 2>/dev/null || true
wait "$SIM_PID" 2>/dev/null || true
tail -n 1 "$WORK/simulate.log" | sed 's/^/demo: simulator: /'

# greengate's counters as they were at the end, for the final summary.
python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$HTTP_PORT/metrics', timeout=5).read().decode())" \
  >"$WORK/metrics.final" 2>/dev/null || true
say "stopping greengate (SIGTERM)"
kill -TERM "$GG_PID" 2>/dev/null || true
gg_rc=0
for ((i = 0; i < 300; i++)); do
  kill -0 "$GG_PID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$GG_PID" 2>/dev/null; then
  fail "greengate did not exit within 30 s of SIGTERM"
fi
wait "$GG_PID" || gg_rc=$?
[ "$gg_rc" = 0 ] || fail "greengate exited with status $gg_rc after SIGTERM (expected 0)"
say "greengate exited 0"

python3 -c "import urllib.request; urllib.request.urlopen('$VM_URL/internal/force_flush', timeout=5).read()" 2>/dev/null || true
sleep 2
summary 1 "$WORK/metrics.final" || fail "no reading reached VictoriaMetrics"
say "the data was in VictoriaMetrics at $VM_URL (storage $WORK/vm-data), greengate's outbox in $WORK/state,"
say "logs in $WORK/*.log; $([ "$DEMO_KEEP" = 1 ] && echo "kept" || echo "removed now (DEMO_KEEP=1 keeps them)")"

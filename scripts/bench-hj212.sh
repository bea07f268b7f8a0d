#!/usr/bin/env bash
# Stations per gateway (issue 14 point 5): N HJ 212 noise stations, each
# uploading a 2011 real-time frame (Flag 5, so each waits for its 9014)
# every second for DURATION seconds, into greengate (release build,
# fsync = "always") writing to a real VictoriaMetrics. The stations are
# Python asyncio clients written from the standard's byte layout (their own
# CRC), not greengate's codec.
#
# Reports: uploads answered, answers missing, p50/p99 time from upload to
# 9014 (which includes the outbox fsync), greengate CPU per upload and peak
# RSS, and the noise_laeq samples VictoriaMetrics holds at the end.
#
#   STATIONS=200 DURATION=60 scripts/bench-hj212.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/bench-lib.sh"
STATIONS=${STATIONS:-200}
DURATION=${DURATION:-60}
D=$(mktemp -d)
trap 'kill ${GG:-} ${VM:-} 2>/dev/null || true; rm -rf "$D"' EXIT

# cargo-serial's per-worktree target dir; the copy is checked below to
# know [sources.hj212].
(cd "$ROOT" && cargo-serial build --release --bin greengate -q)
TD=${CARGO_TARGET_DIR:-/work/targets/$(echo "$ROOT" | tr '/' '_')}
cp "$TD/release/greengate" "$D/greengate"

HJ=$(free_port); HTTP=$(free_port); VMP=$(free_port)
victoria-metrics -storageDataPath "$D/vm" -httpListenAddr "127.0.0.1:$VMP" -retentionPeriod 100y \
    -search.latencyOffset 0s >"$D/vm.log" 2>&1 &
VM=$!
{
cat <<EOF
[site]
community_id = "bench"
[http]
listen = "127.0.0.1:$HTTP"
[outbox]
dir = "$D/outbox"
fsync = "always"
[dead_letter]
path = "$D/dead-letter.jsonl"
[sources.hj212]
listen = "127.0.0.1:$HJ"
pw = "123456"
max_connections = $((STATIONS + 16))
[sinks.influxdb]
url = "http://127.0.0.1:$VMP"
api = "v2"
org = "o"
bucket = "b"
token = "t"
EOF
for i in $(seq 1 "$STATIONS"); do
    printf '[devices.n%d.indicators]\nclass = "noise"\nzone_class = "1"\n' "$i"
    printf '[[sources.hj212.stations]]\nmn = "ST%05d"\ndevice = "n%d"\n' "$i" "$i"
done
} >"$D/greengate.toml"
"$D/greengate" check -c "$D/greengate.toml" >/dev/null || { echo "the binary does not take [sources.hj212] (another branch's build?)" >&2; exit 1; }
until curl -sf "http://127.0.0.1:$VMP/health" >/dev/null; do sleep 0.2; done
RUST_LOG=warn "$D/greengate" run -c "$D/greengate.toml" >"$D/greengate.log" 2>&1 &
GG=$!
until curl -s "http://127.0.0.1:$HTTP/metrics" | grep -q "component_ready{component=\"hj212:127.0.0.1:$HJ\"} 1"; do sleep 0.2; done

c0=$(cpu_ticks $GG)
python3 - "$HJ" "$STATIONS" "$DURATION" >"$D/stations.out" <<'PY'
import asyncio, sys, time
port, n, dur = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def crc(b):
    c = 0xFFFF
    for x in b:
        c = (c >> 8) ^ x
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return c
def frame(seg):
    s = seg.encode()
    return b"##%04d" % len(s) + s + b"%04X\r\n" % crc(s)
lat, missing = [], 0
async def station(k):
    global missing
    r, w = await asyncio.open_connection("127.0.0.1", port)
    t_end = time.monotonic() + dur
    i = 0
    await asyncio.sleep(k / n)  # spread over the second
    while time.monotonic() < t_end:
        t = time.time()
        dt = time.strftime("%Y%m%d%H%M%S", time.gmtime(t + 8 * 3600))
        qn = dt + "%03d" % (i % 1000)
        seg = f"QN={qn};ST=23;CN=2011;PW=123456;MN=ST{k:05d};Flag=5;CP=&&DataTime={dt};LA-Rtd={45 + k % 20}.{i % 10},LA-Flag=N&&"
        t0 = time.monotonic()
        w.write(frame(seg)); await w.drain()
        try:
            head = await asyncio.wait_for(r.readexactly(6), 10)
            body = await r.readexactly(int(head[2:6]) + 6)
            seg_a = body[:-6]
            assert int(body[-6:-2], 16) == crc(seg_a), "bad answer CRC"
            assert b"CN=9014" in seg_a and (b"QN=" + qn.encode()) in seg_a
            lat.append(time.monotonic() - t0)
        except asyncio.TimeoutError:
            missing += 1
        i += 1
        await asyncio.sleep(max(0, 1 - (time.monotonic() - t0)))
    w.close()
async def main():
    await asyncio.gather(*(station(k) for k in range(1, n + 1)))
asyncio.run(main())
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0
print(len(lat), missing, "%.1f" % q(0.5), "%.1f" % q(0.99))
PY
c1=$(cpu_ticks $GG)
read -r answered missing p50 p99 <"$D/stations.out"
hz=$(getconf CLK_TCK)
cpu_s=$(echo "($c1 - $c0) / $hz" | bc -l)
us_per=$(echo "$cpu_s * 1000000 / $answered" | bc)
rss=$(hwm_mb $GG)
sleep 3
stored=$(curl -s "http://127.0.0.1:$VMP/api/v1/export" --data-urlencode 'match[]={__name__="noise_laeq"}' | python3 -c 'import sys,json;print(sum(len(json.loads(l)["values"]) for l in sys.stdin if l.strip()))')
echo "| stations | uploads/s | answered 9014 | missing | upload→9014 p50 / p99 | greengate CPU per upload | greengate peak RSS | stored |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $STATIONS | $STATIONS | $answered | $missing | $p50 / $p99 ms | $us_per µs | $rss MB | $stored |"

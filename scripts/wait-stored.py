#!/usr/bin/env python3
"""Waits until an InfluxDB 1.x database holds N points of a measurement, or
its writes stall, and prints the epoch time of the store's last progress.

Used by scripts/bench-peers.sh for the stored-per-second figure. One process
polls for the whole wait (a curl and a python3 per poll cost ~30 ms of CPU
each, on the same 2 cores as the consumer being measured), and it polls the
cheap counter InfluxDB keeps of points written over HTTP (/debug/vars,
httpd pointsWrittenOK) every 50 ms; count() over the measurement, which
costs the store a scan, runs only once that counter says N points have
arrived (a consumer may write some points twice, after a restart), and
then at most every 0.5 s.

usage: wait-stored.py PORT DB MEASUREMENT FIELD N BASE [STALL_SECS]
  BASE: pointsWrittenOK before the pass began (see --points-ok)
  wait-stored.py PORT --points-ok   prints the counter now
"""
import json
import sys
import time
import urllib.parse
import urllib.request

POLL = 0.05


def points_ok(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/vars", timeout=5) as r:
        v = json.load(r)
    return sum(
        s.get("values", {}).get("pointsWrittenOK", 0)
        for k, s in v.items()
        if k.startswith("httpd") and isinstance(s, dict)
    )


def count(port, db, measurement, field):
    q = urllib.parse.urlencode({"db": db, "q": f"SELECT count({field}) FROM {measurement}"})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/query?{q}", timeout=30) as r:
        res = json.load(r)["results"][0]
    return res["series"][0]["values"][0][1] if "series" in res else 0


def main():
    port = sys.argv[1]
    if sys.argv[2] == "--points-ok":
        print(points_ok(port))
        return
    db, measurement, field = sys.argv[2:5]
    n, base = int(sys.argv[5]), int(sys.argv[6])
    stall = float(sys.argv[7]) if len(sys.argv) > 7 else 20.0
    last, at, counted = -1, time.time(), 0.0
    while True:
        ok = points_ok(port) - base
        if ok != last:
            last, at = ok, time.time()
        # count() scans: at most every 0.5 s while duplicates fill the gap.
        if ok >= n and time.time() - counted >= 0.5:
            counted = time.time()
            if count(port, db, measurement, field) >= n:
                break
        if time.time() - at > stall:
            break
        time.sleep(POLL)
    print(f"{at:.6f}")


if __name__ == "__main__":
    main()

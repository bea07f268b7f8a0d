#!/usr/bin/env python3
"""Writes greengate's Grafana dashboards (deploy/grafana/dashboards/*.json).

The JSON files are what Grafana provisions and what tests/it/dashboards.rs
checks; this script is their source, so edit here and re-run:

    python3 deploy/grafana/generate.py

Every query is raw InfluxQL against the `greengate` datasource (InfluxDB 1.x,
2.x through its v1 DBRP mapping, or 3.x), filtered by `$community` and
Grafana's `$timeFilter`, grouped by `$__interval` where it draws a series.
Only plain SELECTs with mean/last/max/min/sum/count, GROUP BY time and tags,
and fill(): no subqueries, no regex measurements, so InfluxDB 3's InfluxQL
runs them too. Measurements and fields: docs/metrics.md and
docs/data-model.md.
"""
import json
import os

DS = {"type": "influxdb", "uid": "greengate-influxdb"}
C = "\"community\" =~ /^$community$/"
# tests/it/dashboards.rs writes elsewhere (GRAFANA_DASHBOARDS_OUT) to check the
# committed files are this script's output.
OUT = os.environ.get("GRAFANA_DASHBOARDS_OUT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "dashboards")


class Layout:
    def __init__(self):
        self.x, self.y, self.row_h = 0, 0, 0
        self.next_id = 1

    def place(self, w, h):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        i = self.next_id
        self.next_id += 1
        return pos, i


def target(q, ref, alias=None, fmt="time_series"):
    t = {"datasource": DS, "refId": ref, "rawQuery": True, "query": q, "resultFormat": fmt}
    if alias:
        t["alias"] = alias
    return t


def panel(lay, kind, title, queries, w=12, h=8, unit=None, desc="", fmt="time_series",
          thresholds=None, minv=None, maxv=None, overrides=None, options=None, aliases=None):
    pos, pid = lay.place(w, h)
    defaults = {}
    if unit:
        defaults["unit"] = unit
    if minv is not None:
        defaults["min"] = minv
    if maxv is not None:
        defaults["max"] = maxv
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": [
            {"color": c, "value": v} for v, c in thresholds]}
        defaults["color"] = {"mode": "thresholds"}
    # Series styles live in the field config, not in the panel options.
    options = dict(options or {})
    custom = {k: options.pop(k) for k in ("drawStyle", "stacking") if k in options}
    if custom:
        defaults["custom"] = custom
    aliases = aliases or [None] * len(queries)
    p = {
        "id": pid, "type": kind, "title": title, "description": desc, "gridPos": pos,
        "datasource": DS,
        "targets": [target(q, chr(ord("A") + i), aliases[i], fmt) for i, q in enumerate(queries)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options,
    }
    if kind == "stat":
        p["options"] = options or {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                                   "colorMode": "background", "graphMode": "none", "textMode": "value_and_name"}
    return p


def text(lay, title, content, w=24, h=4):
    pos, pid = lay.place(w, h)
    return {"id": pid, "type": "text", "title": title, "gridPos": pos,
            "options": {"mode": "markdown", "content": content}}


def dashboard(uid, title, tags, panels, time_from="now-24h"):
    return {
        "uid": uid, "title": title, "tags": ["greengate"] + tags, "editable": True,
        "schemaVersion": 39, "version": 1, "timezone": "browser", "refresh": "1m",
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": [{
            "name": "community", "label": "Community", "type": "query", "datasource": DS,
            "query": "SHOW TAG VALUES FROM \"gg_device_health\" WITH KEY = \"community\"",
            "definition": "SHOW TAG VALUES FROM \"gg_device_health\" WITH KEY = \"community\"",
            "refresh": 1, "includeAll": False, "multi": False, "sort": 1,
            "current": {}, "options": [],
        }]},
        "links": [{"type": "dashboards", "tags": ["greengate"], "asDropdown": True, "title": "greengate"}],
        "panels": panels,
        "annotations": {"list": []},
    }


def w(m, extra=""):
    """The WHERE clause: community, time range, optional extra condition."""
    return f"FROM \"{m}\" WHERE {C}{(' AND ' + extra) if extra else ''} AND $timeFilter"


PCT = [(None, "red"), (80, "orange"), (90, "green")]


def overview():
    L = Layout()
    ps = [
        text(L, "About", "Green-community criteria at a glance, from the indicators greengate computes at the edge "
             "(`gg_*` measurements, see docs/metrics.md). Green meets the assessment threshold "
             "(`[indicators.assess]`: 90 % by default); `greengate assess` prints the full assessment.", h=3),
        panel(L, "stat", "Devices online", [f"SELECT last(\"online_rate_pct\") {w('gg_device_health')} GROUP BY \"class\""],
              w=8, h=6, unit="percent", thresholds=PCT, minv=0, maxv=100, aliases=["$tag_class"],
              desc="Share of configured devices of each class that reported in the last interval (criterion: ≥ 90 %)."),
        panel(L, "stat", "Noise compliance (point-days)", [
            f"SELECT last(\"day_rate_pct\") AS \"day\", last(\"night_rate_pct\") AS \"night\" {w('gg_noise_compliance')}"],
            w=8, h=6, unit="percent", thresholds=PCT, minv=0, maxv=100,
            desc="Share of valid noise point-days within the GB 3096 limits of their zone class, day and night."),
        panel(L, "stat", "Lighting 亮灯率", [f"SELECT last(\"lit_rate_pct\") AS \"lit rate\" {w('gg_lighting')}"],
              w=8, h=6, unit="percent", thresholds=[(None, "red"), (95, "orange"), (97, "green")], minv=0, maxv=100,
              desc="Lamp-hours lit and healthy during the schedule over lamp-hours scheduled (target 97 %)."),
        panel(L, "stat", "Water balance loss", [f"SELECT last(\"loss_pct\") {w('gg_water_balance')} GROUP BY \"district\""],
              w=8, h=6, unit="percent", aliases=["district $tag_district"],
              thresholds=[(None, "green"), (10, "orange"), (20, "red")],
              desc="District metered area: (master − sub-meters − public use) / master. Check above 10 %, alarm above 20 %."),
        panel(L, "stat", "Alarm response within target", [
            f"SELECT last(\"response_within_pct\") AS \"response\", last(\"handling_within_pct\") AS \"handling\" {w('gg_security')}"],
            w=8, h=6, unit="percent", thresholds=PCT, minv=0, maxv=100,
            desc="Alarms acknowledged within the response target and cleared within the handling target (criterion: ≥ 90 %)."),
        panel(L, "stat", "Fire-lane events", [f"SELECT sum(\"fire_lane_events\") AS \"events\" {w('gg_parking')}"],
              w=8, h=6, thresholds=[(None, "green"), (1, "red")],
              desc="Fire-lane occupations longer than the dwell time, in the time range."),
        panel(L, "timeseries", "Device online rate by class", [
            f"SELECT mean(\"online_rate_pct\") {w('gg_device_health')} GROUP BY time($__interval), \"class\" fill(none)"],
            w=24, h=8, unit="percent", minv=0, maxv=100, aliases=["$tag_class"]),
    ]
    return dashboard("greengate-overview", "greengate · Community overview", ["overview"], ps)


def noise():
    L = Layout()
    ps = [
        panel(L, "timeseries", "Leq per sensor (minute) with day and night limits", [
            f"SELECT mean(\"leq\") {w('gg_noise_minute')} GROUP BY time($__interval), \"device\" fill(none)",
            f"SELECT last(\"day_limit\") AS \"day limit\", last(\"night_limit\") AS \"night limit\" {w('gg_noise_day')} "
            "GROUP BY time($__interval), \"device\" fill(previous)"],
            w=24, h=9, unit="dB", aliases=["$tag_device", "$tag_device $col"],
            overrides=[{"matcher": {"id": "byRegexp", "options": ".*limit.*"},
                        "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                                       {"id": "custom.lineWidth", "value": 2}]}],
            desc="Minute Leq from gg_noise_minute; dashed lines are the GB 3096 limits applied to each sensor (its zone class, −10 dB indoors)."),
        panel(L, "timeseries", "Hourly Leq and L90 (background)", [
            f"SELECT mean(\"leq\") AS \"leq\", mean(\"l90\") AS \"l90\" {w('gg_noise_hour')} GROUP BY time($__interval), \"device\" fill(none)"],
            w=12, h=8, unit="dB", aliases=["$tag_device $col"]),
        panel(L, "timeseries", "Raw LAeq and LAmax", [
            f"SELECT mean(\"laeq\") AS \"laeq\", max(\"lamax\") AS \"lamax\" {w('noise')} GROUP BY time($__interval), \"device\" fill(none)"],
            w=12, h=8, unit="dB", aliases=["$tag_device $col"]),
        panel(L, "table", "Ld / Ln per sensor and day", [
            f"SELECT \"date\", \"ld\", \"day_limit\", \"day_compliant\", \"ln\", \"night_limit\", \"night_compliant\", "
            f"\"night_lmax\", \"night_sudden_events\" {w('gg_noise_day')} GROUP BY \"device\""],
            w=24, h=8, fmt="table",
            desc="One row per sensor and noise day (06:00–06:00): day and night levels against their limits."),
        panel(L, "bargauge", "Compliance rate by zone class", [
            f"SELECT last(\"day_rate_pct\") AS \"day\", last(\"night_rate_pct\") AS \"night\" {w('gg_noise_compliance')} GROUP BY \"zone_class\""],
            w=12, h=8, unit="percent", minv=0, maxv=100, thresholds=PCT, aliases=["zone $tag_zone_class $col"]),
        panel(L, "barchart", "Night sudden-noise events", [
            f"SELECT sum(\"night_sudden_events\") AS \"events\", max(\"night_lmax\") AS \"night Lmax\" {w('gg_noise_day')} GROUP BY \"device\""],
            w=12, h=8, fmt="table",
            desc="Night events with L_max more than 15 dB above the night limit (GB 3096), per sensor."),
    ]
    return dashboard("greengate-noise", "greengate · Noise", ["noise"], ps)


def water():
    L = Layout()
    ps = [
        panel(L, "timeseries", "Consumption per meter", [
            f"SELECT sum(\"consumption_m3\") {w('gg_water_interval')} GROUP BY time($__interval), \"device\" fill(none)"],
            w=12, h=8, unit="m³", aliases=["$tag_device"], options={"legend": {"displayMode": "table", "calcs": ["sum"]}}),
        panel(L, "barchart", "Daily consumption and per-capita use", [
            f"SELECT sum(\"consumption_m3\") AS \"m³\", last(\"per_capita_lpd\") AS \"L/person/day\" {w('gg_water_day')} GROUP BY \"device\""],
            w=12, h=8, fmt="table"),
        panel(L, "timeseries", "District balance loss", [
            f"SELECT mean(\"loss_pct\") AS \"loss %\" {w('gg_water_balance', chr(34) + 'period' + chr(34) + ' = ' + chr(39) + 'interval' + chr(39))} "
            "GROUP BY time($__interval), \"district\" fill(none)",
            f"SELECT sum(\"master_m3\") AS \"master\", sum(\"subs_m3\") AS \"subs\", sum(\"loss_m3\") AS \"loss\" "
            f"{w('gg_water_balance', chr(34) + 'period' + chr(34) + ' = ' + chr(39) + 'interval' + chr(39))} "
            "GROUP BY time($__interval), \"district\" fill(none)"],
            w=12, h=8, aliases=["$tag_district $col", "$tag_district $col m³"],
            thresholds=[(None, "green"), (10, "orange"), (20, "red")],
            desc="Master meter minus sub-meters and public use, per district metered area."),
        panel(L, "timeseries", "Minimum night flow (02:00–04:00)", [
            f"SELECT last(\"min_flow_m3h\") AS \"min flow\" {w('gg_water_night_flow')} GROUP BY time(1d), \"device\" fill(none)"],
            w=12, h=8, unit="m³/h", aliases=["$tag_device"],
            desc="Lowest flow of each night; a rising minimum night flow on an inlet or a household never reaching zero points to a leak."),
        panel(L, "timeseries", "Flow per meter", [
            f"SELECT mean(\"flow_m3h\") {w('water_meter')} GROUP BY time($__interval), \"device\" fill(none)"],
            w=12, h=8, unit="m³/h", aliases=["$tag_device"]),
        panel(L, "table", "Night-flow alarms and suspected leaks", [
            f"SELECT last(\"min_flow_m3h\") AS \"min flow m³/h\", last(\"corrected_m3h\") AS \"corrected\", "
            f"last(\"alarm\") AS \"alarm\", last(\"leak_suspected\") AS \"leak suspected\" {w('gg_water_night_flow')} GROUP BY \"device\", \"role\""],
            w=12, h=8, fmt="table"),
    ]
    return dashboard("greengate-water", "greengate · Water", ["water"], ps)


def lighting():
    L = Layout()
    ps = [
        panel(L, "timeseries", "亮灯率 (lit rate) and lamp fault rate", [
            f"SELECT mean(\"lit_rate_pct\") AS \"lit rate\", mean(\"fault_rate_pct\") AS \"fault rate\", "
            f"mean(\"online_rate_pct\") AS \"online\" {w('gg_lighting')} GROUP BY time($__interval) fill(none)"],
            w=12, h=8, unit="percent", minv=0, maxv=100),
        panel(L, "timeseries", "Energy and saving against rated power", [
            f"SELECT sum(\"energy_kwh\") AS \"energy kWh\", sum(\"reference_kwh\") AS \"reference kWh\" {w('gg_lighting')} "
            "GROUP BY time($__interval) fill(none)"],
            w=12, h=8, unit="kwatth"),
        panel(L, "stat", "Lamps", [
            f"SELECT last(\"lamps\") AS \"lamps\", last(\"lamps_online\") AS \"online\", last(\"lamps_faulty\") AS \"faulty\" {w('gg_lighting')}"],
            w=8, h=6),
        panel(L, "stat", "Burn hours outside the schedule", [
            f"SELECT sum(\"day_burn_minutes\") / 60 AS \"lamp-hours\" {w('gg_lighting')}"], w=8, h=6, unit="h"),
        panel(L, "stat", "Energy saving rate", [
            f"SELECT last(\"saving_rate_pct\") AS \"saving\" {w('gg_lighting')}"], w=8, h=6, unit="percent"),
        panel(L, "timeseries", "Power per lamp", [
            f"SELECT mean(\"power_w\") {w('lighting')} GROUP BY time($__interval), \"device\" fill(none)"],
            w=12, h=8, unit="watt", aliases=["$tag_device"]),
        panel(L, "table", "Lamp status", [
            f"SELECT last(\"status\") AS \"status\", last(\"status_code\") AS \"code\", last(\"on\") AS \"on\", "
            f"last(\"power_w\") AS \"power W\" {w('lighting')} GROUP BY \"device\""],
            w=12, h=8, fmt="table"),
    ]
    return dashboard("greengate-lighting", "greengate · Lighting", ["lighting"], ps)


def parking():
    L = Layout()
    ps = [
        panel(L, "timeseries", "Occupancy per lot", [
            f"SELECT mean(\"occupancy_pct\") {w('gg_parking')} GROUP BY time($__interval), \"lot\" fill(none)"],
            w=12, h=8, unit="percent", minv=0, maxv=100, aliases=["$tag_lot"]),
        panel(L, "timeseries", "Arrivals and departures", [
            f"SELECT sum(\"arrivals\") AS \"arrivals\", sum(\"departures\") AS \"departures\" {w('gg_parking')} "
            "GROUP BY time($__interval), \"lot\" fill(none)"],
            w=12, h=8, aliases=["$tag_lot $col"], options={"drawStyle": "bars"}),
        panel(L, "stat", "Fire-lane events", [
            f"SELECT sum(\"fire_lane_events\") AS \"events\", sum(\"fire_lane_occupied_minutes\") AS \"occupied min\" {w('gg_parking')}"],
            w=8, h=6, thresholds=[(None, "green"), (1, "red")]),
        panel(L, "stat", "Mean dwell and turnover", [
            f"SELECT mean(\"mean_dwell_minutes\") AS \"dwell min\", mean(\"time_utilisation_pct\") AS \"utilisation %\" {w('gg_parking')}"],
            w=8, h=6),
        panel(L, "stat", "Bays occupied now", [
            f"SELECT last(\"occupied\") AS \"occupied\", last(\"spaces\") AS \"spaces\" {w('gg_parking')} GROUP BY \"lot\""],
            w=8, h=6, aliases=["$tag_lot $col"]),
        panel(L, "table", "Fire-lane events", [
            f"SELECT \"duration_s\", \"time_to_clear_s\" {w('gg_fire_lane_event')} GROUP BY \"device\", \"lot\""],
            w=24, h=8, fmt="table", desc="One row per closed fire-lane event, stamped at its start."),
        panel(L, "timeseries", "Bay sensor readings (occupied)", [
            f"SELECT count(\"occupied\") {w('parking', chr(34) + 'occupied' + chr(34) + ' = true')} "
            "GROUP BY time($__interval), \"device\" fill(none)"],
            w=24, h=8, aliases=["$tag_device"], options={"drawStyle": "bars"}),
    ]
    return dashboard("greengate-parking", "greengate · Parking and fire lanes", ["parking"], ps)


def security():
    L = Layout()
    ps = [
        panel(L, "timeseries", "Alarms, acknowledged and cleared", [
            f"SELECT sum(\"alarms\") AS \"alarms\", sum(\"acknowledged\") AS \"acknowledged\", sum(\"cleared\") AS \"cleared\", "
            f"sum(\"false_alarms\") AS \"false\" {w('gg_security')} GROUP BY time($__interval) fill(none)"],
            w=12, h=8),
        panel(L, "timeseries", "Response and handling time", [
            f"SELECT mean(\"response_mean_s\") AS \"response mean\", max(\"response_max_s\") AS \"response max\", "
            f"mean(\"handling_mean_s\") AS \"handling mean\" {w('gg_security')} GROUP BY time($__interval) fill(none)"],
            w=12, h=8, unit="s"),
        panel(L, "timeseries", "Security devices online", [
            f"SELECT mean(\"online_rate_pct\") {w('gg_security_devices')} GROUP BY time($__interval), \"security_type\" fill(none)"],
            w=12, h=8, unit="percent", minv=0, maxv=100, aliases=["$tag_security_type"]),
        panel(L, "piechart", "Alarms by type", [
            f"SELECT sum(\"count\") {w('gg_security_alarms')} GROUP BY \"alarm_type\""],
            w=12, h=8, aliases=["$tag_alarm_type"]),
        panel(L, "table", "Latest alarm events", [
            f"SELECT \"event\", \"alarm_type\", \"alarm_id\" {w('security', chr(34) + 'event' + chr(34) + ' != ' + chr(39) + 'heartbeat' + chr(39))} "
            "GROUP BY \"device\" ORDER BY time DESC LIMIT 50"],
            w=24, h=8, fmt="table"),
    ]
    return dashboard("greengate-security", "greengate · Security", ["security"], ps)


def gateway():
    L = Layout()
    count = lambda m, f: (f"SELECT count(\"{f}\") AS \"{m}\" {w(m)} GROUP BY time($__interval) fill(none)")
    ps = [
        text(L, "About", "What greengate delivered to InfluxDB. The gateway's own counters (MQTT messages rejected, "
             "Modbus errors, outbox backlog and bytes, InfluxDB retries) are Prometheus metrics at "
             "`http://<gateway>:9898/metrics`; scrape them with Prometheus or VictoriaMetrics (vmagent).", h=3),
        panel(L, "timeseries", "Readings stored per interval", [
            count("noise", "laeq"), count("water_meter", "total_m3"), count("lighting", "power_w"),
            count("parking", "occupied"), count("security", "event")],
            w=24, h=8, options={"drawStyle": "bars", "stacking": {"mode": "normal"}},
            desc="Throughput by device class, as stored (a gap means nothing arrived: device, broker, gateway or network)."),
        panel(L, "timeseries", "Devices online by class", [
            f"SELECT last(\"online\") AS \"online\", last(\"devices\") AS \"configured\" {w('gg_device_health')} "
            "GROUP BY time($__interval), \"class\" fill(none)"],
            w=12, h=8, aliases=["$tag_class $col"]),
        panel(L, "table", "Modbus device status", [
            f"SELECT last(\"online\") AS \"online\", last(\"errors\") AS \"errors\" "
            f"{w('device_status')} GROUP BY \"device\", \"source\""],
            w=12, h=8, fmt="table",
            desc="device_status readings written by the Modbus poller on every online/offline change and at least every status_interval "
                 "(errors: failed requests since start)."),
        panel(L, "timeseries", "Modbus round-trip time", [
            f"SELECT mean(\"rtt_ms\") {w('device_status')} GROUP BY time($__interval), \"device\" fill(none)"],
            w=12, h=8, unit="ms", aliases=["$tag_device"],
            desc="Only devices that answer have a round-trip time."),
        panel(L, "timeseries", "Modbus request errors", [
            f"SELECT max(\"errors\") {w('device_status')} GROUP BY time($__interval), \"device\" fill(none)"],
            w=12, h=8, aliases=["$tag_device"]),
        panel(L, "timeseries", "Water data quality (corrected and rejected deltas)", [
            f"SELECT sum(\"deltas_reset\") AS \"reset\", sum(\"deltas_rollover\") AS \"rollover\", "
            f"sum(\"deltas_replacement\") AS \"replacement\", sum(\"deltas_rejected\") AS \"rejected\" "
            f"{w('gg_water_interval')} GROUP BY time($__interval), \"device\" fill(none)"],
            w=12, h=8, aliases=["$tag_device $col"], options={"drawStyle": "bars"},
            desc="Meter deltas that were not plain: a register rollover, a configured replacement, a reset, or an implausible jump rejected."),
    ]
    return dashboard("greengate-gateway", "greengate · Gateway health", ["gateway"], ps)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, d in [("overview", overview()), ("noise", noise()), ("water", water()),
                    ("lighting", lighting()), ("parking", parking()), ("security", security()),
                    ("gateway", gateway())]:
        with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(d, f, indent=2, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()

//! The sources part of a snapshot: the MQTT session, and each Modbus
//! endpoint and meter bus with its devices online and its poll, request
//! and error counts, all from the bus driver's metrics (`Names`).

use serde_json::{json, Value};

use super::snapshot::{counters, gauges, sum_where, Board, Bus};
use crate::metrics;
use crate::sources::bus::Names;

impl Board {
    pub(super) fn sources(&self) -> Value {
        let mqtt = self.info.mqtt.as_ref().map(|(host, port, client_id)| {
            // One gauge per session: `client_id` or `client_id-<n>`.
            let sessions: Vec<i64> = (gauges("mqtt_connected").into_iter())
                .filter(|(l, _)| {
                    l.get("client_id")
                        .is_some_and(|c| c.starts_with(client_id.as_str()))
                })
                .map(|(_, v)| v)
                .collect();
            let total = |n| metrics::registry().counter_total(n);
            json!({
                "host": host,
                "port": port,
                "client_id": client_id,
                "connected": !sessions.is_empty() && sessions.iter().all(|v| *v == 1),
                "sessions": sessions.len(),
                "connections": total("mqtt_connections_total"),
                "connection_errors": total("mqtt_connection_errors_total"),
                "messages_received": total("mqtt_messages_received_total"),
                "messages_rejected": total("mqtt_messages_rejected_total"),
            })
        });
        json!({
            "mqtt": mqtt,
            "modbus": bus_rows(&self.info.buses, &crate::sources::modbus::poller::NAMES),
            "meters": bus_rows(&self.info.meter_buses, &crate::sources::meters::NAMES),
        })
    }
}

/// One row per bus: its devices online, polls, requests, errors, lateness.
fn bus_rows(buses: &[Bus], names: &Names) -> Vec<Value> {
    let label = names.bus_label;
    let polls = counters(names.polls);
    let requests = counters(names.requests);
    let errors = counters(names.errors);
    let online = gauges(names.online);
    let lateness = gauges(names.lateness);
    (buses.iter())
        .map(|b| {
            let on = (online.iter())
                .filter(|(l, v)| l.get(label) == Some(&b.name) && *v == 1)
                .count();
            let late = (lateness.iter())
                .find(|(l, _)| l.get(label) == Some(&b.name))
                .map_or(0, |(_, v)| *v);
            json!({
                "name": b.name,
                "transport": b.transport,
                "address": b.address,
                "devices": b.devices.len(),
                "online": on,
                "polls": sum_where(&polls, label, &b.name),
                "requests": sum_where(&requests, label, &b.name),
                "errors": sum_where(&errors, label, &b.name),
                "lateness_max_us": late,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_bus_row_counts_its_online_meters_requests_and_errors() {
        // Bus names of this test only: the registry is process-wide.
        let names = &crate::sources::meters::NAMES;
        let bus = "status-test-meter-bus";
        let l = |d: &'static str| [("bus", bus), ("device", d)];
        metrics::gauge(names.online, "", &l("sm-1")).set(1);
        metrics::gauge(names.online, "", &l("sm-2")).set(0);
        metrics::counter(names.requests, "", &l("sm-1")).add(5);
        metrics::counter(names.requests, "", &l("sm-2")).add(3);
        metrics::counter(
            names.errors,
            "",
            &[("bus", bus), ("device", "sm-2"), ("kind", "timeout")],
        )
        .add(3);
        let b = Bus {
            name: bus.into(),
            transport: "serial",
            address: "/dev/ttyUSB1".into(),
            devices: vec![("sm-1".into(), "p".into()), ("sm-2".into(), "p".into())],
        };
        let rows = bus_rows(&[b], names);
        let r = &rows[0];
        assert_eq!(r["name"], bus);
        assert_eq!(r["transport"], "serial");
        assert_eq!(
            (r["online"].as_u64(), r["devices"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(r["requests"], 8);
        assert_eq!(r["errors"], 3);
    }
}

//! The city northbound: indicator measurements (`gg_*`, or a configured
//! list such as only the hourly and daily rollups) forwarded to a city
//! platform's InfluxDB-compatible store, tagged with the community id like
//! every reading (the pipeline's enrichment adds `community`).
//!
//! The city sink is routing plus configuration: the pipeline appends only
//! the readings its [`Route`](crate::pipeline::Route) accepts to its own
//! outbox (`<outbox.dir>/city`), and the InfluxDB sink's loop writes that
//! outbox under the sink name `city`. Invariant: an outage on either side
//! never blocks the other. The main outbox blocks when full (back-pressure,
//! never loss); the city outbox is *droppable*: when full, its oldest unread
//! segment is deleted (`outbox_records_dropped_total{name="city"}`), because
//! everything the city receives is also in the main store and can be
//! re-exported from there.
//!
//! Or, with `[sinks.city.mqtt]`, each line is published with QoS 1 to the
//! city's broker over one long-lived connection (optionally TLS and
//! username/password; see [`mqtt`]); batches are acknowledged after every PUBACK.
//!
//! Events: the InfluxDB sink's, with label `sink="city"`; over MQTT
//! `CityMqttConnected` (`city_mqtt_connects_total{client_id}`),
//! `CityMqttBatchRetried` (`city_mqtt_batches_retried_total`) and
//! `city_mqtt_lines_published_total`.

pub mod config;
pub mod mqtt;
mod mqtt_config;
mod mqtt_conn;

use tokio_util::sync::CancellationToken;

use crate::deadletter::DeadLetterWriter;
use crate::outbox::OutboxReader;

/// The sink name: its outbox directory, metrics label and log field.
pub const SINK: &str = "city";

/// Writes the city outbox to the city store or broker until it is drained
/// and closed or `shutdown` is cancelled. `community` fills the MQTT topic.
/// Validation guarantees one endpoint; without one the sink logs an error
/// and returns.
pub async fn run(
    cfg: config::CityConfig,
    community: String,
    reader: OutboxReader,
    dead: DeadLetterWriter,
    shutdown: CancellationToken,
) {
    match (cfg.influxdb, cfg.mqtt) {
        (Some(influx), _) => {
            crate::sinks::influxdb::run_as(SINK, influx, reader, dead, shutdown).await
        }
        (None, Some(m)) => mqtt::run(m, community, reader, shutdown).await,
        (None, None) => tracing::error!(sink = SINK, "City sink has no endpoint; not started."),
    }
}

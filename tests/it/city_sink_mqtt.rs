//! The city northbound over MQTT against a real Mosquitto: one connection
//! carries many batches, a broker restart mid-stream loses nothing (the
//! un-PUBACKed batch is published again), username/password with a
//! `password_file` work against a broker that refuses anonymous clients,
//! and TLS with a client certificate against a broker that requires one.

use crate::common;
use crate::mqtt5::reason_count;

use common::pki::make_pki;
use common::{free_port, Mosquitto};
use greengate::config::{Check, Rebase, Validate};
use greengate::deadletter::DeadLetterWriter;
use greengate::outbox::{self, OutboxConfig, OutboxWriter};
use greengate::sinks::city::{self, config::CityConfig};
use serde_json::json;
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);

/// The city sink on its own outbox, validated against `dir` (relative files
/// resolve there), publishing for community `c7`.
struct Sink {
    w: OutboxWriter,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Sink {
    fn start(mqtt: serde_json::Value, cfg_dir: &Path) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg: CityConfig = serde_json::from_value(json!({ "mqtt": mqtt })).unwrap();
        let mut cx = Check::new(cfg_dir);
        cfg.validate("sinks.city", &mut cx);
        assert!(cx.problems().is_empty(), "{:?}", cx.problems());
        // What `Config::load` does after validation: paths resolved once.
        cfg.rebase(cfg_dir);
        let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
        let (w, r) = outbox::open(&dir.path().join("city"), &OutboxConfig::default()).unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(city::run(cfg, "c7".into(), r, dead, stop.clone()));
        Sink {
            w,
            stop,
            task,
            _dir: dir,
        }
    }

    /// Appends lines `range` as one committed batch.
    fn write(&mut self, range: std::ops::Range<usize>) {
        for i in range {
            self.w.append(line(i).as_bytes()).unwrap();
        }
        self.w.commit().unwrap();
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

fn line(i: usize) -> String {
    format!(
        "gg_noise_hour,community=c7,device=n1 seq={i}i {}",
        1_700_000_000_000_000_000i64 + i as i64
    )
}

/// A QoS 1 subscriber to `city/#` that keeps polling through broker
/// restarts and collects the distinct payloads it got.
struct Subscriber {
    got: Arc<Mutex<HashSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    async fn start(
        port: u16,
        id: &str,
        persistent: bool,
        auth: Option<(&str, &str)>,
    ) -> Subscriber {
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(!persistent);
        if let Some((u, p)) = auth {
            o.set_credentials(u, p);
        }
        let (client, mut ev) = rumqttc::AsyncClient::new(o, 64);
        client
            .subscribe("city/#", rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(WAIT, ev.poll())
                .await
                .expect("no SUBACK")
            {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => break,
                Ok(_) => {}
                Err(e) => panic!("subscriber: {e}"),
            }
        }
        let got = Arc::new(Mutex::new(HashSet::new()));
        let g = got.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match ev.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let s = String::from_utf8_lossy(&p.payload).into_owned();
                        g.lock().unwrap().insert(s);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Subscriber { got, task }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Waits until lines `0..n` all arrived; panics with what is missing.
    async fn wait_for(&self, n: usize) {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if (0..n).all(|i| self.got.lock().unwrap().contains(&line(i))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = self.got.lock().unwrap();
        let missing: Vec<usize> = (0..n).filter(|i| !got.contains(&line(*i))).collect();
        panic!("{} of {n} lines never arrived: {missing:?}", missing.len());
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How many times the broker logged a new connection of `client_id`.
fn broker_connects(broker: &Mosquitto, client_id: &str) -> usize {
    let log = std::fs::read_to_string(broker.proc.dir.path().join("log.txt")).unwrap_or_default();
    let needle = format!(" as {client_id} ");
    log.lines()
        .filter(|l| l.contains("New client connected") && l.contains(&needle))
        .count()
}

fn connects_metric(client_id: &str) -> u64 {
    greengate::metrics::counter(
        "city_mqtt_connects_total",
        "Connections established to the city broker (CONNACK received).",
        &[("client_id", client_id)],
    )
    .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_batches_travel_over_one_connection() {
    let broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port(), "sub-many", false, None).await;
    let mut sink = Sink::start(
        json!({"host": "127.0.0.1", "port": broker.port(), "client_id": "gg-city-many", "retry": "100ms"}),
        Path::new("."),
    );
    // 20 batches, each written only after the previous one arrived, so
    // each is its own outbox batch and its own round of PUBACKs.
    for b in 0..20 {
        sink.write(b * 5..(b + 1) * 5);
        sub.wait_for((b + 1) * 5).await;
    }
    assert_eq!(sub.count(), 100);
    assert_eq!(
        broker_connects(&broker, "gg-city-many"),
        1,
        "one CONNECT for 20 batches"
    );
    assert_eq!(connects_metric("gg-city-many"), 1);
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing() {
    let broker = Mosquitto::start_persistent("max_queued_messages 0\n");
    let port = broker.port();
    // A persistent session: what the broker acknowledged is queued for it
    // and survives the (clean) restart.
    let sub = Subscriber::start(port, "sub-restart", true, None).await;
    let mut sink = Sink::start(
        json!({"host": "127.0.0.1", "port": port, "client_id": "gg-city-restart",
               "retry": "50ms", "retry_max": "500ms"}),
        Path::new("."),
    );
    for b in 0..10 {
        sink.write(b * 20..(b + 1) * 20);
    }
    // Restart while the sink is still publishing (some lines are through).
    while sub.count() < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped = broker.stop();
    for b in 10..20 {
        sink.write(b * 20..(b + 1) * 20);
    }
    let broker = stopped.start();
    sub.wait_for(400).await;
    assert!(
        broker_connects(&broker, "gg-city-restart") >= 1,
        "the sink reconnected to the restarted broker"
    );
    assert!(connects_metric("gg-city-restart") >= 2);
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_password_file_are_accepted_by_a_broker_without_anonymous_access() {
    let cfg_dir = tempfile::tempdir().unwrap();
    // Mosquitto drops to its own user before reading the password file.
    std::fs::set_permissions(cfg_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let passwd = cfg_dir.path().join("passwd");
    let st = Command::new(common::require_tool("mosquitto_passwd", "mosquitto"))
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["city", "s3cret"])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(cfg_dir.path().join("city-password"), "s3cret\n").unwrap();
    std::fs::write(cfg_dir.path().join("wrong-password"), "guess\n").unwrap();
    let conf = format!(
        "allow_anonymous false\npassword_file {}\n",
        passwd.display()
    );
    let broker = Mosquitto::start_with(&conf);
    let sub = Subscriber::start(broker.port(), "sub-auth", false, Some(("city", "s3cret"))).await;

    // A wrong password is refused and retried; nothing is published.
    let mut bad = Sink::start(
        json!({"host": "127.0.0.1", "port": broker.port(), "client_id": "gg-city-bad",
               "retry": "50ms", "retry_max": "200ms",
               "username": "city", "password_file": "wrong-password"}),
        cfg_dir.path(),
    );
    bad.write(0..1);
    // Mosquitto logs a refused client as `Client <unknown> disconnected, not authorised.`
    let refused = || {
        std::fs::read_to_string(broker.proc.dir.path().join("log.txt"))
            .unwrap_or_default()
            .matches("not authorised")
            .count()
    };
    let start = Instant::now();
    while refused() < 3 {
        assert!(start.elapsed() < WAIT, "the bad client never retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        connects_metric("gg-city-bad"),
        0,
        "refused: no CONNACK success"
    );
    bad.stop().await;
    assert_eq!(sub.count(), 0);

    // The right password, from a file relative to the config directory.
    let mut sink = Sink::start(
        json!({"host": "127.0.0.1", "port": broker.port(), "client_id": "gg-city-auth",
               "retry": "50ms", "username": "city", "password_file": "city-password"}),
        cfg_dir.path(),
    );
    sink.write(0..10);
    sub.wait_for(10).await;
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_reaches_a_broker_that_requires_one() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let p = |f: &str| pki.path().join(f).display().to_string();
    let tls_port = free_port();
    // A plain listener for the test's subscriber, a TLS one for the sink.
    let conf = format!(
        "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
        p("ca.pem"),
        p("server.pem"),
        p("server.key")
    );
    let broker = Mosquitto::start_with(&conf);
    let sub = Subscriber::start(broker.port(), "sub-tls", false, None).await;
    // Relative file names resolve against the config directory.
    let mut sink = Sink::start(
        json!({"host": "127.0.0.1", "port": tls_port, "client_id": "gg-city-tls",
               "retry": "50ms", "tls": true, "ca_file": "ca.pem",
               "client_cert_file": "client.pem", "client_key_file": "client.key"}),
        pki.path(),
    );
    sink.write(0..10);
    sub.wait_for(10).await;
    assert_eq!(connects_metric("gg-city-tls"), 1);
    sink.stop().await;
}

/// Issue 15 point 3: with `protocol = 5` a PUBACK that refuses (here
/// Mosquitto's ACL: `not_authorized`) fails the batch, which stays in the
/// outbox and is published again; once the broker accepts (ACL reloaded
/// by SIGHUP) every line arrives. With 3.1.1 the same broker would
/// acknowledge the refused messages and drop them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mqtt_5_a_refused_batch_is_kept_and_published_once_the_broker_accepts() {
    let acl_dir = tempfile::tempdir().unwrap();
    // Mosquitto drops to its own user before reading the ACL file.
    std::fs::set_permissions(acl_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let acl = acl_dir.path().join("acl");
    // Entries before any `user` line apply to anonymous clients.
    std::fs::write(&acl, "topic read city/#\n").unwrap();
    std::fs::set_permissions(&acl, std::fs::Permissions::from_mode(0o644)).unwrap();
    let broker = Mosquitto::start_with(&format!("acl_file {}\n", acl.display()));
    let sub = Subscriber::start(broker.port(), "sub-v5", false, None).await;
    let refused_before = reason_count("puback", "not_authorized");
    let mut sink = Sink::start(
        json!({"host": "127.0.0.1", "port": broker.port(), "client_id": "gg-city-v5",
               "protocol": 5, "retry": "50ms", "retry_max": "200ms"}),
        Path::new("."),
    );
    sink.write(0..10);
    let start = Instant::now();
    // Two whole rounds refused: the batch was published again.
    while reason_count("puback", "not_authorized") < refused_before + 20 {
        assert!(start.elapsed() < WAIT, "no refusing PUBACKs counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sub.count(), 0, "the broker delivered nothing it refused");
    assert!(connects_metric("gg-city-v5") >= 1);

    let accepted_before = reason_count("puback", "success");
    std::fs::write(&acl, "topic readwrite city/#\n").unwrap();
    let pid = broker.proc.child.id().to_string();
    let st = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(st.success(), "SIGHUP to mosquitto");
    sub.wait_for(10).await;
    // The broker may deliver before it acknowledges.
    let start = Instant::now();
    while reason_count("puback", "success") < accepted_before + 10 {
        assert!(start.elapsed() < WAIT, "no accepting PUBACKs counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sink.stop().await;
}

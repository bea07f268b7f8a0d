//! `greengate sniff` against a real Mosquitto: a good and a bad payload
//! are printed as line protocol and as a rejection, and the daemon's
//! persistent session, which was subscribed before, still receives both
//! afterwards: sniff took nothing from it and acknowledged nothing for it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::common::Mosquitto;
use crate::tools_support::write_config;

const DAEMON_ID: &str = "greengate-tools-daemon";
const TOPIC: &str = "community/green-garden/water/gw-02/up";
const GOOD: &str = r#"{"meterId":"WM-3-0412","batteryMv":3610,"readings":[{"ts":1764388800,"totalL":123456.7,"flowLph":12.5,"leak":0}]}"#;
const BAD: &str = "{not json at all";
/// The broker password of the config: never printed.
const PASSWORD: &str = "s3cret-sniff-pw";

/// The daemon's session: connects with its client id and a persistent
/// session, subscribes at QoS 1 (when `subscribe`), and returns the
/// messages it received within `wait`.
async fn daemon_session(port: u16, subscribe: bool, wait: Duration) -> Vec<(String, String)> {
    let mut o = MqttOptions::new(DAEMON_ID, "127.0.0.1", port);
    o.set_clean_session(false)
        .set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = AsyncClient::new(o, 10);
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, el.poll()).await {
            Err(_) => break,
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) if subscribe => {
                client
                    .subscribe("community/+/water/+/up", QoS::AtLeastOnce)
                    .await
                    .unwrap();
            }
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => got.push((
                p.topic.clone(),
                String::from_utf8_lossy(&p.payload).into_owned(),
            )),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("daemon session: {e}"),
        }
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while el.poll().await.is_ok() {}
    })
    .await;
    got
}

fn config(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            r#"
[sources.mqtt]
host = "127.0.0.1"
port = {port}
client_id = "{DAEMON_ID}"
username = "greengate"
password = "{PASSWORD}"

[[sources.mqtt.subscriptions]]
filter = "community/+site/water/+/up"
profile = "smart-water-meter"
"#
        ),
    )
}

#[tokio::test]
async fn sniff_prints_readings_and_rejections_and_leaves_the_daemons_session_alone() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.port());
    // The daemon has subscribed before and is away now.
    daemon_session(broker.port(), true, Duration::from_secs(5)).await;

    let mut child = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .args(["sniff", "-c"])
        .arg(&cfg)
        .args(["community/+/water/#", "--count", "2", "--timeout", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // sniff's stderr, line by line: its first line says it is subscribed.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    assert!(
        ready.starts_with("sniffing community/+/water/# on 127.0.0.1:"),
        "{ready}"
    );
    assert!(ready.contains("(clean session, QoS 0)"), "{ready}");
    assert!(!ready.contains(&format!("client {DAEMON_ID} ")), "{ready}");
    broker.publish(TOPIC, GOOD, 1);
    broker.publish(TOPIC, BAD, 1);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let errors: Vec<String> = rx.try_iter().collect();
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}\n{errors:?}");
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!s.contains(PASSWORD) && !ready.contains(PASSWORD), "{s}");
    let header = format!(
        "topic {TOPIC} | subscription community/+site/water/+/up | profile smart-water-meter"
    );
    assert_eq!(s.matches(&header).count(), 2, "{s}");
    assert!(
        s.contains("  water_meter,device=WM-3-0412,site=green-garden battery_v=3.61,flow_m3h=0.0125,leak=false,total_m3=123.4567 1764388800000000000"),
        "{s}"
    );
    let rejected = s
        .lines()
        .find(|l| l.contains("rejected ("))
        .unwrap_or_default();
    assert!(rejected.contains("profile smart-water-meter"), "{s}");
    assert!(
        rejected.ends_with(&format!("payload ({} bytes) starts: {BAD}", BAD.len())),
        "{rejected}"
    );

    // The daemon comes back: both messages were queued for its session and
    // are delivered now (sniff neither took them nor acknowledged them).
    let got = daemon_session(broker.port(), false, Duration::from_secs(3)).await;
    let payloads: Vec<&str> = got.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(payloads, vec![GOOD, BAD], "{got:?}");
}

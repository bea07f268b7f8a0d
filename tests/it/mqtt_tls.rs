//! The MQTT source over TLS with a client certificate and a password,
//! against a real Mosquitto with certificates made by `openssl` for the test.

use crate::common;

use common::pki::make_pki;
use common::{free_port, Mosquitto};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use greengate::config::{Check, Secret};
use greengate::profiles::config::ProfilesConfig;
use greengate::profiles::ProfileSet;
use greengate::sources::mqtt::config::{MqttConfig, Subscription, TlsConfig};

fn config(port: u16, pki: &Path, password: &str) -> MqttConfig {
    let cfg = MqttConfig {
        port,
        client_id: "gg-tls".into(),
        username: Some("greengate".into()),
        password: Some(Secret::new(password)),
        tls: Some(TlsConfig {
            ca_file: Some(PathBuf::from("ca.pem")),
            client_cert_file: Some(PathBuf::from("client.pem")),
            client_key_file: Some(PathBuf::from("client.key")),
        }),
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(500),
        subscriptions: vec![Subscription {
            filter: "community/+site/noise/+device/up".into(),
            profile: "fiware-noise".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    // Relative TLS paths resolve against the config directory.
    match cfg.planned(pki, &profiles()) {
        Ok(cfg) => cfg,
        Err(p) => panic!("{p}"),
    }
}

fn profiles() -> Arc<ProfileSet> {
    let mut cx = Check::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"));
    Arc::new(ProfileSet::load(&ProfilesConfig::default(), &mut cx))
}

fn publish_tls(port: u16, pki: &Path, payload: &str) {
    let d = |f: &str| pki.join(f).display().to_string();
    let status = Command::new(common::require_tool("mosquitto_pub", "mosquitto-clients"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            "community/c1/noise/n1/up",
            "-m",
            payload,
        ])
        .args([
            "--cafile",
            &d("ca.pem"),
            "--cert",
            &d("client.pem"),
            "--key",
            &d("client.key"),
        ])
        .args(["-u", "greengate", "-P", "s3cret"])
        .status()
        .expect("mosquitto_pub");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificate_and_password_delivers_readings() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let passwd = pki.path().join("passwd");
    let st = Command::new(common::require_tool("mosquitto_passwd", "mosquitto"))
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["greengate", "s3cret"])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let p = |f: &str| pki.path().join(f).display().to_string();
    let conf = format!(
        "allow_anonymous false\npassword_file {}\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
        p("passwd"),
        p("ca.pem"),
        p("server.pem"),
        p("server.key")
    );
    let port = free_port();
    let _broker = Mosquitto::start_in(tempfile::tempdir().unwrap(), port, &conf);

    // A wrong password is refused: the source keeps retrying with backoff.
    let (tx, mut rx) = mpsc::channel(4);
    let stop = CancellationToken::new();
    let bad = tokio::spawn(greengate::sources::mqtt::run(
        config(port, pki.path(), "wrong"),
        tx,
        stop.clone(),
    ));
    let errors = || greengate::metrics::registry().counter_total("mqtt_connection_errors_total");
    while errors() < 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rx.try_recv().is_err());
    stop.cancel();
    bad.await.unwrap();

    let (tx, mut rx) = mpsc::channel(4);
    let stop = CancellationToken::new();
    let task = tokio::spawn(greengate::sources::mqtt::run(
        config(port, pki.path(), "s3cret"),
        tx,
        stop.clone(),
    ));
    let mut got = None;
    for _ in 0..40 {
        publish_tls(
            port,
            pki.path(),
            r#"{"dateObserved": "2025-11-29T04:00:00Z", "LAeq": 55, "LAmax": 66}"#,
        );
        if let Ok(Some(b)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            got = Some(b);
            break;
        }
    }
    let b = got.expect("no reading over TLS");
    assert_eq!(
        greengate::lineproto::to_line(&b.readings[0]).unwrap(),
        "noise,device=n1,site=c1 laeq=55,lamax=66 1764388800000000000"
    );
    b.ack.unwrap().fire();
    stop.cancel();
    task.await.unwrap();
}

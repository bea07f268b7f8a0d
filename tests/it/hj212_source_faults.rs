//! The HJ 212 source under bad stations, many stations and a killed
//! daemon: stations from the standard's byte layout (`hj212_source_station`)
//! against the greengate binary and a real VictoriaMetrics.

use std::time::Duration;

use crate::common::Victoria;
use crate::hj212_source_station::*;

const T: Duration = Duration::from_secs(30);
const S: i64 = 1_000_000_000;

#[test]
fn garbage_half_frames_and_a_slow_station_cost_a_good_station_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    let mut s = setup(dir.path(), &vm, 2, "frame_timeout = \"2s\"");
    // Garbage: noise, stray ##, a length that never completes, a frame cut off.
    let mut garbage = Station::connect(s.port);
    let junk = std::thread::spawn(move || {
        for i in 0..200u32 {
            let mut b: Vec<u8> = (0..97u32).map(|k| ((i * 31 + k * 7) % 251) as u8).collect();
            b.extend_from_slice(b"####12ab##9999QN=");
            let half = frame(&rtd("20261130100000000", &mn(2), "123456", t0_ns(), 70.0));
            b.extend_from_slice(&half[..half.len() / 2]);
            if garbage.send(&b).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    // Slow: one byte every 100 ms, so its frame never completes within 2 s.
    let mut slow = Station::connect(s.port);
    let slow_frame = frame(&rtd("20261130100000000", &mn(2), "123456", t0_ns(), 80.0));
    let slow_t = std::thread::spawn(move || {
        for b in slow_frame.iter().take(60) {
            if slow.send(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut good = Station::connect(s.port);
    let n = 40i64;
    for i in 0..n {
        let qn = format!("{}", 20261130100000000i64 + i);
        good.upload_answered(
            &rtd(
                &qn,
                &mn(1),
                "123456",
                t0_ns() + i * 15 * S,
                50.0 + (i % 7) as f64,
            ),
            T,
        );
    }
    junk.join().unwrap();
    slow_t.join().unwrap();
    vm.wait_for_samples(r#"{__name__="noise_laeq"}"#, n as usize, T);
    let got = samples(&vm, "noise_laeq");
    let want: Vec<_> = (0..n)
        .map(|i| {
            (
                "noise-hj-1".to_string(),
                (t0_ns() + i * 15 * S) / 1_000_000,
                50.0 + (i % 7) as f64,
            )
        })
        .collect();
    assert_eq!(
        got,
        want,
        "only the good station's data, all of it\n{}",
        s.daemon.log()
    );
    s.daemon.assert_running();
    // The noise was dropped, and what looked like frames (`##9999` with
    // 10 KB of garbage behind it) failed its CRC and was dead-lettered.
    let m = s.daemon.metrics();
    assert!(s.daemon.metric("hj212_bytes_discarded_total") > 0.0, "{m}");
    assert!(
        m.contains("hj212_uploads_rejected_total{reason=\"bad_crc\"}"),
        "{m}"
    );
    assert!(
        s.daemon.metric("hj212_timeouts_total") >= 1.0,
        "{}",
        s.daemon.metrics()
    );
}

#[test]
fn many_stations_at_once_are_all_stored_and_answered() {
    let stations = 50usize;
    let per = 6i64;
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    let s = setup(dir.path(), &vm, stations, "");
    let port = s.port;
    let threads: Vec<_> = (1..=stations)
        .map(|k| {
            std::thread::spawn(move || {
                let mut st = Station::connect(port);
                for i in 0..per {
                    let qn = format!("{}", 20261130100000000i64 + i);
                    st.upload_answered(
                        &rtd(
                            &qn,
                            &mn(k),
                            "123456",
                            t0_ns() + i * 30 * S,
                            40.0 + k as f64 / 10.0,
                        ),
                        T,
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("every station got all its answers");
    }
    let n = stations * per as usize;
    vm.wait_for_samples(r#"{__name__="noise_laeq"}"#, n, T);
    let got = samples(&vm, "noise_laeq");
    assert_eq!(got.len(), n);
    for k in 1..=stations {
        let dev = format!("noise-hj-{k}");
        let mine: Vec<_> = got.iter().filter(|g| g.0 == dev).collect();
        assert_eq!(mine.len(), per as usize, "{dev}");
        assert!(mine
            .iter()
            .all(|g| (g.2 - (40.0 + k as f64 / 10.0)).abs() < 1e-9));
    }
    assert_eq!(s.daemon.metric("hj212_connections_total"), stations as f64);
}

#[test]
fn a_killed_daemon_loses_nothing_it_answered_9014() {
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    // The store is stopped: everything answered is only in the outbox.
    crate::common::daemon::signal("STOP", vm.proc.child.id());
    let (cfg, port, http_port) = write_config(dir.path(), &vm, 1, "");
    let mut d = start(&cfg, port, http_port, dir.path(), 0);
    let mut st = Station::connect(port);
    let mut answered = Vec::new();
    for i in 0..30i64 {
        let qn = format!("{}", 20261130100000000i64 + i);
        st.upload_answered(
            &rtd(
                &qn,
                &mn(1),
                "123456",
                t0_ns() + i * 10 * S,
                45.0 + i as f64 / 10.0,
            ),
            T,
        );
        answered.push(i);
    }
    // One more in flight when the daemon dies: it may or may not be stored.
    st.upload(&rtd(
        "20261130109999999",
        &mn(1),
        "123456",
        t0_ns() + 3000 * S,
        99.0,
    ));
    d.kill9();
    crate::common::daemon::signal("CONT", vm.proc.child.id());
    let d = start(&cfg, port, http_port, dir.path(), 1);
    vm.wait_for_samples(
        r#"{__name__="noise_laeq"}"#,
        answered.len(),
        Duration::from_secs(60),
    );
    let got = samples(&vm, "noise_laeq");
    for i in answered {
        let t = (t0_ns() + i * 10 * S) / 1_000_000;
        assert!(
            got.iter()
                .any(|g| g.1 == t && (g.2 - (45.0 + i as f64 / 10.0)).abs() < 1e-9),
            "upload {i} was answered 9014 but is not stored\n{}",
            d.log()
        );
    }
}

#[test]
fn the_9014_waits_while_the_outbox_cannot_take_the_readings() {
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    let fs = crate::common::tmpfs::Tmpfs::mount(&dir.path().join("outbox"), "12m");
    let (cfg, port, http_port) = write_config(dir.path(), &vm, 1, "");
    // A 20 % free-space reserve (2.4 MB of 12 MB): below it appends wait.
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "fsync = \"always\"",
        "fsync = \"always\"\nsegment_bytes = 262144\nmin_free_percent = 20",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let d = start(&cfg, port, http_port, dir.path(), 0);
    let mut st = Station::connect(port);
    st.upload_answered(
        &rtd("20261130100000000", &mn(1), "123456", t0_ns(), 50.0),
        T,
    );
    fs.fill_leaving(1024 * 1024);
    std::thread::sleep(Duration::from_secs(2)); // the outbox probes free space each second
    let seg = rtd("20261130100000001", &mn(1), "123456", t0_ns() + S, 51.0);
    st.upload(&seg);
    assert_eq!(
        st.answer(Duration::from_secs(4)),
        None,
        "no 9014 while the readings cannot be made durable\n{}",
        d.log()
    );
    assert!(
        d.metric("outbox_full_waits_total") >= 1.0,
        "{}",
        d.metrics()
    );
    std::fs::remove_file(dir.path().join("outbox/filler")).unwrap();
    let a = st.answer(T).expect("the 9014 once space returned");
    assert!(a.starts_with("QN=20261130100000001;ST=91;CN=9014;"), "{a}");
    vm.wait_for_samples(r#"{__name__="noise_laeq"}"#, 2, T);
    assert_eq!(samples(&vm, "noise_laeq").len(), 2);
}

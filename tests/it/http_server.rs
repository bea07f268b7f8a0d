//! The HTTP endpoint of the real greengate binary (issue 10, point 4):
//! methods, credentials (inline, from the environment), the header-read
//! timeout on a real socket, and `greengate check` refusing a public bind
//! without credentials. The flood tests are in `tests/it/http_flood.rs`.

use crate::common;
#[allow(unused_imports)] // its re-exports of common::daemon
use crate::faults_support;
use crate::http_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use http_support::{request, stack};

/// A bound for "it happens", far above every timeout configured here.
const GUARD: Duration = Duration::from_secs(60);

/// Waits until `/healthz` answers (it needs no credentials).
fn wait_healthy(d: &mut Daemon) {
    let start = Instant::now();
    while request(d.http_port, "GET", "/healthz", None).map(|r| r.status) != Some(200) {
        d.assert_running();
        assert!(start.elapsed() < GUARD, "greengate not up:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_route_answers_405_with_allow_for_other_methods_and_404_for_unknown_paths() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(dir.path(), "");
    let d = Daemon::start(&s.config, s.http_port, dir.path());
    for path in ["/healthz", "/readyz", "/metrics", "/assess"] {
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let r = request(d.http_port, method, path, None).expect("an answer");
            assert_eq!(r.status, 405, "{method} {path}: {r:?}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method} {path}");
        }
    }
    let r = request(d.http_port, "GET", "/nope", None).expect("an answer");
    assert_eq!(r.status, 404, "{r:?}");
    let r = request(d.http_port, "POST", "/nope", None).expect("an answer");
    assert_eq!(r.status, 404, "{r:?}");
    // HEAD is GET without the body.
    let get = request(d.http_port, "GET", "/healthz", None).expect("an answer");
    let head = request(d.http_port, "HEAD", "/healthz", None).expect("an answer");
    assert_eq!((get.status, get.body.as_str()), (200, "ok\n"));
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(head.header("content-length"), Some("3"));
}

#[test]
fn a_token_from_the_environment_guards_every_path_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(dir.path(), "");
    let env = [("GREENGATE__HTTP__TOKEN", "tok-0123456789")];
    let mut d = Daemon::spawn(&s.config, s.http_port, dir.path(), 0, &env, None);
    wait_healthy(&mut d);
    let good = Some("Bearer tok-0123456789");
    for path in ["/readyz", "/metrics", "/assess", "/nope"] {
        for auth in [None, Some("Bearer tok-012345678"), Some("Basic dG9rOg==")] {
            let r = request(d.http_port, "GET", path, auth).expect("an answer");
            assert_eq!(r.status, 401, "{path} {auth:?}: {r:?}");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"greengate\"")
            );
        }
        // Credentials come before methods: a stranger learns nothing.
        let r = request(d.http_port, "POST", path, None).expect("an answer");
        assert_eq!(r.status, 401, "POST {path}");
    }
    let r = request(d.http_port, "GET", "/healthz", None).expect("an answer");
    assert_eq!(r.status, 200, "/healthz needs no token");
    let r = request(d.http_port, "GET", "/metrics", good).expect("an answer");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body
            .contains("greengate_http_requests_unauthorized_total"),
        "{}",
        r.body
    );
    let r = request(d.http_port, "GET", "/assess", good).expect("an answer");
    assert_eq!(r.status, 200, "{r:?}");
    let r = request(d.http_port, "POST", "/metrics", good).expect("an answer");
    assert_eq!(r.status, 405, "{r:?}");
    let r = request(d.http_port, "GET", "/nope", good).expect("an answer");
    assert_eq!(r.status, 404, "{r:?}");
    let log = std::fs::read_to_string(dir.path().join("greengate-0.log")).unwrap_or_default();
    assert!(!log.contains("tok-0123456789"), "the token is never logged");
}

#[test]
fn basic_auth_with_a_password_file_is_enforced_on_loopback_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("http.password"), "open sesame\n").unwrap();
    let s = stack(
        dir.path(),
        "username = \"Aladdin\"\npassword_file = \"http.password\"",
    );
    let mut d = Daemon::spawn(&s.config, s.http_port, dir.path(), 0, &[], None);
    wait_healthy(&mut d);
    // RFC 7617's example: Aladdin / open sesame.
    let good = Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    let r = request(d.http_port, "GET", "/metrics", None).expect("an answer");
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"greengate\", charset=\"UTF-8\"")
    );
    let r = request(
        d.http_port,
        "GET",
        "/metrics",
        Some("Basic QWxhZGRpbjpvcGVu"),
    )
    .unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    let r = request(d.http_port, "GET", "/readyz", good).expect("an answer");
    assert!(r.status == 200 || r.status == 503, "{r:?}");
    let r = request(d.http_port, "GET", "/metrics", good).expect("an answer");
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn the_header_read_timeout_closes_silent_trickling_and_idle_keep_alive_connections() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(dir.path(), "header_read_timeout = \"1s\"");
    let d = Daemon::start(&s.config, s.http_port, dir.path());

    // Silent: connected, never a byte.
    let mut silent = TcpStream::connect(("127.0.0.1", d.http_port)).unwrap();
    silent.set_read_timeout(Some(GUARD)).unwrap();
    let mut buf = [0u8; 64];
    match silent.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!(
            "unexpected answer: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => assert!(
            e.kind() == std::io::ErrorKind::ConnectionReset,
            "not closed by the server: {e}"
        ),
    }

    // Trickling: one byte of the head every 200 ms, never finishing it.
    let mut slow = TcpStream::connect(("127.0.0.1", d.http_port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let head = b"GET /metrics HTTP/1.1\r\nX-Slow: ";
    let mut closed = false;
    for i in 0.. {
        assert!(
            start.elapsed() < GUARD,
            "a trickling head kept its connection"
        );
        if slow.write_all(&[head[i % head.len()]]).is_err() {
            closed = true;
            break;
        }
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => panic!(
                "unexpected answer: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => {} // read timeout: nothing yet, trickle on
        }
    }
    assert!(closed);

    // Keep-alive: one request answered, then nothing; the connection does
    // not stay open waiting for a next request that never comes.
    let mut idle = TcpStream::connect(("127.0.0.1", d.http_port)).unwrap();
    idle.set_read_timeout(Some(GUARD)).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\nok\n") {
        let n = idle.read(&mut buf).expect("the response");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    match idle.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => assert!(
            e.kind() == std::io::ErrorKind::ConnectionReset,
            "an idle keep-alive connection was not closed: {e}"
        ),
    }

    let m = request(d.http_port, "GET", "/metrics", None)
        .expect("an answer")
        .body;
    let timed_out = common::daemon::metric_sum(&m, "http_connections_timed_out_total");
    assert!(timed_out >= 3.0, "{m}");
}

fn check(config: &std::path::Path) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_greengate"))
        .args(["check", "-c"])
        .arg(config)
        .output()
        .expect("run greengate");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_refuses_a_public_listen_without_credentials_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::env::current_dir().unwrap();
    let example = std::fs::read_to_string("config/greengate.example.toml").unwrap();
    let example = example.replace(
        "\"devices\"",
        &format!("\"{}/config/devices\"", repo.display()),
    );
    let public = example.replacen(
        "listen = \"127.0.0.1:9898\"",
        "listen = \"0.0.0.0:9898\"",
        1,
    );
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (code, text) = check(&write("public.toml", &public));
    assert_eq!(code, 64, "{text}");
    assert!(
        text.contains("error: http.listen: 0.0.0.0:9898 is not a loopback address"),
        "{text}"
    );
    assert!(text.contains("1 problem(s)"), "{text}");

    let allowed = public.replacen(
        "allow_unauthenticated = false",
        "allow_unauthenticated = true",
        1,
    );
    let (code, text) = check(&write("allowed.toml", &allowed));
    assert_eq!(code, 0, "{text}");

    let with_token = public.replacen(
        "# token_file = \"/etc/greengate/http.token\"",
        "token_file = \"http.token\"",
        1,
    );
    let (code, text) = check(&write("token.toml", &with_token));
    assert_eq!(code, 64, "a missing token file is a problem: {text}");
    assert!(
        text.contains("error: http.token_file: cannot read"),
        "{text}"
    );
    std::fs::write(dir.path().join("http.token"), "s3cret\n").unwrap();
    let (code, text) = check(&write("token.toml", &with_token));
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

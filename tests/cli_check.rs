//! `greengate check`: exit 0 on a valid config, 64 with every problem and
//! its key path on an invalid one.

use std::process::Command;

fn check(config: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .args(["check", "-c"])
        .arg(config)
        .output()
        .expect("run greengate");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_accepts_the_example_config() {
    let (code, text) = check(std::path::Path::new("config/greengate.example.toml"));
    assert_eq!(code, 0, "{text}");
}

#[test]
fn check_reports_three_mistakes_at_once_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string("config/greengate.example.toml").unwrap();
    // Three different mistakes: an unknown key, a wrong type, an invalid value.
    let bad = example
        .replacen("[site]", "[site]\ncomunity = \"typo\"", 1)
        .replacen("listen = \"127.0.0.1:9898\"", "listen = 9898", 1)
        .replacen("format = \"text\"", "format = \"xml\"", 1);
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    // Profiles are referenced relative to the config file.
    std::os::unix::fs::symlink(
        std::fs::canonicalize("config/devices").unwrap(),
        dir.path().join("devices"),
    )
    .unwrap();
    let (code, text) = check(&path);
    assert_eq!(code, 64, "{text}");
    assert!(text.contains("site.comunity: unknown key"), "{text}");
    assert!(text.contains("http.listen"), "{text}");
    assert!(text.contains("log.format"), "{text}");
    assert!(text.contains("3 problem(s)"), "{text}");
}

#[test]
fn check_names_a_missing_file() {
    let (code, text) = check(std::path::Path::new("config/does-not-exist.toml"));
    assert_eq!(code, 64, "{text}");
    assert!(text.contains("does-not-exist.toml"), "{text}");
}

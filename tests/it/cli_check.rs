//! `greengate check`: exit 0 on a valid config, 64 with every problem and
//! its key path on an invalid one (the fixture folders under
//! `tests/fixtures/config-errors/`).

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
fn check_names_a_missing_file() {
    let (code, text) = check(std::path::Path::new("config/does-not-exist.toml"));
    assert_eq!(code, 64, "{text}");
    assert!(text.contains("does-not-exist.toml"), "{text}");
}

/// Table-driven over `tests/fixtures/config-errors/<case>/`, as Telegraf's
/// `testcases/`: each folder holds a `greengate.toml` (with any profile
/// files it needs beside it) and an `expected.txt` listing the problems
/// `greengate check` must print, one per line, each a key path and its
/// message (the `error: ` prefix left off), then the problem count line.
/// `check` runs in the folder, so paths in messages are the folder's own.
/// A new regression is a new folder: run `greengate check -c greengate.toml`
/// in it and keep the lines that matter.
#[test]
fn check_reports_every_expected_problem_of_each_fixture_and_exits_64() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config-errors");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 9,
        "fixture folders missing under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy();
        let expected = std::fs::read_to_string(case.join("expected.txt"))
            .unwrap_or_else(|e| panic!("{name}/expected.txt: {e}"));
        let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!expected.is_empty(), "{name}/expected.txt lists no problem");
        let out = Command::new(env!("CARGO_BIN_EXE_greengate"))
            .args(["check", "-c", "greengate.toml"])
            .current_dir(case)
            .output()
            .expect("run greengate");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let printed: Vec<&str> = text
            .lines()
            .map(|l| l.strip_prefix("error: ").unwrap_or(l))
            .collect();
        if out.status.code() != Some(64) {
            failures.push(format!(
                "{name}: exit {:?}, not 64:\n{text}",
                out.status.code()
            ));
        }
        for want in expected {
            if !printed.contains(&want) {
                failures.push(format!("{name}: missing line {want:?} in:\n{text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

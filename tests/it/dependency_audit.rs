//! The offline dependency audit (`scripts/audit-deps.sh`): every crate in
//! `Cargo.lock` from the registry is checked against the advisories committed
//! in `audit/advisories.toml`, and against the yanked flags in cargo's local
//! crates.io index cache. Works with crates.io alone: cargo-audit and
//! cargo-deny need the RustSec database from GitHub, which the project's
//! machines cannot reach; the header of `audit/advisories.toml` says what
//! that costs.

use std::path::{Path, PathBuf};

/// A version as comparable numbers (pre-release and build parts dropped).
fn version(v: &str) -> (u64, u64, u64) {
    let core = v.split(['-', '+']).next().unwrap_or(v);
    let mut it = core.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Whether `v` is in a range like `>=0.103.13` or `>=1.2.3, <2.0.0`.
fn in_range(v: &str, range: &str) -> bool {
    let v = version(v);
    range.split(',').map(str::trim).all(|c| {
        let (op, bound) = ["<=", ">=", "<", ">", "="]
            .iter()
            .find_map(|op| c.strip_prefix(op).map(|b| (*op, version(b.trim()))))
            .unwrap_or_else(|| panic!("audit/advisories.toml: bad range {c:?}"));
        match op {
            "<=" => v <= bound,
            ">=" => v >= bound,
            "<" => v < bound,
            ">" => v > bound,
            _ => v == bound,
        }
    })
}

struct Locked {
    name: String,
    version: String,
}

/// The registry packages of Cargo.lock (path crates, such as a vendored
/// shim, have no `source`).
fn locked() -> Vec<Locked> {
    let text = std::fs::read_to_string("Cargo.lock").expect("Cargo.lock");
    let lock: toml::Value = toml::from_str(&text).expect("Cargo.lock is TOML");
    lock["package"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| {
            p.get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("registry+"))
        })
        .map(|p| Locked {
            name: p["name"].as_str().unwrap_or_default().to_string(),
            version: p["version"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

#[test]
fn the_range_rules() {
    assert!(in_range("0.103.17", ">=0.103.13"));
    assert!(!in_range("0.102.8", ">=0.103.13"));
    assert!(in_range("1.5.0", ">=1.2.3, <2.0.0"));
    assert!(!in_range("2.0.0", ">=1.2.3, <2.0.0"));
    assert!(in_range("1.0.0-rc.1", "=1.0.0"));
}

#[test]
fn no_locked_crate_has_a_known_advisory() {
    let text = std::fs::read_to_string("audit/advisories.toml").expect("audit/advisories.toml");
    let db: toml::Value = toml::from_str(&text).expect("advisories.toml is TOML");
    let accepted: Vec<(&str, &str)> = db
        .get("accepted")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["id"].as_str().unwrap_or_default(),
                        e["reason"].as_str().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let packages = locked();
    let mut found = Vec::new();
    for adv in db["advisory"].as_array().expect("[[advisory]]") {
        let id = adv["id"].as_str().expect("id");
        let name = adv["package"].as_str().expect("package");
        let patched: Vec<&str> = adv["patched"]
            .as_array()
            .expect("patched")
            .iter()
            .filter_map(|r| r.as_str())
            .collect();
        for p in packages.iter().filter(|p| p.name == name) {
            if patched.iter().any(|r| in_range(&p.version, r)) {
                continue;
            }
            let title = adv["title"].as_str().unwrap_or_default();
            let line = format!("{id}: {} {}: {title}", p.name, p.version);
            match accepted.iter().find(|(a, _)| *a == id) {
                Some((_, reason)) => eprintln!("accepted {line}\n  because {reason}"),
                None => found.push(line),
            }
        }
    }
    assert!(
        found.is_empty(),
        "advisories in Cargo.lock:\n{}",
        found.join("\n")
    );
}

/// cargo's crates.io index cache (`$CARGO_HOME/registry/index/*/.cache`).
fn index_caches() -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    std::fs::read_dir(home.join("registry/index"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join(".cache"))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Where the index keeps a crate: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd...`.
fn index_path(name: &str) -> PathBuf {
    let n = name.to_ascii_lowercase();
    match n.len() {
        1 => Path::new("1").join(&n),
        2 => Path::new("2").join(&n),
        3 => Path::new("3").join(&n[..1]).join(&n),
        _ => Path::new(&n[..2]).join(&n[2..4]).join(&n),
    }
}

/// The yanked flag of `version` in one cached index file (entries are JSON
/// objects separated by NUL bytes after a small header); `None` if absent.
fn yanked_in(cache: &[u8], version: &str) -> Option<bool> {
    cache
        .split(|b| *b == 0)
        .filter(|part| part.first() == Some(&b'{'))
        .filter_map(|part| serde_json::from_slice::<serde_json::Value>(part).ok())
        .find(|e| e["vers"] == version)
        .map(|e| e["yanked"].as_bool().unwrap_or(false))
}

#[test]
fn no_locked_crate_is_yanked() {
    let caches = index_caches();
    let mut yanked = Vec::new();
    let mut unchecked = 0;
    let packages = locked();
    for p in &packages {
        let state = caches.iter().find_map(|c| {
            let bytes = std::fs::read(c.join(index_path(&p.name))).ok()?;
            yanked_in(&bytes, &p.version)
        });
        match state {
            Some(true) => yanked.push(format!("{} {}", p.name, p.version)),
            Some(false) => {}
            None => unchecked += 1,
        }
    }
    if unchecked > 0 {
        eprintln!(
            "warning: {unchecked} of {} locked crates are not in cargo's local index cache; their yanked state is unchecked (run `cargo fetch` to refresh it)",
            packages.len()
        );
    }
    assert!(yanked.is_empty(), "yanked crates in Cargo.lock: {yanked:?}");
}

#[test]
fn the_index_cache_format_is_read() {
    let cache = b"\x03\x02\0\0\0v1\0x\0{\"name\":\"a\",\"vers\":\"1.0.0\",\"yanked\":false}\x001.0.1\0{\"name\":\"a\",\"vers\":\"1.0.1\",\"yanked\":true}\0";
    assert_eq!(yanked_in(cache, "1.0.0"), Some(false));
    assert_eq!(yanked_in(cache, "1.0.1"), Some(true));
    assert_eq!(yanked_in(cache, "2.0.0"), None);
    assert_eq!(index_path("serde"), Path::new("se/rd/serde"));
    assert_eq!(index_path("syn"), Path::new("3/s/syn"));
}

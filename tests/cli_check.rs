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

#[test]
fn check_reports_register_map_mistakes_with_file_and_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let devices = dir.path().join("devices");
    std::fs::create_dir(&devices).unwrap();
    for e in std::fs::read_dir("config/devices").unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, devices.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::copy("config/greengate.example.toml", dir.path().join("g.toml")).unwrap();
    // A 126-register read forced, overlapping fields, a register out of range, an unknown type.
    std::fs::write(
        devices.join("modbus-bad.toml"),
        "name = \"modbus-bad\"\nclass = \"noise\"\n[modbus]\nmax_request = 126\n\
         [[modbus.fields]]\nname = \"a\"\ntable = \"holding\"\naddress = 0\ntype = \"u32\"\n\
         [[modbus.fields]]\nname = \"b\"\ntable = \"holding\"\naddress = 1\ntype = \"u16\"\n\
         [[modbus.fields]]\nname = \"c\"\ntable = \"holding\"\naddress = 65535\ntype = \"f32\"\n",
    )
    .unwrap();
    std::fs::write(
        devices.join("modbus-bad2.toml"),
        "name = \"modbus-bad2\"\nclass = \"noise\"\n[modbus]\n[[modbus.fields]]\nname = \"a\"\ntable = \"holding\"\naddress = 0\ntype = \"u24\"\n",
    )
    .unwrap();
    let (code, text) = check(&dir.path().join("g.toml"));
    assert_eq!(code, 64, "{text}");
    assert!(
        text.contains("modbus-bad.toml.modbus.max_request: must be 1 to 125"),
        "{text}"
    );
    assert!(
        text.contains("modbus-bad.toml.modbus.fields[1]: overlapping fields"),
        "{text}"
    );
    assert!(
        text.contains("modbus-bad.toml.modbus.fields[2].address: register out of range"),
        "{text}"
    );
    assert!(
        text.contains("modbus-bad2.toml.modbus.fields[0].type: unknown variant `u24`"),
        "{text}"
    );
}

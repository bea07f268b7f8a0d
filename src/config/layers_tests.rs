use super::*;
use crate::config::{parse_value, Check};
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Section {
    token: String,
    port: u16,
    on: bool,
    ratio: f64,
    name: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Root {
    a: Section,
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

const FILE: &str = "[a]\ntoken = \"x\"\nport = 1\non = false\nratio = 0.5\n";

fn parse(root: Value, env: BTreeMap<String, String>) -> (Option<Root>, Vec<String>) {
    let mut cx = Check::new(".").with_env(env);
    let r = parse_value::<Root>(root, "", &mut cx);
    (r, cx.problems().iter().map(|p| p.to_string()).collect())
}

#[test]
fn environment_values_stay_strings_where_the_key_is_a_string() {
    let mut root = parse_toml(FILE).unwrap();
    let env = overlay_env(
        &mut root,
        vars(&[
            ("GREENGATE__A__TOKEN", "0001"),
            ("GREENGATE__A__NAME", "true"),
            ("GREENGATE__A__PORT", "1884"),
            ("GREENGATE__A__ON", "true"),
            ("GREENGATE__A__RATIO", "2.5"),
            ("OTHER__A__PORT", "9"),
        ]),
    )
    .unwrap();
    assert_eq!(
        env.get("a.port").map(String::as_str),
        Some("GREENGATE__A__PORT")
    );
    let (r, probs) = parse(root, env);
    assert!(probs.is_empty(), "{probs:?}");
    assert_eq!(
        r.unwrap().a,
        Section {
            token: "0001".into(),
            port: 1884,
            on: true,
            ratio: 2.5,
            name: Some("true".into()),
        }
    );
}

#[test]
fn only_environment_strings_are_converted() {
    let root = parse_toml("[a]\ntoken = \"x\"\nport = \"1884\"\non = false\nratio = 1\n").unwrap();
    let (_, probs) = parse(root, BTreeMap::new());
    assert_eq!(probs.len(), 1, "{probs:?}");
    assert!(
        probs[0].starts_with("a.port: invalid type: string"),
        "{probs:?}"
    );
}

#[test]
fn an_environment_error_names_the_variable_and_never_shows_a_secret() {
    #[derive(Debug, Deserialize)]
    struct Numeric {
        #[allow(dead_code)]
        token: u64,
    }
    let mut root = Value::Null;
    let env = overlay_env(&mut root, vars(&[("GREENGATE__A__TOKEN", "hunter2")])).unwrap();
    let mut cx = Check::new(".").with_env(env);
    assert!(parse_value::<BTreeMap<String, Numeric>>(root, "", &mut cx).is_none());
    let p = cx.problems()[0].to_string();
    assert!(!p.contains("hunter2"), "{p}");
    assert_eq!(
        p,
        "a.token: invalid value (not shown: a secret), expected u64 (set by GREENGATE__A__TOKEN)"
    );
}

#[test]
fn a_toml_syntax_error_names_the_line_but_never_quotes_it() {
    let e = parse_toml("[sinks.influxdb]\ntoken = \"hunter2\n").unwrap_err();
    assert!(!e.contains("hunter2"), "{e}");
    assert!(e.starts_with("TOML syntax error at line 2, column "), "{e}");
}

#[test]
fn an_environment_key_inside_a_non_table_is_a_problem() {
    let mut root = parse_toml("a = 1\n").unwrap();
    let e = overlay_env(&mut root, vars(&[("GREENGATE__A__B", "x")])).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "GREENGATE__A__B: cannot override a: it is not a table in the config file"
    );
}

#[test]
fn unknown_keys_have_their_real_path_through_options_and_arrays() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Sub {
        filter: String,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Influx {
        token: Option<String>,
        subs: Vec<Sub>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Sinks {
        influxdb: Option<Influx>,
    }
    let v = serde_json::json!({"influxdb": {"tokn": "x", "subs": [{"filter": "a"}, {"filtr": "b", "filter": "c"}]}});
    let mut cx = Check::new(".");
    assert!(parse_value::<Sinks>(v, "sinks", &mut cx).is_some());
    let probs: Vec<String> = cx.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        probs,
        [
            "sinks.influxdb.subs[1].filtr: unknown key",
            "sinks.influxdb.tokn: unknown key"
        ]
    );
}

#[test]
fn secret_looking_keys() {
    for k in [
        "sinks.influxdb.token",
        "sources.mqtt.password",
        "x.client_secret",
    ] {
        assert!(looks_secret(k), "{k}");
    }
    for k in ["sources.mqtt.port", "site.community_id", "a.b[0].name"] {
        assert!(!looks_secret(k), "{k}");
    }
}

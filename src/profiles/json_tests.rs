use super::*;
use proptest::prelude::*;

/// Both parses of `text`: serde_json's `Value` and ours, as printed text
/// (or the error text).
fn both(text: &str) -> (Result<String, String>, Result<String, String>) {
    let v = serde_json::from_str::<Value>(text)
        .map(|v| v.to_string())
        .map_err(|e| e.to_string());
    let j = Json::parse(text)
        .map(|j| j.to_string())
        .map_err(|e| e.to_string());
    (v, j)
}

#[test]
fn strings_without_escapes_are_borrowed_from_the_text() {
    let j = Json::parse(r#"{"device":"n-0001","unit":"dB(A)"}"#).unwrap();
    let Json::Obj(m) = &j else { panic!("{j:?}") };
    for (k, v) in m {
        assert!(matches!(k, Cow::Borrowed(_)), "{k:?}");
        assert!(matches!(v, Json::Str(Cow::Borrowed(_))), "{v:?}");
    }
}

#[test]
fn strings_with_escapes_are_owned_and_unescaped() {
    let j = Json::parse(r#"{"d\u00e9v":"a\"b\\c\n\ud83d\ude00"}"#).unwrap();
    let Json::Obj(m) = &j else { panic!("{j:?}") };
    assert_eq!(m.len(), 1);
    assert!(matches!(m[0].0, Cow::Owned(_)));
    assert_eq!(m[0].0, "dév");
    assert_eq!(m[0].1, Json::Str(Cow::Owned("a\"b\\c\n😀".into())));
    assert_eq!(j.get("dév"), Some(&m[0].1));
}

#[test]
fn of_duplicate_keys_the_last_wins_as_in_value() {
    let text = r#"{"b":1,"a":2,"b":3,"\u0062":4,"a":{"x":1,"x":[5]}}"#;
    let j = Json::parse(text).unwrap();
    assert_eq!(j.get("b"), Some(&Json::Num(4.into())));
    assert_eq!(
        j.get("a")
            .and_then(|a| a.get("x"))
            .map(|x| x.to_string())
            .as_deref(),
        Some("[5]")
    );
    let (v, j) = both(text);
    assert_eq!(v, j);
    assert_eq!(j.unwrap(), r#"{"a":{"x":[5]},"b":4}"#);
}

#[test]
fn object_entries_iterate_in_key_order_as_a_btreemap() {
    let text = r#"{"z":1,"é":2,"A":3,"a":4,"":5,"aa":6,"Z":7}"#;
    let j = Json::parse(text).unwrap();
    let Json::Obj(m) = &j else { panic!("{j:?}") };
    let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_ref()).collect();
    let v: Value = serde_json::from_str(text).unwrap();
    let want: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, want);
    assert_eq!(keys, ["", "A", "Z", "a", "aa", "z", "é"]);
}

#[test]
fn get_finds_only_keys_of_objects() {
    let j = Json::parse(r#"{"a":1,"c":[{"b":2}]}"#).unwrap();
    assert_eq!(j.get("a").and_then(Json::as_i64), Some(1));
    assert_eq!(j.get("b"), None);
    assert_eq!(j.get("c").and_then(|c| c.get("b")), None);
    assert_eq!(Json::Null.get("a"), None);
}

#[test]
fn numbers_read_as_value_reads_them() {
    let j = Json::parse("[1, -2, 18446744073709551615, 1.5, 1e2, -0.0]").unwrap();
    let Json::Arr(a) = &j else { panic!("{j:?}") };
    assert_eq!(a[0].as_i64(), Some(1));
    assert_eq!(a[1].as_i64(), Some(-2));
    assert_eq!(a[2].as_i64(), None);
    assert_eq!(a[2].as_f64(), Some(18446744073709551615.0));
    assert_eq!(a[3].as_f64(), Some(1.5));
    assert_eq!(a[4].as_i64(), None);
    assert_eq!(a[4].as_f64(), Some(100.0));
    assert_eq!(Json::Str("1".into()).as_f64(), None);
}

#[test]
fn display_prints_what_value_prints() {
    let table = [
        "null",
        "true",
        "false",
        "0",
        "-0",
        "-0.0",
        "0.0",
        "1.0",
        "1e2",
        "1E-7",
        "123456789012345678901234567890",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "0.1",
        "3.141592653589793238462643383279",
        "1.7976931348623157e308",
        "5e-324",
        "2.5e-310",
        "45.1",
        r#""""#,
        r#""plain""#,
        r#""é 中文 😀""#,
        r#""\u00e9\u4e2d\ud83d\ude00""#,
        r#""\"\\\/\b\f\n\r\t""#,
        r#""\u0000\u001f\u007f\u2028""#,
        "[]",
        "{}",
        "[1,[2,[3,{}]],{\"a\":[]}]",
        r#"{"device":"n-0001","ts":1764388800000,"laeq":45.1,"lamax":71.2,"unit":"dB(A)","class":1,"seq":17}"#,
        r#" { "b" : [ 1 , 2 ] , "a" : { "\n" : null } } "#,
    ];
    for text in table {
        let v: Value = serde_json::from_str(text).unwrap();
        let j = Json::parse(text).unwrap();
        assert_eq!(j.to_string(), v.to_string(), "{text}");
        assert_eq!(format!("{j:#}"), format!("{v:#}"), "{text}");
        assert_eq!(Json::from_value(&v), j, "{text}");
    }
}

#[test]
fn errors_are_the_errors_value_gives() {
    for text in [
        "",
        "{",
        "[1,]",
        "{\"a\" 1}",
        "01",
        "1e400",
        "\"\\x\"",
        "[1] x",
        "nul",
        "\"\u{1}\"",
    ] {
        let (v, j) = both(text);
        assert!(v.is_err(), "{text:?}");
        assert_eq!(v, j, "{text:?}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for text in [
        "[".repeat(10_000),
        "{\"a\":".repeat(10_000),
        "[".repeat(129) + &"]".repeat(129),
    ] {
        let (v, j) = both(&text);
        assert!(
            j.as_ref().unwrap_err().contains("recursion limit exceeded"),
            "{j:?}"
        );
        assert_eq!(v, j);
    }
    let ok = "[".repeat(127) + &"]".repeat(127);
    assert!(Json::parse(&ok).is_ok());
}

/// Valid JSON text with duplicate and escaped keys, escapes, odd numbers and
/// whitespace.
fn json_text() -> impl Strategy<Value = String> {
    let string = prop::collection::vec(
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("é".to_string()),
            Just("\\u0061".to_string()),
            Just("\\\"".to_string()),
            Just("\\\\".to_string()),
            Just("\\n".to_string()),
            Just("\\u0000".to_string()),
            Just("\\ud83d\\ude00".to_string()),
            Just("😀".to_string()),
            Just("\\/".to_string()),
        ],
        0..4,
    )
    .prop_map(|parts| format!("\"{}\"", parts.concat()));
    let number = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| format!("{x:e}")),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| format!("{x}")),
        "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?",
    ];
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        number,
        string.clone(),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(" , "))),
            prop::collection::vec((string.clone(), inner), 0..6).prop_map(|kv| {
                let kv: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{ {} }}", kv.join(","))
            }),
        ]
    })
}

proptest! {
    #[test]
    fn any_valid_text_parses_and_prints_as_value_does(text in json_text()) {
        let (v, j) = both(&text);
        prop_assert!(v.is_ok(), "{:?}: {:?}", text, v);
        prop_assert_eq!(v, j);
    }

    #[test]
    fn any_text_fails_or_succeeds_as_value_does(text in "[\\[\\]{}:,\"\\\\ a-z0-9.eE+-]{0,40}") {
        let (v, j) = both(&text);
        prop_assert_eq!(v, j);
    }

    #[test]
    fn any_mangled_valid_text_fails_or_succeeds_as_value_does(
        text in json_text(), cut in any::<prop::sample::Index>(), junk in "[\\[\\]{}:,\"\\\\x0 ]"
    ) {
        let mut t = text.clone();
        let mut at = cut.index(t.len() + 1);
        while !t.is_char_boundary(at) {
            at -= 1;
        }
        t.insert_str(at, &junk);
        let (v, j) = both(&t);
        prop_assert_eq!(v, j);
    }
}

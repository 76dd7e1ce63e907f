//! Tests of the strict document reader: duplicates, key types, limits,
//! syntax errors with positions, and what each parser does with numbers
//! and YAML 1.1 look-alikes (pinned, so a parser upgrade that changes them
//! fails here first).

use super::*;
use std::path::Path;
use serde_json::json;
use std::time::{Duration, Instant};

fn yaml(text: &str) -> Result<Value, DocumentError> {
    read_document(text, Format::Yaml)
}

fn json_doc(text: &str) -> Result<Value, DocumentError> {
    read_document(text, Format::Json)
}

/// (path, code, line) of an error.
fn where_(e: DocumentError) -> (String, &'static str, Option<usize>) {
    (e.path, e.code, e.line)
}

#[test]
fn reads_yaml_and_json_to_the_same_value() {
    let want = json!({"key": "k", "stages": [{"name": "a", "rules": [{"type": "user", "user": "mia"}]}], "n": 2, "ok": true, "none": null});
    let y = yaml("key: k\nstages:\n  - name: a\n    rules: [{type: user, user: mia}]\nn: 2\nok: true\nnone: ~\n").unwrap();
    let j = json_doc(&want.to_string()).unwrap();
    assert_eq!(y, want);
    assert_eq!(j, want);
}

#[test]
fn every_example_reads() {
    for text in [include_str!("../../../examples/expense-report.yaml"), include_str!("../../../examples/expense-report-broken.yaml")] {
        let v = yaml(text).unwrap();
        assert_eq!(v["key"], "expense.report");
    }
}

#[test]
fn duplicate_key_at_the_root() {
    let e = yaml("key: a\nartifact_type: d\nkey: b\n").unwrap_err();
    assert_eq!((e.path.as_str(), e.code, e.line, e.column), ("key", "duplicate_key", Some(3), Some(1)));
    assert_eq!(e.message, "duplicate key \"key\" (YAML and JSON documents must not repeat a key; the first was at line 1)");
    assert_eq!(e.to_string(), format!("key: {} (line 3, column 1)", e.message));
}

#[test]
fn duplicate_key_nested_in_sequences() {
    let text = "key: k\nstages:\n  - name: a\n    rules:\n      - type: user\n        user: a\n      - type: user\n        user: b\n        type: role\n";
    let e = yaml(text).unwrap_err();
    assert_eq!(where_(e.clone()), ("stages[0].rules[1].type".into(), "duplicate_key", Some(9)));
    assert!(e.message.ends_with("the first was at line 7)"), "{}", e.message);
}

#[test]
fn duplicate_key_in_a_flow_mapping() {
    let e = yaml("stages:\n  - rules: [{type: user, user: a, type: role}]\n").unwrap_err();
    assert_eq!(where_(e.clone()), ("stages[0].rules[0].type".into(), "duplicate_key", Some(2)));
    // Both on one line: the message says so rather than pointing at itself.
    assert!(e.message.ends_with("the first was at line 2)"), "{}", e.message);
    let e = yaml("skip_if: {\"<=\": [1, 2], \"<=\": [3, 4]}\n").unwrap_err();
    assert_eq!(where_(e), ("skip_if.<=".into(), "duplicate_key", Some(1)));
}

#[test]
fn duplicate_keys_in_json() {
    let e = json_doc("{\"key\": \"a\",\n \"key\": \"b\"}").unwrap_err();
    assert_eq!(where_(e.clone()), ("key".into(), "duplicate_key", Some(2)));
    assert!(e.message.ends_with("the first was at line 1)"), "{}", e.message);
    let e = json_doc("{\"stages\": [{\"name\": \"a\"},\n {\"name\": \"b\", \"rules\": [], \"name\": \"c\"}]}").unwrap_err();
    assert_eq!(where_(e), ("stages[1].name".into(), "duplicate_key", Some(2)));
    // The same key in two different mappings is fine.
    assert!(json_doc("{\"a\": {\"x\": 1}, \"b\": {\"x\": 1}}").is_ok());
}

#[test]
fn non_string_keys_are_refused_with_their_path() {
    let e = yaml("key: k\n1: x\n").unwrap_err();
    assert_eq!(where_(e.clone()), ("1".into(), "key_type", Some(2)));
    assert_eq!(e.message, "mapping keys must be strings; 1 is a number (quote it to use it as a key: \"1\")");
    assert_eq!(where_(yaml("stages:\n  - name: a\n    null: x\n").unwrap_err()), ("stages[0].null".into(), "key_type", Some(3)));
    assert_eq!(where_(yaml("~: x\n").unwrap_err()), ("null".into(), "key_type", Some(1)));
    assert_eq!(where_(yaml("a: {true: 1}\n").unwrap_err()), ("a.true".into(), "key_type", Some(1)));
    assert_eq!(where_(yaml("a: {1.5: 1}\n").unwrap_err()), ("a.1.5".into(), "key_type", Some(1)));
    let e = yaml("a:\n  ? [x, y]\n  : b\n").unwrap_err();
    assert_eq!(where_(e.clone()), ("a".into(), "key_type", Some(2)));
    assert_eq!(e.message, "mapping keys must be strings, not a sequence");
    assert_eq!(where_(yaml("? {x: 1}\n: b\n").unwrap_err()).1, "key_type");
    // Quoted, they are strings.
    assert_eq!(yaml("\"1\": x\n'null': y\n").unwrap(), json!({"1": "x", "null": "y"}));
}

#[test]
fn invalid_yaml_has_a_position() {
    let e = yaml("key: k\nstages:\n  - name: a\n   rules: []\n").unwrap_err();
    assert_eq!(e.code, "syntax");
    assert_eq!(e.line, Some(4));
    assert!(e.column.is_some());
    assert!(e.message.starts_with("not valid YAML: "), "{}", e.message);
    let e = yaml("key: [a, b\n").unwrap_err();
    assert_eq!((e.code, e.line.is_some()), ("syntax", true));
    let e = yaml("a: 1\n---\nb: 2\n").unwrap_err();
    assert_eq!(e.code, "syntax");
    assert!(e.message.contains("more than one document"), "{}", e.message);
}

#[test]
fn invalid_json_has_a_position() {
    let e = json_doc("{\"key\": \"k\",\n \"stages\": [1, 2,]\n}").unwrap_err();
    assert_eq!((e.code, e.line, e.column), ("syntax", Some(2), Some(18)));
    assert_eq!(e.message, "not valid JSON: trailing comma");
    assert_eq!(e.path, "stages[2]");
    let e = json_doc("{\"a\": 1} x").unwrap_err();
    assert_eq!((e.code, e.line), ("syntax", Some(1)));
    assert_eq!(json_doc("\u{feff}{\"a\": 1}").unwrap(), json!({"a": 1}));
}

#[test]
fn documents_over_a_mebibyte_are_refused() {
    let big = format!("a: \"{}\"\n", "x".repeat(MAX_DOCUMENT_BYTES));
    let e = yaml(&big).unwrap_err();
    assert_eq!((e.code, e.path.as_str()), ("too_large", ""));
    assert_eq!(json_doc(&format!("\"{}\"", "x".repeat(MAX_DOCUMENT_BYTES))).unwrap_err().code, "too_large");
    assert!(yaml(&format!("a: {}\n", "x".repeat(MAX_DOCUMENT_BYTES - 10))).is_ok());
}

fn nested_arrays(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

#[test]
fn nesting_is_bounded_for_both_formats() {
    // 127 containers around a scalar: 128 levels, the most there may be.
    for format in [Format::Yaml, Format::Json] {
        assert!(read_document(&nested_arrays(127), format).is_ok(), "{format:?}");
        let e = read_document(&nested_arrays(128), format).unwrap_err();
        assert_eq!(e.code, "too_deep", "{format:?}");
        assert_eq!(e.message, "nested deeper than 128 levels");
        assert_eq!(e.line, Some(1));
        match format {
            // serde_json stops where it is and the path says so; for YAML a
            // streaming pass stops first (yaml_depth.rs), with the position.
            Format::Json => assert!(e.path.starts_with("[0][0][0]"), "{}", e.path),
            Format::Yaml => assert_eq!((e.path.as_str(), e.column), ("", Some(128))),
        }
    }
    // An alias does not nest in the text but does in the value.
    let inner = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let text = format!("a: &x {inner}\nb: {}*x{}\n", "[".repeat(40), "]".repeat(40));
    let e = yaml(&text).unwrap_err();
    assert_eq!(e.code, "too_deep");
    assert!(e.path.starts_with("b[0][0]"), "{}", e.path);
}

#[test]
fn ten_thousand_levels_fail_cleanly() {
    let deep_maps = format!("{}1{}", "{\"a\": ".repeat(10_000), "}".repeat(10_000));
    for (text, format) in [
        (nested_arrays(10_000), Format::Yaml),
        (nested_arrays(10_000), Format::Json),
        (deep_maps.clone(), Format::Yaml),
        (deep_maps, Format::Json),
    ] {
        let e = read_document(&text, format).unwrap_err();
        assert_eq!(e.code, "too_deep", "{format:?}: {e}");
    }
    // A deep block mapping, the way a person would nest YAML.
    let block: String = (0..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
    assert_eq!(yaml(&block).unwrap_err().code, "too_deep");
}

#[test]
fn deep_yaml_fails_in_linear_time() {
    // libyaml alone spends seconds on 40,000 nested flow mappings; the
    // streaming check stops at the limit (measured: under a millisecond).
    let text = format!("{}1{}", "{a: ".repeat(200_000), "}".repeat(200_000));
    let started = Instant::now();
    assert_eq!(yaml(&text).unwrap_err().code, "too_deep");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[test]
fn alias_bombs_fail_fast() {
    let bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
";
    let started = Instant::now();
    let e = yaml(bomb).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(e.code, "alias_limit");
    assert!(e.message.contains("alias bomb"), "{}", e.message);
    // A few honest aliases are fine.
    let v = yaml("base: &r [{type: role, role: fd}]\nagain: *r\n").unwrap();
    assert_eq!(v["again"], v["base"]);
}

#[test]
fn json_numbers_keep_their_exact_text() {
    let v = json_doc("{\"big\": 98765432109876543210, \"dec\": 1234567890123456.78, \"huge\": 1e400, \"neg\": -0.0, \"exp\": 1.50E3, \"small\": 5e-324}").unwrap();
    // Digits are kept as written; serde_json spells the exponent its own way
    // (`e`, with a sign), which changes the text but never the value.
    assert_eq!(
        v.to_string(),
        "{\"big\":98765432109876543210,\"dec\":1234567890123456.78,\"exp\":1.50e+3,\"huge\":1e+400,\"neg\":-0.0,\"small\":5e-324}"
    );
    assert_eq!(v["big"].as_number().unwrap().as_str(), "98765432109876543210");
}

#[test]
fn yaml_numbers_as_serde_yaml_reads_them() {
    let v = yaml("big: 98765432109876543210\nneg: -98765432109876543210\ndec: 1234567890123456.78\nhuge: 1e400\nint: 12500\nf: 0.1\nhex: 0x1F\noct: 0o17\nzero_lead: 012\n").unwrap();
    assert_eq!(v["big"].to_string(), "98765432109876543210", "integers are exact up to 128 bits");
    assert_eq!(v["neg"].to_string(), "-98765432109876543210");
    assert_eq!(v["dec"].to_string(), "1234567890123456.8", "floats go through f64");
    assert_eq!(v["huge"], json!("1e400"), "beyond f64, serde_yaml reads a string");
    assert_eq!(v["int"].to_string(), "12500");
    assert_eq!(v["f"].to_string(), "0.1");
    assert_eq!((v["hex"].to_string(), v["oct"].to_string()), ("31".to_string(), "15".to_string()));
    assert_eq!(v["zero_lead"], json!("012"), "YAML 1.2: a leading zero makes a string");
    let e = yaml("a: .inf\n").unwrap_err();
    assert_eq!((e.path.as_str(), e.code), ("a", "number"));
    assert_eq!(yaml("a: .nan\n").unwrap_err().code, "number");
}

#[test]
fn yaml_1_1_booleans_are_strings() {
    let v = yaml("a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\ng: Yes\nh: true\ni: False\nj: TRUE\n").unwrap();
    assert_eq!(
        v,
        json!({"a": "yes", "b": "no", "c": "on", "d": "off", "e": "y", "f": "n", "g": "Yes", "h": true, "i": false, "j": true})
    );
}

#[test]
fn tags_and_other_yaml_features() {
    let e = yaml("a: !secret x\n").unwrap_err();
    assert_eq!((e.path.as_str(), e.code, e.line), ("a", "tag", Some(1)));
    assert_eq!(e.message, "the YAML tag !secret is not allowed; write plain values");
    assert_eq!(yaml("a: !!str 123\n").unwrap(), json!({"a": "123"}));
    assert_eq!(yaml("base: {x: 1}\nb:\n  <<: {y: 2}\n").unwrap()["b"], json!({"<<": {"y": 2}}), "no merge keys");
    assert_eq!(yaml("").unwrap(), Value::Null);
    assert_eq!(yaml("# only a comment\n").unwrap(), Value::Null);
    assert_eq!(yaml("d: |\n  two\n  lines\n").unwrap(), json!({"d": "two\nlines\n"}));
}

#[test]
fn formats_from_file_names() {
    assert_eq!(Format::from_path(Path::new("a/b.YML")), Some(Format::Yaml));
    assert_eq!(Format::from_path(Path::new("b.yaml")), Some(Format::Yaml));
    assert_eq!(Format::from_path(Path::new("b.json")), Some(Format::Json));
    assert_eq!(Format::from_path(Path::new("b.txt")), None);
    assert_eq!(Format::from_path(Path::new("Makefile")), None);
}

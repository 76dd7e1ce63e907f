//! Tests of canonical formatting: the example's canonical text (pinned),
//! field order, quoting, and the round trip `read(format(v)) == v` for the
//! examples and for generated policies full of awkward strings and numbers.

use super::*;
use crate::document::read_document;
use serde_json::json;

fn yaml_round_trip(v: &Value) -> String {
    let text = format_yaml(v).unwrap_or_else(|e| panic!("format_yaml failed: {e}\n{v:#}"));
    let back = read_document(&text, Format::Yaml).unwrap_or_else(|e| panic!("{e}\n--- text ---\n{text}"));
    assert_eq!(&back, v, "YAML round trip changed the value\n--- text ---\n{text}");
    assert_eq!(format_yaml(&back).unwrap(), text, "formatting is not idempotent");
    text
}

fn json_round_trip(v: &Value) -> String {
    let text = format_json(v);
    let back = read_document(&text, Format::Json).unwrap_or_else(|e| panic!("{e}\n--- text ---\n{text}"));
    assert_eq!(&back, v, "JSON round trip changed the value\n--- text ---\n{text}");
    text
}

const EXAMPLE_CANONICAL: &str = "key: expense.report
artifact_type: expense_report
title: Expense reports
context_schema:
  properties:
    amount: {minimum: 0, type: number}
    currency: {type: string}
    manager: {type: string}
    purpose: {type: string}
    submitter: {type: string}
  required: [amount, submitter, manager]
summary: \"{{ submitter }} asks {{ amount }} {{ currency }} for {{ purpose }}\"
summarizer:
  endpoint: local-llm
  model: llama3.2
  fields: [amount, currency, purpose]
  instructions: Say whether the purpose sounds like travel, equipment or an event.
forbid_self_approval: true
forbid_repeat_approvers: true
max_revisions: 3
expires_after: 30d
exclude:
  - {type: expression, logic: {var: submitter}}
stages:
  - name: Manager
    mode: all
    rules:
      - {type: expression, logic: {var: manager}}
    skip_if: {\"<=\": [{var: amount}, 1000]}
    on_empty: block
    sla: 8h
    on_breach:
      action: escalate
      rules:
        - {type: role, role: finance-director}
  - name: Dual control
    mode: any
    n: 2
    rules:
      - {type: group, group: /finance/approvers}
    skip_if: {\"<=\": [{var: amount}, 10000]}
    sla: 8h
    on_breach:
      action: escalate
      rules:
        - {type: role, role: finance-director}
";

const EXAMPLE_SCHEMA_SORTED: &str = "  properties:
    amount: {minimum: 0, type: number}
    currency: {type: string}
    manager: {type: string}
    purpose: {type: string}
    submitter: {type: string}
  required: [amount, submitter, manager]
";

const EXAMPLE_SCHEMA_AS_WRITTEN: &str = "  required: [amount, submitter, manager]
  properties:
    amount: {type: number, minimum: 0}
    submitter: {type: string}
    manager: {type: string}
    currency: {type: string}
    purpose: {type: string}
";

#[test]
fn the_example_in_canonical_form() {
    let v = read_document(include_str!("../../../examples/expense-report.yaml"), Format::Yaml).unwrap();
    let text = yaml_round_trip(&v);
    // Without serde_json's preserve_order (awe-core alone) the schema's keys
    // come alphabetically; with it (built with the CLI) in document order.
    let document_order = v["context_schema"].as_object().unwrap().keys().next().is_some_and(|k| k == "required");
    if document_order {
        assert_eq!(text, EXAMPLE_CANONICAL.replace(EXAMPLE_SCHEMA_SORTED, EXAMPLE_SCHEMA_AS_WRITTEN));
    } else {
        assert_eq!(text, EXAMPLE_CANONICAL);
    }
    json_round_trip(&v);
}

#[test]
fn every_example_round_trips() {
    for text in [include_str!("../../../examples/expense-report.yaml"), include_str!("../../../examples/expense-report-broken.yaml")] {
        let v = read_document(text, Format::Yaml).unwrap();
        yaml_round_trip(&v);
        json_round_trip(&v);
    }
}

#[test]
fn fields_come_in_canonical_order_and_unknown_ones_last() {
    let v = json!({"stages": [{"rules": [{"required": true, "user": "cfo", "type": "user"}], "zzz": 1, "name": "s", "mode": "any"}],
                   "artifact_type": "d", "x-owner": "team", "key": "k"});
    let text = yaml_round_trip(&v);
    assert_eq!(text, "key: k\nartifact_type: d\nstages:\n  - name: s\n    mode: any\n    rules:\n      - {type: user, user: cfo, required: true}\n    zzz: 1\nx-owner: team\n");
    let json_text = json_round_trip(&v);
    assert!(json_text.starts_with("{\n  \"key\": \"k\",\n  \"artifact_type\": \"d\",\n  \"stages\": [\n    {\n      \"name\": \"s\","), "{json_text}");
    assert_eq!(serde_json::from_str::<Value>(&json_text).unwrap(), v);
}

#[test]
fn strings_are_quoted_only_when_needed() {
    let cases = [
        ("mia", "mia"),
        ("Dual control", "Dual control"),
        ("/finance/approvers", "/finance/approvers"),
        ("30d", "30d"),
        ("https://hooks.example/a", "https://hooks.example/a"),
        ("yes", "\"yes\""),
        ("off", "\"off\""),
        ("null", "\"null\""),
        ("~", "\"~\""),
        ("", "\"\""),
        ("1000", "\"1000\""),
        ("1e3", "\"1e3\""),
        ("0x1F", "\"0x1F\""),
        ("1_000", "\"1_000\""),
        ("12:30", "\"12:30\""),
        ("2024-01-31", "\"2024-01-31\""),
        (".inf", "\".inf\""),
        ("a: b", "\"a: b\""),
        ("a #b", "\"a #b\""),
        ("-x", "\"-x\""),
        ("*x", "\"*x\""),
        ("!x", "\"!x\""),
        (" lead", "\" lead\""),
        ("trail ", "\"trail \""),
        ("say \"hi\"", "say \"hi\""),
        ("tab\there", "\"tab\\there\""),
        ("n", "\"n\""),
        ("été", "été"),
    ];
    for (s, want) in cases {
        let text = yaml_round_trip(&json!({"title": s}));
        assert_eq!(text, format!("title: {want}\n"), "for {s:?}");
    }
    // In flow style `,` and `:` end a plain scalar, so they are quoted there.
    let text = yaml_round_trip(&json!({"exclude": [{"type": "http", "url": "https://x.example/a"}]}));
    assert_eq!(text, "exclude:\n  - {type: http, url: \"https://x.example/a\"}\n");
}

#[test]
fn multi_line_strings_use_literal_blocks_when_exact() {
    let text = yaml_round_trip(&json!({"description": "First line.\n\n  Indented second.\n"}));
    assert_eq!(text, "description: |\n  First line.\n\n    Indented second.\n");
    let text = yaml_round_trip(&json!({"description": "no final newline\nsecond"}));
    assert_eq!(text, "description: |-\n  no final newline\n  second\n");
    for awkward in [" leading space\nx", "trailing space \nx", "two newlines\nx\n\n", "\nstarts with newline", "cr\r\nlf"] {
        let text = yaml_round_trip(&json!({"description": awkward}));
        assert!(text.starts_with("description: \""), "{awkward:?} → {text}");
    }
}

#[test]
fn long_values_fall_back_to_block_style() {
    let long: Vec<String> = (0..30).map(|i| format!("principal-{i}")).collect();
    let v = json!({"stages": [{"name": "s", "skip_if": {"in": [{"var": "who"}, long]}, "rules": [{"type": "user", "user": "a"}]}]});
    let text = yaml_round_trip(&v);
    // Too long for one line: block style, down to the list that does not fit.
    assert!(text.contains("    skip_if:\n      in:\n        - {var: who}\n        -\n          - principal-0\n          - principal-1\n"), "{text}");
}

#[test]
fn numbers_yaml_cannot_carry_are_refused_and_json_keeps_them() {
    let v = read_document("{\"context_schema\": {\"properties\": {\"a\": {\"maximum\": 1e400}}}}", Format::Json).unwrap();
    let e = format_yaml(&v).unwrap_err();
    assert_eq!(e.path, "context_schema.properties.a.maximum");
    assert!(e.message.contains("keep this policy in JSON"), "{}", e.message);
    assert!(format_json(&v).contains("1e+400"));
    let v = read_document("{\"a\": 1234567890123456.78}", Format::Json).unwrap();
    assert!(format_yaml(&v).is_err());
    assert_eq!(format_json(&v), "{\n  \"a\": 1234567890123456.78\n}\n");
    // Spelled differently, same value: fine (YAML reads 1.50 as 1.5).
    let v = read_document("{\"a\": 1.50, \"b\": 98765432109876543210, \"c\": -98765432109876543210}", Format::Json).unwrap();
    assert_eq!(format_yaml(&v).unwrap(), "a: 1.50\nb: 98765432109876543210\nc: -98765432109876543210\n");
}

#[test]
fn flow_yaml_is_one_line() {
    assert_eq!(flow_yaml_rule(&json!({"type": "user", "user": "mia", "required": true})), "{type: user, user: mia, required: true}");
    assert_eq!(flow_yaml(&json!(["a", 1, null, {"<=": [1, 2]}])), "[a, 1, null, {\"<=\": [1, 2]}]");
    assert_eq!(flow_yaml(&json!("x, y")), "\"x, y\"");
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const AWKWARD: &[&str] = &[
    "mia", "fin.ana", "Dual control", "yes", "No", "on", "OFF", "y", "null", "~", "", " ", " lead", "trail ", "a: b", "a:b", "a #b",
    "#x", "-x", "- x", "-", "?x", "? x", "!x", "&x", "*x", "|x", ">x", "'q'", "\"dq\"", "%x", "@x", "`x", "123", "-7", "1e5", "1.5",
    ".5", "0x1F", "0o7", "0b1", ".inf", "-.inf", ".NaN", "nan", "inf", "1_000", "12:30", "2001-12-14", "multi\nline\n",
    "multi\nline", "\ttab", "tab\t", "été", "emoji 😀", "a,b", "[x]", "{y}", "x]", "<<", "<=", "==", "=", "x\u{2028}y", "ctrl\u{1}",
    "back\\slash", "/finance/approvers", "https://x.example/a?b=c#frag", "ends:", "two\n\nblank\n", " lead\nml", "line \nx", "\n",
    "\n\n", "a\r\nb", "---", "...", "--- x", "key: [1]", "{a: 1}", "\u{feff}bom", "x\u{85}y", "quote's", "pct%", "$var",
];

fn scalar(g: &mut Gen) -> Value {
    match g.below(8) {
        0 => json!(g.below(100_000)),
        1 => json!(-(g.below(1000) as i64)),
        2 => json!([0.1, 1.5, 1e-7, 2.5e30, -0.0][g.below(5)]),
        3 => json!([u64::MAX.to_string(), i64::MIN.to_string()][g.below(2)].parse::<Number>().unwrap()),
        4 => json!(g.chance(50)),
        5 => Value::Null,
        _ => json!(g.pick(AWKWARD)),
    }
}

fn logic(g: &mut Gen, depth: usize) -> Value {
    if depth == 0 || g.chance(30) {
        return if g.chance(50) { json!({"var": g.pick(AWKWARD)}) } else { scalar(g) };
    }
    let op = g.pick(&["<=", "==", "and", "or", "in", "!", "if", "var", "x-op: y"]);
    let args: Vec<Value> = (0..g.below(4)).map(|_| logic(g, depth - 1)).collect();
    json!({ op: args })
}

fn rule(g: &mut Gen) -> Value {
    let mut r = match g.below(5) {
        0 => json!({"type": "user", "user": g.pick(AWKWARD)}),
        1 => json!({"type": "role", "role": g.pick(AWKWARD)}),
        2 => json!({"type": "group", "group": g.pick(AWKWARD), "include_subgroups": g.chance(50)}),
        3 => json!({"type": "expression", "logic": logic(g, 3)}),
        _ => json!({"type": "http", "url": g.pick(AWKWARD)}),
    };
    if g.chance(30) {
        r["required"] = json!(g.chance(50));
    }
    if g.chance(20) {
        r["kind"] = json!(g.pick(&["approver", "observer"]));
    }
    if g.chance(10) {
        r[g.pick(AWKWARD)] = scalar(g);
    }
    r
}

fn policy(g: &mut Gen) -> Value {
    let mut p = json!({"key": g.pick(AWKWARD), "artifact_type": g.pick(AWKWARD)});
    for field in ["title", "description", "expires_after"] {
        if g.chance(50) {
            p[field] = json!(g.pick(AWKWARD));
        }
    }
    if g.chance(50) {
        p["context_schema"] = json!({"required": [g.pick(AWKWARD)], "properties": {g.pick(AWKWARD): {"type": "number", "maximum": scalar(g)}}});
    }
    if g.chance(50) {
        p["forbid_self_approval"] = json!(g.chance(50));
    }
    if g.chance(50) {
        p["exclude"] = Value::Array((0..g.below(3)).map(|_| rule(g)).collect());
    }
    if g.chance(20) {
        p[g.pick(AWKWARD)] = logic(g, 2);
    }
    let stages: Vec<Value> = (0..1 + g.below(4))
        .map(|_| {
            let mut s = json!({"name": g.pick(AWKWARD), "rules": (0..g.below(5)).map(|_| rule(g)).collect::<Vec<_>>()});
            if g.chance(50) {
                s["mode"] = json!(g.pick(&["all", "any", "any-2", "quorum", "percentage"]));
            }
            if g.chance(30) {
                s["n"] = scalar(g);
            }
            if g.chance(50) {
                s["skip_if"] = logic(g, 4);
            }
            if g.chance(30) {
                s["on_breach"] = if g.chance(50) {
                    json!({"action": "escalate", "rules": [rule(g)]})
                } else {
                    json!({"action": "remind", "every": g.pick(AWKWARD), "max": 2})
                };
            }
            if g.chance(20) {
                s["exclude"] = json!([rule(g)]);
            }
            if g.chance(10) {
                s[g.pick(AWKWARD)] = scalar(g);
            }
            s
        })
        .collect();
    p["stages"] = Value::Array(stages);
    p
}

#[test]
fn generated_policies_round_trip() {
    let mut g = Gen(0x2545_F491_4F6C_DD1D);
    for _ in 0..500 {
        let p = policy(&mut g);
        yaml_round_trip(&p);
        json_round_trip(&p);
    }
}

#[test]
fn every_awkward_string_round_trips_everywhere() {
    for s in AWKWARD {
        let v = json!({"title": s, "exclude": [{"type": "user", "user": s}], s.to_string(): [s, {s.to_string(): s}]});
        yaml_round_trip(&v);
        json_round_trip(&v);
        yaml_round_trip(&json!(s));
        yaml_round_trip(&json!([s]));
    }
}

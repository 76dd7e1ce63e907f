//! `context_schema`: a small, strict subset of JSON Schema for request contexts.
//!
//! `check_schema` rejects every keyword outside the subset (`$ref`, `oneOf`,
//! `format`, `pattern`, ...) so a policy author never believes a constraint is
//! enforced when it would silently be ignored. `validate` then reports every
//! violation with its path, in a deterministic order.

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::fmt;

/// Deepest schema nesting accepted; bounds recursion in both entry points.
pub const MAX_DEPTH: usize = 32;

const TYPES: [&str; 7] = ["object", "array", "string", "number", "integer", "boolean", "null"];
const ANNOTATIONS: [&str; 6] = ["title", "description", "default", "examples", "$schema", "$comment"];
/// Numeric bounds: keyword, operator shown to people, and the test the value must pass.
type Bound = (&'static str, &'static str, fn(Ordering) -> bool);
const BOUNDS: [Bound; 4] = [
    ("minimum", ">=", Ordering::is_ge),
    ("maximum", "<=", Ordering::is_le),
    ("exclusiveMinimum", ">", Ordering::is_gt),
    ("exclusiveMaximum", "<", Ordering::is_lt),
];

/// One problem: where (dot/index path, empty for the root) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    pub path: String,
    pub message: String,
}

impl SchemaProblem {
    fn new(path: &str, message: impl Into<String>) -> Self {
        SchemaProblem { path: path.to_string(), message: message.into() }
    }
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Checks that `schema` stays inside the supported subset; returns every problem,
/// with paths relative to the schema root (`properties.amount.type`, `required[1]`).
pub fn check_schema(schema: &Value) -> Vec<SchemaProblem> {
    let mut out = Vec::new();
    if schema.is_object() {
        check_node(schema, "", 1, &mut out);
    } else {
        out.push(SchemaProblem::new("", format!("must be an object, got {}", kind(schema))));
    }
    out
}

/// Validates `value` against a schema that passed [`check_schema`]; returns every
/// violation, with paths inside the value (`amount`, `lines[2].price`, `` for the root).
pub fn validate(schema: &Value, value: &Value) -> Vec<SchemaProblem> {
    let mut out = Vec::new();
    validate_node(schema, value, "", 1, &mut out);
    out
}

fn check_node(schema: &Value, path: &str, depth: usize, out: &mut Vec<SchemaProblem>) {
    if depth > MAX_DEPTH {
        out.push(SchemaProblem::new(path, format!("schema nested deeper than {MAX_DEPTH} levels")));
        return;
    }
    let map = match schema {
        Value::Bool(_) => return,
        Value::Object(map) => map,
        other => {
            out.push(SchemaProblem::new(path, expected("a schema (an object or a boolean)", other)));
            return;
        }
    };
    for (key, v) in map {
        let at = key_path(path, key);
        match key.as_str() {
            "type" => match v {
                Value::String(name) => check_type_name(name, &at, out),
                Value::Array(names) if !names.is_empty() => {
                    for (i, name) in names.iter().enumerate() {
                        match name.as_str() {
                            Some(name) => check_type_name(name, &index_path(&at, i), out),
                            None => out.push(SchemaProblem::new(&index_path(&at, i), expected("a type name", name))),
                        }
                    }
                }
                _ => out.push(SchemaProblem::new(&at, expected("a type name or a non-empty array of them", v))),
            },
            "required" => match v {
                Value::Array(names) => {
                    for (i, name) in names.iter().enumerate().filter(|(_, n)| !n.is_string()) {
                        out.push(SchemaProblem::new(&index_path(&at, i), expected("a string", name)));
                    }
                }
                _ => out.push(SchemaProblem::new(&at, expected("an array of strings", v))),
            },
            "properties" => match v {
                Value::Object(props) => {
                    for (name, sub) in props {
                        check_node(sub, &key_path(&at, name), depth + 1, out);
                    }
                }
                _ => out.push(SchemaProblem::new(&at, expected("an object of schemas", v))),
            },
            // check_node itself accepts a boolean or object schema and reports anything else
            // (including the unsupported tuple form of `items`).
            "additionalProperties" | "items" => check_node(v, &at, depth + 1, out),
            // An empty enum rejects everything, which is always a mistake in a policy.
            "enum" if v.as_array().is_none_or(Vec::is_empty) => {
                out.push(SchemaProblem::new(&at, expected("a non-empty array", v)))
            }
            "enum" | "const" => {}
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" if !v.is_number() => {
                out.push(SchemaProblem::new(&at, expected("a number", v)))
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {}
            "minLength" | "maxLength" | "minItems" | "maxItems" if count(v).is_none() => {
                out.push(SchemaProblem::new(&at, expected("a non-negative integer", v)))
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" => {}
            k if ANNOTATIONS.contains(&k) => {}
            k => out.push(SchemaProblem::new(&at, format!("unsupported keyword {k:?}"))),
        }
    }
}

fn check_type_name(name: &str, path: &str, out: &mut Vec<SchemaProblem>) {
    if !TYPES.contains(&name) {
        out.push(SchemaProblem::new(path, format!("unknown type {name:?}; expected one of {}", TYPES.join(", "))));
    }
}

fn validate_node(schema: &Value, value: &Value, path: &str, depth: usize, out: &mut Vec<SchemaProblem>) {
    let map = match schema {
        Value::Bool(true) => return,
        Value::Object(map) => map,
        // `false`, or a malformed schema that skipped check_schema: reject rather than accept.
        _ => return out.push(SchemaProblem::new(path, "is not allowed")),
    };
    // Only reachable with an unchecked schema; keeps recursion bounded regardless.
    if depth > MAX_DEPTH {
        return out.push(SchemaProblem::new(path, format!("schema nested deeper than {MAX_DEPTH} levels")));
    }
    if let Some(types) = map.get("type") {
        let names: Vec<&str> = match types {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|name| has_type(value, name)) {
            // The remaining keywords would only restate the same mistake at this path.
            return out.push(SchemaProblem::new(
                path,
                format!("must be {}, got {}", describe_types(&names), got(value, &names)),
            ));
        }
    }
    if let Some(options) = map.get("enum").and_then(Value::as_array) {
        if !options.iter().any(|o| json_eq(o, value)) {
            let mut listed: Vec<String> = options.iter().take(10).map(show).collect();
            if options.len() > 10 {
                listed.push("...".into());
            }
            out.push(SchemaProblem::new(path, format!("must be one of {}, got {}", listed.join(", "), show(value))));
        }
    }
    if let Some(c) = map.get("const") {
        if !json_eq(c, value) {
            out.push(SchemaProblem::new(path, format!("must equal {}, got {}", show(c), show(value))));
        }
    }
    match value {
        Value::Number(n) => {
            for (keyword, op, ok) in BOUNDS {
                if let Some(Value::Number(limit)) = map.get(keyword) {
                    if cmp_num(n, limit).is_some_and(|o| !ok(o)) {
                        out.push(SchemaProblem::new(path, format!("must be {op} {limit}, got {n}")));
                    }
                }
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = map.get("minLength").and_then(count).filter(|&min| len < min) {
                out.push(SchemaProblem::new(
                    path,
                    format!("must be at least {} long, got {len}", plural(min, "character")),
                ));
            }
            if let Some(max) = map.get("maxLength").and_then(count).filter(|&max| len > max) {
                out.push(SchemaProblem::new(
                    path,
                    format!("must be at most {} long, got {len}", plural(max, "character")),
                ));
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = map.get("minItems").and_then(count).filter(|&min| len < min) {
                out.push(SchemaProblem::new(path, format!("must have at least {}, got {len}", plural(min, "item"))));
            }
            if let Some(max) = map.get("maxItems").and_then(count).filter(|&max| len > max) {
                out.push(SchemaProblem::new(path, format!("must have at most {}, got {len}", plural(max, "item"))));
            }
            if let Some(item_schema) = map.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_node(item_schema, item, &index_path(path, i), depth + 1, out);
                }
            }
        }
        Value::Object(obj) => validate_object(map, obj, path, depth, out),
        Value::Null | Value::Bool(_) => {}
    }
}

fn validate_object(
    map: &Map<String, Value>,
    obj: &Map<String, Value>,
    path: &str,
    depth: usize,
    out: &mut Vec<SchemaProblem>,
) {
    for name in map.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !obj.contains_key(name) {
            out.push(SchemaProblem::new(&key_path(path, name), "is required"));
        }
    }
    let props = map.get("properties").and_then(Value::as_object);
    for (name, sub) in props.into_iter().flatten() {
        if let Some(v) = obj.get(name) {
            validate_node(sub, v, &key_path(path, name), depth + 1, out);
        }
    }
    let Some(extra) = map.get("additionalProperties") else { return };
    for (name, v) in obj.iter().filter(|(name, _)| !props.is_some_and(|p| p.contains_key(*name))) {
        match extra {
            Value::Bool(false) => out.push(SchemaProblem::new(&key_path(path, name), "is not an allowed property")),
            _ => validate_node(extra, v, &key_path(path, name), depth + 1, out),
        }
    }
}

fn has_type(v: &Value, name: &str) -> bool {
    match (name, v) {
        ("integer", Value::Number(n)) => is_integer(n),
        _ => kind(v) == name,
    }
}

/// Any number with no fractional part, so `1.0` is an integer and `1.5` is not.
fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// A non-negative integer keyword value (`2.0` accepted, like `integer`).
fn count(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    n.as_u64()
        .or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f <= u64::MAX as f64).map(|f| f as u64))
}

/// Compares exactly when both sides are integers (no f64 rounding of large ids).
fn cmp_num(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// JSON equality where `1` equals `1.0`; iterative so deep values cannot overflow the stack.
fn json_eq(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some(pair) = stack.pop() {
        match pair {
            (Value::Number(x), Value::Number(y)) if cmp_num(x, y) != Some(Ordering::Equal) => return false,
            (Value::Number(_), Value::Number(_)) => {}
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                stack.extend(x.iter().zip(y));
            }
            (Value::Object(x), Value::Object(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                for (k, xv) in x {
                    match y.get(k) {
                        Some(yv) => stack.push((xv, yv)),
                        None => return false,
                    }
                }
            }
            (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => return false,
            (x, y) if x != y => return false,
            _ => {}
        }
    }
    true
}

/// The JSON type name of a value, as JSON Schema spells it.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What the value is, for "got ...": a fractional number is shown when an integer was wanted.
fn got(v: &Value, wanted: &[&str]) -> String {
    match v {
        Value::Number(n) if wanted.contains(&"integer") && !is_integer(n) => n.to_string(),
        _ => kind(v).to_string(),
    }
}

fn describe_types<'a>(names: &[&'a str]) -> String {
    let described: Vec<&'a str> = names
        .iter()
        .map(|&name| match name {
            "object" => "an object",
            "array" => "an array",
            "integer" => "an integer",
            "string" => "a string",
            "number" => "a number",
            "boolean" => "a boolean",
            other => other, // "null", or an unknown name in an unchecked schema
        })
        .collect();
    match described.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => described.join(""),
    }
}

/// A short rendering for messages: scalars as JSON (long strings cut), containers by kind.
fn show(v: &Value) -> String {
    match v {
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        Value::String(s) if s.chars().count() > 40 => {
            Value::String(format!("{}...", s.chars().take(40).collect::<String>())).to_string()
        }
        _ => v.to_string(),
    }
}

fn expected(what: &str, got: &Value) -> String {
    format!("must be {what}, got {}", kind(got))
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn key_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index_path(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(problems: &[SchemaProblem]) -> Vec<(&str, &str)> {
        problems.iter().map(|p| (p.path.as_str(), p.message.as_str())).collect()
    }

    fn ok(schema: Value, value: Value) {
        assert!(check_schema(&schema).is_empty(), "schema should be valid: {schema}");
        let problems = validate(&schema, &value);
        assert!(problems.is_empty(), "{value} should pass {schema}: {problems:?}");
    }

    /// Validates and returns `path: message` lines.
    fn fails(schema: Value, value: Value) -> Vec<String> {
        assert!(check_schema(&schema).is_empty(), "schema should be valid: {schema}");
        let problems = validate(&schema, &value);
        assert!(!problems.is_empty(), "{value} should fail {schema}");
        problems.iter().map(ToString::to_string).collect()
    }

    fn nested(depth: usize) -> Value {
        let mut schema = json!({ "type": "string" });
        for _ in 1..depth {
            schema = json!({ "type": "object", "properties": { "a": schema } });
        }
        schema
    }

    // ---- check_schema ----

    #[test]
    fn accepts_every_supported_keyword() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema", "$comment": "c",
            "title": "t", "description": "d", "default": {}, "examples": [{}],
            "type": "object",
            "required": ["amount"],
            "additionalProperties": false,
            "properties": {
                "amount": { "type": ["number", "null"], "minimum": 0, "maximum": 1e6, "exclusiveMinimum": -1, "exclusiveMaximum": 1e7 },
                "name": { "type": "string", "minLength": 1, "maxLength": 2.0 },
                "kind": { "enum": ["a", 1, null] },
                "fixed": { "const": { "x": [1] } },
                "lines": { "type": "array", "minItems": 0, "maxItems": 5, "items": { "additionalProperties": { "type": "integer" } } },
                "any": true,
                "none": false
            }
        });
        assert_eq!(check_schema(&schema), vec![]);
    }

    #[test]
    fn root_must_be_an_object() {
        for root in [json!(true), json!(false), json!([]), json!("object"), json!(null)] {
            let problems = check_schema(&root);
            assert_eq!(problems.len(), 1, "{root}");
            assert_eq!(problems[0].path, "");
            assert!(problems[0].message.starts_with("must be an object, got "), "{}", problems[0].message);
        }
        assert_eq!(check_schema(&json!({})), vec![]);
    }

    #[test]
    fn unsupported_keywords_are_errors() {
        let schema = json!({
            "oneOf": [], "$ref": "#/x",
            "properties": { "email": { "type": "string", "format": "email", "pattern": "^a" } },
            "items": { "anyOf": [] }
        });
        assert_eq!(
            pairs(&check_schema(&schema)),
            vec![
                ("$ref", r#"unsupported keyword "$ref""#),
                ("items.anyOf", r#"unsupported keyword "anyOf""#),
                ("oneOf", r#"unsupported keyword "oneOf""#),
                ("properties.email.format", r#"unsupported keyword "format""#),
                ("properties.email.pattern", r#"unsupported keyword "pattern""#),
            ]
        );
    }

    #[test]
    fn bad_keyword_types_are_errors() {
        let schema = json!({
            "type": "obj",
            "required": "amount",
            "properties": {
                "a": { "type": ["string", 3, "float"] },
                "b": { "type": [] },
                "c": { "type": 7 },
                "d": { "required": ["x", 2] },
                "e": { "minimum": "0", "maximum": null, "exclusiveMinimum": true, "exclusiveMaximum": [1] },
                "f": { "minLength": -1, "maxLength": 1.5, "minItems": "2", "maxItems": 3 },
                "g": "string",
                "h": { "items": [{ "type": "string" }], "additionalProperties": "no" },
                "i": { "enum": "a" },
                "j": { "enum": [] }
            }
        });
        assert_eq!(
            pairs(&check_schema(&schema)),
            vec![
                ("properties.a.type[1]", "must be a type name, got number"),
                (
                    "properties.a.type[2]",
                    r#"unknown type "float"; expected one of object, array, string, number, integer, boolean, null"#
                ),
                ("properties.b.type", "must be a type name or a non-empty array of them, got array"),
                ("properties.c.type", "must be a type name or a non-empty array of them, got number"),
                ("properties.d.required[1]", "must be a string, got number"),
                ("properties.e.exclusiveMaximum", "must be a number, got array"),
                ("properties.e.exclusiveMinimum", "must be a number, got boolean"),
                ("properties.e.maximum", "must be a number, got null"),
                ("properties.e.minimum", "must be a number, got string"),
                ("properties.f.maxLength", "must be a non-negative integer, got number"),
                ("properties.f.minItems", "must be a non-negative integer, got string"),
                ("properties.f.minLength", "must be a non-negative integer, got number"),
                ("properties.g", "must be a schema (an object or a boolean), got string"),
                ("properties.h.additionalProperties", "must be a schema (an object or a boolean), got string"),
                ("properties.h.items", "must be a schema (an object or a boolean), got array"),
                ("properties.i.enum", "must be a non-empty array, got string"),
                ("properties.j.enum", "must be a non-empty array, got array"),
                ("required", "must be an array of strings, got string"),
                (
                    "type",
                    r#"unknown type "obj"; expected one of object, array, string, number, integer, boolean, null"#
                ),
            ]
        );
        assert_eq!(
            pairs(&check_schema(&json!({ "properties": [] }))),
            vec![("properties", "must be an object of schemas, got array")]
        );
    }

    #[test]
    fn depth_limit() {
        assert_eq!(check_schema(&nested(MAX_DEPTH)), vec![]);
        let problems = check_schema(&nested(MAX_DEPTH + 1));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].message, "schema nested deeper than 32 levels");
        assert_eq!(problems[0].path, vec!["properties.a"; MAX_DEPTH].join("."));
        // items and additionalProperties count as levels too, and a huge schema stops at the limit.
        let mut schema = json!({});
        for i in 0..200 {
            schema = if i % 2 == 0 { json!({ "items": schema }) } else { json!({ "additionalProperties": schema }) };
        }
        assert_eq!(pairs(&check_schema(&schema)).len(), 1);
    }

    // ---- validate: types ----

    #[test]
    fn type_keyword() {
        ok(json!({ "type": "object" }), json!({}));
        ok(json!({ "type": "array" }), json!([1]));
        ok(json!({ "type": "string" }), json!(""));
        ok(json!({ "type": "number" }), json!(1.5));
        ok(json!({ "type": "number" }), json!(-3));
        ok(json!({ "type": "boolean" }), json!(false));
        ok(json!({ "type": "null" }), json!(null));
        ok(json!({ "type": ["string", "null"] }), json!(null));
        assert_eq!(fails(json!({ "type": "object" }), json!([])), ["must be an object, got array"]);
        assert_eq!(fails(json!({ "type": "number" }), json!("5")), ["must be a number, got string"]);
        assert_eq!(fails(json!({ "type": "boolean" }), json!(0)), ["must be a boolean, got number"]);
        assert_eq!(fails(json!({ "type": "null" }), json!({})), ["must be null, got object"]);
        assert_eq!(
            fails(json!({ "type": ["string", "integer", "null"] }), json!(2.5)),
            ["must be a string, an integer or null, got 2.5"]
        );
    }

    #[test]
    fn integer_versus_number() {
        for v in [json!(1), json!(-7), json!(1.0), json!(-0.0), json!(1e3), json!(u64::MAX)] {
            ok(json!({ "type": "integer" }), v);
        }
        assert_eq!(fails(json!({ "type": "integer" }), json!(1.5)), ["must be an integer, got 1.5"]);
        assert_eq!(fails(json!({ "type": "integer" }), json!("1")), ["must be an integer, got string"]);
        ok(json!({ "type": "number" }), json!(1));
    }

    #[test]
    fn type_mismatch_suppresses_other_checks_at_that_path() {
        let schema = json!({ "type": "string", "enum": ["a"], "minLength": 3 });
        assert_eq!(fails(schema, json!(5)), ["must be a string, got number"]);
    }

    // ---- validate: values ----

    #[test]
    fn enum_keyword() {
        let schema = json!({ "enum": ["low", "high", 3, null, [1, 2], { "a": 1 }] });
        for v in [json!("low"), json!(3), json!(3.0), json!(null), json!([1, 2]), json!({ "a": 1.0 })] {
            ok(schema.clone(), v);
        }
        assert_eq!(
            fails(schema.clone(), json!("mid")),
            [r#"must be one of "low", "high", 3, null, an array, an object, got "mid""#]
        );
        assert_eq!(fails(schema.clone(), json!([2, 1])).len(), 1);
        assert_eq!(fails(schema, json!({ "a": 1, "b": 2 })).len(), 1);
        let many = json!({ "enum": (0..12).collect::<Vec<_>>() });
        assert_eq!(fails(many, json!(99)), ["must be one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ..., got 99"]);
    }

    #[test]
    fn const_keyword() {
        ok(json!({ "const": "USD" }), json!("USD"));
        ok(json!({ "const": { "a": [1, true] } }), json!({ "a": [1.0, true] }));
        assert_eq!(fails(json!({ "const": "USD" }), json!("EUR")), [r#"must equal "USD", got "EUR""#]);
        assert_eq!(fails(json!({ "const": 1 }), json!(true)), ["must equal 1, got true"]);
        assert_eq!(fails(json!({ "const": [1] }), json!({ "0": 1 })), ["must equal an array, got an object"]);
        let long = "x".repeat(50);
        assert_eq!(
            fails(json!({ "const": "a" }), json!(long)),
            [format!("must equal \"a\", got \"{}...\"", "x".repeat(40))]
        );
    }

    #[test]
    fn numeric_bounds() {
        let schema = json!({ "minimum": 0, "maximum": 100 });
        for v in [json!(0), json!(100), json!(50.5), json!("not a number")] {
            ok(schema.clone(), v);
        }
        assert_eq!(fails(schema.clone(), json!(-1)), ["must be >= 0, got -1"]);
        assert_eq!(fails(schema, json!(100.5)), ["must be <= 100, got 100.5"]);
        let exclusive = json!({ "exclusiveMinimum": 0, "exclusiveMaximum": 1.5 });
        ok(exclusive.clone(), json!(1));
        assert_eq!(fails(exclusive.clone(), json!(0)), ["must be > 0, got 0"]);
        assert_eq!(fails(exclusive, json!(1.5)), ["must be < 1.5, got 1.5"]);
        // Large integers compare exactly, not through f64.
        let big = json!({ "maximum": 9007199254740992u64 });
        assert_eq!(fails(big, json!(9007199254740993u64)), ["must be <= 9007199254740992, got 9007199254740993"]);
        // All bounds violated at once are all reported.
        let all = json!({ "minimum": 10, "exclusiveMinimum": 10 });
        assert_eq!(fails(all, json!(5)), ["must be >= 10, got 5", "must be > 10, got 5"]);
    }

    #[test]
    fn string_lengths_count_chars() {
        let schema = json!({ "minLength": 2, "maxLength": 3 });
        ok(schema.clone(), json!("éé"));
        ok(schema.clone(), json!("日本語"));
        ok(schema.clone(), json!(7)); // length keywords only apply to strings
        assert_eq!(fails(schema.clone(), json!("é")), ["must be at least 2 characters long, got 1"]);
        assert_eq!(fails(schema, json!("abcd")), ["must be at most 3 characters long, got 4"]);
        assert_eq!(fails(json!({ "minLength": 1 }), json!("")), ["must be at least 1 character long, got 0"]);
    }

    #[test]
    fn array_counts_and_items() {
        let schema = json!({ "minItems": 1, "maxItems": 2, "items": { "type": "integer" } });
        ok(schema.clone(), json!([1, 2.0]));
        ok(schema.clone(), json!({})); // array keywords only apply to arrays
        assert_eq!(fails(schema.clone(), json!([])), ["must have at least 1 item, got 0"]);
        assert_eq!(
            fails(schema, json!([1, "2", 3.5])),
            [
                "must have at most 2 items, got 3",
                "[1]: must be an integer, got string",
                "[2]: must be an integer, got 3.5"
            ]
        );
    }

    // ---- validate: objects ----

    #[test]
    fn required_and_properties() {
        let schema = json!({
            "type": "object",
            "required": ["submitter", "amount"],
            "properties": { "amount": { "type": "number" }, "note": { "type": "string" } }
        });
        ok(schema.clone(), json!({ "submitter": "ann", "amount": 3, "extra": true }));
        ok(schema.clone(), json!({ "submitter": null, "amount": 3 })); // present counts, even null
        assert_eq!(
            fails(schema, json!({ "amount": "12", "note": 1 })),
            ["submitter: is required", "amount: must be a number, got string", "note: must be a string, got number"]
        );
    }

    #[test]
    fn additional_properties() {
        let closed = json!({ "properties": { "a": {} }, "additionalProperties": false });
        ok(closed.clone(), json!({ "a": 1 }));
        assert_eq!(
            fails(closed, json!({ "a": 1, "b": 2, "c": 3 })),
            ["b: is not an allowed property", "c: is not an allowed property"]
        );
        let typed =
            json!({ "properties": { "a": { "type": "string" } }, "additionalProperties": { "type": "number" } });
        ok(typed.clone(), json!({ "a": "x", "b": 2 }));
        assert_eq!(fails(typed, json!({ "a": "x", "b": "2" })), ["b: must be a number, got string"]);
        // Without `properties`, every key is additional.
        assert_eq!(
            fails(json!({ "additionalProperties": false }), json!({ "z": 1 })),
            ["z: is not an allowed property"]
        );
        ok(json!({ "additionalProperties": true }), json!({ "z": 1 }));
    }

    #[test]
    fn nested_paths_and_many_violations() {
        let schema = json!({
            "type": "object",
            "required": ["lines", "submitter"],
            "additionalProperties": false,
            "properties": {
                "submitter": { "type": "string", "minLength": 1 },
                "lines": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["price", "sku"],
                        "properties": {
                            "price": { "type": "number", "minimum": 0 },
                            "sku": { "type": "string" },
                            "tags": { "items": { "enum": ["a", "b"] } }
                        }
                    }
                }
            }
        });
        let value = json!({
            "lines": [
                { "price": 1, "sku": "x" },
                { "price": -2, "sku": 7 },
                { "price": "free", "tags": ["a", "c"] }
            ],
            "extra": 1
        });
        assert_eq!(
            fails(schema, value),
            [
                "submitter: is required",
                "lines[1].price: must be >= 0, got -2",
                "lines[1].sku: must be a string, got number",
                "lines[2].sku: is required",
                "lines[2].price: must be a number, got string",
                r#"lines[2].tags[1]: must be one of "a", "b", got "c""#,
                "extra: is not an allowed property",
            ]
        );
    }

    #[test]
    fn root_violations_have_empty_path() {
        let problems = validate(&json!({ "type": "object" }), &json!("x"));
        assert_eq!(
            problems,
            vec![SchemaProblem { path: String::new(), message: "must be an object, got string".into() }]
        );
        assert_eq!(validate(&json!({ "items": false }), &json!([1]))[0].path, "[0]");
    }

    // ---- boolean schemas and robustness ----

    #[test]
    fn boolean_schemas() {
        assert_eq!(validate(&json!(true), &json!({ "anything": [1] })), vec![]);
        assert_eq!(pairs(&validate(&json!(false), &json!(null))), vec![("", "is not allowed")]);
        let schema = json!({ "properties": { "yes": true, "no": false }, "items": false });
        ok(schema.clone(), json!({ "yes": [1, 2] }));
        assert_eq!(fails(schema, json!({ "yes": 1, "no": 2 })), ["no: is not allowed"]);
        ok(json!({ "items": false }), json!([]));
    }

    #[test]
    fn empty_schema_accepts_everything() {
        for v in [json!(null), json!(1), json!("s"), json!([{}]), json!({ "a": { "b": [] } })] {
            ok(json!({}), v);
        }
    }

    #[test]
    fn deep_values_are_fine_and_unchecked_schemas_never_panic() {
        let mut value = json!(1);
        for _ in 0..100 {
            value = json!([value]);
        }
        ok(json!({ "type": "array", "items": { "type": "array" } }), value.clone());
        assert!(json_eq(&value, &value.clone()));

        // Malformed schemas that skipped check_schema: ignored or rejected, never a panic.
        let weird = json!({ "type": 5, "required": "a", "properties": [], "minimum": "x", "minLength": -1, "enum": {}, "items": "s" });
        assert_eq!(validate(&weird, &json!({ "a": 1 })), vec![]);
        assert_eq!(pairs(&validate(&weird, &json!([1]))), vec![("[0]", "is not allowed")]);
        assert_eq!(pairs(&validate(&json!("string"), &json!(1))), vec![("", "is not allowed")]);
        assert_eq!(pairs(&validate(&json!({ "type": "text" }), &json!(1))), vec![("", "must be text, got number")]);

        // An over-deep schema is cut off instead of recursing.
        let problems = validate(&nested(MAX_DEPTH + 5), &json!({}));
        assert_eq!(problems, vec![]);
        let mut deep_value = json!("x");
        for _ in 0..MAX_DEPTH + 5 {
            deep_value = json!({ "a": deep_value });
        }
        let problems = validate(&nested(MAX_DEPTH + 5), &deep_value);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].message, "schema nested deeper than 32 levels");
    }

    #[test]
    fn display_joins_path_and_message() {
        assert_eq!(SchemaProblem::new("amount", "is required").to_string(), "amount: is required");
        assert_eq!(SchemaProblem::new("", "is not allowed").to_string(), "is not allowed");
    }
}

//! Canonical text of a policy definition, as YAML or as pretty JSON, so that
//! two people's edits of one policy differ only where they mean to.
//!
//! Field order is fixed (the constants below: a policy's fields, then a
//! stage's, a rule's, an `on_breach`'s); keys a policy does not know are
//! kept, after the known ones, in the order the map holds them (document
//! order where serde_json's `preserve_order` is on, as in the `awe` CLI;
//! alphabetical otherwise). YAML uses 2-space indentation, block style for
//! the policy, its stages and rule lists, and flow style (`{type: user,
//! user: mia}`) for rules, JSONLogic and other small values when the line
//! stays within `LINE_WIDTH`. Strings are quoted only when a YAML reader
//! could take them for something else (`yes`, `1e3`, `null`, `a: b`, …);
//! multi-line strings use literal blocks (`|`) when they read back exactly.
//!
//! Comments are not kept: a definition is a JSON value and has none. The
//! text reads back (with `document::read_document`) to the same value; the
//! tests check this for the examples and for generated policies.

use crate::document::Format;
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// A policy's fields in canonical order (the order of concern:
/// what it is, what it accepts and how approvers see it, segregation of
/// duties, then the stages).
pub const POLICY_FIELDS: &[&str] = &[
    "key", "artifact_type", "title", "description", "context_schema", "summary", "summarizer", "forbid_self_approval",
    "forbid_repeat_approvers", "max_revisions", "expires_after", "exclude", "stages",
];
/// A `summarizer`'s fields: where, which model, what it sees, what it is told.
pub const SUMMARIZER_FIELDS: &[&str] = &["endpoint", "model", "fields", "instructions"];
/// A stage's fields: who decides and how, then conditions, then timers.
pub const STAGE_FIELDS: &[&str] = &[
    "name", "mode", "n", "p", "veto", "rules", "exclude", "skip_if", "on_empty", "parallel_group", "sla", "on_breach",
];
/// A rule's fields: its type, the fields of that type, then kind and required.
pub const RULE_FIELDS: &[&str] = &["type", "user", "role", "group", "include_subgroups", "logic", "url", "kind", "required"];
/// An `on_breach`'s fields.
pub const BREACH_FIELDS: &[&str] = &["action", "every", "max", "rules"];

/// Lines longer than this get block style instead of flow style.
pub const LINE_WIDTH: usize = 100;

/// A value the YAML text could not carry exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormatError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}: {}", if self.path.is_empty() { "(root)" } else { &self.path }, self.message)
    }
}

/// Canonical YAML. Fails only for numbers that YAML, as awe reads it, would
/// not give back (serde_yaml reads floats as f64: `1e400`, or more digits
/// than an f64 holds); such a policy is best kept in JSON.
pub fn format_yaml(def: &Value) -> Result<String, FormatError> {
    check_yaml_numbers(def, String::new())?;
    let mut out = String::new();
    match def {
        Value::Object(map) if !map.is_empty() => block_map(&mut out, map, Shape::Policy, 0, false),
        Value::Array(items) if !items.is_empty() => block_seq(&mut out, items, Shape::Other, 0),
        // Root lines at column 0 could read as a document marker.
        Value::String(s) if is_literal_block_safe(s) => literal_block(&mut out, s, 2),
        other => {
            out.push_str(&flow(other, Shape::Other));
            out.push('\n');
        }
    }
    Ok(out)
}

/// Canonical JSON: pretty-printed with 2-space indentation (the layout of
/// `serde_json::to_string_pretty`), fields in the same order as the YAML.
pub fn format_json(def: &Value) -> String {
    let mut out = String::new();
    json(&mut out, def, Shape::Policy, 0);
    out.push('\n');
    out
}

/// Canonical text in either format (JSON never fails).
pub fn format_policy(def: &Value, format: Format) -> Result<String, FormatError> {
    match format {
        Format::Yaml => format_yaml(def),
        Format::Json => Ok(format_json(def)),
    }
}

/// One-line YAML flow text of any value (`[a, {b: 1}]`), for messages and
/// diffs; mapping keys in the order the map holds them.
pub fn flow_yaml(v: &Value) -> String {
    flow(v, Shape::Other)
}

/// One-line YAML flow text of a rule, its fields in canonical order
/// (`{type: user, user: mia, required: true}`).
pub fn flow_yaml_rule(rule: &Value) -> String {
    flow(rule, Shape::Rule)
}

/// What a node is in a policy, which decides its field order and style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Policy,
    Stages,
    Stage,
    Rules,
    Rule,
    Breach,
    Summarizer,
    Logic,
    Other,
}

impl Shape {
    fn fields(self) -> &'static [&'static str] {
        match self {
            Shape::Policy => POLICY_FIELDS,
            Shape::Stage => STAGE_FIELDS,
            Shape::Rule => RULE_FIELDS,
            Shape::Breach => BREACH_FIELDS,
            Shape::Summarizer => SUMMARIZER_FIELDS,
            _ => &[],
        }
    }

    /// The shape of the value under `key` of a mapping of this shape.
    fn field(self, key: &str) -> Shape {
        match (self, key) {
            (Shape::Policy, "exclude") | (Shape::Stage, "rules" | "exclude") | (Shape::Breach, "rules") => Shape::Rules,
            (Shape::Policy, "stages") => Shape::Stages,
            (Shape::Stage, "skip_if") | (Shape::Rule, "logic") | (Shape::Logic, _) => Shape::Logic,
            (Shape::Stage, "on_breach") => Shape::Breach,
            (Shape::Policy, "summarizer") => Shape::Summarizer,
            _ => Shape::Other,
        }
    }

    /// The shape of the items of a sequence of this shape.
    fn item(self) -> Shape {
        match self {
            Shape::Stages => Shape::Stage,
            Shape::Rules => Shape::Rule,
            Shape::Logic => Shape::Logic,
            _ => Shape::Other,
        }
    }

    /// Whether a value of this shape may be written in flow style at all.
    /// The policy, its stages and rule lists stay block so that a diff of
    /// two versions shows one line per stage field and one per rule.
    fn may_flow(self, v: &Value) -> bool {
        match self {
            Shape::Policy | Shape::Stages | Shape::Stage | Shape::Rules => false,
            Shape::Breach => v.get("rules").is_none(),
            _ => true,
        }
    }
}

/// Entries in canonical order: the shape's known fields, then the rest.
fn ordered(map: &Map<String, Value>, shape: Shape) -> Vec<(&str, &Value)> {
    let known = shape.fields();
    let mut out: Vec<(&str, &Value)> = known.iter().filter_map(|k| map.get_key_value(*k)).map(|(k, v)| (k.as_str(), v)).collect();
    out.extend(map.iter().filter(|(k, _)| !known.contains(&k.as_str())).map(|(k, v)| (k.as_str(), v)));
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Flow text if this value may and does fit after `used` columns.
fn fitting_flow(v: &Value, shape: Shape, used: usize) -> Option<String> {
    if is_empty_container(v) || !matches!(v, Value::Object(_) | Value::Array(_)) {
        return Some(flow(v, shape));
    }
    if !shape.may_flow(v) {
        return None;
    }
    let text = flow(v, shape);
    (used + text.chars().count() <= LINE_WIDTH).then_some(text)
}

/// A block mapping at `at` columns. With `inline_first`, the caller has
/// already written the first line's indentation (after `- `).
fn block_map(out: &mut String, map: &Map<String, Value>, shape: Shape, at: usize, inline_first: bool) {
    for (i, (key, value)) in ordered(map, shape).into_iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, at);
        }
        let key_text = string_text(key, Context::Key);
        out.push_str(&key_text);
        out.push(':');
        let child = shape.field(key);
        match value {
            Value::String(s) if is_literal_block_safe(s) => {
                out.push(' ');
                literal_block(out, s, at + 2);
            }
            Value::Object(m) => match fitting_flow(value, child, at + key_text.chars().count() + 2) {
                Some(text) => {
                    out.push(' ');
                    out.push_str(&text);
                    out.push('\n');
                }
                None => {
                    out.push('\n');
                    block_map(out, m, child, at + 2, false);
                }
            },
            Value::Array(items) => match fitting_flow(value, child, at + key_text.chars().count() + 2) {
                Some(text) => {
                    out.push(' ');
                    out.push_str(&text);
                    out.push('\n');
                }
                None => {
                    out.push('\n');
                    block_seq(out, items, child, at + 2);
                }
            },
            scalar => {
                out.push(' ');
                out.push_str(&block_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

/// A block sequence whose dashes stand at `at` columns.
fn block_seq(out: &mut String, items: &[Value], shape: Shape, at: usize) {
    let item_shape = shape.item();
    for item in items {
        indent(out, at);
        out.push('-');
        match item {
            Value::String(s) if is_literal_block_safe(s) => {
                out.push(' ');
                literal_block(out, s, at + 2);
            }
            Value::Object(m) => match fitting_flow(item, item_shape, at + 2) {
                Some(text) => {
                    out.push(' ');
                    out.push_str(&text);
                    out.push('\n');
                }
                None => {
                    out.push(' ');
                    block_map(out, m, item_shape, at + 2, true);
                }
            },
            Value::Array(inner) => match fitting_flow(item, item_shape, at + 2) {
                Some(text) => {
                    out.push(' ');
                    out.push_str(&text);
                    out.push('\n');
                }
                None => {
                    out.push('\n');
                    block_seq(out, inner, item_shape, at + 2);
                }
            },
            scalar => {
                out.push(' ');
                out.push_str(&block_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

/// A multi-line string as `|` (ends with one newline) or `|-` (none), its
/// lines at `at` columns; `is_literal_block_safe` said it reads back exactly.
fn literal_block(out: &mut String, s: &str, at: usize) {
    let body = match s.strip_suffix('\n') {
        Some(body) => {
            out.push_str("|\n");
            body
        }
        None => {
            out.push_str("|-\n");
            s
        }
    };
    for line in body.split('\n') {
        if !line.is_empty() {
            indent(out, at);
            out.push_str(line);
        }
        out.push('\n');
    }
}

/// Literal blocks are used only where nothing can shift: more than one
/// line, at most one final newline, no leading space (it would set the
/// indentation), no trailing spaces (editors strip them), nothing invisible.
fn is_literal_block_safe(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    body.contains('\n')
        && !body.is_empty()
        && !body.starts_with([' ', '\n'])
        && !body.ends_with('\n')
        && body.split('\n').all(|line| !line.ends_with([' ', '\t']))
        && body.chars().all(|c| c == '\n' || c == '\t' || !needs_escape(c))
}

/// A scalar after `key: ` or `- `, where `,` and `:` need no quotes.
fn block_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => string_text(s, Context::Block),
        other => flow(other, Shape::Other),
    }
}

/// One-line flow text of a value.
fn flow(v: &Value, shape: Shape) -> String {
    let mut out = String::new();
    flow_into(&mut out, v, shape);
    out
}

fn flow_into(out: &mut String, v: &Value, shape: Shape) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&string_text(s, Context::Flow)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow_into(out, item, shape.item());
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, val)) in ordered(map, shape).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&string_text(k, Context::FlowKey));
                out.push_str(": ");
                flow_into(out, val, shape.field(k));
            }
            out.push('}');
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A value in block style (after `key: ` or `- `).
    Block,
    /// A block mapping key.
    Key,
    /// A value inside `[...]` or `{...}`.
    Flow,
    FlowKey,
}

/// A string as YAML: plain when that reads back as the same string, in
/// any YAML reader (YAML 1.1 ones too, hence `yes` and `1_000` are quoted),
/// else double-quoted with JSON-compatible escapes.
fn string_text(s: &str, ctx: Context) -> String {
    if is_plain_safe(s, ctx) { s.to_string() } else { double_quoted(s) }
}

fn is_plain_safe(s: &str, ctx: Context) -> bool {
    let Some(first) = s.chars().next() else { return false };
    let flow = matches!(ctx, Context::Flow | Context::FlowKey);
    (first.is_alphanumeric() || matches!(first, '/' | '.' | '_' | '$' | '('))
        && !s.ends_with([' ', ':'])
        && !s.starts_with("...")
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.chars().any(|c| needs_escape(c) || c == '\t' || c == '\n' || (flow && matches!(c, ',' | '[' | ']' | '{' | '}' | ':' | '#')))
        && !(ctx == Context::Key && s == "<<")
        && !reads_as_non_string(s)
        // YAML 1.1's one-letter booleans (go-yaml v2 still reads them) are
        // quoted as values; as keys they would make the stage field `n` ugly.
        && !(matches!(ctx, Context::Block | Context::Flow) && matches!(s, "y" | "Y" | "n" | "N"))
}

/// Strings that some YAML reader takes for null, a boolean, a number or a
/// date. serde_yaml 0.9 keeps `yes` or `1_000` as strings; YAML 1.1
/// readers (PyYAML, older Ruby) do not, and policies travel.
fn reads_as_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "null", "Null", "NULL", "~", "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No",
        "NO", "on", "On", "ON", "off", "Off", "OFF",
    ];
    if WORDS.contains(&s) || s.parse::<f64>().is_ok() {
        return true;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = unsigned.to_ascii_lowercase();
    if lower.starts_with("0x") || lower.starts_with("0o") || lower.starts_with("0b") || lower == ".inf" || lower == ".nan" {
        return true;
    }
    // YAML 1.1 integers and sexagesimals (`1_000`, `1:30`), and timestamps (`2001-12-14`).
    let b = unsigned.as_bytes();
    let digits_and = |extra: &[u8]| !b.is_empty() && b[0].is_ascii_digit() && b.iter().all(|c| c.is_ascii_digit() || extra.contains(c));
    digits_and(b"_:.") || (b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-')
}

/// Characters written as escapes: controls, and those YAML treats as line
/// breaks or byte-order marks.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Pretty JSON with canonical field order.
fn json(out: &mut String, v: &Value, shape: Shape, at: usize) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            let entries = ordered(map, shape);
            let last = entries.len() - 1;
            for (i, (k, val)) in entries.into_iter().enumerate() {
                indent(out, at + 2);
                out.push_str(&Value::String(k.to_string()).to_string());
                out.push_str(": ");
                json(out, val, shape.field(k), at + 2);
                if i < last {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, at);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, at + 2);
                json(out, item, shape.item(), at + 2);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, at);
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Refuses numbers YAML would not carry exactly (see `format_yaml`).
fn check_yaml_numbers(v: &Value, path: String) -> Result<(), FormatError> {
    match v {
        Value::Number(n) if !survives_yaml(n) => Err(FormatError {
            path,
            message: format!(
                "the number {n} cannot be written exactly in YAML (awe reads YAML floats as 64-bit floats); keep this policy in JSON"
            ),
        }),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| check_yaml_numbers(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            check_yaml_numbers(item, if path.is_empty() { k.clone() } else { format!("{path}.{k}") })
        }),
        _ => Ok(()),
    }
}

/// Whether serde_yaml reads this number's text back as the same value:
/// integers up to 128 bits exactly; anything else through f64.
fn survives_yaml(n: &Number) -> bool {
    let text = n.to_string();
    if text.parse::<i128>().is_ok() || text.parse::<u128>().is_ok() {
        return true;
    }
    let Ok(f) = text.parse::<f64>() else { return false };
    let Some(back) = Number::from_f64(f) else { return false };
    decimal(&text).is_some() && decimal(&text) == decimal(&back.to_string())
}

/// A decimal number's sign, significant digits and exponent, so that
/// `1.50`, `1.5` and `15e-1` compare equal; zero has no sign.
fn decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())) || int.len() + frac.len() == 0 {
        return None;
    }
    let all = format!("{int}{frac}");
    let mut exp = exponent - frac.len() as i64;
    let digits = all.trim_start_matches('0');
    let trimmed = digits.trim_end_matches('0');
    exp += (digits.len() - trimmed.len()) as i64;
    if trimmed.is_empty() {
        return Some((false, String::new(), 0));
    }
    Some((negative, trimmed.to_string(), exp))
}

#[cfg(test)]
mod tests;

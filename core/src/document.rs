//! Strict reading of policy documents: YAML or JSON text into a
//! `serde_json::Value`, refusing what a lenient reader would let through
//! silently (a repeated key keeps one of its values and drops the other; a
//! number key turns into a string), and bounding size, nesting and YAML
//! alias expansion so a hostile document fails fast with a clear error.
//!
//! One `DeserializeSeed` reads both formats (serde_yaml 0.9 and serde_json
//! drive it): it keeps the JSON path of the node being read, so every error
//! says where it is (`stages[0].rules[1].type`), and checks each key as it
//! arrives. Line and column come from the parser: both attach the position
//! of the node being read to an error raised inside a visitor.
//!
//! What the two parsers decide, pinned by the tests below:
//! - JSON numbers keep their exact text (serde_json's `arbitrary_precision`).
//! - serde_yaml hands integers over exactly (up to 128 bits) but floats as
//!   `f64`: a YAML float keeps its value to f64 precision only
//!   (`1234567890123456.78` reads as `1234567890123456.8`), and a float
//!   beyond f64's range (`1e400`) is not a number for serde_yaml but the
//!   string `"1e400"`. Numbers that must be exact belong in JSON documents.
//! - YAML booleans are YAML 1.2's: `true`/`false` (also `True`, `TRUE`, …);
//!   `yes`, `no`, `on`, `off`, `y`, `n` are strings. `<<` is an ordinary key
//!   (no merge keys). Tags other than YAML's own (`!!str`) are refused.
//! - Only one YAML document per text; an empty text reads as `null`.

use crate::document_locate::locate;
pub use text::{Format, MAX_DOCUMENT_BYTES, MAX_NESTING_DEPTH};
use text::{run_seed, ParseError};
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Why a document could not be read. `line` and `column` count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentError {
    /// JSON path of the offending node (`""` for the document itself).
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// `syntax`, `duplicate_key`, `key_type`, `too_large`, `too_deep`,
    /// `alias_limit`, `number` or `tag`.
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " (line {l}, column {c})"),
            (Some(l), None) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for DocumentError {}

/// Reads a policy document (or any document: nothing here knows policies).
pub fn read_document(text: &str, format: Format) -> Result<Value, DocumentError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError {
            path: String::new(),
            line: None,
            column: None,
            code: "too_large",
            message: format!("document is {} bytes; the limit is {MAX_DOCUMENT_BYTES} (1 MiB)", text.len()),
        });
    }
    if format == Format::Yaml {
        // Before serde_yaml, which would first parse the whole text at a cost
        // that grows with the square of the nesting (see yaml_depth.rs).
        if let Some((line, column)) = yaml_depth::first_too_deep(text, MAX_NESTING_DEPTH - 1) {
            return Err(DocumentError { path: String::new(), line: Some(line), column: Some(column), code: "too_deep", message: too_deep_message() });
        }
    }
    let tracker = Tracker { path: RefCell::new(Vec::new()), raised: RefCell::new(None), json_number_token: format == Format::Json };
    run_seed(text, format, NodeSeed { t: &tracker, depth: 1 }).map_err(|e| tracker.into_error(e, text, format))
}

/// With `arbitrary_precision`, serde_json hands a number to a visitor as a
/// one-entry map under this key, holding the number's text. It is what
/// serde_json's own `Value` looks for; the name has been stable since 2017.
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Where the reader is, and the error our own checks raised (serde carries
/// only a message through the parser, so the rest waits here).
struct Tracker {
    path: RefCell<Vec<Segment>>,
    raised: RefCell<Option<Raised>>,
    /// Only the JSON parser uses the number token; a YAML key spelled the
    /// same is an ordinary (if odd) key.
    json_number_token: bool,
}

enum Segment {
    Key(String),
    Index(usize),
}

struct Raised {
    path: String,
    code: &'static str,
    message: String,
    /// For a duplicate key: the key as quoted in the message.
    duplicate_key: Option<String>,
}

/// `stages[0].rules[1].type`, the notation `policy::Problem` uses.
fn render_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

fn join_key(path: String, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

impl Tracker {
    fn here(&self) -> String {
        render_path(&self.path.borrow())
    }

    fn raise<E: de::Error>(&self, path: String, code: &'static str, message: String) -> E {
        let err = E::custom(&message);
        *self.raised.borrow_mut() = Some(Raised { path, code, message, duplicate_key: None });
        err
    }

    fn too_deep<E: de::Error>(&self) -> E {
        self.raise(self.here(), "too_deep", too_deep_message())
    }

    fn into_error(self, err: ParseError, text: &str, format: Format) -> DocumentError {
        let (line, column) = err.position();
        if let Some(r) = self.raised.into_inner() {
            let mut message = r.message;
            if let Some(key) = r.duplicate_key {
                // The duplicate's own position comes with the error; the
                // first one is found by walking the document again.
                let first = locate(text, format, &r.path).filter(|f| Some(f.line) != line || Some(f.column) != column);
                message = match first {
                    Some(f) => format!("duplicate key {key} (YAML and JSON documents must not repeat a key; the first was at line {})", f.line),
                    None => format!("duplicate key {key} (YAML and JSON documents must not repeat a key)"),
                };
            }
            return DocumentError { path: r.path, line, column, code: r.code, message };
        }
        let path = render_path(&self.path.into_inner());
        let message = err.message();
        if message.starts_with("recursion limit exceeded") {
            return DocumentError { path, line, column, code: "too_deep", message: too_deep_message() };
        }
        if message.starts_with("repetition limit exceeded") {
            return DocumentError {
                path,
                line,
                column,
                code: "alias_limit",
                message: "YAML aliases expand to far more than the document holds (repetition limit exceeded): an alias bomb?".into(),
            };
        }
        let message = match format {
            Format::Yaml => format!("not valid YAML: {message}"),
            Format::Json => format!("not valid JSON: {message}"),
        };
        DocumentError { path, line, column, code: "syntax", message }
    }
}

fn too_deep_message() -> String {
    format!("nested deeper than {MAX_NESTING_DEPTH} levels")
}

/// Reads one node, at nesting level `depth` (the document is level 1).
struct NodeSeed<'t> {
    t: &'t Tracker,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Number::from_i128(v).map(Value::Number).ok_or_else(|| self.t.raise(self.t.here(), "number", format!("{v} is too large")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Number::from_u128(v).map(Value::Number).ok_or_else(|| self.t.raise(self.t.here(), "number", format!("{v} is too large")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| self.t.raise(self.t.here(), "number", format!("{v} is not a number JSON can hold (no infinities or NaN)")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Value, E> {
        Err(self.t.raise(self.t.here(), "syntax", "binary data is not allowed".into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // serde_yaml presents a custom tag (`!name value`) as an enum.
        let (tag, _) = data.variant::<String>()?;
        Err(self.t.raise(self.t.here(), "tag", format!("the YAML tag !{tag} is not allowed; write plain values")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_NESTING_DEPTH {
            return Err(self.t.too_deep());
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        loop {
            self.t.path.borrow_mut().push(Segment::Index(items.len()));
            let next = seq.next_element_seed(NodeSeed { t: self.t, depth: self.depth + 1 })?;
            self.t.path.borrow_mut().pop();
            match next {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_NESTING_DEPTH {
            return Err(self.t.too_deep());
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed { t: self.t, siblings: &out })? {
            let key = match key {
                Key::Name(k) => k,
                Key::JsonNumber => {
                    let text: String = map.next_value()?;
                    return text
                        .parse::<Number>()
                        .map(Value::Number)
                        .map_err(|_| self.t.raise(self.t.here(), "number", format!("{text} is not a number")));
                }
            };
            self.t.path.borrow_mut().push(Segment::Key(key));
            let value = map.next_value_seed(NodeSeed { t: self.t, depth: self.depth + 1 })?;
            let Some(Segment::Key(key)) = self.t.path.borrow_mut().pop() else { unreachable!("pushed a key") };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

enum Key {
    Name(String),
    JsonNumber,
}

/// Reads a mapping key: a string not seen before in this mapping.
struct KeySeed<'t, 'm> {
    t: &'t Tracker,
    siblings: &'m Map<String, Value>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeySeed<'_, '_> {
    fn not_a_string<E: de::Error>(&self, shown: &str, what: &str) -> E {
        self.t.raise(
            join_key(self.t.here(), shown),
            "key_type",
            format!("mapping keys must be strings; {shown} is {what} (quote it to use it as a key: \"{shown}\")"),
        )
    }

    fn complex<E: de::Error>(&self, what: &str) -> E {
        self.t.raise(self.t.here(), "key_type", format!("mapping keys must be strings, not {what}"))
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        if self.t.json_number_token && self.siblings.is_empty() && v == JSON_NUMBER_TOKEN {
            return Ok(Key::JsonNumber);
        }
        if self.siblings.contains_key(v) {
            let path = join_key(self.t.here(), v);
            let quoted = Value::String(v.to_owned()).to_string();
            let err = self.t.raise(path, "duplicate_key", format!("duplicate key {quoted}"));
            if let Some(r) = self.t.raised.borrow_mut().as_mut() {
                r.duplicate_key = Some(quoted);
            }
            return Err(err);
        }
        Ok(Key::Name(v.to_owned()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
        Err(self.not_a_string(&v.to_string(), "a boolean"))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        Err(self.not_a_string(&v.to_string(), "a number"))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        Err(self.not_a_string(&v.to_string(), "a number"))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Key, E> {
        Err(self.not_a_string(&v.to_string(), "a number"))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Key, E> {
        Err(self.not_a_string(&v.to_string(), "a number"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
        Err(self.not_a_string(&v.to_string(), "a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        Err(self.not_a_string("null", "null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Key, E> {
        Err(self.not_a_string("null", "null"))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Key, E> {
        Err(self.complex("binary data"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Key, A::Error> {
        Err(self.complex("a sequence"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Key, A::Error> {
        Err(self.complex("a mapping"))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Key, A::Error> {
        data.variant::<IgnoredAny>()?;
        Err(self.complex("a tagged value"))
    }
}

pub(crate) mod text;
mod yaml_depth;

#[cfg(test)]
mod tests;

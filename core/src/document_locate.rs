//! Where a JSON path (`stages[1].rules[0].type`) is in a document's text:
//! the line and column of the key or sequence item it names, for messages
//! and for CI annotations, which need a line.
//!
//! It walks the text with the same parser that read it and stops, with an
//! error, at the node it is looking for: both serde_yaml and serde_json
//! attach the position of the node being read to an error raised there, so
//! the answer is the parser's own, not a guess from scanning text. A path
//! that is not in the document (a required field that is missing) falls
//! back to the nearest ancestor that is. Keys containing dots are matched
//! against the rest of the path, so `properties.a.b` finds a key `a.b`.

use crate::document::text::{run_seed, Format, MAX_DOCUMENT_BYTES};
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use std::cell::Cell;
use std::fmt;

/// A position in a text; both count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// The position of `path` in `text`, or of its nearest ancestor present in
/// the document; `None` when the text cannot be parsed that far. The empty
/// path is the document's root value.
pub fn locate(text: &str, format: Format, path: &str) -> Option<Location> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return None;
    }
    let mut path = path;
    loop {
        if let Some(found) = locate_exact(text, format, path) {
            return Some(found);
        }
        if path.is_empty() {
            return None;
        }
        path = parent(path);
    }
}

/// The path without its last segment: `a.b[2]` → `a.b` → `a` → ``.
fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

fn locate_exact(text: &str, format: Format, path: &str) -> Option<Location> {
    let found = Cell::new(false);
    let err = run_seed(text, format, Seek { rest: path, found: &found }).err()?;
    if !found.get() {
        return None;
    }
    match err.position() {
        (Some(line), Some(column)) => Some(Location { line, column }),
        (Some(line), None) => Some(Location { line, column: 1 }),
        _ => None,
    }
}

/// Walks one node looking for `rest` below it (empty: this node).
struct Seek<'p> {
    rest: &'p str,
    found: &'p Cell<bool>,
}

impl Seek<'_> {
    fn hit<E: de::Error>(&self) -> E {
        self.found.set(true);
        E::custom("located")
    }

    /// A scalar: it is the target, or the target is not in the document.
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.rest.is_empty() { Err(self.hit()) } else { Ok(()) }
    }
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        // A tagged node: the reader refuses these, so it can only be the target.
        if self.rest.is_empty() { Err(self.hit()) } else { Err(de::Error::custom("tagged value")) }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.rest.is_empty() {
            return Err(self.hit());
        }
        let wanted = self.rest.strip_prefix('[').and_then(|r| r.split_once(']')).and_then(|(n, after)| {
            let index = n.parse::<usize>().ok()?;
            Some((index, after.strip_prefix('.').unwrap_or(after)))
        });
        let mut i = 0;
        loop {
            let more = match wanted {
                Some((index, after)) if index == i => seq.next_element_seed(Seek { rest: after, found: self.found })?.is_some(),
                _ => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.rest.is_empty() {
            return Err(self.hit());
        }
        while let Some(step) = map.next_key_seed(SeekKey { rest: self.rest, found: self.found })? {
            match step {
                Some(after) => map.next_value_seed(Seek { rest: after, found: self.found })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads a key: the target itself (stop here), the way to it (`Some` with
/// what is left of the path), or another key (`None`).
struct SeekKey<'p> {
    rest: &'p str,
    found: &'p Cell<bool>,
}

impl<'p> SeekKey<'p> {
    fn step<E: de::Error>(self, key: &str) -> Result<Option<&'p str>, E> {
        let Some(after) = self.rest.strip_prefix(key) else { return Ok(None) };
        if after.is_empty() {
            self.found.set(true);
            return Err(E::custom("located"));
        }
        if let Some(below) = after.strip_prefix('.') {
            return Ok(Some(below));
        }
        Ok(after.starts_with('[').then_some(after))
    }
}

impl<'de, 'p> DeserializeSeed<'de> for SeekKey<'p> {
    type Value = Option<&'p str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'p> Visitor<'de> for SeekKey<'p> {
    type Value = Option<&'p str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    // Non-string keys are matched by their text, as the reader names them.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.step(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.step(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.step(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.step(&v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        self.step(&v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        self.step(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.step(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.step("null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.step("null")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "# a policy\nkey: k\nstages:\n  - name: a\n    rules:\n      - {type: user, user: mia}\n      - type: role\n        role: fin\n  - name: b\ncontext_schema:\n  properties:\n    a.b: {type: number}\n";

    fn at(text: &str, format: Format, path: &str) -> (usize, usize) {
        let l = locate(text, format, path).unwrap_or_else(|| panic!("{path} not found"));
        (l.line, l.column)
    }

    #[test]
    fn yaml_keys_and_items() {
        assert_eq!(at(YAML, Format::Yaml, "key"), (2, 1));
        assert_eq!(at(YAML, Format::Yaml, "stages"), (3, 1));
        assert_eq!(at(YAML, Format::Yaml, "stages[0]"), (4, 5));
        assert_eq!(at(YAML, Format::Yaml, "stages[0].rules[0].user"), (6, 22));
        assert_eq!(at(YAML, Format::Yaml, "stages[0].rules[1].role"), (8, 9));
        assert_eq!(at(YAML, Format::Yaml, "stages[1].name"), (9, 5));
        assert_eq!(at(YAML, Format::Yaml, "context_schema.properties.a.b"), (12, 5));
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        assert_eq!(at(YAML, Format::Yaml, "stages[1].rules"), (9, 5));
        assert_eq!(at(YAML, Format::Yaml, "stages[7].mode"), (3, 1));
        assert_eq!(at(YAML, Format::Yaml, "artifact_type"), (2, 1));
        assert_eq!(at(YAML, Format::Yaml, ""), (2, 1));
    }

    #[test]
    fn json_keys_and_items() {
        let text = "{\n  \"key\": \"k\",\n  \"stages\": [\n    {\"name\": \"a\",\n     \"rules\": [{\"type\": \"user\", \"user\": 5}]}\n  ]\n}\n";
        assert_eq!(at(text, Format::Json, "key").0, 2);
        assert_eq!(at(text, Format::Json, "stages[0]").0, 4);
        assert_eq!(at(text, Format::Json, "stages[0].rules[0].user").0, 5);
        assert_eq!(at(text, Format::Json, "stages[0].mode").0, 4);
    }

    #[test]
    fn broken_text_locates_what_comes_before_the_break() {
        // Both parsers read as they go, so what precedes an error is found.
        assert_eq!(at("{\"key\": [1, 2,", Format::Json, "key[5]"), (1, 6));
        assert_eq!(at("key: [a, b", Format::Yaml, "key[1]"), (1, 10));
        assert_eq!(locate("}", Format::Json, "key"), None);
    }

    #[test]
    fn parents() {
        assert_eq!(parent("a.b[2].c"), "a.b[2]");
        assert_eq!(parent("a.b[2]"), "a.b");
        assert_eq!(parent("a"), "");
    }
}

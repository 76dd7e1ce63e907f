//! A strict reader for small JSON documents given by people (a bulk import
//! document, a directory source's options): every problem is collected with
//! its JSON path, unknown fields included, so one answer lists everything to
//! fix. It mirrors the policy validator's style (`problem::Problem`, paths like
//! `users[3].id`, "did you mean" hints) without sharing its private reader,
//! which is tied to policy limits and the logic cache.

use crate::context_schema::kind as type_name;
use crate::problem::{unknown_field_message, Problem};
use serde_json::{Map, Value};

/// `a` + `b` → `a.b`; the root path is empty.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// `a` + 3 → `a[3]`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Collects problems while a document is read.
#[derive(Debug, Default)]
pub struct Reader {
    pub problems: Vec<Problem>,
}

impl Reader {
    pub fn problem(&mut self, path: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.problems.push(Problem { path: path.into(), code, message: message.into() });
    }

    /// The value as an object whose keys are all in `allowed`; an unknown key
    /// is a problem at its own path, with a hint when it is a near miss.
    pub fn object<'v>(&mut self, path: &str, v: &'v Value, allowed: &[&str]) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = v else {
            self.problem(path, "type", format!("must be an object, got {}", type_name(v)));
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.problem(join(path, key), "unknown_field", unknown_field_message(key, allowed));
            }
        }
        Some(map)
    }

    /// The value as an object with any keys (a map such as `roles`).
    pub fn map<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(map) => Some(map),
            other => {
                self.problem(path, "type", format!("must be an object, got {}", type_name(other)));
                None
            }
        }
    }

    pub fn array<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(items) => Some(items),
            other => {
                self.problem(path, "type", format!("must be an array, got {}", type_name(other)));
                None
            }
        }
    }

    pub fn string<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v str> {
        match v {
            Value::String(s) => Some(s),
            other => {
                self.problem(path, "type", format!("must be a string, got {}", type_name(other)));
                None
            }
        }
    }

    /// An optional text field: absent, null and "" all mean none (exports from
    /// spreadsheets and HR systems write empty cells as "").
    pub fn optional_text(&mut self, map: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(join(path, key), "type", format!("must be a string or null, got {}", type_name(other)));
                None
            }
        }
    }

    pub fn boolean(&mut self, map: &Map<String, Value>, path: &str, key: &str, default: bool) -> bool {
        match map.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problem(join(path, key), "type", format!("must be true or false, got {}", type_name(other)));
                default
            }
        }
    }

    /// An integer field within `min..=max`, or `default` when absent.
    pub fn integer(&mut self, map: &Map<String, Value>, path: &str, key: &str, min: u64, max: u64, default: u64) -> u64 {
        let Some(v) = map.get(key) else { return default };
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => n,
            _ if v.is_number() => {
                self.problem(join(path, key), "range", format!("must be an integer from {min} to {max}"));
                default
            }
            _ => {
                self.problem(join(path, key), "type", format!("must be an integer, got {}", type_name(v)));
                default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_reported_at_their_path_with_a_hint() {
        let mut r = Reader::default();
        let doc = json!({"page-size": 5, "colour": 1});
        r.object("options", &doc, &["page_size"]);
        let paths: Vec<_> = r.problems.iter().map(|p| (p.path.as_str(), p.message.as_str())).collect();
        assert!(paths.contains(&("options.page-size", "unknown field \"page-size\" (did you mean \"page_size\"?)")));
        assert!(paths.iter().any(|(p, m)| *p == "options.colour" && m.contains("allowed: page_size")));
    }

    #[test]
    fn empty_text_counts_as_absent() {
        let mut r = Reader::default();
        let doc = json!({"a": "", "b": null, "c": "x", "d": 3});
        let m = doc.as_object().unwrap();
        assert_eq!(r.optional_text(m, "", "a"), None);
        assert_eq!(r.optional_text(m, "", "b"), None);
        assert_eq!(r.optional_text(m, "", "c").as_deref(), Some("x"));
        assert_eq!(r.optional_text(m, "", "d"), None);
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].path, "d");
    }
}

//! One thing wrong with a definition (a policy, its summary template, its
//! summarizer): where, a short code, and a message for a person.

use serde::Serialize;

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

/// The message for a key that is not among `allowed`: a "did you mean"
/// when it differs only in case, `_` or `-`, else the allowed keys.
pub fn unknown_field_message(key: &str, allowed: &[&str]) -> String {
    let squash = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    match allowed.iter().find(|a| squash(a) == squash(key)) {
        Some(h) => format!("unknown field \"{key}\" (did you mean \"{h}\"?)"),
        None => format!("unknown field \"{key}\"; allowed: {}", allowed.join(", ")),
    }
}

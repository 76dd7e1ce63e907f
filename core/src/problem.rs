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

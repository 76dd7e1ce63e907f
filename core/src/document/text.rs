//! The text layer under document.rs and document_locate.rs: the two
//! formats, the bounds on a document's size and nesting, and one run of a
//! seed over a text with its format's parser, with the parser's error kept
//! whole so its position can be read.

use serde::de::DeserializeSeed;
use serde::Serialize;
use std::path::Path;

/// Largest document read: a policy is a few kilobytes; a megabyte is a
/// mistake or an attack, and refusing it early bounds every later step.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Deepest nesting accepted, counted like `logic::json_depth` (a scalar is
/// one level, `[1]` two): containers may nest 127 deep. This is where
/// serde_json stops too, so both formats refuse the same documents.
pub const MAX_NESTING_DEPTH: usize = 128;

/// How a document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// `yaml`/`yml` → YAML, `json` → JSON (any case); anything else: none.
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format a file name says it holds.
    pub fn from_path(path: &Path) -> Option<Format> {
        path.extension().and_then(|e| e.to_str()).and_then(Format::from_extension)
    }
}

/// An error from either parser, kept whole so its position can be read.
pub(crate) enum ParseError {
    Yaml(serde_yaml::Error),
    Json(serde_json::Error),
}

impl ParseError {
    /// Line and column (from 1) when the parser knows them.
    pub(crate) fn position(&self) -> (Option<usize>, Option<usize>) {
        match self {
            ParseError::Yaml(e) => match e.location() {
                Some(l) => (Some(l.line()), Some(l.column())),
                None => (None, None),
            },
            ParseError::Json(e) if e.line() > 0 => (Some(e.line()), Some(e.column())),
            ParseError::Json(_) => (None, None),
        }
    }

    /// The parser's message without the position it appends (we carry
    /// line and column apart).
    pub(crate) fn message(&self) -> String {
        let text = match self {
            ParseError::Yaml(e) => e.to_string(),
            ParseError::Json(e) => e.to_string(),
        };
        match self.position() {
            (Some(l), Some(c)) => text.replacen(&format!(" at line {l} column {c}"), "", 1),
            _ => text,
        }
    }
}

/// Runs a seed over a text with the parser of its format. The same seed
/// type serves both, which is what keeps YAML and JSON checked alike.
pub(crate) fn run_seed<'de, S: DeserializeSeed<'de>>(text: &'de str, format: Format, seed: S) -> Result<S::Value, ParseError> {
    match format {
        Format::Yaml => seed.deserialize(serde_yaml::Deserializer::from_str(text)).map_err(ParseError::Yaml),
        Format::Json => {
            // serde_json refuses a byte-order mark; editors on Windows write one.
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let mut de = serde_json::Deserializer::from_str(text);
            let value = seed.deserialize(&mut de).map_err(ParseError::Json)?;
            de.end().map_err(ParseError::Json)?;
            Ok(value)
        }
    }
}

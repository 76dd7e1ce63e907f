//! SQL-callable entry points, and nothing else: each reads its arguments,
//! calls the shell (`operate`, `store`) and the core, and returns JSON;
//! errors leave as `AWE-…` codes (see fmgr).

pub mod directory;
pub mod endpoint;
pub mod meta;
pub mod policy;
pub mod request;
pub mod session;
pub mod timers;
pub mod triggers;

use crate::settings;
use awe_core::{AweError, AweResult, Code};

/// Refuses text longer than its `awe.*` limit.
pub fn check_len(name: &str, value: &str, limit: usize, setting: &str) -> AweResult<()> {
    let n = value.chars().count();
    if n > limit {
        return Err(AweError::new(Code::LimitExceeded, format!("{name} has {n} characters; the limit ({setting}) is {limit}")));
    }
    Ok(())
}

/// Identifiers (artifact ids, principals, URLs) share one limit.
pub fn check_text(name: &str, value: &str) -> AweResult<()> {
    check_len(name, value, settings::usize_of(&settings::MAX_TEXT_LENGTH), "awe.max_text_length")
}

pub fn check_comment(name: &str, value: Option<&str>) -> AweResult<()> {
    match value {
        Some(v) => check_len(name, v, settings::usize_of(&settings::MAX_COMMENT_LENGTH), "awe.max_comment_length"),
        None => Ok(()),
    }
}

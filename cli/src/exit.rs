//! Exit codes shared by every command, so scripts and CI can rely on them.

/// Nothing wrong (lint clean, files already formatted, no differences).
pub const SUCCESS: i32 = 0;
/// The command worked and found something: problems, files to format, differences.
pub const FOUND: i32 = 1;
/// The command could not do its job: a bad argument, a missing or unreadable file.
pub const TROUBLE: i32 = 2;

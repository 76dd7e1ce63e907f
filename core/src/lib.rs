//! awe's functional core: everything that decides, with no Postgres in sight.
//! The extension crate loads rows, calls into here, and writes the result.

pub mod access;
pub mod audit;
pub mod context_schema;
pub mod decide;
pub mod directory_sync;
pub mod document;
pub mod document_locate;
pub mod duration;
pub mod error;
pub mod http_transport;
pub mod keycloak;
pub mod keycloak_options;
pub mod lanes;
pub mod logic;
pub mod model;
pub mod notify;
pub mod policy;
pub mod policy_diff;
pub mod policy_fmt;
pub mod problem;
pub mod progress;
pub mod resolve;
pub mod simulate;
pub mod strict_json;
pub mod summarizer;
pub mod summary;
pub mod time;
pub mod timeline;
pub mod webhook;

pub use error::{AweError, AweResult, Code};

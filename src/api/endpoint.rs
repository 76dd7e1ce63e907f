//! Webhook endpoints from SQL: the secret generator `awe.register_endpoint`
//! and `awe.rotate_endpoint_secret` use, and the wake-up replays ask for.
//! The endpoint administration itself is SQL (sql/06_worker.sql).

use crate::fmgr::Args;
use awe_core::{webhook, AweError, AweResult, Code};
use pgrx::pg_sys;

crate::entry!(pg_finfo_awe_wake_worker, awe_wake_worker, wake_worker, no_spi);
crate::entry!(pg_finfo_awe_new_secret, awe_new_secret, new_secret, no_spi);

/// `awe._wake_worker()`: wake the worker when this transaction commits.
fn wake_worker(_: &Args) -> AweResult<()> {
    crate::worker::wake::wake_on_commit();
    Ok(())
}

/// `awe._new_secret()`: `whsec_` + base64 of 32 bytes from the strong source.
fn new_secret(_: &Args) -> AweResult<String> {
    let mut buf = [0u8; 32];
    if !unsafe { pg_sys::pg_strong_random(buf.as_mut_ptr().cast(), buf.len()) } {
        return Err(AweError::new(Code::Internal, "no strong random source"));
    }
    Ok(webhook::format_secret(&buf))
}

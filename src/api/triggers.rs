//! `awe._tables_changed()`: the statement trigger on the tables backends
//! cache (store::watch). It invalidates the table's relcache entry, which
//! Postgres delivers to every backend when the change commits.
//! `awe._changed(table)` does the same for awe's SQL functions, which call
//! it after their writes (on Citus the trigger fires where the shard is).

use crate::fmgr::Args;
use awe_core::AweResult;
use pgrx::pg_sys;

crate::entry!(pg_finfo_awe_tables_changed, awe_tables_changed, tables_changed, no_spi);
crate::entry!(pg_finfo_awe_changed, awe_changed, changed, no_spi);

fn tables_changed(a: &Args) -> AweResult<()> {
    if let Some(rel) = a.trigger_relation() {
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
    }
    Ok(())
}

fn changed(a: &Args) -> AweResult<()> {
    if let Some(rel) = a.get::<pg_sys::Oid>(0) {
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
    }
    Ok(())
}

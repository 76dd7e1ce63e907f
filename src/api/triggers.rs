//! `awe._tables_changed()`: the statement trigger on the tables backends
//! cache (store::watch). It invalidates the table's relcache entry, which
//! Postgres delivers to every backend when the change commits.

use crate::fmgr::Args;
use awe_core::AweResult;
use pgrx::pg_sys;

crate::entry!(pg_finfo_awe_tables_changed, awe_tables_changed, tables_changed, no_spi);

fn tables_changed(a: &Args) -> AweResult<()> {
    if let Some(rel) = a.trigger_relation() {
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
    }
    Ok(())
}

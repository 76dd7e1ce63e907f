//! awe: an approval workflow engine inside PostgreSQL.
//!
//! This crate is the thin shell: SQL-callable entry points that read their
//! arguments, load rows over SPI, hand them to `awe_core`, and write back
//! what it decided. The schema lives in `sql/`, loaded in file order.

use pgrx::prelude::*;

pub mod api;
pub mod fmgr;
pub mod logic;
pub mod machine;
pub mod notify;
pub mod operate;
pub mod render;
pub mod session;
pub mod settings;
pub mod store;
pub mod worker;

::pgrx::pg_module_magic!();

extension_sql_file!("../sql/00_bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!("../sql/01_tenancy.sql", name = "tenancy", requires = ["bootstrap"]);
extension_sql_file!("../sql/02_directory.sql", name = "directory", requires = ["tenancy"]);
extension_sql_file!("../sql/03_policy.sql", name = "policy", requires = ["directory"]);
extension_sql_file!("../sql/04_request.sql", name = "request", requires = ["policy"]);
extension_sql_file!("../sql/05_inbox.sql", name = "inbox", requires = ["request"]);
extension_sql_file!("../sql/06_worker.sql", name = "worker", requires = ["inbox"]);
extension_sql_file!("../sql/07_directory_sync.sql", name = "directory_sync", requires = ["worker"]);
extension_sql_file!("../sql/08_notifications.sql", name = "notifications", requires = ["directory_sync"]);
extension_sql_file!("../sql/09_summaries.sql", name = "summaries", requires = ["notifications"]);
extension_sql_file!("../sql/10_security.sql", name = "security", requires = ["summaries"]);
extension_sql_file!("../sql/11_api.sql", name = "api", requires = ["security"]);
extension_sql_file!("../sql/12_backup.sql", name = "backup", requires = ["api"]);
extension_sql_file!("../sql/13_distribution.sql", name = "distribution", requires = ["backup"]);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::define();
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(store::watch::relcache_changed), pg_sys::Datum::from(0)) };
    // The worker, its postmaster-only settings and its shared memory exist
    // only when awe is preloaded (defining a postmaster setting later kills
    // the connection).
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        worker::register();
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

#[cfg(test)]
pub use tests::pg_test;

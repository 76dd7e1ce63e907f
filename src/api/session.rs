//! `awe.current_tenant()`, `awe.current_actor()` and `awe._require_role()`:
//! identity for SQL (row-level security, the awe_api wrappers). They run in
//! every statement's row-level security check and in every API wrapper, so
//! none runs SPI unless a role's tenant mapping must be read.

use crate::fmgr::Args;
use crate::session;
use awe_core::AweResult;

crate::entry!(pg_finfo_awe_current_tenant, awe_current_tenant, current_tenant, no_spi);
crate::entry!(pg_finfo_awe_current_actor, awe_current_actor, current_actor, no_spi);
crate::entry!(pg_finfo_awe_require_role, awe_require_role, require_role, no_spi);

fn current_tenant(_: &Args) -> AweResult<String> {
    session::current_tenant_sql()
}

fn current_actor(_: &Args) -> AweResult<String> {
    session::current_actor()
}

/// `awe._require_role(variadic roles)`.
fn require_role(a: &Args) -> AweResult<()> {
    session::require_role(&a.text_array(0))
}

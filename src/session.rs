//! Who is calling, for which tenant, and when — resolved in Rust because it
//! runs on every call (the SQL functions awe.current_tenant() and
//! awe.current_actor() call the same code).
//!
//! 1. PostgREST (session_user = awe.authenticator_role): the JWT claims
//!    PostgREST verified and put in request.jwt.claims;
//! 2. a superuser: awe.tenant / awe.actor as set;
//! 3. any other role: the tenant its session_user is mapped to in
//!    awe.tenant_role (awe.tenant picks one of several). A session setting
//!    alone never reaches another tenant.

use crate::guc;
use crate::store::{req, run};
use awe_core::{AweError, AweResult, Code};
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use serde_json::Value;
use std::ffi::{CStr, CString};

fn setting(name: &CStr) -> Option<String> {
    let v = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if v.is_null() {
        return None;
    }
    let s = unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned();
    (!s.is_empty()).then_some(s)
}

fn guc_text(s: &pgrx::guc::GucSetting<Option<CString>>) -> Option<String> {
    s.get().map(|c| c.to_string_lossy().into_owned()).filter(|v| !v.is_empty())
}

fn session_user() -> String {
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetSessionUserId(), true);
        if name.is_null() { String::new() } else { CStr::from_ptr(name).to_string_lossy().into_owned() }
    }
}

fn via_postgrest() -> bool {
    session_user() == guc_text(&guc::AUTHENTICATOR_ROLE).unwrap_or_else(|| "authenticator".into())
}

thread_local! {
    /// The last claims text seen and its parse: PostgREST sets the claims
    /// once per request, and row-level security asks for the tenant once per
    /// table a statement touches.
    static CLAIMS: std::cell::RefCell<(String, Value)> = const { std::cell::RefCell::new((String::new(), Value::Null)) };
}

/// A claim by dotted path from the verified JWT claims.
fn claim(path: &str) -> Option<String> {
    let text = setting(c"request.jwt.claims")?;
    CLAIMS.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != text {
            let parsed = serde_json::from_str(&text).unwrap_or(Value::Null);
            *c = (text, parsed);
        }
        claim_at(&c.1, path)
    })
}

fn claim_at(claims: &Value, path: &str) -> Option<String> {
    let v = path.split('.').try_fold(claims, |v, k| v.get(k))?;
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn unknown(m: String) -> AweError {
    AweError::new(Code::TenantUnknown, m)
}

/// The tenant when it needs no query (PostgREST, superusers); `None` for a
/// role whose mapping must be looked up.
fn tenant_without_query() -> Option<AweResult<String>> {
    if via_postgrest() {
        let path = guc_text(&guc::TENANT_CLAIM).unwrap_or_else(|| "tenant".into());
        return Some(claim(&path).ok_or_else(|| unknown(format!("the token carries no \"{path}\" claim"))));
    }
    if unsafe { pg_sys::superuser_arg(pg_sys::GetSessionUserId()) } {
        return Some(guc_text(&guc::TENANT).ok_or_else(|| unknown("no tenant chosen: run  set awe.tenant = '<tenant id>'".into())));
    }
    None
}

pub fn current_tenant(client: &SpiClient<'_>) -> AweResult<String> {
    if let Some(t) = tenant_without_query() {
        return t;
    }
    let wanted = guc_text(&guc::TENANT);
    let rows = run(client,
        // By OID through pg_roles: a mapping to a role that has since been
        // dropped never matches, instead of making pg_has_role() raise for
        // every caller.
        "select m.tenant_id from awe.tenant_role m join pg_catalog.pg_roles r on r.rolname = m.role_name
          where pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER') and ($1::text is null or m.tenant_id = $1)
          order by m.tenant_id",
        &[crate::store::opt_t(wanted.as_deref())])?;
    let found: Vec<String> = rows.map(|r| req::<String>(&r, 1)).collect::<AweResult<_>>()?;
    match found.len() {
        1 => Ok(found.into_iter().next().unwrap()),
        0 => Err(unknown(format!("role {} is not mapped to {}", session_user(), wanted.map(|w| format!("tenant {w}")).unwrap_or("any tenant".into())))),
        _ => Err(unknown(format!("role {} is mapped to several tenants ({}): set awe.tenant to one of them", session_user(), found.join(", ")))),
    }
}

pub fn current_actor() -> AweResult<String> {
    if via_postgrest() {
        let path = guc_text(&guc::ACTOR_CLAIM).unwrap_or_else(|| "sub".into());
        return claim(&path).ok_or_else(|| AweError::new(Code::Unauthenticated, format!("the token names no principal (\"{path}\" claim)")));
    }
    Ok(guc_text(&guc::ACTOR).unwrap_or_else(session_user))
}

/// awe.now() in Unix microseconds: the transaction start, shifted by
/// awe.clock_offset when a test sets it.
pub fn now_us(client: &SpiClient<'_>) -> AweResult<i64> {
    const PG_EPOCH_US: i64 = 946_684_800_000_000;
    if guc_text(&guc::CLOCK_OFFSET).is_some() {
        let row = crate::store::first(client, "select awe._to_us(awe.now())", &[])?
            .ok_or_else(|| AweError::new(Code::Internal, "no clock row"))?;
        return req(&row, 1);
    }
    Ok(unsafe { pg_sys::GetCurrentTransactionStartTimestamp() } + PG_EPOCH_US)
}

fn current_tenant_sql(_: &crate::fmgr::Args) -> AweResult<String> {
    tenant_without_query().unwrap_or_else(|| pgrx::spi::Spi::connect(current_tenant))
}

fn current_actor_sql(_: &crate::fmgr::Args) -> AweResult<String> {
    current_actor()
}

/// `awe._require_role(variadic roles)`: AWE-FORBIDDEN unless the current
/// role is a member of one of `roles` (or a superuser). Every awe_api
/// wrapper calls it first, so it is a catalog-cache lookup, not a query.
fn require_role(a: &crate::fmgr::Args) -> AweResult<()> {
    let roles: Vec<String> = a.text_array(0);
    let me = unsafe { pg_sys::GetUserId() };
    if unsafe { pg_sys::superuser_arg(me) } {
        return Ok(());
    }
    let member = roles.iter().any(|r| {
        let Ok(c) = CString::new(r.as_str()) else { return false };
        let oid = unsafe { pg_sys::get_role_oid(c.as_ptr(), true) };
        oid != pg_sys::InvalidOid && unsafe { pg_sys::is_member_of_role(me, oid) }
    });
    if member {
        return Ok(());
    }
    let name = unsafe { CStr::from_ptr(pg_sys::GetUserNameFromId(me, false)) }.to_string_lossy().into_owned();
    Err(AweError::new(Code::Forbidden, format!("role {name} may not do this (needs {})", roles.join(" or "))))
}

// Called in every statement's row-level security check and by every API
// wrapper: none runs SPI unless a role's tenant mapping must be read.
crate::entry!(pg_finfo_awe_current_tenant, awe_current_tenant, current_tenant_sql, no_spi);
crate::entry!(pg_finfo_awe_current_actor, awe_current_actor, current_actor_sql, no_spi);
crate::entry!(pg_finfo_awe_require_role, awe_require_role, require_role, no_spi);

//! Who is calling, for which tenant, and when: the `Session` every
//! operation reads once. Resolved in Rust because it runs on every call (the
//! SQL functions awe.current_tenant() and awe.current_actor() call the same
//! code).
//!
//! 1. PostgREST (session_user = awe.authenticator_role): the JWT claims
//!    PostgREST verified and put in request.jwt.claims;
//! 2. a superuser: awe.tenant / awe.actor as set;
//! 3. any other role: the tenant its session_user is mapped to in
//!    awe.tenant_role (awe.tenant picks one of several). A session setting
//!    alone never reaches another tenant.

use crate::settings::{self, text_of};
use crate::store::{arg, first, required, run};
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

fn session_user() -> String {
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetSessionUserId(), true);
        if name.is_null() { String::new() } else { CStr::from_ptr(name).to_string_lossy().into_owned() }
    }
}

fn via_postgrest() -> bool {
    session_user() == text_of(&settings::AUTHENTICATOR_ROLE).unwrap_or_else(|| "authenticator".into())
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
        let path = text_of(&settings::TENANT_CLAIM).unwrap_or_else(|| "tenant".into());
        return Some(claim(&path).ok_or_else(|| unknown(format!("the token carries no \"{path}\" claim"))));
    }
    if unsafe { pg_sys::superuser_arg(pg_sys::GetSessionUserId()) } {
        return Some(text_of(&settings::TENANT).ok_or_else(|| unknown("no tenant chosen: run  set awe.tenant = '<tenant id>'".into())));
    }
    None
}

/// The session's tenant, for an operation. A role's mapping is read by
/// `awe.current_tenant()`, which runs with its owner's rights: no caller
/// may read the mapping table itself.
pub fn current_tenant(client: &SpiClient<'_>) -> AweResult<String> {
    if let Some(t) = tenant_without_query() {
        return t;
    }
    let row = first(client, "select awe.current_tenant()", &[])?.ok_or_else(|| unknown("no tenant".into()))?;
    required(&row, 1)
}

/// The tenant a role's session acts for (run with the owner's rights).
fn mapped_tenant(client: &SpiClient<'_>) -> AweResult<String> {
    let wanted = text_of(&settings::TENANT);
    let rows = run(client,
        // A mapping holds the role's OID: a role dropped and created again
        // under the same name is another role and never matches (the join
        // also keeps a dropped role's OID from making pg_has_role() raise).
        "select m.tenant_id from awe.tenant_role m join pg_catalog.pg_roles r on r.oid = m.role
          where pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER') and ($1::text is null or m.tenant_id = $1)
          order by m.tenant_id",
        &[arg::opt_text(wanted.as_deref())])?;
    let found: Vec<String> = rows.map(|r| required::<String>(&r, 1)).collect::<AweResult<_>>()?;
    match found.len() {
        1 => Ok(found.into_iter().next().unwrap()),
        0 => Err(unknown(format!("role {} is not mapped to {}", session_user(), wanted.map(|w| format!("tenant {w}")).unwrap_or("any tenant".into())))),
        _ => Err(unknown(format!("role {} is mapped to several tenants ({}): set awe.tenant to one of them", session_user(), found.join(", ")))),
    }
}

pub fn current_actor() -> AweResult<String> {
    if via_postgrest() {
        let path = text_of(&settings::ACTOR_CLAIM).unwrap_or_else(|| "sub".into());
        return claim(&path).ok_or_else(|| AweError::new(Code::Unauthenticated, format!("the token names no principal (\"{path}\" claim)")));
    }
    Ok(text_of(&settings::ACTOR).unwrap_or_else(session_user))
}

/// awe.now() in Unix microseconds: the transaction start, shifted by
/// awe.clock_offset when a test sets it.
pub fn now_us(client: &SpiClient<'_>) -> AweResult<i64> {
    if text_of(&settings::CLOCK_OFFSET).is_some() {
        let row = first(client, "select awe._to_us(awe.now())", &[])?
            .ok_or_else(|| AweError::new(Code::Internal, "no clock row"))?;
        return required(&row, 1);
    }
    Ok(crate::store::transaction_start_us())
}

/// The version of this library; the installed SQL must be the same.
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of awe's SQL installed in this database (`None` before
/// CREATE EXTENSION).
pub fn installed_version(client: &SpiClient<'_>) -> AweResult<Option<String>> {
    match first(client, "select extversion::text from pg_catalog.pg_extension where extname = 'awe'", &[])? {
        Some(row) => Ok(Some(required(&row, 1)?)),
        None => Ok(None),
    }
}

/// Operations run only on the SQL of their own version: between the
/// restart onto a new library and ALTER EXTENSION awe UPDATE the tables are
/// the old release's, and the engine's statements are written for its own.
/// Once they match, a backend does not ask again (only an update made
/// while its library stays loaded could change that, and the worker's
/// status shows it).
fn require_installed_version(client: &SpiClient<'_>) -> AweResult<()> {
    thread_local! {
        static MATCHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if MATCHED.get() {
        return Ok(());
    }
    let installed = installed_version(client)?;
    if installed.as_deref() == Some(LIBRARY_VERSION) {
        MATCHED.set(true);
        return Ok(());
    }
    Err(AweError::new(Code::VersionMismatch, format!(
        "awe's library is {LIBRARY_VERSION} but this database has awe {} installed", installed.as_deref().unwrap_or("(none)")))
        .with_hint("a DBA runs  ALTER EXTENSION awe UPDATE  in this database"))
}

/// Who, for which tenant, and when: read once per operation.
pub struct Session {
    pub tenant: String,
    pub actor: String,
    /// awe.now() in Unix microseconds.
    pub now: i64,
}

/// The session of an operation: a tenant that exists, an actor that is a
/// person or service (never the engine's reserved `system`), and the clock.
pub fn session(client: &SpiClient<'_>) -> AweResult<Session> {
    require_installed_version(client)?;
    let tenant = current_tenant(client)?;
    if !tenant_exists(client, &tenant)? {
        return Err(unknown(format!("tenant {tenant} is not registered")).with_hint("a superuser creates it with awe.create_tenant(id)"));
    }
    let actor = current_actor()?;
    if actor == awe_core::model::SYSTEM_ACTOR {
        return Err(AweError::new(Code::Forbidden, format!("the principal \"{actor}\" is reserved for the engine's own actions")));
    }
    Ok(Session { tenant, actor, now: now_us(client)? })
}

/// Whether the tenant exists. A token can name any tenant; registered
/// tenants are remembered per backend until awe.tenant changes.
fn tenant_exists(client: &SpiClient<'_>, tenant: &str) -> AweResult<bool> {
    thread_local! {
        static KNOWN: std::cell::RefCell<(u64, std::collections::HashSet<String>)> = std::cell::RefCell::new((u64::MAX, Default::default()));
    }
    let generation = crate::store::watch::generation(client, crate::store::watch::Watched::Tenants)?;
    if let Some(g) = generation {
        if KNOWN.with(|k| { let k = k.borrow(); k.0 == g && k.1.contains(tenant) }) {
            return Ok(true);
        }
    }
    let exists = first(client, "select 1 from awe.tenant where tenant_id = $1", &[arg::text(tenant)])?.is_some();
    if let (true, Some(g)) = (exists, generation) {
        KNOWN.with(|k| {
            let mut k = k.borrow_mut();
            if k.0 != g || k.1.len() > 10_000 {
                *k = (g, Default::default());
            }
            k.1.insert(tenant.to_string());
        });
    }
    Ok(exists)
}

/// The tenant for `awe.current_tenant()`: no SPI unless a role's mapping
/// must be read.
/// `awe.current_tenant()`: the tenant, which must be registered (a token
/// can name any tenant). Runs SPI only for a role's mapping and the first
/// time a backend meets a tenant.
///
/// Row-level security calls it once per row a filter reads (a policy with a
/// subquery, evaluated once, is what a distributed planner cannot take), so
/// the answer is kept for the rest of the statement: same transaction and
/// command, same roles, same `awe.tenant` and JWT claims.
pub fn current_tenant_sql() -> AweResult<String> {
    type Key = (u32, u32, pg_sys::Oid, pg_sys::Oid, Option<String>, Option<String>);
    thread_local! {
        static LAST: std::cell::RefCell<Option<(Key, String)>> = const { std::cell::RefCell::new(None) };
    }
    let key: Key = unsafe {
        (local_xid(), pg_sys::GetCurrentCommandId(false), pg_sys::GetUserId(), pg_sys::GetSessionUserId(),
         setting(c"awe.tenant"), setting(c"request.jwt.claims"))
    };
    if let Some(t) = LAST.with(|l| l.borrow().as_ref().filter(|(k, _)| *k == key).map(|(_, t)| t.clone())) {
        return Ok(t);
    }
    let tenant = resolve_tenant_sql()?;
    LAST.with(|l| *l.borrow_mut() = Some((key, tenant.clone())));
    Ok(tenant)
}

/// This backend's local transaction number.
unsafe fn local_xid() -> u32 {
    #[cfg(any(feature = "pg15", feature = "pg16"))]
    unsafe { (*pg_sys::MyProc).lxid }
    #[cfg(not(any(feature = "pg15", feature = "pg16")))]
    unsafe { (*pg_sys::MyProc).vxid.lxid }
}

fn resolve_tenant_sql() -> AweResult<String> {
    crate::fmgr::with_own_settings(|| pgrx::spi::Spi::connect(|c| {
        let tenant = match tenant_without_query() {
            Some(t) => t?,
            None => mapped_tenant(&c)?,
        };
        if !tenant_exists(&c, &tenant)? {
            return Err(unknown(format!("tenant {tenant} is not registered")).with_hint("a superuser creates it with awe.create_tenant(id)"));
        }
        Ok(tenant)
    }))
}

/// AWE-FORBIDDEN unless the caller's role is a member of one of `roles` (or
/// a superuser): a catalog-cache lookup, not a query. The caller's role is
/// the one the session set (PostgREST's SET ROLE), also inside awe's
/// SECURITY DEFINER functions, which run as their owner.
pub fn require_role(roles: &[String]) -> AweResult<()> {
    let me = unsafe { pg_sys::GetOuterUserId() };
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


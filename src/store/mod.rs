//! The shell's SPI layer: prepared statements cached per backend, typed row
//! access, and the adapters the core needs (directory, policy cache).

pub mod directory;
pub mod policy;
pub mod request;
pub mod watch;

use awe_core::{AweError, AweResult, Code};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiHeapTupleData, SpiTupleTable};
use pgrx::PgOid;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    /// Plans are prepared once per backend and role; Postgres revalidates
    /// them when the schema changes. Per role because a plan made under
    /// row-level security is re-planned whenever the current role differs
    /// from the one it was made for, and a REST connection changes role with
    /// every request (caller, approver, ...).
    static PLANS: RefCell<HashMap<(&'static str, pg_sys::Oid), Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

pub fn spi_err(e: pgrx::spi::SpiError) -> AweError {
    AweError::new(Code::Internal, format!("SPI: {e}"))
}

/// Runs a cached prepared statement.
pub fn run<'c>(client: &SpiClient<'c>, sql: &'static str, args: &[DatumWithOid<'_>]) -> AweResult<SpiTupleTable<'c>> {
    let key = (sql, unsafe { pg_sys::GetUserId() });
    let plan = PLANS.with(|p| p.borrow().get(&key).cloned());
    let plan = match plan {
        Some(p) => p,
        None => {
            let oids: Vec<PgOid> = args.iter().map(|a| PgOid::from(a.oid())).collect();
            let p = Rc::new(client.prepare_mut(sql, &oids).map_err(spi_err)?.keep());
            PLANS.with(|m| {
                let mut m = m.borrow_mut();
                // Bounded: a database with thousands of login roles calling
                // awe directly must not grow a backend without limit.
                if m.len() >= 2048 {
                    m.clear();
                }
                m.insert(key, p.clone());
            });
            p
        }
    };
    client.select(&*plan, None, args).map_err(spi_err)
}

/// The first row, if any.
pub fn first<'c>(client: &SpiClient<'c>, sql: &'static str, args: &[DatumWithOid<'_>]) -> AweResult<Option<SpiHeapTupleData<'c>>> {
    let mut t = run(client, sql, args)?;
    Ok(t.next())
}

/// A column by 1-based ordinal.
pub fn col<T: FromDatum + IntoDatum>(row: &SpiHeapTupleData<'_>, i: usize) -> AweResult<Option<T>> {
    row.get::<T>(i).map_err(spi_err)
}

/// A column that must not be NULL.
pub fn req<T: FromDatum + IntoDatum>(row: &SpiHeapTupleData<'_>, i: usize) -> AweResult<T> {
    col(row, i)?.ok_or_else(|| AweError::new(Code::Internal, format!("unexpected NULL in column {i}")))
}

/// A jsonb column selected as `::text`.
pub fn json_col(row: &SpiHeapTupleData<'_>, i: usize) -> AweResult<serde_json::Value> {
    let text: String = req(row, i)?;
    serde_json::from_str(&text).map_err(|e| AweError::new(Code::Internal, format!("stored JSON unreadable: {e}")))
}

/// Who, for which tenant, and when: read once per operation.
pub struct Session {
    pub tenant: String,
    pub actor: String,
    /// awe.now() in Unix microseconds.
    pub now: i64,
}

pub fn session(client: &SpiClient<'_>) -> AweResult<Session> {
    Ok(Session {
        tenant: crate::identity::current_tenant(client)?,
        actor: crate::identity::current_actor()?,
        now: crate::identity::now_us(client)?,
    })
}

/// A text argument for SPI.
pub fn t(s: &str) -> DatumWithOid<'static> {
    DatumWithOid::from(s.to_string())
}

/// A uuid argument. Statements take ids as uuid, not text cast in SQL: a
/// cast is not leakproof, so under row-level security `id = $2::uuid` could
/// not drive an index scan. An unparsable id (never produced by awe) becomes
/// the nil uuid, which matches nothing.
pub fn u(s: &str) -> DatumWithOid<'static> {
    let id = uuid::Uuid::parse_str(s).unwrap_or_default();
    DatumWithOid::from(pgrx::datum::Uuid::from_bytes(id.into_bytes()))
}

pub fn opt_t(s: Option<&str>) -> DatumWithOid<'static> {
    match s {
        Some(s) => t(s),
        None => DatumWithOid::null::<String>(),
    }
}

pub fn i(v: i32) -> DatumWithOid<'static> {
    DatumWithOid::from(v)
}

pub fn big(v: i64) -> DatumWithOid<'static> {
    DatumWithOid::from(v)
}

pub fn jb(v: serde_json::Value) -> DatumWithOid<'static> {
    DatumWithOid::from(pgrx::JsonB(v))
}

pub fn opt_jb(v: Option<serde_json::Value>) -> DatumWithOid<'static> {
    match v {
        Some(v) => jb(v),
        None => DatumWithOid::null::<pgrx::JsonB>(),
    }
}

pub fn bytes(v: Option<Vec<u8>>) -> DatumWithOid<'static> {
    match v {
        Some(b) => DatumWithOid::from(b),
        None => DatumWithOid::null::<Vec<u8>>(),
    }
}

/// Time-ordered (UUIDv7) ids: new requests, tasks and events land at the
/// right edge of their indexes instead of on random pages, which after each
/// checkpoint cost a full-page image per insert (WAL per submit fell from
/// 33 KB to 5 KB).
pub fn new_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

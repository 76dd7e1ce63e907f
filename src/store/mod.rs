//! The shell's SPI layer: prepared statements cached per backend, typed
//! column access, and argument constructors. Every statement the shell runs
//! goes through `run`; the statements themselves live beside the code that
//! needs them in this folder (long ones as `.sql` files under `sql/`).

pub mod delivery;
pub mod directory;
pub mod directory_sync;
pub mod endpoint;
pub mod notify;
pub mod policy;
pub mod request;
pub mod resolver_job;
pub mod summary_job;
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
    /// from the one it was made for. Per parameter types because the same
    /// text can be run with different ones (the per-table write statements
    /// of a submit and of a decision are alike, their parameter lists are
    /// not): a plan executed with values of other types than it was made
    /// for reads them as its own types, which Postgres does only for the
    /// parameters a statement uses, and Citus for all of them (it copies
    /// the whole list: a crash).
    static PLANS: RefCell<HashMap<PlanKey, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
    /// Statements already logged by awe.trace_statements in this backend.
    static TRACED: RefCell<std::collections::HashSet<usize>> = RefCell::new(std::collections::HashSet::new());
}

type PlanKey = (&'static str, pg_sys::Oid, Vec<pg_sys::Oid>);

/// awe.trace_statements: the server log gets each statement once per
/// backend, as `awe statement: <JSON string>` (one line, whatever the SQL).
fn trace(sql: &'static str) {
    if crate::settings::TRACE_STATEMENTS.get() && TRACED.with(|t| t.borrow_mut().insert(sql.as_ptr() as usize)) {
        pgrx::log!("awe statement: {}", serde_json::Value::from(sql));
    }
}

pub fn spi_err(e: pgrx::spi::SpiError) -> AweError {
    AweError::new(Code::Internal, format!("SPI: {e}"))
}

/// Runs a cached prepared statement.
pub fn run<'c>(client: &SpiClient<'c>, sql: &'static str, args: &[DatumWithOid<'_>]) -> AweResult<SpiTupleTable<'c>> {
    trace(sql);
    let key: PlanKey = (sql, unsafe { pg_sys::GetUserId() }, args.iter().map(|a| a.oid()).collect());
    let plan = PLANS.with(|p| p.borrow().get(&key).cloned());
    let plan = match plan {
        Some(p) => p,
        None => {
            let oids: Vec<PgOid> = key.2.iter().map(|&o| PgOid::from(o)).collect();
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
pub fn column<T: FromDatum + IntoDatum>(row: &SpiHeapTupleData<'_>, i: usize) -> AweResult<Option<T>> {
    row.get::<T>(i).map_err(spi_err)
}

/// A column that must not be NULL.
pub fn required<T: FromDatum + IntoDatum>(row: &SpiHeapTupleData<'_>, i: usize) -> AweResult<T> {
    column(row, i)?.ok_or_else(|| AweError::new(Code::Internal, format!("unexpected NULL in column {i}")))
}

/// A json or jsonb column selected as `::text`.
pub fn json_column(row: &SpiHeapTupleData<'_>, i: usize) -> AweResult<serde_json::Value> {
    let text: String = required(row, i)?;
    serde_json::from_str(&text).map_err(|e| AweError::new(Code::Internal, format!("stored JSON unreadable: {e}")))
}

/// Argument constructors for `run`.
pub mod arg {
    use pgrx::datum::DatumWithOid;

    pub fn text(s: &str) -> DatumWithOid<'static> {
        DatumWithOid::from(s.to_string())
    }

    pub fn opt_text(s: Option<&str>) -> DatumWithOid<'static> {
        match s {
            Some(s) => text(s),
            None => DatumWithOid::null::<String>(),
        }
    }

    /// A uuid. Statements take ids as uuid, not text cast in SQL: a cast is
    /// not leakproof, so under row-level security `id = $2::uuid` could not
    /// drive an index scan. An unparsable id (never produced by awe) becomes
    /// the nil uuid, which matches nothing.
    pub fn uuid(s: &str) -> DatumWithOid<'static> {
        let id = uuid::Uuid::parse_str(s).unwrap_or_default();
        DatumWithOid::from(pgrx::datum::Uuid::from_bytes(id.into_bytes()))
    }

    pub fn uuid_array(ids: &[String]) -> DatumWithOid<'static> {
        DatumWithOid::from(ids.iter().map(|s| pgrx::datum::Uuid::from_bytes(uuid::Uuid::parse_str(s).unwrap_or_default().into_bytes())).collect::<Vec<_>>())
    }

    pub fn int(v: i32) -> DatumWithOid<'static> {
        DatumWithOid::from(v)
    }

    pub fn bigint(v: i64) -> DatumWithOid<'static> {
        DatumWithOid::from(v)
    }

    pub fn opt_bigint(v: Option<i64>) -> DatumWithOid<'static> {
        match v {
            Some(v) => bigint(v),
            None => DatumWithOid::null::<i64>(),
        }
    }

    pub fn boolean(v: bool) -> DatumWithOid<'static> {
        DatumWithOid::from(v)
    }

    pub fn float(v: f64) -> DatumWithOid<'static> {
        DatumWithOid::from(v)
    }

    pub fn jsonb(v: serde_json::Value) -> DatumWithOid<'static> {
        DatumWithOid::from(pgrx::JsonB(v))
    }

    pub fn opt_jsonb(v: Option<serde_json::Value>) -> DatumWithOid<'static> {
        match v {
            Some(v) => jsonb(v),
            None => DatumWithOid::null::<pgrx::JsonB>(),
        }
    }

    pub fn bytes(v: Option<Vec<u8>>) -> DatumWithOid<'static> {
        match v {
            Some(b) => DatumWithOid::from(b),
            None => DatumWithOid::null::<Vec<u8>>(),
        }
    }

    /// A timestamptz from Unix microseconds. Statements take times as typed
    /// parameters rather than converting in SQL, so no function call sits in
    /// a CASE, a SET list or an ON CONFLICT clause (which Citus refuses
    /// unless the function is IMMUTABLE).
    pub fn timestamptz(unix_us: i64) -> DatumWithOid<'static> {
        DatumWithOid::from(as_timestamptz(unix_us))
    }

    pub fn opt_timestamptz(unix_us: Option<i64>) -> DatumWithOid<'static> {
        match unix_us {
            Some(v) => timestamptz(v),
            None => DatumWithOid::null::<pgrx::datum::TimestampWithTimeZone>(),
        }
    }

    pub fn timestamptz_array(v: Vec<Option<i64>>) -> DatumWithOid<'static> {
        DatumWithOid::from(v.into_iter().map(|u| u.map(as_timestamptz)).collect::<Vec<_>>())
    }

    fn as_timestamptz(unix_us: i64) -> pgrx::datum::TimestampWithTimeZone {
        pgrx::datum::TimestampWithTimeZone::try_from(unix_us - super::PG_EPOCH_US)
            .unwrap_or_else(|_| pgrx::datum::TimestampWithTimeZone::positive_infinity())
    }

    /// An array parameter (`text[]`, `int[]`, …, with NULL elements as `Option`).
    pub fn array<T: pgrx::IntoDatum>(v: Vec<T>) -> DatumWithOid<'static> {
        DatumWithOid::from(v)
    }
}

/// Time-ordered (UUIDv7) ids: new requests, tasks and events land at the
/// right edge of their indexes instead of on random pages, which after each
/// checkpoint cost a full-page image per insert (WAL per submit fell from
/// 33 KB to 5 KB).
pub fn new_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether this database is a Citus worker node: the citus extension is
/// there and this node is not the coordinator.
pub fn is_citus_worker_node(c: &SpiClient<'_>) -> AweResult<bool> {
    if first(c, "select 1 from pg_catalog.pg_extension where extname = 'citus'", &[])?.is_none() {
        return Ok(false);
    }
    // Asked only with Citus there (the function is Citus').
    Ok(first(c, "select not pg_catalog.citus_is_coordinator()", &[])?.map(|r| column::<bool>(&r, 1)).transpose()?.flatten().unwrap_or(false))
}

/// Microseconds between the Unix epoch and Postgres' (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// now() (the transaction's start, the real clock) in Unix microseconds,
/// for a statement that must not call now() where Citus allows only
/// IMMUTABLE functions.
pub fn transaction_start_us() -> i64 {
    (unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }) + PG_EPOCH_US
}

/// A timestamptz column as Unix microseconds.
pub fn unix_us_column(row: &SpiHeapTupleData<'_>, i: usize) -> AweResult<Option<i64>> {
    Ok(column::<pgrx::datum::TimestampWithTimeZone>(row, i)?.map(|t| t.into_inner() + PG_EPOCH_US))
}

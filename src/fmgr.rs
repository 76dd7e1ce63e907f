//! Hand-written fmgr entry points, so that an `AweError` reaches the client
//! with its own SQLSTATE (`PT404`, `PT409`, …).
//!
//! pgrx's `ErrorReport` only carries codes from its `PgSqlErrorCode` enum and
//! maps anything else to XX000, which would make every 404/409/422 a 500
//! through PostgREST. So each SQL function is `LANGUAGE c` pointing at an
//! entry made by `entry!`: the body runs inside pgrx's guard (panics and
//! Postgres errors are handled there, as in any `#[pg_extern]`), and an
//! `AweError` is returned out of it, turned into palloc'd C strings, and
//! raised with `ereport` only once no Rust frame with a destructor is left
//! above the caller — the same discipline pgrx's own guard follows.

use awe_core::{AweError, AweResult, Code};
use pgrx::pg_sys;
use pgrx::prelude::*;
use serde_json::Value;
use std::ffi::{c_char, c_int, CStr, CString};

/// Declares the C symbols for one SQL function. `no_spi` marks a function
/// that runs no SPI statement (identity, JSONLogic, row helpers): it skips
/// the plan-cache setting, which costs more than such a function's work.
#[macro_export]
macro_rules! entry {
    ($finfo:ident, $symbol:ident, $body:path, no_spi) => {
        $crate::entry!(@emit $finfo, $symbol, $body, false);
    };
    ($finfo:ident, $symbol:ident, $body:path) => {
        $crate::entry!(@emit $finfo, $symbol, $body, true);
    };
    (@emit $finfo:ident, $symbol:ident, $body:path, $spi:expr) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static ::pgrx::pg_sys::Pg_finfo_record {
            const V1: ::pgrx::pg_sys::Pg_finfo_record = ::pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub unsafe extern "C-unwind" fn $symbol(fcinfo: ::pgrx::pg_sys::FunctionCallInfo) -> ::pgrx::pg_sys::Datum {
            unsafe { $crate::fmgr::call(fcinfo, $body, $spi) }
        }
    };
}

/// Arguments of the current call.
pub struct Args {
    fcinfo: pg_sys::FunctionCallInfo,
}

/// An error ready to raise: plain data, nothing to drop.
struct Raise {
    sqlstate: c_int,
    message: *mut c_char,
    detail: *mut c_char,
    hint: *mut c_char,
    cancelled: bool,
}

/// Runs `body` and returns its datum, or raises its `AweError`.
///
/// # Safety
/// Called only from an `entry!` symbol with the fcinfo Postgres passed.
pub unsafe fn call<T: IntoDatum>(fcinfo: pg_sys::FunctionCallInfo, body: fn(&Args) -> AweResult<T>, spi: bool) -> pg_sys::Datum {
    match unsafe { guarded(fcinfo, body, spi) } {
        Ok(datum) => datum,
        Err(raise) => {
            // A rule evaluation stopped for a pending cancel or timeout:
            // let Postgres raise its own error, whose message says which.
            if raise.cancelled {
                pg_sys::check_for_interrupts!();
            }
            unsafe { raise_error(raise) }
        }
    }
}

#[inline(never)]
unsafe fn guarded<T: IntoDatum>(fcinfo: pg_sys::FunctionCallInfo, body: fn(&Args) -> AweResult<T>, spi: bool) -> Result<pg_sys::Datum, Raise> {
    unsafe {
        pg_sys::panic::pgrx_extern_c_guard(move || {
            let args = Args { fcinfo };
            let guc_level = if spi { generic_plans() } else { None };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&args)));
            // On a Postgres error the (sub)transaction abort pops the level.
            if let (Some(level), Ok(_)) = (guc_level, &outcome) {
                pg_sys::AtEOXact_GUC(true, level);
            }
            match outcome {
                Ok(Ok(value)) => match value.into_datum() {
                    Some(d) => Ok(d),
                    None => {
                        (*fcinfo).isnull = true;
                        Ok(pg_sys::Datum::from(0))
                    }
                },
                Ok(Err(e)) => Err(Raise::from(e)),
                // A Postgres error from SQL we ran over SPI, or a Rust
                // panic: never handed back to pgrx's guard, which would send
                // a Rust backtrace to the client in DETAIL.
                Err(payload) => Err(raise_for_panic(payload)),
            }
        })
    }
}

/// Makes the statements this call runs over SPI use their cached generic
/// plans, as a function's `SET plan_cache_mode` clause would, until the call
/// returns; and resolves every name in them in `pg_catalog` only (the
/// functions run with their owner's rights, so a caller's search_path must
/// not be able to put its own operator in front of pg_catalog's). Without it the plan cache keeps re-planning the write statement:
/// a custom plan sees the real length of each array parameter and so always
/// looks cheaper than the generic one, and planning it cost a third of a
/// decision. Not in parallel mode, where settings cannot change (the
/// parallel-safe functions run no SPI).
unsafe fn generic_plans() -> Option<c_int> {
    unsafe {
        if pg_sys::IsInParallelMode() {
            return None;
        }
        let level = pg_sys::NewGUCNestLevel();
        // awe.plan_cache_mode: generic plans by default (a custom plan that
        // sees the real array lengths always looks cheaper, and awe's
        // statements were re-planned on every call); custom plans where a
        // distributed planner needs the values (Citus).
        let mode = crate::settings::PLAN_CACHE_MODE.get().as_c_str();
        for (name, value) in [(c"plan_cache_mode", mode), (c"search_path", c"pg_catalog, pg_temp")] {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
        Some(level)
    }
}

/// What to raise for an error that unwound out of a body:
/// - an AWE error raised by SQL we ran over SPI (a trigger, `awe._raise`)
///   keeps its code and gets its own SQLSTATE back (pgrx reports XX000);
/// - a lock that could not be taken within `lock_timeout` is AWE-BUSY;
/// - the errors a caller is told to handle themselves keep Postgres' own
///   SQLSTATE and message: serialization failures and deadlocks (retry the
///   transaction), cancellation and timeouts, resource exhaustion;
/// - bad data Postgres refused (class 22) is AWE-BAD-INPUT;
/// - anything else, and any Rust panic, is AWE-INTERNAL (a bug in awe).
///
/// Never with a Rust backtrace: the server log has one for panics.
fn raise_for_panic(payload: Box<dyn std::any::Any + Send>) -> Raise {
    use pg_sys::panic::CaughtError;
    let report = match payload.downcast_ref::<CaughtError>() {
        Some(CaughtError::PostgresError(r)) => r,
        Some(CaughtError::ErrorReport(r)) | Some(CaughtError::RustPanic { ereport: r, .. }) => {
            return Raise::from(AweError::new(Code::Internal, format!("internal error: {}", r.message())));
        }
        None => {
            let what = payload.downcast_ref::<&str>().map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            return Raise::from(AweError::new(Code::Internal, format!("internal error: {what}")));
        }
    };
    if let Some(e) = awe_error_in(report) {
        return Raise::from(e);
    }
    let code = report.sql_error_code() as isize as c_int;
    let state = sqlstate_text(code);
    let own_words = |r: &pg_sys::panic::ErrorReportWithLevel| Raise {
        sqlstate: code,
        message: pstrdup(r.message()),
        detail: r.detail().map(pstrdup).unwrap_or(std::ptr::null_mut()),
        hint: r.hint().map(pstrdup).unwrap_or(std::ptr::null_mut()),
        cancelled: false,
    };
    match state.as_str() {
        "55P03" => Raise::from(AweError::new(Code::Busy, format!("{} (lock_timeout); retry", report.message()))
            .with_hint("the request is being changed by someone else right now; retry the call")),
        s if s.starts_with("40") || s.starts_with("57") || s.starts_with("53") || s.starts_with("54") => own_words(report),
        s if s.starts_with("22") => Raise::from(AweError::new(Code::BadInput, report.message().to_string())),
        s => Raise::from(AweError::new(Code::Internal, format!("internal error: {}", report.message())).with_details(serde_json::json!({"sqlstate": s}))),
    }
}

/// The five characters of a SQLSTATE from its MAKE_SQLSTATE form.
fn sqlstate_text(code: c_int) -> String {
    (0..5).map(|i| (((code >> (6 * i)) & 0x3F) as u8 + b'0') as char).collect()
}

/// Runs `f` with the settings every statement awe runs needs (see
/// `generic_plans`), for SPI outside an `entry!` that sets them.
pub fn with_own_settings<R>(f: impl FnOnce() -> R) -> R {
    let level = unsafe { generic_plans() };
    let out = f();
    if let Some(level) = level {
        unsafe { pg_sys::AtEOXact_GUC(true, level) };
    }
    out
}

/// The `AweError` behind a Postgres error whose message starts with a
/// catalogued code (as every error awe raises in SQL does).
fn awe_error_in(report: &pg_sys::panic::ErrorReportWithLevel) -> Option<AweError> {
    let (code_text, message) = report.message().split_once(": ")?;
    let code = Code::parse(code_text)?;
    let mut e = AweError::new(code, message);
    if let Some(details) = report.detail().and_then(|d| serde_json::from_str::<Value>(d).ok()).and_then(|d| d.get("details").cloned()) {
        e = e.with_details(details);
    }
    if let Some(h) = report.hint() {
        e = e.with_hint(h);
    }
    Some(e)
}

fn pstrdup(s: &str) -> *mut c_char {
    // Interior NULs cannot be carried in a C string; they never occur in our
    // messages but user text may contain them.
    let c = CString::new(s.replace('\0', "\\0")).unwrap_or_default();
    unsafe { pg_sys::pstrdup(c.as_ptr()) }
}

impl From<AweError> for Raise {
    fn from(e: AweError) -> Raise {
        Raise {
            sqlstate: sqlstate_code(e.code.sqlstate()),
            message: pstrdup(&e.pg_message()),
            detail: pstrdup(&e.pg_detail()),
            hint: e.hint.as_deref().map(pstrdup).unwrap_or(std::ptr::null_mut()),
            cancelled: e.code == Code::Cancelled,
        }
    }
}

/// MAKE_SQLSTATE from the five characters.
fn sqlstate_code(s: &str) -> c_int {
    s.bytes().take(5).enumerate().fold(0, |acc, (i, ch)| acc + ((((ch as c_int) - ('0' as c_int)) & 0x3F) << (6 * i)))
}

unsafe extern "C-unwind" {
    fn errstart(elevel: c_int, domain: *const c_char) -> bool;
    fn errcode(sqlerrcode: c_int) -> c_int;
    fn errmsg(fmt: *const c_char, ...) -> c_int;
    fn errdetail(fmt: *const c_char, ...) -> c_int;
    fn errhint(fmt: *const c_char, ...) -> c_int;
    fn errfinish(filename: *const c_char, lineno: c_int, funcname: *const c_char);
}

unsafe fn raise_error(r: Raise) -> ! {
    const FMT: &CStr = c"%s";
    unsafe {
        if errstart(pgrx::PgLogLevel::ERROR as c_int, std::ptr::null()) {
            errcode(r.sqlstate);
            errmsg(FMT.as_ptr(), r.message);
            if !r.detail.is_null() {
                errdetail(FMT.as_ptr(), r.detail);
            }
            if !r.hint.is_null() {
                errhint(FMT.as_ptr(), r.hint);
            }
            errfinish(c"awe".as_ptr(), 0, c"awe".as_ptr());
        }
    }
    unreachable!("ereport(ERROR) returned")
}

pub fn bad_input(msg: impl Into<String>) -> AweError {
    AweError::new(Code::BadInput, msg)
}

impl Args {
    fn is_null(&self, n: usize) -> bool {
        unsafe { n >= (*self.fcinfo).nargs as usize || pgrx::fcinfo::pg_arg_is_null(self.fcinfo, n) }
    }

    fn datum(&self, n: usize) -> pg_sys::Datum {
        unsafe { pgrx::fcinfo::pg_getarg_datum_raw(self.fcinfo, n) }
    }

    /// Argument `n` as `T`, or `None` when it is NULL or absent.
    pub fn get<T: FromDatum>(&self, n: usize) -> Option<T> {
        if self.is_null(n) {
            return None;
        }
        unsafe { T::from_datum(self.datum(n), false) }
    }

    pub fn text(&self, n: usize) -> Option<String> {
        self.get(n)
    }

    /// A text argument that must be present and non-empty.
    pub fn req_text(&self, n: usize, name: &str) -> AweResult<String> {
        match self.text(n) {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(bad_input(format!("{name} is required"))),
        }
    }

    pub fn int(&self, n: usize) -> Option<i32> {
        self.get(n)
    }

    pub fn uuid(&self, n: usize, name: &str) -> AweResult<String> {
        let u = self.get::<pgrx::datum::Uuid>(n).ok_or_else(|| bad_input(format!("{name} is required")))?;
        Ok(uuid_string(u.as_bytes()))
    }

    pub fn opt_uuid(&self, n: usize, name: &str) -> AweResult<Option<String>> {
        if self.is_null(n) { Ok(None) } else { self.uuid(n, name).map(Some) }
    }

    /// The table a trigger function was fired for.
    pub fn trigger_relation(&self) -> Option<pg_sys::Oid> {
        unsafe {
            let ctx = (*self.fcinfo).context;
            if ctx.is_null() || (*ctx).type_ != pg_sys::NodeTag::T_TriggerData {
                return None;
            }
            let td = ctx as *mut pg_sys::TriggerData;
            Some((*(*td).tg_relation).rd_id)
        }
    }

    /// A uuid[] argument as strings; NULL array and NULL elements count as absent.
    pub fn uuid_array(&self, n: usize) -> Vec<String> {
        self.get::<Vec<Option<pgrx::datum::Uuid>>>(n).unwrap_or_default().into_iter().flatten().map(|u| uuid_string(u.as_bytes())).collect()
    }

    /// A text[] argument; NULL array and NULL elements count as absent.
    pub fn text_array(&self, n: usize) -> Vec<String> {
        self.get::<Vec<Option<String>>>(n).unwrap_or_default().into_iter().flatten().collect()
    }

    pub fn bool(&self, n: usize) -> Option<bool> {
        self.get(n)
    }

    /// A jsonb argument as serde JSON, with a clear error (not a panic) for
    /// anything serde refuses, such as nesting deeper than 128.
    pub fn json(&self, n: usize, name: &str) -> AweResult<Option<Value>> {
        if self.is_null(n) {
            return Ok(None);
        }
        let text = unsafe {
            let out = pgrx::direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(self.datum(n))]);
            out.map(|c| c.to_string_lossy().into_owned())
        };
        let text = text.ok_or_else(|| bad_input(format!("{name} is not valid jsonb")))?;
        parse_json(&text, name).map(Some)
    }
}

pub fn parse_json(text: &str, name: &str) -> AweResult<Value> {
    serde_json::from_str(text).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            AweError::new(Code::LimitExceeded, format!("{name} is nested deeper than 128 levels"))
        } else {
            bad_input(format!("{name} is not acceptable JSON: {e}"))
        }
    })
}

pub fn uuid_string(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// jsonb return values.
pub fn jsonb(v: Value) -> pgrx::JsonB {
    pgrx::JsonB(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlstate_encoding_matches_make_sqlstate() {
        // XX000 and 22023 as Postgres defines them.
        assert_eq!(super::sqlstate_code("22023"), 2 + (2 << 6) + (0 << 12) + (2 << 18) + (3 << 24));
        assert_eq!(super::sqlstate_code("00000"), 0);
    }
}

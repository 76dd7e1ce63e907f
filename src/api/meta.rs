//! Small functions: raising catalogued errors from SQL, the catalogue
//! itself, and JSONLogic evaluation for policy authors.

use crate::fmgr::{bad_input, jsonb, Args};
use crate::logic::with_logic;
use crate::settings;
use awe_core::{AweError, AweResult, Code};
use serde_json::{json, Value};

crate::entry!(pg_finfo_awe_raise, awe_raise, raise, no_spi);
crate::entry!(pg_finfo_awe_error_catalogue, awe_error_catalogue, error_catalogue, no_spi);
crate::entry!(pg_finfo_awe_eval_logic, awe_eval_logic, eval_logic, no_spi);
crate::entry!(pg_finfo_awe_version, awe_version, version);

/// `awe.version()`: the loaded library's version and the installed SQL's.
fn version(_: &Args) -> AweResult<pgrx::JsonB> {
    let sql = pgrx::spi::Spi::connect(|c| crate::session::installed_version(&c))?;
    let library = crate::session::LIBRARY_VERSION;
    Ok(jsonb(json!({"library": library, "sql": sql, "matches": sql.as_deref() == Some(library)})))
}

/// `awe._raise(code, message, details)`: SQL code raises exactly what Rust
/// would for the same code.
fn raise(a: &Args) -> AweResult<()> {
    let code_text = a.text(0).unwrap_or_default();
    let code = Code::parse(&code_text).unwrap_or(Code::Internal);
    let mut e = AweError::new(code, a.text(1).unwrap_or_default());
    if let Some(d) = a.json(2, "details")? {
        e = e.with_details(d);
    }
    if let Some(h) = a.text(3) {
        e = e.with_hint(h);
    }
    Err(e)
}

fn error_catalogue(_: &Args) -> AweResult<pgrx::JsonB> {
    Ok(jsonb(Value::Array(Code::ALL.iter().map(|c| json!({
        "code": c.as_str(), "sqlstate": c.sqlstate(), "http_status": c.http_status(), "meaning": c.meaning(),
    })).collect())))
}

/// `awe.eval_logic(rule, data)`: evaluates a rule as policies would, with
/// the same limits: data no larger than a request context, the depth and
/// work budgets, and cancellation.
fn eval_logic(a: &Args) -> AweResult<pgrx::JsonB> {
    let rule = a.json(0, "rule")?.ok_or_else(|| bad_input("rule is required"))?;
    let data = a.json(1, "data")?.unwrap_or(Value::Null);
    let limit = settings::usize_of(&settings::MAX_CONTEXT_BYTES);
    for (name, v) in [("rule", &rule), ("data", &data)] {
        let size = v.to_string().len();
        if size > limit {
            return Err(AweError::new(Code::LimitExceeded, format!("{name} is {size} bytes; the limit (awe.max_context_bytes) is {limit}")));
        }
    }
    let depth = settings::usize_of(&settings::MAX_LOGIC_DEPTH);
    crate::logic::cancelled_to_postgres(with_logic(|l| l.eval(&rule, &data, depth))).map(jsonb)
}

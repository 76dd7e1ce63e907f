//! Small functions: raising catalogued errors from SQL, the catalogue
//! itself, JSONLogic evaluation and task actions.

use crate::fmgr::{bad_input, jsonb, Args};
use crate::guc;
use crate::logic::with_logic;
use awe_core::decide::{available_actions, ActionInput};
use awe_core::policy::RuleKind;
use awe_core::{AweError, AweResult, Code};
use serde_json::{json, Value};

crate::entry!(pg_finfo_awe_raise, awe_raise, raise, no_spi);
crate::entry!(pg_finfo_awe_error_catalogue, awe_error_catalogue, error_catalogue);
crate::entry!(pg_finfo_awe_eval_logic, awe_eval_logic, eval_logic, no_spi);
crate::entry!(pg_finfo_awe_task_actions, awe_task_actions, task_actions, no_spi);

/// `awe._raise(code, message, details)`: SQL code raises exactly what Rust
/// would for the same code.
fn raise(a: &Args) -> AweResult<()> {
    let code_text = a.text(0).unwrap_or_default();
    let code = Code::parse(&code_text).unwrap_or(Code::Internal);
    let mut e = AweError::new(code, a.text(1).unwrap_or_default());
    if let Some(d) = a.json(2, "details")? {
        e = e.with_details(d);
    }
    Err(e)
}

fn error_catalogue(_: &Args) -> AweResult<pgrx::JsonB> {
    Ok(jsonb(Value::Array(Code::ALL.iter().map(|c| json!({
        "code": c.as_str(), "sqlstate": c.sqlstate(), "http_status": c.http_status(), "meaning": c.meaning(),
    })).collect())))
}

fn eval_logic(a: &Args) -> AweResult<pgrx::JsonB> {
    let rule = a.json(0, "rule")?.ok_or_else(|| bad_input("rule is required"))?;
    let data = a.json(1, "data")?.unwrap_or(Value::Null);
    let depth = guc::usize_of(&guc::MAX_LOGIC_DEPTH);
    with_logic(|l| l.eval(&rule, &data, depth)).map(jsonb)
}

fn task_actions(a: &Args) -> AweResult<Vec<String>> {
    let kind = if a.text(0).as_deref() == Some("observer") { RuleKind::Observer } else { RuleKind::Approver };
    let claimed = a.text(4);
    let viewer = a.text(5).unwrap_or_default();
    let input = ActionInput {
        kind,
        required: a.bool(1).unwrap_or(false),
        task_open: a.text(2).as_deref() == Some("open"),
        request_in_review: a.text(3).as_deref() == Some("in_review"),
        claimed_by: claimed.as_deref(),
        viewer: &viewer,
        revisions_left: a.bool(6).unwrap_or(false),
        approved_elsewhere: a.bool(7).unwrap_or(false),
    };
    Ok(available_actions(&input).into_iter().map(str::to_string).collect())
}

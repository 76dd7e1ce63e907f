//! Checks of valid-but-suspicious policy definitions, for `awe policy lint`:
//! things `policy::parse_policy` accepts because they are well-formed
//! JSONLogic, yet almost certainly not what the author meant.
//!
//! The one check so far: a `skip_if` that is a string, number or list is a
//! JSONLogic constant, so the condition never looks at the context. A
//! string is the usual slip (`skip_if: "amount <= 1000"`): it is truthy,
//! and the stage would always be skipped. `true` and `false` are left
//! alone: they are deliberate. These findings use the same `Problem`
//! shape (path, code, message) as the validator, so tools show them alike.
//! The engine still accepts such a policy; the check belongs in
//! `parse_policy`, where it would refuse it at save time too.

use crate::policy::Problem;
use serde_json::Value;

/// Suspicious constructs of a definition (empty for anything not shaped
/// like a policy: the validator reports those).
pub fn lint_policy(def: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(stages) = def.get("stages").and_then(Value::as_array) else { return out };
    for (i, stage) in stages.iter().enumerate() {
        let Some(cond) = stage.get("skip_if") else { continue };
        let what = match cond {
            Value::String(s) => format!("a string ({})", Value::String(s.clone())),
            Value::Number(n) => format!("the number {n}"),
            Value::Array(_) => "a list".to_string(),
            _ => continue,
        };
        let always = if crate::logic::LogicCache::default().truthy(cond, &Value::Null, 4).unwrap_or(true) {
            "always be skipped"
        } else {
            "never be skipped"
        };
        out.push(Problem {
            path: format!("stages[{i}].skip_if"),
            code: "constant_condition",
            message: format!(
                "is {what}, which JSONLogic treats as a constant: the stage would {always}; write a rule like {{\"<=\": [{{\"var\": \"amount\"}}, 1000]}}"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(skip_if: Value) -> Vec<String> {
        lint_policy(&json!({"stages": [{"name": "s", "skip_if": skip_if}]})).into_iter().map(|p| format!("{} {}", p.path, p.message)).collect()
    }

    #[test]
    fn constant_conditions_are_flagged() {
        let found = codes(json!("amount <= 1000"));
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("stages[0].skip_if is a string (\"amount <= 1000\")"), "{}", found[0]);
        assert!(found[0].contains("always be skipped"));
        assert!(codes(json!(0))[0].contains("never be skipped"));
        assert!(codes(json!([]))[0].contains("never be skipped"));
        assert!(codes(json!(true)).is_empty());
        assert!(codes(json!({"<=": [{"var": "amount"}, 1000]})).is_empty());
        assert!(lint_policy(&json!({"stages": "x"})).is_empty());
    }
}

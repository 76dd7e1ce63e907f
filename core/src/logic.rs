//! JSONLogic for `skip_if` and `expression` rules, on datalogic-rs (it passes
//! the official suite; see TOOLCHAIN.md). Rules are compiled once and cached
//! by their text because compiling costs 1–5 µs and evaluating well under 1 µs.

use crate::error::{AweError, AweResult, Code};
use datalogic_rs::{Engine, FromDataValue, Logic};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Deepest rule we accept. datalogic refuses > 256 and serde > 128; a policy
/// rule deeper than this is a mistake, so say so clearly and early.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Bound the cache so a stream of distinct ad-hoc rules cannot grow memory.
const CACHE_CAPACITY: usize = 4096;

/// A compile cache plus the engine. One per backend (the shell keeps it in a
/// thread-local); pure and usable from `cargo test`.
pub struct LogicCache {
    engine: Engine,
    compiled: HashMap<String, Arc<Logic>>,
}

impl Default for LogicCache {
    fn default() -> Self {
        LogicCache { engine: Engine::new(), compiled: HashMap::new() }
    }
}

/// Nesting depth of a JSON value, computed without recursion so that a
/// hostile 10,000-deep value cannot exhaust the stack.
pub fn json_depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    max
}

impl LogicCache {
    /// Compiles (or fetches) a rule. Errors are `AWE-LOGIC-INVALID` with
    /// datalogic's message, or `AWE-LIMIT-EXCEEDED` for depth.
    pub fn compile(&mut self, rule: &Value, max_depth: usize) -> AweResult<Arc<Logic>> {
        // Depth first: serializing the cache key recurses.
        let depth = json_depth(rule);
        if depth > max_depth {
            return Err(AweError::new(
                Code::LimitExceeded,
                format!("JSONLogic rule is nested {depth} levels deep; the limit (awe.max_logic_depth) is {max_depth}"),
            ));
        }
        let key = rule.to_string();
        if let Some(hit) = self.compiled.get(&key) {
            return Ok(hit.clone());
        }
        self.check_operators(rule)?;
        let logic = self
            .engine
            .compile(rule)
            .map_err(|e| AweError::new(Code::LogicInvalid, format!("cannot compile JSONLogic rule: {e}")))?;
        if self.compiled.len() >= CACHE_CAPACITY {
            self.compiled.clear();
        }
        let logic = Arc::new(logic);
        self.compiled.insert(key, logic.clone());
        Ok(logic)
    }

    /// datalogic only notices an unknown operator when it evaluates it; a
    /// mistyped `skip_if` must be refused when the policy is saved instead.
    fn check_operators(&self, rule: &Value) -> AweResult<()> {
        let mut stack = vec![rule];
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => {
                    if map.len() == 1 {
                        let (op, args) = map.iter().next().unwrap();
                        if !self.engine.builtin_operator_names().any(|b| b == op) {
                            return Err(AweError::new(Code::LogicInvalid, format!("unknown JSONLogic operator \"{op}\"")));
                        }
                        stack.push(args);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Evaluates a rule against data and returns the JSON result.
    pub fn eval(&mut self, rule: &Value, data: &Value, max_depth: usize) -> AweResult<Value> {
        let logic = self.compile(rule, max_depth)?;
        let arena = datalogic_rs::bumpalo::Bump::new();
        let out = self.engine.evaluate(&logic, data, &arena).map_err(eval_error)?;
        Value::from_arena(out).map_err(eval_error)
    }

    /// Evaluates a condition with JSONLogic truthiness (`[]`, `""`, `0` are false).
    pub fn truthy(&mut self, rule: &Value, data: &Value, max_depth: usize) -> AweResult<bool> {
        let logic = self.compile(rule, max_depth)?;
        let arena = datalogic_rs::bumpalo::Bump::new();
        let out = self.engine.evaluate(&logic, data, &arena).map_err(eval_error)?;
        Ok(self.engine.truthy(out))
    }
}

fn eval_error(e: datalogic_rs::Error) -> AweError {
    AweError::new(Code::LogicInvalid, format!("JSONLogic evaluation failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(rule: Value, data: Value) -> AweResult<Value> {
        LogicCache::default().eval(&rule, &data, DEFAULT_MAX_DEPTH)
    }

    #[test]
    fn evaluates_and_caches() {
        let mut c = LogicCache::default();
        let rule = json!({"<=": [{"var": "amount"}, 1000]});
        assert!(c.truthy(&rule, &json!({"amount": 999}), 64).unwrap());
        assert!(!c.truthy(&rule, &json!({"amount": 1001}), 64).unwrap());
        assert_eq!(c.compiled.len(), 1);
    }

    /// Where datalogic differs from the JavaScript reference (TOOLCHAIN.md):
    /// pinned so an upgrade that changes them is noticed.
    #[test]
    fn pins_known_differences_from_the_js_reference() {
        assert_eq!(eval(json!({"==": [null, 0]}), json!({})).unwrap(), json!(true));
        assert_eq!(eval(json!({"merge": [[1, null], [2]]}), json!({})).unwrap(), json!([1, 2]));
        assert_eq!(eval(json!({"var": null}), json!({"a": 1})).unwrap(), json!({"a": 1}));
        assert_eq!(eval(json!({"/": [1, 0]}), json!({})).unwrap_err().code, Code::LogicInvalid);
    }

    #[test]
    fn hostile_rules_give_errors_not_crashes() {
        let unknown = eval(json!({"no_such_op": [1]}), json!({})).unwrap_err();
        assert_eq!(unknown.code, Code::LogicInvalid);
        // Values reach us through serde's 128-level parse limit, so 300 is
        // deeper than anything real; the 10,000-deep case is a SQL test.
        let mut deep = json!(1);
        for _ in 0..300 {
            deep = json!({"!": [deep]});
        }
        assert_eq!(eval(deep.clone(), json!({})).unwrap_err().code, Code::LimitExceeded);
        // Even with our limit lifted, datalogic's own cap refuses it cleanly.
        assert!(LogicCache::default().eval(&deep, &json!({}), usize::MAX).is_err());
        // Overflowing arithmetic must return (a value or an error), not panic.
        let _ = eval(json!({"*": [1e308, 1e308, {"var": "x"}]}), json!({"x": 1e308}));
    }

    #[test]
    fn official_conformance_suite_passes() {
        let path = conformance_suite();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("conformance suite at {}: {e}", path.display()));
        let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
        let mut c = LogicCache::default();
        let (mut run, mut failed) = (0, Vec::new());
        for case in cases.iter().filter(|c| c.is_array()) {
            let (rule, data, expected) = (&case[0], &case[1], &case[2]);
            run += 1;
            match c.eval(rule, data, 256) {
                Ok(got) if numeric_eq(&got, expected) => {}
                other => failed.push(format!("{rule} on {data}: expected {expected}, got {other:?}")),
            }
        }
        assert_eq!(run, 278);
        assert!(failed.is_empty(), "{} failures:\n{}", failed.len(), failed.join("\n"));
    }

    /// `shared/conformance/jsonlogic/tests.json`: beside the checkout in CI,
    /// found by walking up from this crate (or named by AWE_SHARED_DIR).
    pub(crate) fn conformance_suite() -> std::path::PathBuf {
        let rel = "conformance/jsonlogic/tests.json";
        if let Ok(dir) = std::env::var("AWE_SHARED_DIR") {
            return std::path::Path::new(&dir).join(rel);
        }
        let mut dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        loop {
            let candidate = dir.join("shared").join(rel);
            if candidate.exists() || !dir.pop() {
                return candidate;
            }
        }
    }

    /// JSON numbers compare by value (1 == 1.0), as the reference suite expects.
    pub(crate) fn numeric_eq(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
            (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| numeric_eq(a, b)),
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| numeric_eq(v, w)))
            }
            _ => a == b,
        }
    }
}

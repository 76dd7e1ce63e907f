//! JSONLogic for `skip_if` and `expression` rules, on datalogic-rs (it passes
//! the official JSONLogic suite). Rules are compiled once and cached by their
//! text because compiling costs 1–5 µs and evaluating well under 1 µs.
//!
//! Every evaluation runs under a `Budget`: a number of work units and a
//! number of bytes, and a check for cancellation. datalogic has no such
//! limits, so the rule is rewritten before it is compiled: the body of every
//! iterating operator (`map`, `filter`, `reduce`, `all`, `some`, `none`) is
//! wrapped in a `__awe_tick` operator, and inside such a body every argument
//! of an operator whose cost grows with its input (comparisons, `in`,
//! `merge`, `cat`, arithmetic, …) in `__awe_charge`. Both are custom
//! operators of ours that pass their argument through unchanged after
//! charging it to the budget: one unit per iteration, and the size of each
//! charged value. Work outside any loop is bounded by the size of the rule
//! times the size of the data, so it needs no metering. When the budget is
//! spent, memory runs out, or the caller's cancellation check says so, the
//! operator fails and the evaluation stops within one iteration.

use crate::error::{AweError, AweResult, Code};
use datalogic_rs::{CustomOperator, DataValue, Engine, FromDataValue, Logic};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// What one evaluation may spend.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Work units: one per loop iteration, plus the size of every value an
    /// operator inside a loop consumes.
    pub max_steps: u64,
    /// Bytes the evaluation's arena may hold.
    pub max_bytes: usize,
    /// Asked at every metered step; `true` stops the evaluation (the shell
    /// answers whether Postgres has a cancel or timeout pending).
    pub interrupted: fn() -> bool,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { max_steps: DEFAULT_MAX_STEPS, max_bytes: DEFAULT_MAX_BYTES, interrupted: || false }
    }
}

pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;
pub const DEFAULT_MAX_BYTES: usize = 16 << 20;

/// Why a metered evaluation stopped early.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Steps,
    Bytes,
    Interrupted,
}

/// The running count of one evaluation (one per thread: evaluation is
/// synchronous, and the custom operators are shared by every evaluation).
struct Meter {
    budget: Budget,
    steps: u64,
    stop: Option<Stop>,
}

thread_local! {
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

const TICK: &str = "__awe_tick";
const CHARGE: &str = "__awe_charge";
const LOOPS: &[&str] = &["map", "filter", "reduce", "all", "some", "none"];
/// Operators whose work grows with the size of their arguments.
const SIZED: &[&str] = &["==", "===", "!=", "!==", "<", "<=", ">", ">=", "in", "merge", "cat", "substr", "max", "min", "+", "-", "*", "/", "%", "missing", "missing_some"];

/// Adds `units` to this thread's meter; the error stops the evaluation.
fn spend(units: u64, arena_bytes: usize) -> Result<(), datalogic_rs::Error> {
    METER.with(|m| {
        let mut m = m.borrow_mut();
        let Some(m) = m.as_mut() else { return Ok(()) };
        m.steps = m.steps.saturating_add(units);
        let stop = if m.steps > m.budget.max_steps {
            Some(Stop::Steps)
        } else if arena_bytes > m.budget.max_bytes {
            Some(Stop::Bytes)
        } else if (m.budget.interrupted)() {
            Some(Stop::Interrupted)
        } else {
            None
        };
        match stop {
            Some(s) => {
                m.stop = Some(s);
                Err(datalogic_rs::Error::custom_message("awe: evaluation budget exhausted"))
            }
            None => Ok(()),
        }
    })
}

/// The size of a value, as the work an operator does on it.
fn size_of(v: &DataValue<'_>) -> u64 {
    match v {
        DataValue::String(s) => 1 + s.len() as u64 / 16,
        DataValue::Array(items) => 1 + items.iter().map(size_of).sum::<u64>(),
        DataValue::Object(pairs) => 1 + pairs.iter().map(|(_, v)| size_of(v)).sum::<u64>(),
        _ => 1,
    }
}

/// `__awe_tick`: one loop iteration.
struct Tick;
/// `__awe_charge`: a value an operator inside a loop consumes.
struct Charge;

impl CustomOperator for Tick {
    fn evaluate<'a>(&self, args: &[&'a DataValue<'a>], _: &mut datalogic_rs::operator::EvalContext<'_, 'a>, arena: &'a datalogic_rs::bumpalo::Bump) -> datalogic_rs::Result<&'a DataValue<'a>> {
        spend(1, arena.allocated_bytes())?;
        Ok(args.first().copied().unwrap_or(&DataValue::Null))
    }
}

impl CustomOperator for Charge {
    fn evaluate<'a>(&self, args: &[&'a DataValue<'a>], _: &mut datalogic_rs::operator::EvalContext<'_, 'a>, arena: &'a datalogic_rs::bumpalo::Bump) -> datalogic_rs::Result<&'a DataValue<'a>> {
        let v = args.first().copied().unwrap_or(&DataValue::Null);
        spend(size_of(v), arena.allocated_bytes())?;
        Ok(v)
    }
}

/// The rule with its loops metered (see the module header).
fn instrument(rule: &Value, in_loop: bool) -> Value {
    match rule {
        Value::Array(items) => Value::Array(items.iter().map(|i| instrument(i, in_loop)).collect()),
        Value::Object(map) if map.len() == 1 => {
            let (op, args) = map.iter().next().unwrap();
            let args: Vec<Value> = match args {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            let wrapped: Vec<Value> = if LOOPS.contains(&op.as_str()) {
                args.iter().enumerate().map(|(i, a)| match i {
                    1 => json!({TICK: [instrument(a, true)]}),
                    _ => instrument(a, in_loop),
                }).collect()
            } else if in_loop && SIZED.contains(&op.as_str()) {
                args.iter().map(|a| json!({CHARGE: [instrument(a, true)]})).collect()
            } else {
                args.iter().map(|a| instrument(a, in_loop)).collect()
            };
            let mut m = Map::new();
            m.insert(op.clone(), Value::Array(wrapped));
            Value::Object(m)
        }
        other => other.clone(),
    }
}

fn uses_loops(rule: &Value) -> bool {
    match rule {
        Value::Array(items) => items.iter().any(uses_loops),
        Value::Object(map) => map.iter().any(|(k, v)| LOOPS.contains(&k.as_str()) || uses_loops(v)),
        _ => false,
    }
}

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
    /// What `eval` and `truthy` may spend per evaluation (the shell sets it
    /// from awe.* settings before each call).
    pub budget: Budget,
}

impl Default for LogicCache {
    fn default() -> Self {
        let engine = Engine::builder().add_operator(TICK, Tick).add_operator(CHARGE, Charge).build();
        LogicCache { engine, compiled: HashMap::new(), budget: Budget::default() }
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
        let metered;
        let to_compile = if uses_loops(rule) {
            metered = instrument(rule, false);
            &metered
        } else {
            rule
        };
        let logic = self
            .engine
            .compile(to_compile)
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

    /// Evaluates a rule against data within the cache's budget.
    pub fn eval(&mut self, rule: &Value, data: &Value, max_depth: usize) -> AweResult<Value> {
        let budget = self.budget;
        self.eval_within(rule, data, max_depth, &budget)
    }

    /// Evaluates a rule against data within `budget` and returns the JSON result.
    pub fn eval_within(&mut self, rule: &Value, data: &Value, max_depth: usize, budget: &Budget) -> AweResult<Value> {
        let logic = self.compile(rule, max_depth)?;
        let engine = &self.engine;
        metered(budget, |arena| {
            let out = engine.evaluate(&logic, data, arena)?;
            Value::from_arena(out)
        })
    }

    /// Evaluates a condition with JSONLogic truthiness (`[]`, `""`, `0` are false).
    pub fn truthy(&mut self, rule: &Value, data: &Value, max_depth: usize) -> AweResult<bool> {
        let budget = self.budget;
        self.truthy_within(rule, data, max_depth, &budget)
    }

    pub fn truthy_within(&mut self, rule: &Value, data: &Value, max_depth: usize, budget: &Budget) -> AweResult<bool> {
        let logic = self.compile(rule, max_depth)?;
        let engine = &self.engine;
        metered(budget, |arena| Ok(engine.truthy(engine.evaluate(&logic, data, arena)?)))
    }
}

/// Runs one evaluation with its meter and arena limit; a spent budget,
/// exhausted memory or a cancellation is an error, never a panic that
/// escapes.
fn metered<R>(budget: &Budget, f: impl FnOnce(&datalogic_rs::bumpalo::Bump) -> Result<R, datalogic_rs::Error>) -> AweResult<R> {
    let arena = datalogic_rs::bumpalo::Bump::new();
    // Between metered steps the arena stops growing here: bumpalo panics
    // (caught below) rather than allocate past the limit.
    arena.set_allocation_limit(Some(budget.max_bytes.saturating_mul(2)));
    let previous = METER.with(|m| m.borrow_mut().replace(Meter { budget: *budget, steps: 0, stop: None }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&arena)));
    let meter = METER.with(|m| std::mem::replace(&mut *m.borrow_mut(), previous));
    let stop = meter.and_then(|m| m.stop);
    match (outcome, stop) {
        (_, Some(Stop::Steps)) => Err(AweError::new(Code::LimitExceeded, format!(
            "the JSONLogic rule needs more than {} units of work on this data; the limit is awe.logic_max_steps", budget.max_steps))),
        (Err(_), _) | (_, Some(Stop::Bytes)) => Err(AweError::new(Code::LimitExceeded, format!(
            "the JSONLogic rule needs more than {} bytes of memory on this data; the limit is awe.logic_max_memory", budget.max_bytes))),
        (_, Some(Stop::Interrupted)) => Err(AweError::new(Code::Cancelled, "the JSONLogic evaluation was cancelled")),
        (Ok(r), None) => r.map_err(eval_error),
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

    /// Where datalogic differs from the JavaScript reference implementation:
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

    fn big(n: usize) -> Value {
        Value::Array((0..n).map(|i| json!(i)).collect())
    }

    #[test]
    fn hostile_loops_stop_at_the_budget_quickly() {
        let data = json!({"a": big(10_000), "b": big(10_000)});
        let cases = [
            // map over 10,000 of a reduce over another 10,000 (reached in
            // the outer scope with `val`'s level marker): 10^8 steps.
            json!({"map": [{"var": "a"}, {"reduce": [{"val": [[1], "b"]}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}]}),
            json!({"map": [{"var": "a"}, {"reduce": [{"val": [[-1], "b"]}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}]}),
            // `in` over a 10,000-array inside a loop: no allocation, no truthiness, still 10^8.
            json!({"filter": [{"var": "a"}, {"in": [{"var": ""}, {"val": [[1], "b"]}]}]}),
            json!({"map": [{"var": "a"}, {"in": [1, {"val": [[1], "b"]}]}]}),
            // An accumulator that doubles every step.
            json!({"reduce": [{"var": "a"}, {"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}, [1]]}),
        ];
        let mut c = LogicCache::default();
        for rule in cases {
            let t = std::time::Instant::now();
            let e = match c.eval(&rule, &data, 64) {
                Ok(v) => panic!("{rule} finished: {}", v.to_string().chars().take(200).collect::<String>()),
                Err(e) => e,
            };
            assert_eq!(e.code, Code::LimitExceeded, "{rule}: {e:?}");
            // Informational only (no timed assertion): how long it took to stop.
            eprintln!("{rule} stopped after {:?}: {}", t.elapsed(), e.message);
        }
    }

    #[test]
    fn small_loops_run_within_the_budget() {
        let mut c = LogicCache::default();
        let data = json!({"items": [{"amount": 5}, {"amount": 1500}]});
        let rule = json!({"some": [{"var": "items"}, {">": [{"var": "amount"}, 1000]}]});
        assert_eq!(c.eval(&rule, &data, 64).unwrap(), json!(true));
        let rule = json!({"reduce": [{"var": "items"}, {"+": [{"var": "accumulator"}, {"var": "current.amount"}]}, 0]});
        assert_eq!(c.eval(&rule, &data, 64).unwrap(), json!(1505));
        // A tight budget stops the same rule.
        let tight = Budget { max_steps: 3, ..Budget::default() };
        assert_eq!(c.eval_within(&rule, &data, 64, &tight).unwrap_err().code, Code::LimitExceeded);
    }

    #[test]
    fn an_interrupted_evaluation_is_cancelled() {
        let mut c = LogicCache::default();
        let budget = Budget { interrupted: || true, ..Budget::default() };
        let rule = json!({"map": [{"var": "a"}, {"+": [{"var": ""}, 1]}]});
        let e = c.eval_within(&rule, &json!({"a": big(100)}), 64, &budget).unwrap_err();
        assert_eq!(e.code, Code::Cancelled);
        // Without a loop there is nothing to interrupt: bounded by rule × data.
        assert_eq!(c.eval_within(&json!({"+": [1, 2]}), &json!({}), 64, &budget).unwrap(), json!(3));
    }

    #[test]
    fn our_metering_operators_cannot_be_named_in_rules() {
        let mut c = LogicCache::default();
        assert_eq!(c.eval(&json!({"__awe_tick": [1]}), &json!({}), 64).unwrap_err().code, Code::LogicInvalid);
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

    /// The official suite, kept in the repository (tests/data/jsonlogic/README.md).
    pub(crate) fn conformance_suite() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/jsonlogic/tests.json")
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

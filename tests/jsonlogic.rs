//! The official JSONLogic suite through SQL (awe.eval_logic), and hostile rules.

use awe_e2e::*;
use serde_json::Value;

fn numeric_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| numeric_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| numeric_eq(v, w))),
        _ => a == b,
    }
}

#[test]
fn official_suite_278_of_278_through_sql() {
    // The official suite, kept in the repository (tests/data/jsonlogic/README.md).
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data/jsonlogic/tests.json"));
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    let mut db = Db::new();
    db.exec("set awe.max_logic_depth = 256");
    let (mut run, mut failures) = (0, Vec::new());
    for case in cases.iter().filter(|c| c.is_array()) {
        run += 1;
        let got = db.try_json("select awe.eval_logic($1::text::jsonb, $2::text::jsonb)::text", &[&case[0].to_string(), &case[1].to_string()]);
        match got {
            Ok(v) if numeric_eq(&v, &case[2]) => {}
            other => failures.push(format!("{} on {} → {:?}, want {}", case[0], case[1], other, case[2])),
        }
    }
    assert_eq!(run, 278);
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn hostile_rules_are_errors_and_the_backend_survives() {
    let mut db = Db::new();
    let deep = format!("{}true{}", "{\"!\":[".repeat(10_000), "]}".repeat(10_000));
    let e = db.try_json("select awe.eval_logic($1::text::jsonb, '{}')::text", &[&deep]).unwrap_err();
    // Postgres's own jsonb parser or awe's limit refuses it; either way a clean error.
    assert!(["54001", "22023"].contains(&e.sqlstate.as_str()), "{e:?}");
    let moderately_deep = format!("{}true{}", "{\"!\":[".repeat(100), "]}".repeat(100));
    let e = db.try_json("select awe.eval_logic($1::text::jsonb, '{}')::text", &[&moderately_deep]).unwrap_err();
    assert_eq!(e.code(), "AWE-LIMIT-EXCEEDED");
    let e = db.try_json("select awe.eval_logic('{\"frobnicate\": [1]}', '{}')::text", &[]).unwrap_err();
    assert_eq!((e.code(), e.sqlstate.as_str()), ("AWE-LOGIC-INVALID", "22023"));
    let e = db.try_json("select awe.eval_logic('{\"/\": [1, 0]}', '{}')::text", &[]).unwrap_err();
    assert_eq!(e.code(), "AWE-LOGIC-INVALID");
    let big = db.try_json("select awe.eval_logic('{\"*\": [1e300, 1e300]}', '{}')::text", &[]);
    assert!(big.is_ok() || big.unwrap_err().code() == "AWE-LOGIC-INVALID");
    // The same connection still works: no backend crashed.
    assert_eq!(db.json("select awe.eval_logic('{\"+\": [1, 2]}', '{}')::text", &[]), serde_json::json!(3));
}

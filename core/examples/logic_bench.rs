//! `cargo run --release -p awe-core --example logic_bench`: cost of one
//! `skip_if` evaluation with the compile cache warm, against the cost of
//! compiling the rule each time (the baseline the cache removes).
use awe_core::logic::LogicCache;
use serde_json::json;
use std::time::Instant;

fn main() {
    let rule = json!({"and": [{"<=": [{"var": "amount"}, 1000]}, {"in": [{"var": "currency"}, ["USD", "EUR"]]}]});
    let ctx = json!({"amount": 12500, "currency": "USD", "submitter": "sam", "manager": "mia", "lines": [1, 2, 3]});
    let mut cache = LogicCache::default();
    let n = 200_000;
    for _ in 0..1000 {
        cache.truthy(&rule, &ctx, 64).unwrap();
    }
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(cache.truthy(&rule, &ctx, 64).unwrap());
    }
    let cached = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for _ in 0..n / 10 {
        std::hint::black_box(LogicCache::default().truthy(&rule, &ctx, 64).unwrap());
    }
    let uncached = t.elapsed().as_secs_f64() * 1e6 / (n / 10) as f64;
    println!("bench skip_if_eval_cached: {cached:.2} us (ratio {:.2} vs compile_each_time {uncached:.2} us; target < 10 us)", cached / uncached);
}

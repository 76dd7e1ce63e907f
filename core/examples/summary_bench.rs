//! `cargo run --release -p awe-core --example summary_bench`: cost of one
//! summary render with the per-thread template cache warm, against the cost
//! of compiling the template each time (the baseline the cache removes).
use awe_core::summary::{render, RequestFields, SummaryTemplate};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let template = "{{requester}} asks {{amount}} {{currency}} for {{purpose}} at {{ merchant.name }} (revision {{ revision }})";
    let ctx = json!({"amount": 12500, "currency": "EUR", "purpose": "team offsite", "merchant": {"name": "Hotel Adler", "city": "Bern"},
                     "submitter": "sam", "manager": "mia", "lines": [1, 2, 3]});
    let request = RequestFields {
        requester: Some("sam".into()),
        artifact_type: "expense_report".into(),
        artifact_id: "EXP-42".into(),
        policy_key: "expense.report".into(),
        policy_version: 3,
        revision: 1,
    };
    let n = 200_000;
    for _ in 0..1000 {
        black_box(render(template, &ctx, &request));
    }
    let t = Instant::now();
    for _ in 0..n {
        black_box(render(black_box(template), &ctx, &request));
    }
    let cached = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for _ in 0..n / 10 {
        black_box(SummaryTemplate::compile(black_box(template)).unwrap().render(&ctx, &request));
    }
    let uncached = t.elapsed().as_secs_f64() * 1e6 / (n / 10) as f64;
    println!("bench summary_render_cached: {cached:.2} us (ratio {:.2} vs compile_each_time {uncached:.2} us)", cached / uncached);
}
